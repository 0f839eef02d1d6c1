import Foundation
import ProcessTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Options, environment, configuration file and signals of our `gearmand` executable.
@Suite(.timeLimit(.minutes(2)))
struct GearmandCommandLineTests {
    /// Options that keep a gearmand which unexpectedly starts away from port 4730 and /var.
    static let safeOptions = ["--port", "0", "--listen", "127.0.0.1", "--log-file", "stderr", "--pid-file="]

    static func runGearmand(_ arguments: [String]) async throws -> ToolResult {
        try await ToolRunner.run(Paths.gearmand, arguments, timeout: .seconds(10))
    }

    @Test func helpListsPortOption() async throws {
        let result = try await Self.runGearmand(["--help"])
        #expect(result.termination == .exited(0))
        #expect(result.outputText.contains("--port"))
    }

    @Test func unknownOptionPrintsUsage() async throws {
        let result = try await Self.runGearmand(["--bogus"] + Self.safeOptions)
        #expect(result.termination == .exited(1))
        #expect(result.outputText == "")
        #expect(
            result.errorText
                == "gearmand: unknown option '--bogus'\nUsage: gearmand [OPTIONS]\nTry 'gearmand --help' for more information.\n"
        )
    }

    @Test(arguments: [["-r", "websocket"], ["--protocol=gear"]])
    func unknownModuleIsRejected(_ option: [String]) async throws {
        let result = try await Self.runGearmand(option + Self.safeOptions)
        #expect(result.termination == .exited(1))
        #expect(result.errorText.contains("unknown protocol"), "stderr: \(result.errorText)")
        #expect(result.errorText.contains("the only module is http"), "stderr: \(result.errorText)")
    }

    @Test func unknownQueueTypeIsRejected() async throws {
        let result = try await Self.runGearmand(["-q", "redis"] + Self.safeOptions)
        #expect(result.termination == .exited(1))
        #expect(result.errorText.contains("unknown queue type 'redis'"), "stderr: \(result.errorText)")
    }

    @Test func checkArgumentsExitsZero() async throws {
        let result = try await Self.runGearmand(["--check-args"])
        #expect(result.termination == .exited(0), "stderr: \(result.errorText)")
    }

    @Test(arguments: [
        (["--logfile-fsync=abc", "--logfile-path=/tmp/z.log"], "--logfile-fsync: invalid value 'abc'"),
        (["--logfile-fsync=-5", "--logfile-path=/tmp/z.log"], "--logfile-fsync: invalid value '-5'"),
        (["--logfile-fsync=0", "--logfile-path=/tmp/z.log"], "--logfile-fsync: invalid value '0'"),
        ([], "--logfile-path: missing"),
    ])
    func checkArgumentsRejectsLogfileOptions(_ options: [String], expected: String) async throws {
        let result = try await Self.runGearmand(["--check-args", "-q", "logfile"] + options)
        #expect(result.termination == .exited(1), "stderr: \(result.errorText)")
        #expect(result.errorText.hasPrefix("gearmand: \(expected)"), "stderr: \(result.errorText)")
    }

    @Test func versionOptionPrintsVersion() async throws {
        let result = try await Self.runGearmand(["-V"])
        #expect(result.termination == .exited(0))
        #expect(result.outputText.hasPrefix("gearmand "))
        let version = result.outputText.dropFirst("gearmand ".count).prefix(while: { !$0.isWhitespace })
        let parts = version.split(separator: ".")
        #expect(parts.count >= 2, "no dotted version in \(result.outputText.debugDescription)")
        #expect(parts.allSatisfy { !$0.isEmpty }, "version \(version)")
        #expect(parts.allSatisfy { $0.allSatisfy(\.isNumber) }, "version \(version)")
    }

    @Test func environmentPortIsDefault() async throws {
        let port = try findFreePort()
        var environment = ChildProcess.defaultEnvironment
        environment["GEARMAND_PORT"] = String(port)

        let server = try await ServerProcess.start(usesPortZero: false, environment: environment)
        defer { server.stop() }

        #expect(server.port == port)
        let connection = try server.connect()
        try MalformedInputTests.expectEcho(on: connection, payload: "environment port")
    }

    @Test func configFileSetsOptions() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let configFile = directory.file("gearmand.conf")
        try "--port=0 --job-handle-prefix=H:cfg\n".write(to: configFile, atomically: true, encoding: .utf8)

        let server = try await ServerProcess.start(
            arguments: ["--config-file", configFile.path], usesPortZero: false, directory: directory)
        defer { server.stop() }

        let client = try server.connect()
        try client.send(Wire.request(PacketNumber.submitJobBackground, ["config-function", "", "payload"]))
        let created = try client.receivePacket()
        #expect(created.type == PacketNumber.jobCreated)
        let handle = String(decoding: created.body, as: UTF8.self)
        #expect(handle.hasPrefix("H:cfg:"), "job handle \(handle)")
    }

    /// gearmand 1.1.20 logs to standard error when its log file cannot be opened, so an init
    /// script whose log directory is missing still starts it. A start that fails later prints
    /// its error once, as a FATAL line of that log.
    @Test func unopenableLogFileFallsBackToStandardError() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let logFile = directory.file("missing/gearmand.log").path
        let pidFile = directory.file("missing/gearmand.pid").path

        let result = try await Self.runGearmand([
            "--port", "0", "--listen", "127.0.0.1", "--log-file", logFile, "--pid-file", pidFile,
        ])

        #expect(result.termination == .exited(1))
        #expect(
            result.errorText.contains(
                "gearmand: cannot open log file \(logFile) (No such file or directory); logging to stderr instead"),
            "stderr: \(result.errorText)")
        #expect(result.errorText.contains("FATAL cannot open pid file \(pidFile) for writing"))
        #expect(result.errorText.components(separatedBy: "cannot open pid file").count == 2, "\(result.errorText)")
    }

    /// gearmand 1.1.20 sets TCP_KEEPIDLE without --keepalive too. /proc/net/tcp (or tcp6) shows the
    /// keepalive timer (type 2) of the accepted socket and the time left, in hundredths of a second.
    @Test func keepaliveIdleAppliesWithoutKeepalive() async throws {
        let server = try await ServerProcess.start(arguments: ["--keepalive-idle=7"])
        defer { server.stop() }
        let client = try server.connect()
        let hexPort = String(server.port, radix: 16, uppercase: true)
        let portSuffix = ":" + String(repeating: "0", count: 4 - hexPort.count) + hexPort
        var timer: (type: Int, left: Int)?
        _ = try await waitUntil(timeout: .seconds(5)) {
            let tables = ["/proc/net/tcp", "/proc/net/tcp6"].map(Self.readProcFile)
            for line in tables.joined().split(separator: "\n") {
                let fields = line.split(separator: " ")
                // local_address, state 01 (ESTABLISHED), then tr:tm->when.
                guard fields.count > 5, fields[1].hasSuffix(portSuffix), fields[3] == "01"
                else { continue }
                let parts = fields[5].split(separator: ":")
                if parts.count == 2, let type = Int(parts[0], radix: 16), let left = Int(parts[1], radix: 16) {
                    timer = (type, left)
                }
            }
            return timer != nil
        }
        _ = client

        let found = try #require(timer, "no established socket on port \(server.port) in /proc/net/tcp or tcp6")
        #expect(found.type == 2)
        #expect(found.left <= 700, "keepalive timer \(found.left) hundredths of a second, expected at most 7 s")
    }

    /// Reads a file of /proc to its end. Such files report a size of 0 and are produced a page
    /// at a time, so a reader that trusts the size can get only their first page.
    static func readProcFile(_ path: String) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test func termStopsServerWithClients() async throws {
        let server = try await ServerProcess.start()
        defer { server.stop() }
        let client = try server.connect()
        try client.send(Wire.request(PacketNumber.submitJobBackground, ["term-function", "", "payload"]))
        let created = try client.receivePacket()
        try #require(created.type == PacketNumber.jobCreated)

        // SIGTERM stops at once, unlike SIGUSR1, even with a client connected and a job queued.
        server.child.signalLeader(SIGTERM)
        let termination = try await server.child.waitForExit(timeout: .seconds(10))

        #expect(termination == .exited(0), "log:\n\(server.logText())")
        let trailing = try client.receiveUntilClosed()
        #expect(trailing.isEmpty)
    }

    @Test func usr1StopsIdleServer() async throws {
        let server = try await ServerProcess.start()
        defer { server.stop() }

        server.child.signalLeader(SIGUSR1)
        let termination = try await server.child.waitForExit(timeout: .seconds(10))

        #expect(termination == .exited(0), "log:\n\(server.logText())")
    }

    @Test func usr1WaitsForQueuedJob() async throws {
        let server = try await ServerProcess.start()
        defer { server.stop() }
        let client = try server.connect()
        let worker = try server.connect()
        try client.send(Wire.request(PacketNumber.submitJobBackground, ["drain-function", "", "payload"]))
        let created = try client.receivePacket()
        try #require(created.type == PacketNumber.jobCreated)
        let handle = String(decoding: created.body, as: UTF8.self)

        server.child.signalLeader(SIGUSR1)
        let draining = try await waitUntil { server.logText().contains("SIGUSR1") }
        try #require(draining, "gearmand did not log SIGUSR1; log:\n\(server.logText())")

        // Connections that were open before the signal are still served while a job is left.
        try worker.send(Wire.request(PacketNumber.canDo, ["drain-function"]))
        try worker.send(Wire.packet(type: PacketNumber.grabJob, body: []))
        let assigned = try worker.receivePacket()
        try #require(assigned.type == PacketNumber.jobAssign, "GRAB_JOB got \(assigned.arguments)")
        #expect(server.child.isRunning, "gearmand exited while a job was still running")

        try worker.send(Wire.request(PacketNumber.workComplete, [handle, "done"]))
        let termination = try await server.child.waitForExit(timeout: .seconds(10))
        #expect(termination == .exited(0), "log:\n\(server.logText())")
    }

    @Test func hupReopensLogFile() async throws {
        let server = try await ServerProcess.start()
        defer { server.stop() }
        let rotated = server.directory.file("gearmand.log.1")
        try FileManager.default.moveItem(at: server.logFile, to: rotated)

        server.child.signalLeader(SIGHUP)
        let reopened = try await waitUntil { server.logText().contains("reopened") }
        #expect(reopened, "no 'reopened' line in a new log file; rotated log:\n\(readText(rotated))")

        // Later messages go to the new file too, not to the rotated one.
        _ = try server.connect()
        let accepted = try await waitUntil { server.logText().contains("accepted connection") }
        #expect(accepted, "new log:\n\(server.logText())")
        #expect(!readText(rotated).contains("accepted connection"))
    }
}
