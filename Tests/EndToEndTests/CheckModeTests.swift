import Foundation
import ProcessTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Our gearadmin, built next to the test bundle as gearmand is.
let builtGearadmin: String = {
    URL(fileURLWithPath: Paths.gearmand).deletingLastPathComponent().appendingPathComponent("gearadmin").path
}()

/// Our gearmand with known functions, jobs and workers:
///
/// | function    | total | running | workers |
/// | ----------- | ----- | ------- | ------- |
/// | 9lives      | 0     | 0       | 0       |
/// | a-b         | 0     | 0       | 0       |
/// | a.b         | 0     | 0       | 0       |
/// | mail.send-2 | 1     | 0       | 0       |
/// | resize      | 4     | 1       | 2       |
///
/// So 4 jobs are queued (3 for resize, 1 for mail.send-2), 1 is running and 2 workers are
/// registered. The connections stay open until `stop()`, because a worker's registration
/// and its running job end with its connection.
final class KnownStateServer {
    let server: ServerProcess
    private let connections: [RawConnection]

    var port: UInt16 { server.port }

    private init(server: ServerProcess, connections: [RawConnection]) {
        self.server = server
        self.connections = connections
    }

    static func start() async throws -> KnownStateServer {
        let server = try await ServerProcess.start()
        do {
            let connections = try await populate(server)
            return KnownStateServer(server: server, connections: connections)
        } catch {
            server.stop()
            throw error
        }
    }

    private static func populate(_ server: ServerProcess) async throws -> [RawConnection] {
        let client = try server.connect()
        let jobs = [("resize", "r1"), ("resize", "r2"), ("resize", "r3"), ("resize", "r4"), ("mail.send-2", "m1")]
        for (function, unique) in jobs {
            try client.send(Wire.request(PacketNumber.submitJobBackground, [function, unique, "payload"]))
            let reply = try client.receivePacket()
            try #require(reply.type == PacketNumber.jobCreated, "SUBMIT_JOB_BG \(function) got packet \(reply.type)")
        }

        let admin = try server.connect()
        for function in ["9lives", "a-b", "a.b"] {
            try admin.send("create function \(function)\r\n")
            let reply = try admin.receiveLine()
            try #require(reply == "OK\r\n", "create function \(function) returned \(reply.debugDescription)")
        }

        let busyWorker = try server.connect()
        try busyWorker.send(Wire.request(PacketNumber.canDo, ["resize"]))
        try busyWorker.send(Wire.request(PacketNumber.grabJob, []))
        let assignment = try busyWorker.receivePacket()
        try #require(assignment.type == PacketNumber.jobAssign, "GRAB_JOB got packet \(assignment.type)")

        let idleWorker = try server.connect()
        try idleWorker.send(Wire.request(PacketNumber.canDo, ["resize"]))

        // CAN_DO has no reply, so wait until status shows the second worker.
        let ready = try await waitUntil(timeout: .seconds(10)) {
            try admin.adminList("status").contains("resize\t4\t1\t2")
        }
        try #require(ready, "status never showed resize with 4 jobs, 1 running and 2 workers within 10 s")
        return [client, admin, busyWorker, idleWorker]
    }

    func stop() {
        server.stop()
    }
}

/// Runs our gearadmin with `arguments`, bounded by 15 s.
private func runGearadmin(_ arguments: [String]) async throws -> ToolResult {
    try await ToolRunner.run(builtGearadmin, arguments, timeout: .seconds(15))
}

/// `gearadmin --check`, the Nagios plugin mode, against real servers.
@Suite(.timeLimit(.minutes(1)))
struct CheckModeTests {
    @Test func okWithoutThresholds() async throws {
        let state = try await KnownStateServer.start()
        defer { state.stop() }

        let result = try await runGearadmin(["-h", "127.0.0.1", "-p", String(state.port), "--check"])

        #expect(!result.timedOut)
        #expect(result.termination == .exited(0), "stdout: \(result.outputText) stderr: \(result.errorText)")
        #expect(
            result.outputText
                == "GEARMAN OK: 5 functions, 4 queued, 1 running, 2 workers | 'queued'=4;;;0; 'running'=1;;;0; "
                + "'workers'=2;;;0; '9lives_queued'=0;;;0; '9lives_running'=0;;;0; '9lives_workers'=0;;;0; "
                + "'a-b_queued'=0;;;0; 'a-b_running'=0;;;0; 'a-b_workers'=0;;;0; 'a.b_queued'=0;;;0; "
                + "'a.b_running'=0;;;0; 'a.b_workers'=0;;;0; 'mail.send-2_queued'=1;;;0; "
                + "'mail.send-2_running'=0;;;0; 'mail.send-2_workers'=0;;;0; 'resize_queued'=3;;;0; "
                + "'resize_running'=1;;;0; 'resize_workers'=2;;;0;\n")
        #expect(result.errorText == "")
    }

    @Test func okWithinThresholds() async throws {
        let state = try await KnownStateServer.start()
        defer { state.stop() }

        let result = try await runGearadmin([
            "-h", "127.0.0.1", "-p", String(state.port), "--check", "--function", "resize", "--queue-warning", "3",
            "--queue-critical", "10", "--workers-warning", "2", "--workers-critical", "1",
        ])

        #expect(result.termination == .exited(0), "stdout: \(result.outputText)")
        #expect(
            result.outputText
                == "GEARMAN OK: 1 function, 3 queued, 1 running, 2 workers | 'queued'=3;;;0; 'running'=1;;;0; "
                + "'workers'=2;;;0; 'resize_queued'=3;3;10;0; 'resize_running'=1;;;0; 'resize_workers'=2;2:;1:;0;\n")
    }

    @Test func queueAboveWarning() async throws {
        let state = try await KnownStateServer.start()
        defer { state.stop() }

        let result = try await runGearadmin([
            "-h", "127.0.0.1", "-p", String(state.port), "--check", "--queue-warning", "2", "--queue-critical", "10",
        ])

        #expect(result.termination == .exited(1), "stdout: \(result.outputText)")
        #expect(
            result.outputText.hasPrefix(
                "GEARMAN WARNING: resize 3 queued (warning above 2); 5 functions, 4 queued, 1 running, 2 workers | "))
        #expect(result.outputText.contains(" 'resize_queued'=3;2;10;0; "))
    }

    @Test func workersBelowCritical() async throws {
        let state = try await KnownStateServer.start()
        defer { state.stop() }

        let result = try await runGearadmin([
            "-h", "127.0.0.1", "-p", String(state.port), "--check", "--function", "mail.send-2",
            "--workers-critical", "1",
        ])

        #expect(result.termination == .exited(2), "stdout: \(result.outputText)")
        #expect(
            result.outputText
                == "GEARMAN CRITICAL: mail.send-2 0 workers (critical below 1); 1 function, 1 queued, 0 running, "
                + "0 workers | 'queued'=1;;;0; 'running'=0;;;0; 'workers'=0;;;0; 'mail.send-2_queued'=1;;;0; "
                + "'mail.send-2_running'=0;;;0; 'mail.send-2_workers'=0;;1:;0;\n")
    }

    @Test func totalQueueAboveCritical() async throws {
        let state = try await KnownStateServer.start()
        defer { state.stop() }

        let result = try await runGearadmin([
            "-h", "127.0.0.1", "-p", String(state.port), "--check", "--total-queue-warning", "2",
            "--total-queue-critical", "3",
        ])

        #expect(result.termination == .exited(2), "stdout: \(result.outputText)")
        #expect(result.outputText.hasPrefix("GEARMAN CRITICAL: total 4 queued (critical above 3); 5 functions, "))
        #expect(result.outputText.contains(" | 'queued'=4;2;3;0; "))
    }

    @Test func serverDownIsCritical() async throws {
        let port = try refusedPort()

        let result = try await runGearadmin(["-h", "127.0.0.1", "-p", String(port), "--check"])

        #expect(result.termination == .exited(2), "stdout: \(result.outputText)")
        #expect(result.outputText == "GEARMAN CRITICAL: cannot connect to 127.0.0.1:\(port): Connection refused\n")
    }

    @Test func silentServerTimesOut() async throws {
        let listener = try SilentListener()
        defer { listener.close() }

        // timeout(1) bounds the check by the child's own clock, so a busy test run that resumes
        // this task late does not count against gearadmin. It exits with 124 when it kills.
        let result = try await ToolRunner.run(
            "/usr/bin/timeout",
            ["5", builtGearadmin, "-h", "127.0.0.1", "-p", String(listener.port), "--check", "--timeout", "1"],
            timeout: .seconds(15))

        #expect(result.termination == .exited(2), "gearadmin did not end by itself within 5 s: \(result.transcript)")
        #expect(result.outputText == "GEARMAN CRITICAL: no reply from 127.0.0.1:\(listener.port) within 1 s\n")
    }

    @Test(arguments: [
        ["--check", "--queue-warning", "abc"],
        ["--check", "--bogus"],
        ["--check", "--status"],
        ["--check", "--timeout", "0"],
    ])
    func invalidArgumentsAreUnknown(_ arguments: [String]) async throws {
        // No server is needed: the command line is rejected before any connection.
        let result = try await runGearadmin(arguments)

        #expect(result.termination == .exited(3), "stdout: \(result.outputText)")
        #expect(result.outputText.hasPrefix("GEARMAN UNKNOWN: "))
        #expect(result.outputText.hasSuffix(" (see gearadmin --help)\n"))
        #expect(result.outputText.split(separator: "\n").count == 1)
    }
}

/// A TCP socket on 127.0.0.1 that listens but never accepts, so a client connects and then
/// waits for a reply that never comes.
private final class SilentListener {
    let fd: Int32
    let port: UInt16

    init() throws {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if socketFD < 0 { throw RawConnectionError.systemCall("socket", errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketFD, $0, length) }
        }
        guard bound == 0, listen(socketFD, 4) == 0 else {
            let code = errno
            Glibc.close(socketFD)
            throw RawConnectionError.systemCall("bind or listen", code)
        }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socketFD, $0, &length) }
        }
        if named != 0 {
            let code = errno
            Glibc.close(socketFD)
            throw RawConnectionError.systemCall("getsockname", code)
        }
        fd = socketFD
        port = UInt16(bigEndian: address.sin_port)
    }

    func close() {
        Glibc.close(fd)
    }
}
