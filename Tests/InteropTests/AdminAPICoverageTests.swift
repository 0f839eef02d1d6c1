import GearmanKit
import GearmanServer
import ProcessTestSupport
import Testing

/// The typed calls of `GearmanAdmin` against our gearmand and the C gearmand, both started as
/// processes, with the documented differences between the two.
@Suite("Admin API against both servers", .timeLimit(.minutes(1)))
struct AdminAPICoverageTests {
    /// Starts a server that logs at INFO, so that `verbose` reports the same level on both.
    static func startServer(_ kind: ServerKind) async throws -> JobServerProcess {
        if !kind.isInstalled { try Test.cancel(Comment(rawValue: kind.missingMessage)) }
        // Our gearmand gets `--verbose INFO` from JobServerProcess already.
        return try await JobServerProcess.start(kind, arguments: kind == .cGearmand ? ["--verbose=INFO"] : [])
    }

    @Test("reports list queued jobs and workers", arguments: ServerKind.allCases)
    func reports(kind: ServerKind) async throws {
        let server = try await Self.startServer(kind)
        defer { server.stop() }
        let client = try GearmanClient(servers: server.address)
        var handles: [String] = []
        for (unique, priority) in [("a", JobPriority.high), ("b", .normal), ("c", .low)] {
            handles.append(
                try await client.submitBackground("resize", workload: [1], unique: unique, priority: priority))
        }
        let admin = try GearmanAdmin(server: server.address)
        defer { admin.close() }

        #expect(try await admin.status() == [FunctionStatus(name: "resize", total: 3, running: 0, workers: 0)])

        let priorities = try await admin.priorityStatus()
        #expect(priorities.count == 1)
        #expect(priorities.first?.name == "resize")
        #expect(priorities.first?.high == 1)
        #expect(priorities.first?.normal == 1)
        #expect(priorities.first?.low == 1)
        #expect(priorities.first?.workers == 0)

        let jobs = try await admin.jobs()
        #expect(Set(jobs.map(\.handle)) == Set(handles))
        #expect(jobs.allSatisfy { $0.isPersistent })
        #expect(jobs.allSatisfy { !$0.isIgnored })
        #expect(jobs.allSatisfy { $0.retries == 0 })
        // The C gearmand lists unique keys in the order of its hash table, not of submission.
        #expect(Set(try await admin.uniqueKeys()) == ["a", "b", "c"])

        var options = GearmanWorker.Options()
        options.clientID = "coverage-worker"
        try await withWorker(
            servers: server.address, options: options,
            register: { worker in
                worker.register("idle") { _ in [] }
            }
        ) {
            #expect(try await server.waitForWorkers(of: "idle"))
            let workers = try await admin.workers()
            let registered = workers.first { $0.clientID == "coverage-worker" }
            #expect(registered?.address == "127.0.0.1")
            #expect(registered?.functions == ["idle"])
            // Every connection is listed, the admin connection itself with client ID "-".
            #expect(workers.contains { $0.clientID == "-" })
        }
    }

    @Test("version, process ID and log level", arguments: ServerKind.allCases)
    func serverInfo(kind: ServerKind) async throws {
        let server = try await Self.startServer(kind)
        defer { server.stop() }
        let admin = try GearmanAdmin(server: server.address)
        defer { admin.close() }

        let version = try await admin.version()
        switch kind {
        case .gearmanKit: #expect(version == GearmanServer.version)
        // Debian's build of 1.1.20 reports its package version.
        case .cGearmand: #expect(version.hasPrefix("1.1."), "version \(version)")
        }
        #expect(try await admin.processID() == Int(server.pid))
        #expect(try await admin.logLevel() == "INFO")
    }

    @Test("create, drop, maxqueue and cancel", arguments: ServerKind.allCases)
    func changes(kind: ServerKind) async throws {
        let server = try await Self.startServer(kind)
        defer { server.stop() }
        let admin = try GearmanAdmin(server: server.address)
        defer { admin.close() }
        let client = try GearmanClient(servers: server.address)

        try await admin.createFunction("fresh")
        #expect(try await admin.status() == [FunctionStatus(name: "fresh", total: 0, running: 0, workers: 0)])
        try await admin.dropFunction("fresh")
        #expect(try await admin.status().isEmpty)
        await #expect(throws: GearmanError.self) { try await admin.dropFunction("missing") }

        // One limit for every priority.
        let first = try await client.submitBackground("limited", workload: [])
        try await admin.setMaximumQueue("limited", limit: 1)
        await #expect(throws: GearmanError.self) { _ = try await client.submitBackground("limited", workload: []) }
        try await admin.setMaximumQueue("limited", limit: nil)
        let second = try await client.submitBackground("limited", workload: [])
        #expect(first != second)

        // Both servers ignore a limit for a function they do not know yet.
        try await admin.setMaximumQueue("unknown", limit: 1)
        _ = try await client.submitBackground("unknown", workload: [])
        _ = try await client.submitBackground("unknown", workload: [])

        // One limit per priority, 0 for none. As in the C gearmand, a job is rejected when the
        // function's jobs of all priorities reach the limit of the job's priority.
        _ = try await client.submitBackground("tiered", workload: [], priority: .normal)
        try await admin.setMaximumQueue("tiered", high: 2, normal: 0, low: 0)
        _ = try await client.submitBackground("tiered", workload: [], priority: .high)
        await #expect(throws: GearmanError.self) {
            _ = try await client.submitBackground("tiered", workload: [], priority: .high)
        }
        _ = try await client.submitBackground("tiered", workload: [], priority: .normal)
        _ = try await client.submitBackground("tiered", workload: [], priority: .low)
        let tiered = try await admin.priorityStatus().first { $0.name == "tiered" }
        #expect(tiered?.high == 1)
        #expect(tiered?.normal == 2)
        #expect(tiered?.low == 1)

        #expect(try await admin.cancelJob(first))
        #expect(try await admin.cancelJob("H:nowhere:999") == false)
        let cancelled = try await admin.jobs().first { $0.handle == first }
        #expect(cancelled?.isIgnored == true)

        // Our gearmand keeps a function while jobs are queued for it, as its man page documents.
        // The C gearmand 1.1.20 drops it anyway, and its queued jobs stay in `show jobs`.
        switch kind {
        case .gearmanKit:
            await #expect(throws: GearmanError.self) { try await admin.dropFunction("limited") }
            #expect(try await admin.status().contains { $0.name == "limited" })
        case .cGearmand:
            try await admin.dropFunction("limited")
            #expect(try await admin.status().contains { $0.name == "limited" } == false)
        }
    }
}
