import GearmanKit
import ProcessTestSupport
import Testing

/// The calls of the async `GearmanClient` and `GearmanWorker`, run against our gearmand and the
/// C gearmand, both started as processes.
@Suite("Client and worker API against both servers", .timeLimit(.minutes(1)))
struct ClientAPICoverageTests {
    @Test("run returns the worker's result", arguments: ServerKind.allCases)
    func run(kind: ServerKind) async throws {
        let server = try await startServer(kind)
        defer { server.stop() }
        try await withWorker(
            servers: server.address,
            register: { worker in
                worker.register("reverse") { job in Array(job.workload.reversed()) }
            }
        ) {
            let client = try GearmanClient(servers: server.address)
            let result = try await client.run("reverse", workload: Array("Hello World!".utf8), timeout: .seconds(10))
            #expect(text(result) == "!dlroW olleH")
        }
    }

    @Test("events stream status, data and warning", arguments: ServerKind.allCases)
    func events(kind: ServerKind) async throws {
        let server = try await startServer(kind)
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
            for try await event in client.events(
                for: JobRequest(function: "steps", workload: []), timeout: .seconds(10))
            {
                events.append(event)
            }
            guard case .created(let handle) = events.first else {
                Issue.record("first event was \(String(describing: events.first))")
                return
            }
            #expect(!handle.isEmpty)
            #expect(
                Array(events.dropFirst()) == [
                    .status(numerator: 1, denominator: 2), .data(Array("partial".utf8)),
                    .warning(Array("careful".utf8)), .complete(Array("done".utf8)),
                ])
        }
    }

    @Test("WorkFailure fails the job", arguments: ServerKind.allCases)
    func failure(kind: ServerKind) async throws {
        let server = try await startServer(kind)
        defer { server.stop() }
        try await withWorker(
            servers: server.address,
            register: { worker in
                worker.register("fail") { _ in throw WorkFailure() }
            }
        ) {
            let client = try GearmanClient(servers: server.address)
            do {
                let result = try await client.run("fail", workload: [], timeout: .seconds(10))
                Issue.record("expected a failure, got \(text(result))")
            } catch let failure as JobFailure {
                guard case .failed = failure else {
                    Issue.record("expected WORK_FAIL, got \(failure)")
                    return
                }
            }
        }
    }

    /// A handler's error becomes a WORK_EXCEPTION. A client that asked for exceptions (the
    /// `exceptions` option) gets its data, and any other client gets a WORK_FAIL.
    @Test("exception with and without the exceptions option", arguments: ServerKind.allCases)
    func exception(kind: ServerKind) async throws {
        struct Broken: Error, CustomStringConvertible { var description: String { "broken input" } }
        let server = try await startServer(kind)
        defer { server.stop() }
        try await withWorker(
            servers: server.address,
            register: { worker in
                worker.register("explode") { _ in throw Broken() }
            }
        ) {
            let client = try GearmanClient(servers: server.address)
            do {
                let result = try await client.run("explode", workload: [], timeout: .seconds(10))
                Issue.record("expected an exception, got \(text(result))")
            } catch JobFailure.exception(_, let data) {
                #expect(text(data) == "broken input")
            }

            var options = GearmanClient.Options()
            options.exceptions = false
            let plainClient = try GearmanClient(servers: server.address, options: options)
            // The C gearmand 1.1.20 sends this WORK_FAIL as the handle and a stray NUL, which the
            // client must still match to the job.
            do {
                let result = try await plainClient.run("explode", workload: [], timeout: .seconds(3))
                Issue.record("expected a failure, got \(text(result))")
            } catch let failure as JobFailure {
                guard case .failed = failure else {
                    Issue.record("expected WORK_FAIL without the exceptions option, got \(failure)")
                    return
                }
            }
        }
    }

    @Test("background job status by handle and unique key", arguments: ServerKind.allCases)
    func backgroundStatus(kind: ServerKind) async throws {
        let server = try await startServer(kind)
        defer { server.stop() }
        let client = try GearmanClient(servers: server.address)
        let handle = try await client.submitBackground("later", workload: [1, 2, 3], unique: "bg-1")

        let queued = try await client.status(handle: handle)
        #expect(queued.isKnown)
        #expect(!queued.isRunning)
        let byUnique = try await client.status(unique: "bg-1")
        #expect(byUnique.isKnown)
        #expect(byUnique.waitingClients == 0)
        let unknown = try await client.status(handle: "H:nowhere:1")
        #expect(!unknown.isKnown)

        // A worker reports progress and then waits, so the status shows the running job.
        let gate = Gate()
        try await withWorker(
            servers: server.address,
            register: { worker in
                worker.register("later") { job in
                    try job.sendStatus(1, of: 4)
                    try await gate.wait()
                    return []
                }
            }
        ) {
            // The status shows the progress once the worker has taken the job.
            var status = try await client.status(handle: handle)
            let deadline = ContinuousClock.now + .seconds(10)
            while status.numerator == 0 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
                status = try await client.status(handle: handle)
            }
            #expect(status.isKnown)
            #expect(status.isRunning)
            #expect(status.numerator == 1)
            #expect(status.denominator == 4)

            gate.open()
            #expect(try await server.waitUntilIdle("later"))
            #expect(try await client.status(handle: handle).isKnown == false)
            #expect(try await client.status(unique: "bg-1").isKnown == false)
        }
    }

    @Test("batch of background jobs returns every handle", arguments: ServerKind.allCases)
    func backgroundBatch(kind: ServerKind) async throws {
        let server = try await startServer(kind)
        defer { server.stop() }
        let client = try GearmanClient(servers: server.address)
        let handles = try await client.submitBackground(
            (0..<50).map { JobRequest(function: "later", workload: [UInt8($0)]) })
        #expect(handles.count == 50)
        #expect(Set(handles).count == 50)
        let admin = try GearmanAdmin(server: server.address)
        defer { admin.close() }
        #expect(try await admin.status() == [FunctionStatus(name: "later", total: 50, running: 0, workers: 0)])
    }

    @Test("many jobs in flight on one client", arguments: ServerKind.allCases)
    func manyInFlight(kind: ServerKind) async throws {
        let server = try await startServer(kind)
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
                    group.addTask {
                        (index, try await client.run("double", workload: Array("\(index)".utf8), timeout: .seconds(20)))
                    }
                }
                var results: [Int: [UInt8]] = [:]
                for try await (index, result) in group { results[index] = result }
                return results
            }
            #expect(results.count == 200)
            #expect(results.allSatisfy { text($0.value) == "\($0.key)\($0.key)" })
        }
    }

    @Test("runAll returns every outcome in order", arguments: ServerKind.allCases)
    func runAllBatch(kind: ServerKind) async throws {
        let server = try await startServer(kind)
        defer { server.stop() }
        try await withWorker(
            servers: server.address,
            register: { worker in
                worker.register("double") { job in
                    if job.workload == Array("fail".utf8) { throw WorkFailure() }
                    return job.workload + job.workload
                }
            }
        ) {
            let client = try GearmanClient(servers: server.address)
            var requests = (0..<100).map { JobRequest(function: "double", workload: Array("\($0)".utf8)) }
            requests[7].workload = Array("fail".utf8)
            let outcomes = await client.runAll(requests, timeout: .seconds(20))
            #expect(outcomes.count == 100)
            for (index, outcome) in outcomes.enumerated() where index != 7 {
                #expect((try? outcome.get()).map(text) == "\(index)\(index)")
            }
            #expect(throws: JobFailure.self) { try outcomes[7].get() }
            #expect(await client.runAll([]).isEmpty)
        }
    }

    @Test("cancelling the waiting task ends the wait", arguments: ServerKind.allCases)
    func cancellation(kind: ServerKind) async throws {
        let server = try await startServer(kind)
        defer { server.stop() }
        let client = try GearmanClient(servers: server.address)
        let waiting = Task { try await client.run("nobody-works-this", workload: []) }
        try await Task.sleep(for: .milliseconds(100))
        waiting.cancel()
        let result = await waiting.result
        #expect(throws: CancellationError.self) { try result.get() }
    }

    @Test("timeout ends the wait with timedOut", arguments: ServerKind.allCases)
    func timeout(kind: ServerKind) async throws {
        let server = try await startServer(kind)
        defer { server.stop() }
        let client = try GearmanClient(servers: server.address)
        do {
            _ = try await client.run("nobody-works-this", workload: [], timeout: .milliseconds(200))
            Issue.record("expected a timeout")
        } catch let error as GearmanError {
            guard case .timedOut(_, let milliseconds) = error else {
                Issue.record("expected timedOut, got \(error)")
                return
            }
            #expect(milliseconds == 200)
        }
    }

    @Test("echo returns the same bytes", arguments: ServerKind.allCases)
    func echo(kind: ServerKind) async throws {
        let server = try await startServer(kind)
        defer { server.stop() }
        let client = try GearmanClient(servers: server.address)
        let bytes: [UInt8] = [0, 1, 2, 255]
        #expect(try await client.echo(bytes) == bytes)
    }
}
