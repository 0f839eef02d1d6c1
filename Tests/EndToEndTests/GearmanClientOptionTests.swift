import Foundation
import ProcessTestSupport
import Testing

/// Every client option of our `gearman` next to the C `gearman` 1.1.20, with the same input,
/// against our gearmand and against the C gearmand. The results must be equal except where
/// man/gearman.1 lists a deliberate difference; those tests check both sides of it.
@Suite(
    .enabled(
        if: Paths.hasGearmanTools && ReferenceServer.isInstalled, "the C gearman tools or gearmand are not installed"),
    .timeLimit(.minutes(2)))
struct GearmanClientOptionTests {
    @Test(arguments: ServerKind.allCases)
    func wholeStandardInputIsOneJob(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        try await server.startWorker(.reference, functions: ["count"], command: ["wc", "-l"], name: "worker")

        let pair = try await server.runBothGearman(["-f", "count"], input: Array("a\nb\nc\n".utf8))

        expectSameResults(pair, "gearman -f count with three lines")
        #expect(pair.ours.outputText == "3\n")
    }

    @Test(arguments: ServerKind.allCases)
    func argumentsAreSeparateJobs(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        try await server.startWorker(.reference, functions: ["bytes"], command: ["wc", "-c"], name: "worker")

        // Standard input is ignored when there are arguments.
        let pair = try await server.runBothGearman(
            ["-f", "bytes", "one", "three", "seven!"], input: Array("ignored".utf8))

        expectSameResults(pair, "gearman -f bytes one three seven!")
        #expect(pair.ours.outputText == "3\n5\n6\n")
    }

    @Test(arguments: ServerKind.allCases)
    func repeatedFunctionGetsEveryWorkload(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        try await server.startWorker(.reference, functions: ["one", "two"], command: ["cat"], name: "worker")

        let pair = try await server.runBothGearman(["-P", "-f", "one", "-f", "two"], input: Array("x\n".utf8))

        // Which function's job finishes first depends on the server, so lines are compared as sets.
        for result in [pair.ours, pair.reference] {
            #expect(result.termination == .exited(0), "stderr: \(result.errorText)")
            #expect(result.outputText.split(separator: "\n").sorted() == ["one: x", "two: x"])
            #expect(result.errorText == "")
        }
    }

    @Test(arguments: ServerKind.allCases)
    func noFunctionIsUsageError(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }

        let pair = try await server.runBothGearman(["data"])

        #expect(pair.ours.termination == .exited(1))
        #expect(pair.reference.termination == .exited(1))
        #expect(pair.ours.outputText == "")
        #expect(pair.reference.outputText == "")
        #expect(pair.ours.errorText.contains("no function given"), "stderr: \(pair.ours.errorText)")
        #expect(pair.reference.errorText.contains("No Functions were provided"), "stderr: \(pair.reference.errorText)")
    }

    @Test func unknownOptionPrintsUsage() async throws {
        let ours = try await ToolRunner.run(Paths.ourGearman, ["-X", "-f", "fn"], timeout: .seconds(10))
        let reference = try await ToolRunner.run(Paths.gearmanTool, ["-X", "-f", "fn"], timeout: .seconds(10))

        #expect(ours.termination == .exited(1))
        #expect(reference.termination == .exited(1))
        #expect(ours.outputText == "")
        #expect(reference.outputText == "")
        #expect(ours.errorText.hasPrefix("gearman: unknown option '-X'\n"), "stderr: \(ours.errorText)")
        #expect(ours.errorText.contains("Usage: gearman"))
        #expect(ours.errorText.hasSuffix("Try 'gearman --help' for more information.\n"))
        #expect(!ours.errorText.contains("Client mode"))
        #expect(reference.errorText.contains("Client mode:"), "stderr: \(reference.errorText)")
    }

    /// `-H` exits 0 in both; the help goes to standard output in ours and to standard error in
    /// the C tool (observed on 1.1.20).
    @Test func helpOptionPrintsUsage() async throws {
        let ours = try await ToolRunner.run(Paths.ourGearman, ["-H"], timeout: .seconds(10))
        let reference = try await ToolRunner.run(Paths.gearmanTool, ["-H"], timeout: .seconds(10))

        #expect(ours.termination == .exited(0))
        #expect(reference.termination == .exited(0))
        #expect(ours.outputText.hasPrefix("Usage: gearman"))
        #expect(ours.errorText == "")
        #expect(reference.outputText == "")
        #expect(reference.errorText.contains("Client mode:"))
    }

    @Test(arguments: ServerKind.allCases)
    func hostAndPortOptionsSelectServer(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        try await server.startWorker(.reference, functions: ["rev"], command: ["rev"], name: "worker")

        for host in ["127.0.0.1", "localhost"] {
            let arguments = ["-h", host, "-p", String(server.port), "-f", "rev", "abc"]
            let ours = try await ToolRunner.run(Paths.ourGearman, arguments, timeout: .seconds(20))
            let reference = try await ToolRunner.run(Paths.gearmanTool, arguments, timeout: .seconds(20))
            expectSameResults(ToolPair(ours: ours, reference: reference), "gearman -h \(host)")
            #expect(ours.outputText == "cba")
        }
    }

    /// With no server listening, ours exits 1; the C tool prints its message and exits 0.
    @Test func refusedConnectionExitsOne() async throws {
        let port = try refusedPort()
        let arguments = ["-h", "127.0.0.1", "-p", String(port), "-f", "rev", "abc"]

        let ours = try await ToolRunner.run(Paths.ourGearman, arguments, timeout: .seconds(20))
        let reference = try await ToolRunner.run(Paths.gearmanTool, arguments, timeout: .seconds(20))

        #expect(ours.termination == .exited(1))
        #expect(ours.outputText == "")
        #expect(ours.errorText == "gearman: cannot connect to 127.0.0.1:\(port): Connection refused\n")
        #expect(reference.termination == .exited(0))
        #expect(reference.outputText == "")
        #expect(reference.errorText.contains("GEARMAN_COULD_NOT_CONNECT"), "stderr: \(reference.errorText)")
    }

    @Test(arguments: ServerKind.allCases)
    func gearmanServerOverridesPortOption(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        try await server.startWorker(.reference, functions: ["rev"], command: ["rev"], name: "worker")
        var environment = ChildProcess.defaultEnvironment
        environment["GEARMAN_SERVER"] = "127.0.0.1:\(server.port)"
        let arguments = ["-h", "127.0.0.1", "-p", String(try refusedPort()), "-f", "rev", "abc"]

        let ours = try await ToolRunner.run(
            Paths.ourGearman, arguments, environment: environment, timeout: .seconds(30))
        let reference = try await ToolRunner.run(
            Paths.gearmanTool, arguments, environment: environment, timeout: .seconds(30))

        expectSameResults(ToolPair(ours: ours, reference: reference), "GEARMAN_SERVER with -p of a closed port")
        #expect(ours.outputText == "cba")
    }

    /// Ours reports the refused first entry and uses the second; the C tool gives up with a
    /// lost-connection message and exit status 0.
    @Test(arguments: ServerKind.allCases)
    func gearmanServerListSkipsRefusedEntry(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        try await server.startWorker(.reference, functions: ["rev"], command: ["rev"], name: "worker")
        let closed = try refusedPort()
        var environment = ChildProcess.defaultEnvironment
        environment["GEARMAN_SERVER"] = "127.0.0.1:\(closed),127.0.0.1:\(server.port)"

        let ours = try await ToolRunner.run(
            Paths.ourGearman, ["-f", "rev", "abc"], environment: environment, timeout: .seconds(30))
        let reference = try await ToolRunner.run(
            Paths.gearmanTool, ["-f", "rev", "abc"], environment: environment, timeout: .seconds(30))

        #expect(ours.termination == .exited(0))
        #expect(ours.outputText == "cba")
        #expect(
            ours.errorText
                == "gearman: cannot connect to 127.0.0.1:\(closed): Connection refused; trying the next server\n")
        #expect(reference.termination == .exited(0))
        #expect(reference.outputText == "")
        #expect(reference.errorText.contains("GEARMAN_LOST_CONNECTION"), "stderr: \(reference.errorText)")
    }

    /// Ours takes an IPv6 address in brackets; the C tool cannot parse it.
    @Test func gearmanServerAcceptsIPv6() async throws {
        let server = try await ToolTestServer.start(.gearmanKit, arguments: ["--listen", "::1"])
        defer { server.stop() }
        try await server.startWorker(.ours, functions: ["rev"], command: ["rev"], name: "worker")
        var environment = ChildProcess.defaultEnvironment
        environment["GEARMAN_SERVER"] = "[::1]:\(server.port)"

        let ours = try await ToolRunner.run(
            Paths.ourGearman, ["-f", "rev", "abc"], environment: environment, timeout: .seconds(30))
        let reference = try await ToolRunner.run(
            Paths.gearmanTool, ["-f", "rev", "abc"], environment: environment, timeout: .seconds(30))

        #expect(ours.termination == .exited(0), "stderr: \(ours.errorText)")
        #expect(ours.outputText == "cba")
        #expect(reference.outputText == "")
        #expect(reference.errorText.contains("Error occurred while parsing GEARMAN_SERVER"), "\(reference.errorText)")
    }

    @Test(arguments: ServerKind.allCases)
    func backgroundJobsPrintNothing(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }

        let pair = try await server.runBothGearman(["-b", "-f", "later"], input: Array("job".utf8))

        expectSameResults(pair, "gearman -b -f later")
        #expect(pair.ours.outputText == "")
        let queued = try await server.waitForJobs(of: "later", count: 2)
        #expect(queued, "status: \((try? server.adminList("status")) ?? [])")
    }

    @Test(arguments: ServerKind.allCases)
    func priorityOptionsQueueByPriority(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }

        for options in [["-I"], ["-L"], [], ["-I", "-L"]] {
            let pair = try await server.runBothGearman(options + ["-b", "-f", "prio"], input: Array("job".utf8))
            expectSameResults(pair, "gearman \(options) -b -f prio")
        }

        // Each tool queued one high, one normal and two low jobs: -L after -I wins.
        let fields = try server.statusFields(of: "prio", command: "prioritystatus")
        #expect(fields == ["prio", "2", "2", "4", "0"])
    }

    @Test(arguments: ServerKind.allCases)
    func foregroundHighPriorityWaitsInHighQueue(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }

        for tool in ToolKind.allCases {
            let function = "urgent-\(tool)"
            let client = try server.start(tool.gearman, server.address + ["-I", "-f", function, "x"], name: "\(tool)")
            defer { client.stop() }
            let queued = try await waitUntil {
                try server.statusFields(of: function, command: "prioritystatus") == [function, "1", "0", "0", "0"]
            }
            #expect(queued, "\(tool): \((try? server.adminList("prioritystatus")) ?? [])")
        }
    }

    /// Two clients with the same `-u` key and function share one run of the worker.
    @Test(arguments: ServerKind.allCases)
    func uniqueKeyCoalescesClients(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        let runs = server.directory.file("runs")
        let clientArguments = server.address + ["-v", "-u", "same-key", "-f", "once", "payload"]
        // The C client buffers its -v output, so the job count shows that it has submitted.
        let reference = try server.start(Paths.gearmanTool, clientArguments, name: "reference")
        try #require(try await server.waitForJobs(of: "once", count: 1), "the C client did not submit")
        let ours = try server.start(Paths.ourGearman, clientArguments, name: "ours")
        let created = try await waitUntil {
            readText(server.directory.file("ours.stdout")).hasPrefix("Task created: ")
        }
        try #require(created, "our client should print Task created before a worker exists")
        #expect(try server.statusFields(of: "once")?[1] == "1", "the two submissions should be one job")

        // The worker takes the job as soon as it registers and exits after it, so it is not
        // waited for.
        try server.start(
            Paths.gearmanTool,
            server.address + [
                "-w", "-c", "1", "-f", "once", "--", "sh", "-c", "echo ran >> '\(runs.path)'; echo result",
            ],
            name: "worker")
        #expect(try await ours.waitForExit(timeout: .seconds(10)) == .exited(0))
        #expect(try await reference.waitForExit(timeout: .seconds(10)) == .exited(0))

        // The C client prints its buffered Task created line last, so lines are compared as sets.
        let oursLines = readText(server.directory.file("ours.stdout")).split(separator: "\n").sorted()
        let referenceLines = readText(server.directory.file("reference.stdout")).split(separator: "\n").sorted()
        #expect(oursLines.count == 2)
        #expect(oursLines == referenceLines, "same handle and result for both clients")
        #expect(oursLines.contains("result"))
        #expect(readText(runs) == "ran\n", "the worker should run once")
    }

    @Test(arguments: ServerKind.allCases)
    func noInputSendsEmptyWorkload(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        try await server.startWorker(.reference, functions: ["bytes"], command: ["wc", "-c"], name: "worker")

        let pair = try await server.runBothGearman(["-s", "-f", "bytes"], input: Array("not read".utf8))

        expectSameResults(pair, "gearman -s -f bytes")
        #expect(pair.ours.outputText == "0\n")
    }

    @Test(arguments: ServerKind.allCases)
    func linesOptionSendsJobPerLine(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        try await server.startWorker(.reference, functions: ["bytes"], command: ["wc", "-c"], name: "worker")

        let pair = try await server.runBothGearman(["-n", "-f", "bytes"], input: Array("a\nbb\nccc".utf8))

        expectSameResults(pair, "gearman -n -f bytes")
        #expect(pair.ours.outputText == "2\n3\n3\n")
    }

    @Test(arguments: ServerKind.allCases)
    func stripNewlineMatchesOnTerminatedLines(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        try await server.startWorker(.reference, functions: ["bytes"], command: ["wc", "-c"], name: "worker")

        let pair = try await server.runBothGearman(["-N", "-f", "bytes"], input: Array("a\nbb\n".utf8))

        expectSameResults(pair, "gearman -N -f bytes")
        #expect(pair.ours.outputText == "1\n2\n")
    }

    /// Documented difference: `-N` removes only a newline; the C tool cuts the last byte of a
    /// final line without one.
    @Test(arguments: ServerKind.allCases)
    func stripNewlineKeepsUnterminatedLine(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        try await server.startWorker(.reference, functions: ["echo"], command: ["cat"], name: "worker")

        let pair = try await server.runBothGearman(["-N", "-f", "echo"], input: Array("abc\ndef".utf8))

        #expect(pair.ours.termination == .exited(0))
        #expect(pair.ours.outputText == "abcdef")
        #expect(pair.reference.termination == .exited(0))
        #expect(pair.reference.outputText == "abcde")
    }

    /// Documented difference: a line over 8 KiB stays one job; the C tool splits it at its
    /// 8192-byte fgets buffer.
    @Test(arguments: ServerKind.allCases)
    func longLineStaysOneJob(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        try await server.startWorker(.reference, functions: ["bytes"], command: ["wc", "-c"], name: "worker")
        let line = Array(repeating: UInt8(ascii: "x"), count: 10_000) + [UInt8(ascii: "\n")]

        let pair = try await server.runBothGearman(["-n", "-f", "bytes"], input: line)

        #expect(pair.ours.termination == .exited(0))
        #expect(pair.ours.outputText == "10001\n")
        #expect(pair.reference.termination == .exited(0))
        #expect(pair.reference.outputText == "8191\n1810\n")
    }

    @Test(arguments: ServerKind.allCases)
    func prefixOptionLabelsOutput(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        try await server.startScriptedWorker(function: "scripted", name: "worker")

        let pair = try await server.runBothGearman(
            ["-P", "-f", "scripted"], input: Array("data d1\nwarning w1\\n\ncomplete c1\\n\n".utf8))

        expectSameResults(pair, "gearman -P with data, warning and complete")
        #expect(pair.ours.outputText == "scripted: d1scripted: c1\n")
        #expect(pair.ours.errorText == "scripted: w1\n")
    }

    /// The C tool prefixes `Job failed` with the function name under `-P`; ours should too.
    @Test(arguments: ServerKind.allCases)
    func prefixOptionLabelsFailure(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        try await server.startScriptedWorker(function: "scripted", name: "worker")

        let pair = try await server.runBothGearman(["-P", "-f", "scripted"], input: Array("data d1\nfail\n".utf8))

        #expect(pair.reference.errorText == "scripted: Job failed\n")
        #expect(pair.ours.termination == .exited(1))
        #expect(pair.reference.termination == .exited(1))
        #expect(pair.ours.outputText == pair.reference.outputText)
        #expect(pair.ours.errorText == pair.reference.errorText)
    }

    @Test(arguments: ServerKind.allCases)
    func failedJobPrintsJobFailed(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        try await server.startScriptedWorker(function: "scripted", name: "worker")

        let pair = try await server.runBothGearman(["-f", "scripted"], input: Array("data partial\nfail\n".utf8))

        expectSameResults(pair, "a job that sends data and fails")
        #expect(pair.ours.outputText == "partial")
        #expect(pair.ours.errorText == "Job failed\n")
        #expect(pair.ours.termination == .exited(1))
    }

    @Test(arguments: ServerKind.allCases)
    func warningsGoToStandardError(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        try await server.startScriptedWorker(function: "scripted", name: "worker")

        let pair = try await server.runBothGearman(
            ["-f", "scripted"], input: Array("warning careful\\n\ndata part\ncomplete done\\n\n".utf8))

        expectSameResults(pair, "a job with a warning")
        #expect(pair.ours.outputText == "partdone\n")
        #expect(pair.ours.errorText == "careful\n")
    }

    /// Ours prints `N% Complete` lines in order with the data. The C tool 1.1.20 writes them
    /// through stdio's buffer, so in a file they come after all the data.
    @Test(arguments: ServerKind.allCases)
    func statusLinesShowPercent(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        try await server.startScriptedWorker(function: "scripted", name: "worker")

        let pair = try await server.runBothGearman(
            ["-f", "scripted"], input: Array("status 1 4\ndata part\nstatus 3 4\ncomplete done\\n\n".utf8))

        #expect(pair.ours.termination == .exited(0))
        #expect(pair.ours.outputText == "25% Complete\npart75% Complete\ndone\n")
        #expect(pair.reference.termination == .exited(0))
        #expect(pair.reference.outputText == "partdone\n25% Complete\n75% Complete\n")
        #expect(pair.ours.errorText == pair.reference.errorText)
    }

    /// Documented difference: ours requests exceptions and prints the exception's data before
    /// `Job failed`. The C tool does not, so it prints only `Job failed`. Against the C gearmand,
    /// whose WORK_FAIL then carries a stray NUL after the handle, it never sees the job end.
    @Test(arguments: ServerKind.allCases)
    func exceptionDataPrinted(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        try await server.startScriptedWorker(function: "scripted", name: "worker")
        let input = Array("data d\nexception boom\n".utf8)

        let ours = try await server.runGearman(.ours, ["-f", "scripted"], input: input)
        let reference = try await server.runGearman(.reference, ["-f", "scripted"], input: input, timeout: .seconds(3))

        #expect(ours.termination == .exited(1))
        #expect(ours.outputText == "d")
        #expect(ours.errorText == "boom\nJob failed\n")
        #expect(reference.outputText == "d")
        if kind == .gearmanKit {
            #expect(reference.termination == .exited(1))
            #expect(reference.errorText == "Job failed\n")
        } else {
            #expect(reference.timedOut, "the C gearman against the C gearmand hangs on an exception")
        }
    }

    /// Documented difference: a timeout exits 1 in ours, 0 in the C tool.
    @Test(arguments: ServerKind.allCases)
    func timeoutOptionGivesUp(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }

        let pair = try await server.runBothGearman(["-t", "300", "-f", "nobody", "x"], timeout: .seconds(15))

        #expect(pair.ours.termination == .exited(1))
        #expect(pair.ours.outputText == "")
        #expect(pair.ours.errorText == "gearman: no reply from 127.0.0.1:\(server.port) within 300 ms\n")
        #expect(pair.reference.termination == .exited(0))
        #expect(pair.reference.outputText == "")
        #expect(pair.reference.errorText.contains("GEARMAN_TIMEOUT"), "stderr: \(pair.reference.errorText)")
    }

    /// Documented difference: when the server closes the connection during a job, ours exits 1
    /// and the C client exits 0.
    @Test(arguments: ServerKind.allCases)
    func serverClosingMidJobFailsClient(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        for name in ["worker-1", "worker-2"] {
            try await server.startWorker(.reference, functions: ["slow"], command: ["sleep", "30"], name: name)
        }
        var clients: [ToolKind: ChildProcess] = [:]
        for tool in ToolKind.allCases {
            clients[tool] = try server.start(
                tool.gearman, server.address + ["-f", "slow", "x"], name: "client-\(tool)")
        }
        let running = try await waitUntil { try server.statusFields(of: "slow")?[2] == "2" }
        try #require(running, "both jobs should run: \((try? server.adminList("status")) ?? [])")

        kill(server.pid, SIGTERM)

        let ours = try #require(clients[.ours])
        let reference = try #require(clients[.reference])
        #expect(try await ours.waitForExit(timeout: .seconds(10)) == .exited(1))
        #expect(ours.standardErrorText() == "gearman: 127.0.0.1:\(server.port) closed the connection\n")
        #expect(try await reference.waitForExit(timeout: .seconds(10)) == .exited(0))
        #expect(
            reference.standardErrorText().contains("GEARMAN_LOST_CONNECTION"),
            "stderr: \(reference.standardErrorText())")
    }

    /// `-t -1` is libgearman's default and waits forever, as does any negative value.
    @Test(arguments: ServerKind.allCases)
    func negativeTimeoutWaitsForever(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        try await server.startWorker(
            .reference, functions: ["slow"], command: ["sh", "-c", "sleep 0.5; tr a-z A-Z"], name: "worker")

        for timeout in ["-1", "-100"] {
            let pair = try await server.runBothGearman(["-t", timeout, "-f", "slow", "hello"])

            expectSameResults(pair, "-t \(timeout)")
            #expect(pair.ours.termination == .exited(0), "-t \(timeout): \(pair.ours.errorText)")
            #expect(pair.ours.outputText == "HELLO", "-t \(timeout)")
        }
    }

    /// Ours prints `Task created` when the server has queued the job. The C tool 1.1.20 writes
    /// it through stdio's buffer, so in a file it comes after the result.
    @Test(arguments: ServerKind.allCases)
    func verboseOptionPrintsHandle(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        try await server.startWorker(.reference, functions: ["rev"], command: ["rev"], name: "worker")

        let pair = try await server.runBothGearman(["-v", "-f", "rev", "abc"])

        #expect(pair.ours.termination == .exited(0))
        #expect(pair.reference.termination == .exited(0))
        #expect(pair.ours.errorText == pair.reference.errorText)
        #expect(maskingHandles(pair.ours.outputText) == "Task created: <handle>\ncba")
        #expect(maskingHandles(pair.reference.outputText) == "cbaTask created: <handle>\n")
    }

    /// Both tools run the jobs one after another. Ours prints each `Task created` line before
    /// the job's result; the C tool buffers them until it exits.
    @Test(arguments: ServerKind.allCases)
    func verboseOptionWithSeveralJobs(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        try await server.startWorker(.reference, functions: ["rev"], command: ["rev"], name: "worker")

        let pair = try await server.runBothGearman(["-v", "-f", "rev", "ab", "cd"])

        #expect(maskingHandles(pair.ours.outputText) == "Task created: <handle>\nbaTask created: <handle>\ndc")
        #expect(maskingHandles(pair.reference.outputText) == "badcTask created: <handle>\nTask created: <handle>\n")
    }

    @Test(arguments: ToolKind.allCases)
    func pidFileHoldsProcessID(_ tool: ToolKind) async throws {
        let server = try await ToolTestServer.start(.gearmanKit)
        defer { server.stop() }
        let pidFile = server.directory.file("client.pid")

        // Without a worker the client waits, so the file can be read while it runs.
        let client = try server.start(
            tool.gearman, server.address + ["-i", pidFile.path, "-f", "pending", "x"], name: "client")
        let written = try await waitUntil { readText(pidFile) == "\(client.pid)\n" }
        #expect(written, "\(tool) pid file: \(readText(pidFile).debugDescription), pid \(client.pid)")

        try await server.startWorker(.reference, functions: ["pending"], command: ["cat"], name: "worker")
        #expect(try await client.waitForExit(timeout: .seconds(10)) == .exited(0))
        #expect(!FileManager.default.fileExists(atPath: pidFile.path), "\(tool) should remove its pid file at exit")
    }

    /// Ours rejects `-S` because it has no TLS; the C tool built without TLS ignores it.
    @Test func sslOptionIsRejected() async throws {
        let server = try await ToolTestServer.start(.gearmanKit)
        defer { server.stop() }
        try await server.startWorker(.reference, functions: ["rev"], command: ["rev"], name: "worker")

        let pair = try await server.runBothGearman(["-S", "-f", "rev", "abc"])

        #expect(pair.ours.termination == .exited(1))
        #expect(pair.ours.outputText == "")
        #expect(pair.ours.errorText.hasPrefix("gearman: -S: TLS is not available in this version\n"))
        #expect(pair.reference.termination == .exited(0))
        #expect(pair.reference.outputText == "cba")
    }
}
