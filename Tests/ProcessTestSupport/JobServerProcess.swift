import Foundation
import GearmanKit

/// The job servers the process tests run against.
public enum ServerKind: String, CaseIterable, Sendable, CustomStringConvertible {
    /// This package's `gearmand`, built next to the test bundle.
    case gearmanKit
    /// The C gearmand 1.1.x at /usr/sbin/gearmand (Debian's gearman-job-server).
    case cGearmand

    public var description: String {
        switch self {
        case .gearmanKit: return "our gearmand"
        case .cGearmand: return "C gearmand"
        }
    }

    public var executable: String {
        switch self {
        case .gearmanKit: return TestPaths.built("gearmand")
        case .cGearmand: return TestPaths.referenceGearmand
        }
    }

    public var isInstalled: Bool { TestPaths.isExecutable(executable) }

    /// Why the server cannot run, for a cancelled test's comment.
    public var missingMessage: String {
        switch self {
        case .gearmanKit: return "gearmand not found at \(executable); run `swift build` first"
        case .cGearmand:
            return "the C gearmand (\(executable), Debian package gearman-job-server) is not installed"
        }
    }
}

/// A failure to start a job server, with its command line and output.
public struct ServerStartError: Error, CustomStringConvertible {
    public let description: String

    public init(description: String) {
        self.description = description
    }
}

/// A job server process on 127.0.0.1, started for one test.
///
/// Our gearmand gets `--port 0` and logs the port it picked, so no two tests race for a port.
/// The C gearmand has no such option, so it gets a port that was free a moment before.
public final class JobServerProcess: Sendable {
    public let kind: ServerKind
    public let port: UInt16
    public let directory: TemporaryDirectory
    private let child: ChildProcess

    /// `127.0.0.1:PORT`, as the client and worker take it.
    public var address: String { "127.0.0.1:\(port)" }
    public var pid: Int32 { child.pid }

    private init(kind: ServerKind, port: UInt16, directory: TemporaryDirectory, child: ChildProcess) {
        self.kind = kind
        self.port = port
        self.directory = directory
        self.child = child
    }

    /// Starts a server of `kind` with extra `arguments` and waits up to `timeout` until it
    /// accepts connections.
    public static func start(
        _ kind: ServerKind, arguments: [String] = [], timeout: Duration = .seconds(10)
    ) async throws -> JobServerProcess {
        guard kind.isInstalled else { throw ServerStartError(description: kind.missingMessage) }
        let directory = try TemporaryDirectory()
        let logFile = directory.file("gearmand.log")
        var fullArguments: [String]
        var port: UInt16?
        switch kind {
        case .gearmanKit:
            fullArguments = [
                "--listen", "127.0.0.1", "--port", "0", "--log-file", logFile.path, "--verbose", "INFO",
                "--pid-file=", "--threads", "2",
            ]
        case .cGearmand:
            let freePort = try findFreePort()
            port = freePort
            fullArguments = [
                "--listen=127.0.0.1", "--port=\(freePort)", "--log-file=none",
                "--pid-file=\(directory.file("gearmand.pid").path)",
            ]
        }
        fullArguments += arguments
        let child = try ChildProcess(
            executable: kind.executable, arguments: fullArguments,
            standardOutput: directory.file("stdout"), standardError: directory.file("stderr"))

        let ready = try await waitUntil(timeout: timeout) {
            if !child.isRunning { return true }
            if kind == .gearmanKit { port = parseListeningPort(readText(logFile)) }
            guard let port else { return false }
            return (try? GearmanAdmin(server: "127.0.0.1:\(port)", connectTimeout: 1000)) != nil
        }
        guard ready, child.isRunning, let port else {
            let termination = child.stop()
            directory.remove()
            throw ServerStartError(
                description: "\(kind.executable) \(fullArguments.joined(separator: " ")) did not accept connections "
                    + "(\(termination));\nlog:\n\(readText(logFile))\nstderr:\n\(child.standardErrorText())")
        }
        return JobServerProcess(kind: kind, port: port, directory: directory, child: child)
    }

    /// Parses the port from our gearmand's `NOTICE listening on 127.0.0.1:<port>` log line.
    static func parseListeningPort(_ log: String) -> UInt16? {
        let marker = "listening on 127.0.0.1:"
        for line in log.split(separator: "\n") {
            guard let range = line.range(of: marker) else { continue }
            return UInt16(line[range.upperBound...].prefix(while: \.isNumber))
        }
        return nil
    }

    /// Stops the server with SIGTERM (SIGKILL after 5 s) and removes its directory.
    @discardableResult
    public func stop() -> Termination {
        let termination = child.stop()
        directory.remove()
        return termination
    }

    /// Waits until the admin `status` shows at least `count` workers for `function`.
    ///
    /// - Returns: whether they registered within `timeout`.
    public func waitForWorkers(of function: String, count: Int = 1, timeout: Duration = .seconds(10)) async throws
        -> Bool
    {
        let admin = try GearmanAdmin(server: address)
        defer { admin.close() }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while clock.now < deadline {
            let status = try await admin.status()
            if status.contains(where: { $0.name == function && $0.workers >= count }) { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// Waits until the admin `status` shows no queued or running job for `function`.
    public func waitUntilIdle(_ function: String, timeout: Duration = .seconds(10)) async throws -> Bool {
        let admin = try GearmanAdmin(server: address)
        defer { admin.close() }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while clock.now < deadline {
            let status = try await admin.status()
            if !status.contains(where: { $0.name == function && $0.total > 0 }) { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }
}
