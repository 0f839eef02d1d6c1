import Foundation

/// Locations of the package, its fixtures and the built `gearmand`.
enum Paths {
    /// The package root, found from this file's location in `Tests/EndToEndTests/Support`.
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Support
        .deletingLastPathComponent()  // EndToEndTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()

    /// `Tests/Fixtures`.
    static let fixtures: URL = packageRoot.appendingPathComponent("Tests/Fixtures")

    /// The `gearmand` built with the test bundle.
    ///
    /// SwiftPM puts executables and the test bundle in the same build directory, so the
    /// directory of `/proc/self/exe` is tried first. The fallback
    /// `<package root>/.build/debug/gearmand` covers a test runner started from somewhere else.
    static let gearmand: String = {
        let fileManager = FileManager.default
        if let executable = try? fileManager.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            let sibling = URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent(
                "gearmand")
            if fileManager.isExecutableFile(atPath: sibling.path) {
                return sibling.path
            }
        }
        return packageRoot.appendingPathComponent(".build/debug/gearmand").path
    }()

    /// The C tools from Debian's gearman-tools and gearman-job-server packages.
    static let gearmanTool = "/usr/bin/gearman"
    static let gearadminTool = "/usr/bin/gearadmin"
    static let referenceGearmand = "/usr/sbin/gearmand"

    /// ImageMagick, by full path because another `convert` may come first on PATH.
    static let convertTool = "/usr/bin/convert"
    static let identifyTool = "/usr/bin/identify"

    static func isExecutable(_ path: String) -> Bool {
        FileManager.default.isExecutableFile(atPath: path)
    }

    /// Whether `gearman` and `gearadmin` from gearman-tools are installed.
    static var hasGearmanTools: Bool { isExecutable(gearmanTool) && isExecutable(gearadminTool) }

    /// Whether ImageMagick's `convert` and `identify` are installed.
    static var hasImageMagick: Bool { isExecutable(convertTool) && isExecutable(identifyTool) }
}

/// A directory under the system temporary directory, removed by `remove()`.
struct TemporaryDirectory: Sendable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("gearmankit-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> URL {
        url.appendingPathComponent(name)
    }

    func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}

/// Polls `condition` every 10 ms until it returns true or `timeout` has passed.
///
/// - Returns: whether the condition became true in time.
func waitUntil(timeout: Duration = .seconds(10), _ condition: () throws -> Bool) async throws -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while true {
        if try condition() { return true }
        if clock.now >= deadline { return false }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// Reads a file as UTF-8 text, or returns an empty string when it does not exist yet.
func readText(_ url: URL) -> String {
    guard let data = FileManager.default.contents(atPath: url.path) else { return "" }
    return String(decoding: data, as: UTF8.self)
}
