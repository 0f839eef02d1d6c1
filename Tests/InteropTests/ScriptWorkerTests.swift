import Foundation
import GearmanKit
import ProcessTestSupport
import Testing

/// Jobs submitted with the Swift `GearmanClient` and done by a PHP or a Perl worker, through our
/// gearmand and through the C one.
@Suite("Swift client with PHP and Perl workers", .timeLimit(.minutes(1)))
struct ScriptWorkerTests {
    /// Starts the worker script of `language` with its log file in the server's directory.
    static func startWorker(_ language: ScriptLanguage, server: JobServerProcess) throws -> ChildProcess {
        try ChildProcess(
            executable: language.interpreter,
            arguments: [language.script("worker"), server.address, server.directory.file("worker.log").path],
            standardOutput: server.directory.file("worker.stdout"),
            standardError: server.directory.file("worker.stderr"))
    }

    @Test("results, priorities, failures and background jobs", arguments: ServerKind.allCases, ScriptLanguage.allCases)
    func jobs(kind: ServerKind, language: ScriptLanguage) async throws {
        try await language.requireInstalled()
        let server = try await startServer(kind)
        defer { server.stop() }
        let client = try GearmanClient(servers: server.address)
        defer { client.close() }
        let log = server.directory.file("worker.log")
        let prefix = language.functionPrefix

        // Background jobs queued while no worker runs: the worker must take the high one first
        // and the low one last, whatever the order they were submitted in.
        for (workload, priority) in [("low", JobPriority.low), ("normal", .normal), ("high", .high)] {
            let handle = try await client.submitBackground(
                "\(prefix)_log", workload: Array(workload.utf8), priority: priority)
            #expect(!handle.isEmpty)
        }
        let worker = try Self.startWorker(language, server: server)
        defer { worker.stop() }
        let drained = try await waitUntil(timeout: .seconds(10)) { readLines(log).count >= 3 }
        #expect(drained, "worker log: \(readLines(log)), worker stderr: \(worker.standardErrorText())")
        #expect(readLines(log) == ["high", "normal", "low"])

        let reversed = try await client.run(
            "\(prefix)_reverse", workload: Array("Hello World".utf8), timeout: .seconds(10))
        #expect(text(reversed) == "dlroW olleH")

        let urgent = try await client.run(
            "\(prefix)_reverse", workload: Array("urgent".utf8), priority: .high, timeout: .seconds(10))
        #expect(text(urgent) == "tnegru")

        let low = try await client.run(
            "\(prefix)_reverse", workload: Array("later".utf8), priority: .low, timeout: .seconds(10))
        #expect(text(low) == "retal")

        do {
            let result = try await client.run("\(prefix)_fail", workload: Array("x".utf8), timeout: .seconds(10))
            Issue.record("expected the \(language) worker to fail the job, got \(text(result))")
        } catch let failure as JobFailure {
            guard case .failed = failure else {
                Issue.record("expected a WORK_FAIL, got \(failure)")
                return
            }
        }

        // A background job submitted while the worker runs.
        let handle = try await client.submitBackground("\(prefix)_log", workload: Array("while running".utf8))
        let logged = try await waitUntil(timeout: .seconds(10)) { readLines(log).count >= 4 }
        #expect(logged, "worker stderr: \(worker.standardErrorText())")
        #expect(readLines(log).last == "while running")
        // Once the job is done, the server removes it.
        #expect(try await server.waitUntilIdle("\(prefix)_log"))
        let status = try await client.status(handle: handle)
        #expect(!status.isKnown)
        #expect(worker.isRunning, "worker stderr: \(worker.standardErrorText())")
    }
}
