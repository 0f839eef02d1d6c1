import GearmanKit
import GearmanServer
import Synchronization
import Testing

@Suite("Async client and worker against an embedded server")
struct ClientWorkerTests {
    @Test("run returns the worker's result")
    func runReverse() async throws {
        let server = try EmbeddedServer()
        defer { server.stop() }
        try await withWorker(
            servers: server.address,
            register: { worker in
                worker.register("reverse") { job in Array(job.workload.reversed()) }
            }
        ) {
            let client = try GearmanClient(servers: server.address)
            let result = try await client.run("reverse", workload: Array("Hello World!".utf8))
            #expect(String(decoding: result, as: UTF8.self) == "!dlroW olleH")
        }
    }

    @Test("events stream data, warning and status before complete")
    func eventStream() async throws {
        let server = try EmbeddedServer()
        defer { server.stop() }
        try await withWorker(
            servers: server.address,
            register: { worker in
                worker.register("steps") { job in
                    try job.sendStatus(1, of: 2)
                    try job.sendData(Array("partial".utf8))
                    try job.sendWarning(Array("careful".utf8))
                    return Array("done".utf8)
                }
            }
        ) {
            let client = try GearmanClient(servers: server.address)
            var events: [JobEvent] = []
            for try await event in client.events(for: JobRequest(function: "steps", workload: [])) {
                events.append(event)
            }
            #expect(events.count == 5)
            guard case .created = events.first else {
                Issue.record("first event was \(String(describing: events.first))")
                return
            }
            #expect(
                Array(events.dropFirst()) == [
                    .status(numerator: 1, denominator: 2), .data(Array("partial".utf8)),
                    .warning(Array("careful".utf8)),
                    .complete(Array("done".utf8)),
                ])
        }
    }

    @Test("a thrown WorkFailure fails the job and other errors become exceptions")
    func failuresAndExceptions() async throws {
        struct Broken: Error, CustomStringConvertible { var description: String { "broken input" } }
        let server = try EmbeddedServer()
        defer { server.stop() }
        try await withWorker(
            servers: server.address,
            register: { worker in
                worker.register("fail") { _ in throw WorkFailure() }
                worker.register("explode") { _ in throw Broken() }
            }
        ) {
            let client = try GearmanClient(servers: server.address)
            await #expect(throws: JobFailure.self) { _ = try await client.run("fail", workload: []) }
            do {
                _ = try await client.run("explode", workload: [])
                Issue.record("expected an exception")
            } catch let JobFailure.exception(_, data) {
                #expect(String(decoding: data, as: UTF8.self) == "broken input")
            }
        }
    }

    @Test("many jobs run in flight on one client")
    func manyInFlight() async throws {
        let server = try EmbeddedServer()
        defer { server.stop() }
        var options = GearmanWorker.Options()
        options.maximumConcurrentJobs = 4
        try await withWorker(
            servers: server.address, options: options,
            register: { worker in
                worker.register("double") { job in job.workload + job.workload }
            }
        ) {
            let client = try GearmanClient(servers: server.address)
            let results = try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
                for index in 0..<200 {
                    group.addTask { (index, try await client.run("double", workload: Array("\(index)".utf8))) }
                }
                var results: [Int: [UInt8]] = [:]
                for try await (index, result) in group { results[index] = result }
                return results
            }
            #expect(results.count == 200)
            #expect(results[42] == Array("4242".utf8))
        }
    }

    @Test("background jobs return handles and report status")
    func backgroundAndStatus() async throws {
        let server = try EmbeddedServer()
        defer { server.stop() }
        let client = try GearmanClient(servers: server.address)
        let handle = try await client.submitBackground("later", workload: [1, 2, 3], unique: "bg-1")
        let status = try await client.status(handle: handle)
        #expect(status.isKnown)
        #expect(!status.isRunning)
        let byUnique = try await client.status(unique: "bg-1")
        #expect(byUnique.isKnown)
        #expect(byUnique.waitingClients == 0)
        let unknown = try await client.status(handle: "H:nowhere:1")
        #expect(!unknown.isKnown)
        let handles = try await client.submitBackground(
            (0..<50).map { JobRequest(function: "later", workload: [UInt8($0)]) })
        #expect(handles.count == 50)
        #expect(Set(handles).count == 50)
    }

    @Test("a batch with a rejected job throws that job's error")
    func batchWithRejectedJob() async throws {
        let server = try EmbeddedServer()
        defer { server.stop() }
        let client = try GearmanClient(servers: server.address)
        var requests = (0..<5).map { JobRequest(function: "batch", workload: [UInt8($0)], unique: "key-\($0)") }
        // The server rejects a unique key longer than 64 bytes with ARGUMENT_TOO_LARGE.
        requests[2].unique = String(repeating: "u", count: 70)
        await #expect(throws: GearmanError.self) { try await client.submitBackground(requests) }

        requests[2].unique = "key-2"
        let handles = try await client.submitBackground(requests)
        #expect(handles.count == 5)
        #expect(handles.allSatisfy { !$0.isEmpty })
    }

    @Test("cancelling the waiting task stops waiting")
    func cancellation() async throws {
        let server = try EmbeddedServer()
        defer { server.stop() }
        let client = try GearmanClient(servers: server.address)
        let waiting = Task { try await client.run("nobody-works-this", workload: []) }
        try await Task.sleep(for: .milliseconds(100))
        waiting.cancel()
        let result = await waiting.result
        #expect(throws: (any Error).self) { try result.get() }
    }

    @Test("a timeout ends the wait with timedOut")
    func timeout() async throws {
        let server = try EmbeddedServer()
        defer { server.stop() }
        let client = try GearmanClient(servers: server.address)
        do {
            _ = try await client.run("nobody-works-this", workload: [], timeout: .milliseconds(200))
            Issue.record("expected a timeout")
        } catch let error as GearmanError {
            guard case .timedOut = error else {
                Issue.record("expected timedOut, got \(error)")
                return
            }
        }
    }

    @Test("a timeout names the server the job went to")
    func timeoutNamesServer() async throws {
        let first = try EmbeddedServer()
        let second = try EmbeddedServer()
        defer {
            first.stop()
            second.stop()
        }
        let client = try GearmanClient(servers: "\(first.address), \(second.address)")
        // Unique keys spread the jobs over both servers. Each error must name the server
        // whose queue contains the job.
        for key in ["a", "b", "c", "d", "e", "f"] {
            let function = "nobody-\(key)"
            do {
                _ = try await client.run(function, workload: [], unique: key, timeout: .milliseconds(100))
                Issue.record("expected a timeout")
            } catch GearmanError.timedOut(let server, _) {
                let admin = try GearmanAdmin(server: server.description)
                let functions = try await admin.status().map(\.name)
                #expect(functions.contains(function), "\(server) does not hold \(function)")
            }
        }
    }

    @Test("jobs run with busy polling off and on", arguments: [0, 100])
    func busyPolling(microseconds: Int) async throws {
        let server = try EmbeddedServer()
        defer { server.stop() }
        var workerOptions = GearmanWorker.Options()
        workerOptions.busyPoll = microseconds
        try await withWorker(
            servers: server.address, options: workerOptions,
            register: { worker in
                worker.register("reverse") { job in Array(job.workload.reversed()) }
            }
        ) {
            var clientOptions = GearmanClient.Options()
            clientOptions.busyPoll = microseconds
            let client = try GearmanClient(servers: server.address, options: clientOptions)
            for number in 0..<50 {
                let result = try await client.run("reverse", workload: Array("job \(number)".utf8))
                #expect(String(decoding: result, as: UTF8.self) == String("job \(number)".reversed()))
            }
        }
    }

    /// Two workers are stopped and their run() tasks cancelled while each runs a job whose
    /// handler is suspended. A cancelled run() that polled in a loop without suspending would
    /// fill the two threads of the task pool, and the handlers would never resume.
    @Test("cancelled workers with suspended handlers still finish")
    func handlersOutliveConnections() async throws {
        let server = try EmbeddedServer()
        defer { server.stop() }
        let started = Atomic<Int>(0)
        let finished = Atomic<Int>(0)
        var workers: [GearmanWorker] = []
        var runs: [Task<Void, Error>] = []
        for _ in 0..<2 {
            let worker = try GearmanWorker(servers: server.address)
            worker.register("slow") { job in
                started.wrappingAdd(1, ordering: .acquiringAndReleasing)
                try? await Task.sleep(for: .milliseconds(300))
                finished.wrappingAdd(1, ordering: .acquiringAndReleasing)
                return job.workload
            }
            workers.append(worker)
            runs.append(Task { try await worker.run() })
        }

        let client = try GearmanClient(servers: server.address)
        _ = try await client.submitBackground("slow", workload: [1])
        _ = try await client.submitBackground("slow", workload: [2])
        while started.load(ordering: .acquiring) < 2 {
            try await Task.sleep(for: .milliseconds(5))
        }

        for (worker, run) in zip(workers, runs) {
            worker.stop(graceful: false)
            run.cancel()
        }

        let deadline = ContinuousClock.now + .seconds(10)
        while finished.load(ordering: .acquiring) < 2 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        let count = finished.load(ordering: .acquiring)
        #expect(count == 2, "\(count) of 2 handlers finished after their workers stopped")
        for run in runs { _ = try? await run.value }
    }

    @Test("echo returns the same bytes")
    func echo() async throws {
        let server = try EmbeddedServer()
        defer { server.stop() }
        let client = try GearmanClient(servers: server.address)
        let bytes: [UInt8] = [0, 1, 2, 255]
        #expect(try await client.echo(bytes) == bytes)
    }
}
