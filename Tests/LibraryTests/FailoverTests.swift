import GearmanKit
import GearmanServer
import Testing

@Suite("Client failover between two servers")
struct FailoverTests {
    @Test("stopping one server mid-run loses no foreground job")
    func stopOneServer() async throws {
        let first = try EmbeddedServer()
        let second = try EmbeddedServer()
        defer { second.stop() }
        let servers = "\(first.address), \(second.address)"
        var options = GearmanWorker.Options()
        options.maximumConcurrentJobs = 4
        options.reconnectDelay = 100
        try await withWorker(
            servers: servers, options: options,
            register: { worker in
                worker.register("slow-echo") { job in
                    try await Task.sleep(for: .milliseconds(20))
                    return job.workload
                }
            }
        ) {
            var clientOptions = GearmanClient.Options()
            clientOptions.initialBackoff = 100
            let client = try GearmanClient(servers: servers, options: clientOptions)
            let total = 120
            let results = try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
                for index in 0..<total {
                    group.addTask {
                        (
                            index,
                            try await client.run(
                                "slow-echo", workload: Array("job \(index)".utf8), unique: "job-\(index)",
                                timeout: .seconds(20))
                        )
                    }
                    if index == total / 3 {
                        // Jobs are queued or running on both servers now; take the first one away.
                        try await Task.sleep(for: .milliseconds(50))
                        first.stop()
                    }
                }
                var results: [Int: [UInt8]] = [:]
                for try await (index, result) in group { results[index] = result }
                return results
            }
            #expect(results.count == total)
            for index in 0..<total {
                #expect(results[index] == Array("job \(index)".utf8), "job \(index)")
            }
            // The client keeps working on the server that is left.
            #expect(try await client.run("slow-echo", workload: [7], unique: "after") == [7])
        }
    }
}
