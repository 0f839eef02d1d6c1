// swift-tools-version: 6.0
import PackageDescription

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
        .target(
            name: "GearmanKit",
            dependencies: ["CGearmanSystem"]
        ),
        .target(
            name: "GearmanServer",
            dependencies: ["GearmanKit", "CGearmanSystem"]
        ),
        // The logic of the gearman and gearadmin programs, kept in a library so tests can call it.
        .target(
            name: "GearmanTools",
            dependencies: ["GearmanKit", "CGearmanSystem", "CReadline"]
        ),
        // Generates completions and man page options from the declarations of all three programs.
        .target(
            name: "GearmanDocs",
            dependencies: ["GearmanTools", "GearmanServer", "GearmanKit"]
        ),
        .executableTarget(
            name: "gearman",
            dependencies: ["GearmanTools"]
        ),
        .executableTarget(
            name: "gearadmin",
            dependencies: ["GearmanTools"]
        ),
        // Regenerates completions/ and the OPTIONS blocks of man/ from the option declarations.
        .executableTarget(
            name: "gearmankit-docs",
            dependencies: ["GearmanDocs"]
        ),
        .executableTarget(
            name: "gearmand",
            dependencies: ["GearmanServer", "GearmanKit"]
        ),
        .testTarget(
            name: "GearmanKitTests",
            dependencies: ["GearmanKit"]
        ),
        .testTarget(
            name: "GearmanServerTests",
            dependencies: ["GearmanServer", "GearmanKit"]
        ),
        .testTarget(
            name: "GearmanDocsTests",
            dependencies: ["GearmanDocs"]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["GearmanKit"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
