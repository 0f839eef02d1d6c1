// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "GearmanKit",
    products: [
        .library(name: "GearmanKit", targets: ["GearmanKit"]),
        .library(name: "GearmanServer", targets: ["GearmanServer"]),
        .executable(name: "gearmand", targets: ["gearmand"]),
    ],
    targets: [
        // C declarations Swift's Glibc module lacks: epoll, eventfd, accept4, TCP keepalive options.
        .target(name: "CGearmanSystem"),
        .target(
            name: "GearmanKit",
            dependencies: ["CGearmanSystem"]
        ),
        .target(
            name: "GearmanServer",
            dependencies: ["GearmanKit", "CGearmanSystem"]
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
            name: "EndToEndTests",
            dependencies: ["GearmanKit"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
