// swift-tools-version: 6.0
import PackageDescription

// The programs link the Swift runtime statically: loading its shared libraries took longer than
// the whole job round trip of `gearman`, which scripts start once per job.
let staticStandardLibrary: [LinkerSetting] = [.unsafeFlags(["-static-stdlib"], .when(platforms: [.linux]))]

let package = Package(
    name: "GearmanKit",
    products: [
        .library(name: "GearmanKit", targets: ["GearmanKit"]),
        .library(name: "GearmanServer", targets: ["GearmanServer"]),
        .executable(name: "gearmand", targets: ["gearmand"]),
        .executable(name: "gearman", targets: ["gearman"]),
        .executable(name: "gearadmin", targets: ["gearadmin"]),
    ],
    targets: [
        // C declarations Swift's Glibc module lacks: epoll, eventfd, accept4, TCP keepalive options.
        .target(name: "CGearmanSystem"),
        // GNU readline and history, for the gearadmin shell.
        .systemLibrary(
            name: "CReadline",
            providers: [.apt(["libreadline-dev"])]
        ),
        // SQLite 3, for the libsqlite3 persistent queue.
        .systemLibrary(
            name: "CSQLite",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // libpq, for the Postgres persistent queue.
        .systemLibrary(
            name: "CPostgres",
            providers: [.apt(["libpq-dev"])]
        ),
        .target(
            name: "GearmanKit",
            dependencies: ["CGearmanSystem"]
        ),
        .target(
            name: "GearmanServer",
            dependencies: ["GearmanKit", "CGearmanSystem", "CSQLite", "CPostgres"]
        ),
        // The logic of the gearman program and what gearadmin shares with it, kept in a library
        // so tests can call it.
        .target(
            name: "GearmanTools",
            dependencies: ["GearmanKit", "CGearmanSystem"]
        ),
        // The logic of gearadmin, apart because only it needs readline.
        .target(
            name: "GearadminTools",
            dependencies: ["GearmanTools", "GearmanKit", "CReadline"]
        ),
        // Generates completions and man page options from the declarations of all three programs.
        .target(
            name: "GearmanDocs",
            dependencies: ["GearmanTools", "GearadminTools", "GearmanServer", "GearmanKit"]
        ),
        .executableTarget(
            name: "gearman",
            dependencies: ["GearmanTools"],
            linkerSettings: staticStandardLibrary
        ),
        .executableTarget(
            name: "gearadmin",
            dependencies: ["GearadminTools"],
            linkerSettings: staticStandardLibrary
        ),
        // The bg, fg and fgpipe scenarios of the C gearbench, driven by GearmanKit's async API.
        .executableTarget(
            name: "gearkit-bench",
            dependencies: ["GearmanKit"],
            path: "Benchmarks/gearkit-bench"
        ),
        // Regenerates completions/ and the OPTIONS blocks of man/ from the option declarations.
        .executableTarget(
            name: "gearmankit-docs",
            dependencies: ["GearmanDocs"]
        ),
        .executableTarget(
            name: "gearmand",
            dependencies: ["GearmanServer", "GearmanKit"],
            linkerSettings: staticStandardLibrary
        ),
        // Runnable examples of the library; Examples/README.md describes them.
        .executableTarget(name: "example-reverse", dependencies: ["GearmanKit"], path: "Examples/reverse"),
        .executableTarget(name: "example-resize", dependencies: ["GearmanKit"], path: "Examples/resize"),
        .executableTarget(name: "example-newsletter", dependencies: ["GearmanKit"], path: "Examples/newsletter"),
        .executableTarget(name: "example-ids-log", dependencies: ["GearmanKit"], path: "Examples/ids-log"),
        .testTarget(
            name: "GearmanKitTests",
            dependencies: ["GearmanKit"]
        ),
        .testTarget(
            name: "GearmanServerTests",
            dependencies: ["GearmanServer", "GearmanKit", "ProcessTestSupport"],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "GearmanDocsTests",
            dependencies: ["GearmanDocs"]
        ),
        .testTarget(
            name: "LibraryTests",
            dependencies: ["GearmanKit", "GearmanServer"]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["GearmanKit", "GearadminTools", "ProcessTestSupport"]
        ),
        // Starts job servers and other programs as child processes for the test targets that
        // depend on it.
        .target(name: "ProcessTestSupport", dependencies: ["GearmanKit"], path: "Tests/ProcessTestSupport"),
        .testTarget(name: "ExampleTests", dependencies: ["ProcessTestSupport"]),
        .testTarget(
            name: "InteropTests",
            dependencies: ["ProcessTestSupport", "GearmanKit", "GearmanServer"],
            exclude: ["Scripts"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
