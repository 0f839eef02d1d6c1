import Foundation
import ProcessTestSupport

/// Locations of the fixtures, the built `gearmand` and the C tools that only these tests use.
/// `TestPaths` has the rest.
enum Paths {
    /// `Tests/Fixtures`.
    static let fixtures: URL = TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures")

    /// The `gearmand` built with the test bundle.
    ///
    /// SwiftPM puts executables and the test bundle in the same build directory, so that
    /// directory is tried first. The fallback `<package root>/.build/debug/gearmand` covers a
    /// test runner started from somewhere else.
    static let gearmand: String = {
        let sibling = TestPaths.built("gearmand")
        if TestPaths.isExecutable(sibling) {
            return sibling
        }
        return TestPaths.packageRoot.appendingPathComponent(".build/debug/gearmand").path
    }()

    /// The C tools from Debian's gearman-tools package.
    static let gearmanTool = "/usr/bin/gearman"
    static let gearadminTool = "/usr/bin/gearadmin"

    /// Whether `gearman` and `gearadmin` from gearman-tools are installed.
    static var hasGearmanTools: Bool { TestPaths.isExecutable(gearmanTool) && TestPaths.isExecutable(gearadminTool) }

    /// Whether ImageMagick's `convert` and `identify` are installed.
    static var hasImageMagick: Bool {
        TestPaths.isExecutable(TestPaths.convert) && TestPaths.isExecutable(TestPaths.identify)
    }
}
