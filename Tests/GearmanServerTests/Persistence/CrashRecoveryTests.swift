import Foundation
import GearmanKit
import ProcessTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Kills a real gearmand with SIGKILL while clients submit background jobs, restarts it on the
/// same persistent queue and drains the queue: every job a client got JOB_CREATED for must run,
/// and no job may appear that was never submitted.
@Suite("Persistent queue crash recovery", .serialized)
struct CrashRecoveryTests {
    static let jobCount = 100_000
    static let killRounds = 3

    @Test("libsqlite3: acknowledged jobs survive SIGKILL")
    func sqlite() async throws {
        for round in 1...Self.killRounds {
            let folder = TemporaryFolder()
            try await crashAndRecover(
                round: round, folder: folder, queue: ["-q", "libsqlite3", "--libsqlite3-db", folder.file("queue.db")])
        }
    }

    @Test("logfile: acknowledged jobs survive SIGKILL")
    func logfile() async throws {
        for round in 1...Self.killRounds {
            let folder = TemporaryFolder()
            try await crashAndRecover(
                round: round, folder: folder, queue: ["-q", "logfile", "--logfile-path", folder.file("queue.log")])
        }
    }

    @Test("Postgres: acknowledged jobs survive SIGKILL", .enabled(if: PostgresCluster.unavailableReason == nil))
    func postgres() async throws {
        let cluster = try await PostgresCluster()
        for round in 1...Self.killRounds {
            let folder = TemporaryFolder()
            try await crashAndRecover(
                round: round, folder: folder,
                queue: [
                    "-q", "Postgres", "--libpq-conninfo", cluster.conninfo, "--libpq-table", "crash_round_\(round)",
                ])
        }
        await cluster.stop()
    }

    /// One round: submit, kill at a random moment, restart, drain, compare.
    func crashAndRecover(round: Int, folder: TemporaryFolder, queue: [String]) async throws {
        let function = "crash-\(round)"
        let first = try await startServer(folder: folder, queue: queue, log: "first.log")
        let record = SubmissionRecord()
        let port = first.port
        async let submission: Void = runOnDedicatedThread {
            Self.submit(port: port, function: function, record: record)
        }
        // Kill somewhere between the first acknowledgements and the end of the submissions.
        let firstAcknowledgement = Date().addingTimeInterval(30)
        while record.acknowledged.withLock({ $0.isEmpty }) && Date() < firstAcknowledgement {
            try await Task.sleep(for: .milliseconds(5))
        }
        let delay = Double.random(in: 0.0...1.5)
        try await Task.sleep(for: .seconds(delay))
        first.process.stop(signal: SIGKILL)
        try await submission

        let second = try await startServer(folder: folder, queue: queue, log: "second.log")
        defer { second.process.stop(grace: .seconds(10)) }
        let secondPort = second.port
        let ran = try await runOnDedicatedThread { try Self.drain(port: secondPort, function: function) }
        let acked = record.acknowledged.withLock { $0 }
        let sent = record.submitted.load(ordering: .relaxed)

        let missing = acked.subtracting(ran)
        #expect(
            missing.isEmpty,
            "round \(round), killed \(delay) s after the first acknowledgement: \(missing.count) acknowledged jobs lost, e.g. \(missing.sorted().prefix(5))"
        )
        let unknown = ran.filter { $0 < 0 || $0 >= sent }
        #expect(unknown.isEmpty, "round \(round): jobs that were never submitted ran: \(unknown.sorted().prefix(5))")
        #expect(!acked.isEmpty, "round \(round): the kill came before any acknowledgement; nothing was tested")
        print(
            "crash round \(round) \(queue[1]): killed \(String(format: "%.2f", delay)) s after the first acknowledgement, submitted \(sent), acknowledged \(acked.count), ran after restart \(ran.count)"
        )
    }

    /// What the submitting thread sent and what the server acknowledged.
    final class SubmissionRecord: Sendable {
        let acknowledged = Mutex<Set<Int>>([])
        /// One past the highest job number sent.
        let submitted = Atomic<Int>(0)
    }

    struct RunningServer {
        let process: ChildProcess
        let port: Int
    }

    func startServer(folder: TemporaryFolder, queue: [String], log: String) async throws -> RunningServer {
        let port = try freeLoopbackPort()
        let arguments =
            [
                "--listen", "127.0.0.1", "--port", String(port), "--log-file", folder.file(log), "--verbose", "NOTICE",
                "--pid-file=", "--threads", "1",
            ] + queue
        let output = URL(fileURLWithPath: folder.file(log + ".out"))
        let process = try ChildProcess(
            executable: TestPaths.built("gearmand"), arguments: arguments, standardOutput: output,
            standardError: output)
        if try await waitForConnection(port: port) {
            return RunningServer(process: process, port: port)
        }
        process.stop(signal: SIGKILL)
        throw TestSetupError(
            "gearmand did not start; log: \((try? String(contentsOfFile: folder.file(log), encoding: .utf8)) ?? "")")
    }

    /// Submits the jobs in pipelined batches and records each one the server acknowledged.
    static func submit(port: Int, function: String, record: SubmissionRecord) {
        guard let connection = try? GearmanConnection(to: ServerAddress(host: "127.0.0.1", port: port), timeout: 2000)
        else {
            return
        }
        let batch = 500
        var next = 0
        while next < jobCount {
            let numbers = Array(next..<min(next + batch, jobCount))
            let packets = numbers.map { Packet.request(.submitJobBackground, function, "job-\($0)", String($0)) }
            record.submitted.store(numbers.last! + 1, ordering: .relaxed)
            do {
                try connection.send(packets)
                for number in numbers {
                    let reply = try connection.receivePacket(timeout: 20_000)
                    guard reply.type == .jobCreated else { return }
                    record.acknowledged.withLock { _ = $0.insert(number) }
                }
            } catch {
                return
            }
            next += batch
        }
    }

    /// Runs every queued job of `function` and returns their numbers.
    static func drain(port: Int, function: String) throws -> Set<Int> {
        let connection = try GearmanConnection(to: ServerAddress(host: "127.0.0.1", port: port), timeout: 2000)
        try connection.send(Packet.request(.canDo, function))
        var ran = Set<Int>()
        while true {
            try connection.send(Packet.request(.grabJobUnique))
            let reply = try connection.receivePacket(timeout: 20_000)
            if reply.type == .noJob { return ran }
            guard reply.type == .jobAssignUnique else { continue }
            ran.insert(Int(reply.stringArgument(3)) ?? -1)
            try connection.send(
                Packet(magic: .request, type: .workComplete, arguments: [Array(reply.argument(0)), []]))
        }
    }
}

/// Waits up to 20 s until a server accepts connections on 127.0.0.1:`port`.
///
/// - Returns: whether one did in time.
func waitForConnection(port: Int) async throws -> Bool {
    try await waitUntil(timeout: .seconds(20)) {
        // On loopback, connect(2) returns at once whether the port is open or not.
        (try? GearmanConnection(to: ServerAddress(host: "127.0.0.1", port: port), timeout: 200)) != nil
    }
}
