import Foundation
import ProcessTestSupport
import Testing

/// Worker mode of our `gearman` next to the C `gearman -w` 1.1.20, each fed the same job by
/// the C client, against our gearmand and against the C gearmand.
@Suite(
    .enabled(
        if: Paths.hasGearmanTools && ReferenceServer.isInstalled, "the C gearman tools or gearmand are not installed"),
    .timeLimit(.minutes(3)))
struct GearmanWorkerOptionTests {
    /// Starts a worker of `tool` with `options` and `command`, runs one job of `input` through
    /// it with the C client, and returns the client's result.
    static func runJob(
        on server: ToolTestServer, worker tool: ToolKind, options: [String] = [], command: [String] = [],
        input: [UInt8]
    ) async throws -> (client: ToolResult, worker: ChildProcess) {
        let function = "job-\(tool)"
        let worker = try await server.startWorker(
            tool, functions: [function], options: options, command: command, name: "worker-\(tool)")
        let client = try await server.runGearman(.reference, ["-f", function], input: input)
        return (client, worker)
    }

    @Test(arguments: ServerKind.allCases)
    func workerWithoutCommandEchoes(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        let workload: [UInt8] = Array("hello".utf8) + [0, 255, 10] + Array("bin".utf8)

        for tool in ToolKind.allCases {
            let (client, worker) = try await Self.runJob(
                on: server, worker: tool, options: ["-c", "1"], input: workload)

            #expect(client.termination == .exited(0), "\(tool): \(client.errorText)")
            #expect(client.standardOutput == [], "\(tool) should return an empty result")
            #expect(try await worker.waitForExit(timeout: .seconds(10)) == .exited(0), "\(tool) -c 1")
            let printed = FileManager.default.contents(atPath: server.directory.file("worker-\(tool).stdout").path)
            #expect(printed.map(Array.init) == workload, "\(tool) should print the workload unchanged")
        }
    }

    @Test(arguments: ServerKind.allCases)
    func workerRunsCommandPerJob(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        var results: [ToolKind: ToolResult] = [:]

        for tool in ToolKind.allCases {
            let (client, _) = try await Self.runJob(
                on: server, worker: tool, command: ["rev"], input: Array("abc\ndef\n".utf8))
            results[tool] = client
        }

        expectSameResults(ToolPair(ours: results[.ours]!, reference: results[.reference]!), "gearman -w -- rev")
        #expect(results[.ours]?.outputText == "cba\nfed\n")
    }

    @Test(arguments: ServerKind.allCases)
    func countOptionStopsWorker(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }

        for tool in ToolKind.allCases {
            let function = "count-\(tool)"
            let worker = try await server.startWorker(
                tool, functions: [function], options: ["-c", "2"], command: ["cat"], name: "worker-\(tool)")
            for payload in ["first", "second"] {
                let client = try await server.runGearman(.reference, ["-f", function, payload])
                #expect(client.outputText == payload, "\(tool): \(client.errorText)")
            }
            #expect(try await worker.waitForExit(timeout: .seconds(10)) == .exited(0), "\(tool) -c 2")
            let unregistered = try await waitUntil { try server.statusFields(of: function)?[3] == "0" }
            #expect(unregistered, "\(tool) should have unregistered: \((try? server.adminList("status")) ?? [])")
        }
    }

    /// Documented difference: `-n` sends each line once; the C worker resends everything read
    /// so far with every line.
    @Test(arguments: ServerKind.allCases)
    func linesOptionSendsEachLineOnce(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        let command = ["printf", "l1\\nl2\\nl3"]

        let ours = try await Self.runJob(on: server, worker: .ours, options: ["-n"], command: command, input: [])
        let reference = try await Self.runJob(
            on: server, worker: .reference, options: ["-n"], command: command, input: [])

        #expect(ours.client.termination == .exited(0))
        #expect(ours.client.outputText == "l1\nl2\nl3")
        #expect(reference.client.termination == .exited(0))
        #expect(reference.client.outputText == "l1\nl1\nl2\nl1\nl2\nl3")
    }

    /// Documented difference: `-N` removes only newlines; the C worker resends everything and
    /// cuts its last byte.
    @Test(arguments: ServerKind.allCases)
    func stripNewlineOptionRemovesNewlines(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        let command = ["printf", "l1\\nl2\\nl3"]

        let ours = try await Self.runJob(on: server, worker: .ours, options: ["-N"], command: command, input: [])
        let reference = try await Self.runJob(
            on: server, worker: .reference, options: ["-N"], command: command, input: [])

        #expect(ours.client.outputText == "l1l2l3")
        #expect(reference.client.outputText == "l1l1\nl2l1\nl2\nl")
    }

    @Test(arguments: ServerKind.allCases)
    func failingCommandSendsDataThenFails(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        var results: [ToolKind: ToolResult] = [:]

        for tool in ToolKind.allCases {
            let (client, worker) = try await Self.runJob(
                on: server, worker: tool, command: ["sh", "-c", "cat; echo partial; exit 3"], input: Array("in\n".utf8))
            results[tool] = client
            #expect(worker.isRunning, "\(tool) worker should keep running after a failed job")
        }

        expectSameResults(ToolPair(ours: results[.ours]!, reference: results[.reference]!), "a command that exits 3")
        #expect(results[.ours]?.outputText == "in\npartial\n")
        #expect(results[.ours]?.errorText == "Job failed\n")
        #expect(results[.ours]?.termination == .exited(1))
    }

    /// Documented difference: a command killed by a signal fails the job in ours, but the C worker
    /// completes it with the output written before the signal.
    @Test(arguments: ServerKind.allCases)
    func killedCommandFailsJob(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        let command = ["sh", "-c", "echo partial; kill -TERM $$"]

        let ours = try await Self.runJob(on: server, worker: .ours, command: command, input: [])
        let reference = try await Self.runJob(on: server, worker: .reference, command: command, input: [])

        #expect(ours.client.termination == .exited(1))
        #expect(ours.client.outputText == "partial\n")
        #expect(ours.client.errorText == "Job failed\n")
        #expect(reference.client.termination == .exited(0))
        #expect(reference.client.outputText == "partial\n")
        #expect(reference.client.errorText == "")
    }

    /// `-j 2` runs two jobs at once: each job waits until both have started, which a worker
    /// running one job at a time never gets to.
    @Test func parallelOptionOverlapsJobs() async throws {
        let server = try await ToolTestServer.start(.gearmanKit)
        defer { server.stop() }
        let markers = server.directory.url.path
        let script = """
            name=$(cat); touch "\(markers)/$name"; i=0
            while [ ! -e "\(markers)/a" ] || [ ! -e "\(markers)/b" ]; do
                i=$((i + 1)); [ $i -gt 200 ] && exit 1; sleep 0.05
            done
            echo "$name"
            """
        try await server.startWorker(
            .ours, functions: ["both"], options: ["-j", "2"], command: ["sh", "-c", script], name: "worker")
        _ = try await server.waitForWorkers(of: "both", count: 2)

        // One client per job, because a client runs its workloads one after another.
        var clients: [String: ChildProcess] = [:]
        for name in ["a", "b"] {
            clients[name] = try server.start(
                Paths.ourGearman, server.address + ["-f", "both", name], name: "client-\(name)")
        }
        for (name, client) in clients {
            let termination = try await client.waitForExit(timeout: .seconds(30))
            #expect(termination == .exited(0), "client \(name): \(client.standardErrorText())")
            #expect(client.standardOutputText() == "\(name)\n")
        }
    }

    /// `-j` is our addition; the C tool rejects it.
    @Test func parallelOptionUnknownToCTool() async throws {
        let result = try await ToolRunner.run(Paths.gearmanTool, ["-w", "-j", "2", "-f", "x"], timeout: .seconds(10))

        #expect(result.termination == .exited(1))
        #expect(result.errorText.contains("Worker mode:"), "stderr: \(result.errorText)")
    }

    /// The classic example: `ls / | gearman -f fn` with `gearman -w -f fn -- wc -l`.
    @Test(arguments: ServerKind.allCases)
    func listingLineCountExample(_ kind: ServerKind) async throws {
        let listing = try await ToolRunner.run("/bin/ls", ["/"], timeout: .seconds(30))
        let lineCount = listing.standardOutput.filter { $0 == UInt8(ascii: "\n") }.count
        try #require(lineCount > 0)
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        try await server.startWorker(.ours, functions: ["fn"], command: ["wc", "-l"], name: "worker")

        let result = try await server.runGearman(.ours, ["-f", "fn"], input: listing.standardOutput)

        #expect(result.termination == .exited(0), "stderr: \(result.errorText)")
        #expect(result.outputText == "\(lineCount)\n")
    }

    static func randomBytes(_ count: Int) throws -> [UInt8] {
        let source = try #require(FileHandle(forReadingAtPath: "/dev/urandom"))
        defer { try? source.close() }
        return Array(source.readData(ofLength: count))
    }

    /// 100 MiB of random bytes through our client, our server and our worker running `cat`.
    @Test func hundredMebibytesPassUnchanged() async throws {
        let payload = try Self.randomBytes(100 * 1024 * 1024)
        let server = try await ToolTestServer.start(.gearmanKit)
        defer { server.stop() }
        try await server.startWorker(.ours, functions: ["cat"], command: ["cat"], name: "worker")

        let result = try await server.runGearman(.ours, ["-f", "cat"], input: payload, timeout: .seconds(120))

        #expect(!result.timedOut)
        #expect(result.termination == .exited(0), "stderr: \(result.errorText)")
        #expect(result.standardOutput.count == payload.count)
        #expect(result.standardOutput == payload, "the bytes came back changed")
    }

    /// Random bytes through the C client, our server and our worker.
    ///
    /// 2 MiB, because the C client 1.1.20 reads standard input in quadratic time: 4 MiB took
    /// 6 s and 16 MiB 145 s on a 2-core VM.
    @Test func cClientPassesBinaryUnchanged() async throws {
        let payload = try Self.randomBytes(2 * 1024 * 1024)
        let server = try await ToolTestServer.start(.gearmanKit)
        defer { server.stop() }
        try await server.startWorker(.ours, functions: ["cat"], command: ["cat"], name: "worker")

        let result = try await server.runGearman(.reference, ["-f", "cat"], input: payload, timeout: .seconds(60))

        #expect(!result.timedOut)
        #expect(result.termination == .exited(0), "stderr: \(result.errorText)")
        #expect(result.standardOutput == payload, "the bytes came back changed")
    }
}
