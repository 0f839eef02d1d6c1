import GearmanKit
import GearmanServer
import Testing

@Suite("Server with several I/O threads")
struct MultiThreadServerTests {
    @Test("clients and workers on different event loops exchange every result")
    func crossLoopDelivery() async throws {
        let server = try EmbeddedServer { $0.threads = 4 }
        defer { server.stop() }
        var options = GearmanWorker.Options()
        options.maximumConcurrentJobs = 8
        // Several workers and clients make connections land on every loop, so results must
        // cross loops through the mailboxes.
        let workers = try (0..<3).map { _ in try GearmanWorker(servers: server.address, options: options) }
        for worker in workers {
            worker.register("square") { job in
                let value = Int(String(decoding: job.workload, as: UTF8.self)) ?? 0
                return Array(String(value * value).utf8)
            }
        }
        let running = workers.map { worker in Task { try await worker.run() } }
        defer {
            for worker in workers { worker.stop(graceful: false) }
            for task in running { task.cancel() }
        }
        let clients = try (0..<4).map { _ in try GearmanClient(servers: server.address) }
        let results = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for number in 0..<400 {
                let client = clients[number % clients.count]
                group.addTask {
                    let result = try await client.run(
                        "square", workload: Array(String(number).utf8), timeout: .seconds(20))
                    return (number, String(decoding: result, as: UTF8.self))
                }
            }
            var results: [Int: String] = [:]
            for try await (number, result) in group { results[number] = result }
            return results
        }
        #expect(results.count == 400)
        #expect(results.allSatisfy { $0.value == String($0.key * $0.key) })
        let handles = try await clients[0].submitBackground(
            (0..<100).map { JobRequest(function: "square", workload: Array(String($0).utf8)) })
        #expect(Set(handles).count == 100)
    }
}
