import Foundation
import ProcessTestSupport
import Testing

/// `gearman -w -c C` takes exactly C jobs, also when `-j N` runs several at once, and leaves
/// the rest queued.
@Suite(.timeLimit(.minutes(3)))
struct GearmanWorkerCountTests {
    /// Jobs queued before the worker starts, more than any count below.
    static let queuedJobs = 10

    @Test(arguments: [(jobs: 1, count: 3), (2, 2), (2, 4), (4, 6), (4, 2), (3, 1)])
    func countCoversAllJobSlots(_ combination: (jobs: Int, count: Int)) async throws {
        let server = try await ToolTestServer.start(.gearmanKit)
        defer { server.stop() }
        let function = "count-j\(combination.jobs)-c\(combination.count)"
        let runs = server.directory.file("runs")
        let input = (1...Self.queuedJobs).map { "\($0)\n" }.joined()
        let submitted = try await server.runGearman(.ours, ["-b", "-N", "-f", function], input: Array(input.utf8))
        try #require(submitted.termination == .exited(0), "stderr: \(submitted.errorText)")

        // Each job appends its workload with one write, so concurrent jobs do not mix lines.
        let worker = try await server.runGearman(
            .ours,
            [
                "-w", "-j", String(combination.jobs), "-c", String(combination.count), "-f", function, "--", "sh",
                "-c", "echo \"$(cat)\" >> '\(runs.path)'",
            ],
            timeout: .seconds(20))

        #expect(!worker.timedOut, "the worker did not exit after \(combination.count) jobs")
        #expect(worker.termination == .exited(0), "stderr: \(worker.errorText)")
        let ran = readLines(runs)
        #expect(ran.count == combination.count, "jobs run: \(ran)")
        let fields = try server.statusFields(of: function)
        #expect(fields?[1] == String(Self.queuedJobs - combination.count), "status: \(fields ?? [])")
        #expect(fields?[2] == "0", "no job should be left running: \(fields ?? [])")
    }
}
