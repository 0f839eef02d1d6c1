import Foundation
import ProcessTestSupport
import Testing

/// The order in which our `gearman` and the C `gearman` 1.1.20 run several workloads: one
/// after another, reading standard input only as far as the next line, against our gearmand
/// and against the C gearmand.
@Suite(
    .enabled(
        if: Paths.hasGearmanTools && ReferenceServer.isInstalled, "the C gearman tools or gearmand are not installed"),
    .timeLimit(.minutes(2)))
struct GearmanClientSequenceTests {
    /// A foreground job of a line runs before the next line has been written.
    @Test(arguments: ServerKind.allCases)
    func linesRunAsTheyArrive(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        try await server.startWorker(.reference, functions: ["rev"], command: ["rev"], name: "worker")

        for tool in ToolKind.allCases {
            let (input, client) = try server.startReadingFIFO(tool, ["-n", "-f", "rev"])
            defer { input.close() }
            defer { client.stop() }
            let output = server.directory.file("\(tool).stdout")

            try input.write("first\n")
            let first = try await waitUntil(timeout: .seconds(10)) { readText(output) == "tsrif\n" }
            #expect(first, "\(tool) should print the first result before the second line; stdout: \(readText(output))")

            try input.write("second\n")
            let second = try await waitUntil(timeout: .seconds(10)) { readText(output) == "tsrif\ndnoces\n" }
            #expect(second, "\(tool) stdout: \(readText(output))")
            try await expectCleanEnd(of: input, for: client, tool: tool)
            #expect(readText(server.directory.file("\(tool).stderr")) == "")
        }
    }

    /// A background job of a line is queued before the next line has been written.
    @Test(arguments: ServerKind.allCases)
    func backgroundLinesQueueAsTheyArrive(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }

        for tool in ToolKind.allCases {
            let function = "later-\(tool)"
            let (input, client) = try server.startReadingFIFO(tool, ["-b", "-n", "-f", function])
            defer { input.close() }
            defer { client.stop() }

            for count in 1...3 {
                try input.write("line\(count)\n")
                let queued = try await server.waitForJobs(of: function, count: count)
                #expect(queued, "\(tool) line \(count): \((try? server.adminList("status")) ?? [])")
            }
            try await expectCleanEnd(of: input, for: client, tool: tool)
            #expect(readText(server.directory.file("\(tool).stdout")) == "")
        }
    }

    /// The workloads of one call do not coalesce under `-u`, because each job has finished
    /// before the next is submitted.
    @Test(arguments: ServerKind.allCases)
    func uniqueKeyWithSeveralWorkloads(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        try await server.startWorker(.reference, functions: ["rev"], command: ["rev"], name: "worker")

        let arguments = try await server.runBothGearman(["-u", "SAMEKEY", "-f", "rev", "abc", "def"])
        expectSameResults(arguments, "gearman -u SAMEKEY -f rev abc def")
        #expect(arguments.ours.outputText == "cbafed")

        let lines = try await server.runBothGearman(
            ["-u", "K2", "-n", "-f", "rev"], input: Array("one\ntwo\nthree\n".utf8))
        expectSameResults(lines, "gearman -u K2 -n -f rev")
        #expect(lines.ours.outputText == "eno\nowt\neerht\n")
    }

    /// Background jobs with one `-u` key coalesce, because the first is still queued when the
    /// next is submitted.
    @Test(arguments: ServerKind.allCases)
    func uniqueKeyCoalescesBackgroundJobs(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }

        for tool in ToolKind.allCases {
            let function = "merged-\(tool)"
            let result = try await server.runGearman(tool, ["-b", "-u", "KEY", "-f", function, "a", "b", "c"])
            #expect(result.termination == .exited(0), "\(tool): \(result.transcript)")
            #expect(try server.statusFields(of: function)?[1] == "1", "\(tool): three submissions, one job")
        }
    }

    /// With at most one job of its own queued, the client never reaches a `maxqueue` limit.
    @Test(arguments: ServerKind.allCases)
    func maxqueueLimitIsNotReached(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        try await server.startWorker(.reference, functions: ["cat"], command: ["cat"], name: "worker")
        let admin = try RawConnection(port: server.port)
        try admin.send("maxqueue cat 5\n")
        #expect(try admin.receiveLine() == "OK\r\n")
        let numbers = (1...50).map { "\($0)\n" }.joined()

        let pair = try await server.runBothGearman(["-n", "-f", "cat"], input: Array(numbers.utf8))

        expectSameResults(pair, "50 lines against maxqueue 5")
        #expect(pair.ours.outputText == numbers)
    }

    /// A failed job in the middle prints `Job failed`; the later workloads still run, and the
    /// exit status is 1.
    @Test(arguments: ServerKind.allCases)
    func failedJobInMiddleGoesOn(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        try await server.startWorker(
            .reference, functions: ["check"], command: ["sh", "-c", "read x; [ \"$x\" != bad ] && echo \"ok $x\""],
            name: "worker")

        let arguments = try await server.runBothGearman(["-f", "check", "a", "bad", "c"])
        expectSameResults(arguments, "gearman -f check a bad c")
        #expect(arguments.ours.outputText == "ok a\nok c\n")
        #expect(arguments.ours.errorText == "Job failed\n")
        #expect(arguments.ours.termination == .exited(1))

        let lines = try await server.runBothGearman(["-n", "-f", "check"], input: Array("bad\nb".utf8))
        expectSameResults(lines, "gearman -n -f check with a failure first")
        #expect(lines.ours.outputText == "ok b\n")
        #expect(lines.ours.termination == .exited(1))
    }

    /// Documented difference: a submission rejected with QUEUE_ERROR is reported and the later
    /// workloads still run in both; ours then exits 1, the C tool 0.
    @Test(arguments: ServerKind.allCases)
    func queueErrorInMiddleGoesOn(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        let admin = try RawConnection(port: server.port)

        var results: [ToolKind: ToolResult] = [:]
        for tool in ToolKind.allCases {
            let function = "full-\(tool)"
            // The C gearmand ignores maxqueue for a function it does not know yet.
            let first = try await server.runGearman(tool, ["-b", "-f", function, "queued"])
            #expect(first.termination == .exited(0), "\(tool): \(first.transcript)")
            try admin.send("maxqueue \(function) 2\n")
            #expect(try admin.receiveLine() == "OK\r\n")

            results[tool] = try await server.runGearman(tool, ["-b", "-f", function, "a", "b", "c"])
            #expect(try server.statusFields(of: function)?[1] == "2", "\(tool): only a fits into the queue")
        }

        let ours = try #require(results[.ours])
        let rejection = "gearman: 127.0.0.1:\(server.port) returned QUEUE_ERROR: Job queue is full\n"
        #expect(ours.termination == .exited(1))
        #expect(ours.outputText == "")
        #expect(ours.errorText == rejection + rejection)
        let reference = try #require(results[.reference])
        #expect(reference.termination == .exited(0))
        #expect(reference.outputText == "")
        let referenceLines = reference.errorText.split(separator: "\n")
        #expect(referenceLines.count == 2, "stderr: \(reference.errorText)")
        #expect(referenceLines.allSatisfy { $0.contains("QUEUE_ERROR") }, "stderr: \(reference.errorText)")
    }
}

extension ToolTestServer {
    /// Starts `tool`'s gearman against this server with `arguments`, reading standard input
    /// from a new FIFO, so a test can write one line at a time.
    fileprivate func startReadingFIFO(_ tool: ToolKind, _ arguments: [String]) throws -> (
        input: InputFIFO, client: ChildProcess
    ) {
        let input = try InputFIFO(at: directory.file("\(tool).fifo"))
        do {
            let client = try start(tool.gearman, address + arguments, name: "\(tool)", standardInput: input.url)
            return (input, client)
        } catch {
            input.close()
            throw error
        }
    }
}

/// Checks that `client` still waits for input, then closes the input and expects `client` to
/// exit with status 0.
private func expectCleanEnd(of input: InputFIFO, for client: ChildProcess, tool: ToolKind) async throws {
    #expect(client.isRunning, "\(tool) should wait for more input")
    input.close()
    #expect(try await client.waitForExit(timeout: .seconds(10)) == .exited(0), "\(tool)")
}
