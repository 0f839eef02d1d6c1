import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Locations of the built programs, the package and the external tools the tests use.
public enum TestPaths {
    /// The directory of the running test bundle, where SwiftPM also puts the package's
    /// executables (gearmand, gearman, the examples).
    public static let buildDirectory: URL = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        return URL(fileURLWithPath: executable).deletingLastPathComponent()
    }()

    /// The package root, found from this file's location in `Tests/ProcessTestSupport`.
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // ProcessTestSupport
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()

    /// Returns the path of a program built by this package, such as `gearmand` or `example-reverse`.
    public static func built(_ name: String) -> String {
        buildDirectory.appendingPathComponent(name).path
    }

    /// The C gearmand 1.1.x from Debian's gearman-job-server package.
    public static let referenceGearmand = "/usr/sbin/gearmand"
    /// ImageMagick, by full path because another `convert` may come first on PATH.
    public static let convert = "/usr/bin/convert"
    public static let identify = "/usr/bin/identify"
    public static let bash = "/bin/bash"
    public static let php = "/usr/bin/php"
    public static let perl = "/usr/bin/perl"

    public static func isExecutable(_ path: String) -> Bool {
        FileManager.default.isExecutableFile(atPath: path)
    }
}

/// A directory under the system temporary directory, removed by `remove()`.
public struct TemporaryDirectory: Sendable {
    public let url: URL

    public init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("gearmankit-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    public func file(_ name: String) -> URL {
        url.appendingPathComponent(name)
    }

    public func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}

/// Polls `condition` every 10 ms until it returns true or `timeout` has passed.
///
/// - Returns: whether the condition became true in time.
public func waitUntil(timeout: Duration = .seconds(10), _ condition: () throws -> Bool) async throws -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while true {
        if try condition() { return true }
        if clock.now >= deadline { return false }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// Reads a file as UTF-8 text, or returns an empty string when it does not exist yet.
public func readText(_ url: URL) -> String {
    guard let data = FileManager.default.contents(atPath: url.path) else { return "" }
    return String(decoding: data, as: UTF8.self)
}

/// Returns the non-empty lines of a text file, or none when it does not exist yet.
public func readLines(_ url: URL) -> [String] {
    readText(url).split(separator: "\n").map(String.init)
}

/// Finds a TCP port on 127.0.0.1 that is free right now by binding port 0 and closing the socket.
///
/// Another process may take the port before the caller binds it. That race is rare on loopback,
/// and it makes the caller's server fail to start rather than talk to a stranger.
public func findFreePort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    if fd < 0 { throw SystemCallError(call: "socket", code: errno) }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    if bound != 0 { throw SystemCallError(call: "bind", code: errno) }
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    if named != 0 { throw SystemCallError(call: "getsockname", code: errno) }
    return UInt16(bigEndian: address.sin_port)
}
