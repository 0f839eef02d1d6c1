import GearmanKit
import GearmanServer
import Testing

@Suite("Typed admin API")
struct AdminAPITests {
    @Test("status, priority status, jobs and unique keys reflect queued jobs")
    func reports() async throws {
        let server = try EmbeddedServer { $0.jobHandlePrefix = "H:admin" }
        defer { server.stop() }
        let client = try GearmanClient(servers: server.address)
        _ = try await client.submitBackground("resize", workload: [1], unique: "a", priority: .high)
        _ = try await client.submitBackground("resize", workload: [2], unique: "b", priority: .low)
        let admin = try GearmanAdmin(server: server.address)
        #expect(try await admin.status() == [FunctionStatus(name: "resize", total: 2, running: 0, workers: 0)])
        let priorities = try await admin.priorityStatus()
        #expect(priorities.first?.high == 1)
        #expect(priorities.first?.low == 1)
        let jobs = try await admin.jobs()
        #expect(jobs.map(\.handle) == ["H:admin:1", "H:admin:2"])
        #expect(jobs.allSatisfy { $0.isPersistent && !$0.isIgnored })
        #expect(try await admin.uniqueKeys() == ["a", "b"])
        let workers = try await admin.workers()
        #expect(workers.contains { $0.address == "127.0.0.1" && $0.clientID == "-" })
        #expect(try await admin.processID() > 0)
        #expect(try await admin.version() == GearmanServer.version)
        #expect(try await admin.logLevel() == "FATAL")
    }

    @Test("cancel, create, drop and maxqueue")
    func changes() async throws {
        let server = try EmbeddedServer { $0.jobHandlePrefix = "H:admin" }
        defer { server.stop() }
        let admin = try GearmanAdmin(server: server.address)
        try await admin.createFunction("fresh")
        #expect(try await admin.status().map(\.name) == ["fresh"])
        try await admin.dropFunction("fresh")
        #expect(try await admin.status().isEmpty)
        await #expect(throws: GearmanError.self) { try await admin.dropFunction("missing") }

        let client = try GearmanClient(servers: server.address)
        let handle = try await client.submitBackground("limited", workload: [])
        try await admin.setMaximumQueue("limited", limit: 1)
        await #expect(throws: GearmanError.self) { _ = try await client.submitBackground("limited", workload: []) }
        try await admin.setMaximumQueue("limited", limit: nil)
        #expect(try await admin.cancelJob(handle))
        #expect(try await admin.cancelJob("H:admin:999") == false)
    }
}
