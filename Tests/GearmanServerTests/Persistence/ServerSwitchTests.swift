import Foundation
import GearmanKit
import ProcessTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Switches a live queue between the C gearmand and ours, and restarts PostgreSQL under load.
@Suite("Persistent queue switch and database restart", .serialized)
struct ServerSwitchTests {
    static var hasReference: Bool { ServerKind.cGearmand.isInstalled }

    @Test("a libsqlite3 queue written by the C gearmand runs on ours", .enabled(if: hasReference))
    func sqliteSwitch() async throws {
        let folder = TemporaryFolder()
        try await switchServers(
            folder: folder, queue: ["-q", "libsqlite3", "--libsqlite3-db", folder.file("queue.db")])
    }

    @Test(
        "a Postgres queue written by the C gearmand runs on ours",
        .enabled(if: hasReference && PostgresCluster.unavailableReason == nil))
    func postgresSwitch() async throws {
        let cluster = try await PostgresCluster()
        let folder = TemporaryFolder()
        try await switchServers(folder: folder, queue: ["-q", "Postgres", "--libpq-conninfo", cluster.conninfo])
        await cluster.stop()
    }

    /// Queues jobs on the C gearmand, stops it, and drains the same queue with ours.
    func switchServers(folder: TemporaryFolder, queue: [String]) async throws {
        let port = try freeLoopbackPort()
        let output = URL(fileURLWithPath: folder.file("c.out"))
        let reference = try ChildProcess(
            executable: TestPaths.referenceGearmand,
            arguments: [
                "--listen=127.0.0.1", "--port=\(port)", "--log-file=none", "--pid-file=\(folder.file("c.pid"))",
            ] + queue,
            standardOutput: output, standardError: output)
        try #require(try await waitForConnection(port: port), "no server answered on port \(port)")
        let function = "switch-\(port)"
        let replies = try await runOnDedicatedThread { try Self.submitToEachPriority(port: port, function: function) }
        #expect(replies.values.allSatisfy { $0 == .jobCreated }, "replies: \(replies)")
        let expected = Set(replies.keys)
        reference.stop(grace: .seconds(10))

        let ours = try await CrashRecoveryTests().startServer(folder: folder, queue: queue, log: "ours.log")
        defer { ours.process.stop(grace: .seconds(10)) }
        let oursPort = ours.port
        let ran = try await runOnDedicatedThread { try Self.drainData(port: oursPort, function: function) }
        #expect(
            ran == expected,
            "missing: \(expected.subtracting(ran).sorted().prefix(5)), unexpected: \(ran.subtracting(expected).sorted().prefix(5))"
        )
    }

    @Test(
        "a PostgreSQL restart under load loses no acknowledged job",
        .enabled(if: PostgresCluster.unavailableReason == nil))
    func postgresRestartUnderLoad() async throws {
        let cluster = try await PostgresCluster()
        let folder = TemporaryFolder()
        let queue = ["-q", "Postgres", "--libpq-conninfo", cluster.conninfo, "--libpq-table", "restart_load"]
        let server = try await CrashRecoveryTests().startServer(folder: folder, queue: queue, log: "server.log")
        defer { server.process.stop(grace: .seconds(10)) }
        let function = "restart-load"
        let record = CrashRecoveryTests.SubmissionRecord()
        let port = server.port
        async let submission: Void = runOnDedicatedThread {
            Self.submitUntilCount(port: port, function: function, count: 40_000, record: record)
        }
        // Restart once a share of the jobs is acknowledged, so jobs are stored before, during
        // and after the outage.
        let deadline = Date().addingTimeInterval(30)
        while record.acknowledged.withLock({ $0.count < 2_000 }) && Date() < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        try await cluster.restart()
        try await submission

        let ran = try await runOnDedicatedThread { try CrashRecoveryTests.drain(port: port, function: function) }
        let acked = record.acknowledged.withLock { $0 }
        #expect(!acked.isEmpty)
        #expect(
            acked.subtracting(ran).isEmpty, "\(acked.subtracting(ran).count) acknowledged jobs lost across the restart")
        print(
            "postgres restart: submitted \(record.submitted.load(ordering: .relaxed)), acknowledged \(acked.count), ran \(ran.count)"
        )
        await cluster.stop()
    }

    /// Submits background jobs one batch at a time, going on after QUEUE_ERROR replies (the
    /// database may be down for a moment), until `count` were sent.
    static func submitUntilCount(port: Int, function: String, count: Int, record: CrashRecoveryTests.SubmissionRecord) {
        guard let connection = try? GearmanConnection(to: ServerAddress(host: "127.0.0.1", port: port), timeout: 2000)
        else {
            return
        }
        var next = 0
        while next < count {
            let numbers = Array(next..<min(next + 200, count))
            record.submitted.store(numbers.last! + 1, ordering: .relaxed)
            do {
                try connection.send(
                    numbers.map { Packet.request(.submitJobBackground, function, "job-\($0)", String($0)) })
                for number in numbers {
                    let reply = try connection.receivePacket(timeout: 60_000)
                    if reply.type == .jobCreated {
                        record.acknowledged.withLock { _ = $0.insert(number) }
                    }
                }
            } catch {
                return
            }
            next += numbers.count
        }
    }

    /// Submits 20 background jobs at each priority, one at a time, and returns each job's
    /// workload with the type of the server's reply.
    static func submitToEachPriority(port: Int, function: String) throws -> [String: PacketType] {
        let connection = try GearmanConnection(to: ServerAddress(host: "127.0.0.1", port: port), timeout: 2000)
        defer { connection.close() }
        var replies: [String: PacketType] = [:]
        for (index, type) in [PacketType.submitJobBackground, .submitJobHighBackground, .submitJobLowBackground]
            .enumerated()
        {
            for number in 0..<20 {
                let data = "job \(index)-\(number)"
                try connection.send(Packet.request(type, function, "unique-\(index)-\(number)", data))
                replies[data] = try connection.receivePacket(timeout: 10_000).type
            }
        }
        return replies
    }

    static func drainData(port: Int, function: String) throws -> Set<String> {
        let connection = try GearmanConnection(to: ServerAddress(host: "127.0.0.1", port: port), timeout: 2000)
        try connection.send(Packet.request(.canDo, function))
        var ran = Set<String>()
        while true {
            try connection.send(Packet.request(.grabJobUnique))
            let reply = try connection.receivePacket(timeout: 20_000)
            if reply.type == .noJob { return ran }
            guard reply.type == .jobAssignUnique else { continue }
            ran.insert(reply.stringArgument(3))
            try connection.send(
                Packet(magic: .request, type: .workComplete, arguments: [Array(reply.argument(0)), []]))
        }
    }
}
