import Foundation
import GearmanKit
import ProcessTestSupport
import Synchronization
import Testing

/// The workloads a Swift worker received, in order.
final class WorkloadRecorder: Sendable {
    private let workloads = Mutex<[String]>([])

    func append(_ workload: String) {
        workloads.withLock { $0.append(workload) }
    }

    var all: [String] { workloads.withLock { $0 } }
}

/// A Swift worker error that becomes a WORK_EXCEPTION with this description.
struct RejectedInput: Error, CustomStringConvertible {
    var description: String { "rejected input" }
}

/// Jobs submitted by a PHP or a Perl client and done by a Swift `GearmanWorker`, through our
/// gearmand and through the C one.
@Suite("PHP and Perl clients with a Swift worker", .timeLimit(.minutes(1)))
struct ScriptClientTests {
    @Test("results, priorities, failures and background jobs", arguments: ServerKind.allCases, ScriptLanguage.allCases)
    func jobs(kind: ServerKind, language: ScriptLanguage) async throws {
        try await language.requireInstalled()
        let server = try await startServer(kind)
        defer { server.stop() }

        // Background jobs queued while no worker runs, lowest priority first.
        for mode in ["low-background", "background", "high-background"] {
            let submitted = try await language.runClient(
                server: server.address, mode: mode, function: "swift_log", workload: mode)
            #expect(submitted.succeeded, "\(submitted.transcript)")
            #expect(!submitted.outputText.isEmpty, "expected a job handle")
        }

        let recorder = WorkloadRecorder()
        // One job at a time, so the order of the queued jobs shows in the recorder.
        let worker = try GearmanWorker(servers: server.address)
        worker.register("swift_reverse") { job in Array(text(job.workload).reversed().map(String.init).joined().utf8) }
        worker.register("swift_fail") { _ in throw WorkFailure() }
        worker.register("swift_exception") { _ in throw RejectedInput() }
        worker.register("swift_log") { job in
            recorder.append(text(job.workload))
            return []
        }
        let running = Task { try await worker.run() }
        defer {
            worker.stop(graceful: false)
            running.cancel()
        }

        let drained = try await waitUntil(timeout: .seconds(10)) { recorder.all.count >= 3 }
        #expect(drained)
        #expect(recorder.all == ["high-background", "background", "low-background"])

        for mode in ["normal", "high", "low"] {
            let result = try await language.runClient(
                server: server.address, mode: mode, function: "swift_reverse", workload: "Hello \(mode)")
            #expect(result.succeeded, "\(mode): \(result.transcript)")
            #expect(result.outputText == String("Hello \(mode)".reversed()), "\(mode)")
        }

        // The scripts exit with status 3 when the job failed.
        let failed = try await language.runClient(
            server: server.address, mode: "normal", function: "swift_fail", workload: "x")
        #expect(failed.termination == .exited(3), "\(failed.transcript)")

        let background = try await language.runClient(
            server: server.address, mode: "background", function: "swift_log", workload: "while running")
        #expect(background.succeeded, "\(background.transcript)")
        let logged = try await waitUntil(timeout: .seconds(10)) { recorder.all.count >= 4 }
        #expect(logged)
        #expect(recorder.all.last == "while running")
    }

    /// A Swift handler that throws sends WORK_EXCEPTION. PHP's extension requests exceptions
    /// (OPTION_REQ) when it adds a server, so it gets the exception. Perl's Gearman::Client does
    /// not request them by default, so the server sends it a WORK_FAIL in place of the exception.
    @Test("worker exception reaches the client", arguments: ServerKind.allCases, ScriptLanguage.allCases)
    func exception(kind: ServerKind, language: ScriptLanguage) async throws {
        try await language.requireInstalled()
        let server = try await startServer(kind)
        defer { server.stop() }
        let worker = try GearmanWorker(servers: server.address)
        worker.register("swift_exception") { _ in throw RejectedInput() }
        let running = Task { try await worker.run() }
        defer {
            worker.stop(graceful: false)
            running.cancel()
        }

        let result = try await language.runClient(
            server: server.address, mode: "normal", function: "swift_exception", workload: "x")
        switch (language, kind) {
        case (.php, _):
            // The extension's doNormal returns no exception data, only the return code.
            #expect(result.termination == .exited(4), "\(result.transcript)")
        case (.perl, .gearmanKit):
            #expect(result.termination == .exited(3), "\(result.transcript)")
        case (.perl, .cGearmand):
            // The C gearmand 1.1.20 sends that WORK_FAIL with a NUL after the handle, as if it had
            // an empty second argument. Gearman::Client 2.004 takes the NUL as part of the
            // handle, finds no such job and dies.
            #expect(result.termination == .exited(255), "\(result.transcript)")
            #expect(result.errorText.contains("Got work_fail for unknown handle"), "\(result.transcript)")
        }
    }
}
