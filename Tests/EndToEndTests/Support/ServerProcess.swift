import Foundation
import ProcessTestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Our `gearmand`, started on 127.0.0.1 with a log file in a temporary directory.
///
/// The server always gets `--listen 127.0.0.1 --log-file <dir>/gearmand.log --verbose INFO
/// --pid-file= --threads 1`, and `--port 0` unless the test passes `usesPortZero: false`
/// to set the port another way. The port is read from the log line
/// `NOTICE listening on 127.0.0.1:<port>`.
final class ServerProcess {
    let child: ChildProcess
    let port: UInt16
    let directory: TemporaryDirectory
    private let ownsDirectory: Bool

    var logFile: URL { directory.file("gearmand.log") }
    var pid: Int32 { child.pid }

    private init(child: ChildProcess, port: UInt16, directory: TemporaryDirectory, ownsDirectory: Bool) {
        self.child = child
        self.port = port
        self.directory = directory
        self.ownsDirectory = ownsDirectory
    }

    /// Starts the server and waits up to `timeout` until it logs its port.
    ///
    /// - Parameters:
    ///   - arguments: options added after the standard ones.
    ///   - usesPortZero: whether to pass `--port 0`.
    ///   - environment: the child's environment; nil means `ChildProcess.defaultEnvironment`.
    ///   - directory: where the log goes; nil creates a directory that `stop()` removes.
    static func start(
        arguments: [String] = [], usesPortZero: Bool = true, environment: [String: String]? = nil,
        directory: TemporaryDirectory? = nil, timeout: Duration = .seconds(10)
    ) async throws -> ServerProcess {
        let workDirectory = try directory ?? TemporaryDirectory()
        let logFile = workDirectory.file("gearmand.log")
        var fullArguments = [
            "--listen", "127.0.0.1", "--log-file", logFile.path, "--verbose", "INFO", "--pid-file=", "--threads", "1",
        ]
        if usesPortZero { fullArguments += ["--port", "0"] }
        fullArguments += arguments

        guard TestPaths.isExecutable(Paths.gearmand) else {
            throw ServerStartError(description: "gearmand not found at \(Paths.gearmand); run `swift build` first")
        }
        let child = try ChildProcess(
            executable: Paths.gearmand, arguments: fullArguments, environment: environment,
            standardOutput: workDirectory.file("gearmand.stdout"), standardError: workDirectory.file("gearmand.stderr"))

        var port: UInt16?
        let ready = try await waitUntil(timeout: timeout) {
            port = parseListeningPort(readText(logFile))
            return port != nil || !child.isRunning
        }
        guard ready, let port else {
            let termination = child.stop()
            let details =
                "gearmand \(fullArguments.joined(separator: " ")) did not log its port (\(termination));\n"
                + "log:\n\(readText(logFile))\nstderr:\n\(child.standardErrorText())"
            if directory == nil { workDirectory.remove() }
            throw ServerStartError(description: details)
        }
        return ServerProcess(child: child, port: port, directory: workDirectory, ownsDirectory: directory == nil)
    }

    /// Parses the port from the first `NOTICE listening on 127.0.0.1:<port>` line of `log`.
    static func parseListeningPort(_ log: String) -> UInt16? {
        let marker = "NOTICE listening on 127.0.0.1:"
        for line in log.split(separator: "\n") {
            guard let range = line.range(of: marker) else { continue }
            return UInt16(line[range.upperBound...].prefix(while: \.isNumber))
        }
        return nil
    }

    /// Stops the server with SIGTERM (SIGKILL after 5 s) and removes its directory if it made one.
    @discardableResult
    func stop() -> Termination {
        let termination = child.stop()
        if ownsDirectory { directory.remove() }
        return termination
    }

    func logText() -> String { readText(logFile) }

    func logLines() -> [String] {
        logText().split(separator: "\n").map(String.init)
    }

    func connect() throws -> RawConnection {
        try RawConnection(port: port)
    }

    /// Waits until the admin `status` reply shows at least one worker for `function`.
    func waitForWorker(of function: String, timeout: Duration = .seconds(10)) async throws -> Bool {
        let admin = try connect()
        return try await waitUntil(timeout: timeout) {
            try admin.adminList("status").contains { line in
                let fields = line.split(separator: "\t")
                return fields.count == 4 && fields[0] == function && (Int(fields[3]) ?? 0) > 0
            }
        }
    }
}

/// The C gearmand 1.1.20 from Debian's gearman-job-server, for comparisons.
final class ReferenceServer {
    static var isInstalled: Bool { ServerKind.cGearmand.isInstalled }
    static let missingMessage = ServerKind.cGearmand.missingMessage

    let child: ChildProcess
    let port: UInt16
    let directory: TemporaryDirectory

    var pid: Int32 { child.pid }

    private init(child: ChildProcess, port: UInt16, directory: TemporaryDirectory) {
        self.child = child
        self.port = port
        self.directory = directory
    }

    /// Starts `/usr/sbin/gearmand` on a free port of 127.0.0.1 and waits until it accepts connections.
    static func start(arguments: [String] = [], timeout: Duration = .seconds(10)) async throws -> ReferenceServer {
        let directory = try TemporaryDirectory()
        let port = try findFreePort()
        let fullArguments =
            ["--listen=127.0.0.1", "--port=\(port)", "--log-file=none", "--pid-file=\(directory.file("g.pid").path)"]
            + arguments
        let child = try ChildProcess(
            executable: TestPaths.referenceGearmand, arguments: fullArguments,
            standardOutput: directory.file("stdout"), standardError: directory.file("stderr"))

        let ready = try await waitUntil(timeout: timeout) {
            if !child.isRunning { return true }
            return (try? RawConnection(port: port)) != nil
        }
        guard ready, child.isRunning else {
            let termination = child.stop()
            let details =
                "\(TestPaths.referenceGearmand) \(fullArguments.joined(separator: " ")) did not accept connections "
                + "(\(termination)); stderr:\n\(child.standardErrorText())"
            directory.remove()
            throw ServerStartError(description: details)
        }
        return ReferenceServer(child: child, port: port, directory: directory)
    }

    @discardableResult
    func stop() -> Termination {
        let termination = child.stop()
        directory.remove()
        return termination
    }
}
