import Foundation
import ProcessTestSupport
import Testing

/// Every option of our `gearadmin` next to the C `gearadmin` 1.1.20 on the same server state,
/// against our gearmand and against the C gearmand. Output must be equal except where
/// man/gearadmin.1 lists a deliberate difference; those tests check both sides of it.
@Suite(
    .enabled(
        if: Paths.hasGearmanTools && ReferenceServer.isInstalled, "the C gearman tools or gearmand are not installed"),
    .timeLimit(.minutes(2)))
struct GearadminOptionTests {
    /// Starts a server with an idle worker, three queued background jobs with unique keys and
    /// an empty function.
    static func startPopulatedServer(_ kind: ServerKind) async throws -> ToolTestServer {
        let server = try await ToolTestServer.start(kind)
        do {
            try await server.startScriptedWorker(function: "adm_worker", name: "worker")
            for options in [["-u", "key-1"], ["-u", "key-2"], ["-I", "-u", "key-3"]] {
                let submitted = try await server.runGearman(.ours, ["-b"] + options + ["-f", "adm_queue", "x"])
                try #require(submitted.termination == .exited(0), "gearman -b failed: \(submitted.errorText)")
            }
            try #require(try server.adminList("show jobs").count == 3)
            let created = try await server.runGearadmin(.ours, ["--create-function", "adm_empty"])
            try #require(created.outputText == "OK\n", "create function failed: \(created.errorText)")
        } catch {
            server.stop()
            throw error
        }
        return server
    }

    @Test(
        arguments: ServerKind.allCases,
        [
            "--status", "--show-jobs", "--show-unique-jobs", "--priority-status", "--getpid", "--server-version",
            "--server-verbose",
        ])
    func queryOptionMatches(_ kind: ServerKind, option: String) async throws {
        let server = try await Self.startPopulatedServer(kind)
        defer { server.stop() }

        let pair = try await server.runBothGearadmin([option])

        expectSameResults(pair, "gearadmin \(option)")
        #expect(pair.ours.termination == .exited(0))
        #expect(!pair.ours.outputText.isEmpty)
        #expect(pair.ours.errorText == "")
        if option == "--getpid" {
            #expect(pair.ours.outputText == "\(server.pid)\n")
        }
    }

    /// The server's fd of each connection may differ between the two calls, so it is left out.
    @Test(arguments: ServerKind.allCases)
    func workersOptionMatches(_ kind: ServerKind) async throws {
        let server = try await Self.startPopulatedServer(kind)
        defer { server.stop() }

        let pair = try await server.runBothGearadmin(["--workers"])

        func withoutDescriptors(_ text: String) -> [String] {
            text.split(separator: "\n").map { $0.split(separator: " ", maxSplits: 1).last.map(String.init) ?? "" }
                .sorted()
        }
        #expect(pair.ours.termination == .exited(0))
        #expect(pair.reference.termination == .exited(0))
        #expect(withoutDescriptors(pair.ours.outputText) == withoutDescriptors(pair.reference.outputText))
        #expect(pair.ours.outputText.hasSuffix("\n.\n"))
        #expect(pair.ours.outputText.contains(" : adm_worker\n"), "workers: \(pair.ours.outputText)")
        #expect(pair.ours.errorText == pair.reference.errorText)
    }

    @Test(arguments: ServerKind.allCases)
    func cancelJobOptionMatches(_ kind: ServerKind) async throws {
        let server = try await Self.startPopulatedServer(kind)
        defer { server.stop() }
        let handles = try server.adminList("show jobs").compactMap { $0.split(separator: "\t").first.map(String.init) }
        try #require(handles.count == 3)

        let ours = try await server.runGearadmin(.ours, ["--cancel-job", handles[0]])
        let reference = try await server.runGearadmin(.reference, ["--cancel-job", handles[1]])

        expectSameResults(ToolPair(ours: ours, reference: reference), "gearadmin --cancel-job of a queued job")
        #expect(ours.outputText == "OK\n")
    }

    /// Documented difference: after an ERR reply ours exits 1, the C tool 0.
    @Test(arguments: ServerKind.allCases)
    func cancelUnknownJobFails(_ kind: ServerKind) async throws {
        let server = try await Self.startPopulatedServer(kind)
        defer { server.stop() }

        let pair = try await server.runBothGearadmin(["--cancel-job", "H:nowhere:1"])

        #expect(pair.ours.outputText == pair.reference.outputText)
        #expect(pair.ours.errorText == "Error: UNKNOWN_JOB\r\n")
        #expect(pair.reference.errorText == "Error: UNKNOWN_JOB\r\n")
        #expect(pair.ours.termination == .exited(1))
        #expect(pair.reference.termination == .exited(0))
    }

    @Test(arguments: ServerKind.allCases)
    func createAndDropFunctionMatch(_ kind: ServerKind) async throws {
        let server = try await Self.startPopulatedServer(kind)
        defer { server.stop() }

        for option in ["--create-function", "--drop-function"] {
            let ours = try await server.runGearadmin(.ours, [option, "made_by_ours"])
            let reference = try await server.runGearadmin(.reference, [option, "made_by_reference"])
            expectSameResults(ToolPair(ours: ours, reference: reference), "gearadmin \(option)")
            #expect(ours.outputText == "OK\n")
        }
        let functions = try server.adminList("status").map { $0.split(separator: "\t").first.map(String.init) }
        #expect(!functions.contains("made_by_ours"))
        #expect(!functions.contains("made_by_reference"))
    }

    /// Documented difference: after an ERR reply ours exits 1, the C tool 0.
    @Test(arguments: ServerKind.allCases)
    func dropMissingFunctionFails(_ kind: ServerKind) async throws {
        let server = try await Self.startPopulatedServer(kind)
        defer { server.stop() }

        let pair = try await server.runBothGearadmin(["--drop-function", "never_created"])

        #expect(pair.ours.outputText == "")
        #expect(pair.reference.outputText == "")
        #expect(pair.ours.errorText == "Error: function not found\r\n")
        #expect(pair.reference.errorText == pair.ours.errorText)
        #expect(pair.ours.termination == .exited(1))
        #expect(pair.reference.termination == .exited(0))
    }

    @Test(arguments: ServerKind.allCases)
    func longHostAndPortOptions(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        let arguments = ["--host", "127.0.0.1", "--port", String(server.port), "--getpid"]

        let ours = try await ToolRunner.run(Paths.ourGearadmin, arguments, timeout: .seconds(30))
        let reference = try await ToolRunner.run(Paths.gearadminTool, arguments, timeout: .seconds(30))

        expectSameResults(ToolPair(ours: ours, reference: reference), "gearadmin --host --port --getpid")
        #expect(ours.outputText == "\(server.pid)\n")
    }

    @Test func refusedConnectionExitsOne() async throws {
        let port = try refusedPort()
        let arguments = ["-h", "127.0.0.1", "-p", String(port), "--status"]

        let ours = try await ToolRunner.run(Paths.ourGearadmin, arguments, timeout: .seconds(30))
        let reference = try await ToolRunner.run(Paths.gearadminTool, arguments, timeout: .seconds(30))

        #expect(ours.termination == .exited(1))
        #expect(reference.termination == .exited(1))
        #expect(ours.outputText == "")
        #expect(reference.outputText == "")
        #expect(ours.errorText == "gearadmin: cannot connect to 127.0.0.1:\(port): Connection refused\n")
        #expect(reference.errorText.contains("Error connecting to 127.0.0.1"), "stderr: \(reference.errorText)")
    }

    /// Documented difference: ours runs several options in the order given; the C tool runs
    /// them in the reverse of a fixed order.
    @Test(arguments: ServerKind.allCases)
    func severalOptionsRunInOrder(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }
        let version = try await server.runGearadmin(.reference, ["--server-version"]).outputText
        let level = try await server.runGearadmin(.reference, ["--server-verbose"]).outputText

        let pair = try await server.runBothGearadmin(["--getpid", "--server-version", "--server-verbose"])

        #expect(pair.ours.termination == .exited(0))
        #expect(pair.reference.termination == .exited(0))
        #expect(pair.ours.outputText == "\(server.pid)\n" + version + level)
        #expect(pair.reference.outputText == "\(server.pid)\n" + level + version)
    }

    @Test func helpOptionListsActions() async throws {
        let ours = try await ToolRunner.run(Paths.ourGearadmin, ["--help"], timeout: .seconds(30))
        let reference = try await ToolRunner.run(Paths.gearadminTool, ["--help"], timeout: .seconds(30))

        for (name, result) in [("ours", ours), ("C", reference)] {
            #expect(result.termination == .exited(0), "\(name)")
            #expect(result.errorText == "", "\(name)")
            for option in ["--status", "--workers", "--show-jobs", "--cancel-job", "--drop-function"] {
                #expect(result.outputText.contains(option), "\(name) --help lacks \(option)")
            }
        }
    }

    /// Documented difference: ours prints the message and usage on standard error, the C tool
    /// on standard output.
    @Test func unknownOptionPrintsUsage() async throws {
        let ours = try await ToolRunner.run(Paths.ourGearadmin, ["--bogus"], timeout: .seconds(30))
        let reference = try await ToolRunner.run(Paths.gearadminTool, ["--bogus"], timeout: .seconds(30))

        #expect(ours.termination == .exited(1))
        #expect(reference.termination == .exited(1))
        #expect(ours.outputText == "")
        #expect(ours.errorText.hasPrefix("gearadmin: unknown option '--bogus'\nUsage: gearadmin [OPTIONS]\n"))
        #expect(ours.errorText.hasSuffix("\nTry 'gearadmin --help' for more information.\n"))
        #expect(reference.outputText.contains("unrecognised option '--bogus'"), "stdout: \(reference.outputText)")
        #expect(reference.errorText == "")
    }

    /// Documented difference: ours rejects `-S` because it has no TLS; the C tool built without
    /// TLS ignores it.
    @Test func sslOptionIsRejected() async throws {
        let server = try await ToolTestServer.start(.gearmanKit)
        defer { server.stop() }

        let pair = try await server.runBothGearadmin(["-S", "--getpid"])

        #expect(pair.ours.termination == .exited(1))
        #expect(pair.ours.outputText == "")
        #expect(pair.ours.errorText.hasPrefix("gearadmin: --ssl: TLS is not available in this version\n"))
        #expect(pair.reference.termination == .exited(0))
        #expect(pair.reference.outputText == "\(server.pid)\n")
    }

    /// Documented difference: without an action option, ours runs the commands read from a
    /// pipe; the C tool prints usage and exits 1.
    @Test(arguments: ServerKind.allCases)
    func pipedCommandsRun(_ kind: ServerKind) async throws {
        let server = try await Self.startPopulatedServer(kind)
        defer { server.stop() }
        let status = try await server.runGearadmin(.reference, ["--status"]).outputText
        let version = try await server.runGearadmin(.reference, ["--server-version"]).outputText
        let input = Array("getpid\n# a comment\n\nstatus\nversion\ndrop function never_created\n".utf8)

        let pair = try await server.runBothGearadmin([], input: input)

        #expect(pair.ours.outputText == "\(server.pid)\n" + status + version)
        #expect(pair.ours.errorText == "Error: function not found\n")
        #expect(pair.ours.termination == .exited(1))
        #expect(pair.reference.termination == .exited(1))
        #expect(pair.reference.outputText.hasPrefix("No option execution operation given.\n"))
    }

    @Test(arguments: ServerKind.allCases)
    func pipedCommandsSucceed(_ kind: ServerKind) async throws {
        let server = try await ToolTestServer.start(kind)
        defer { server.stop() }

        let result = try await server.runGearadmin(
            .ours, [], input: Array("create function piped\nmaxqueue piped 5\ndrop function piped\nquit\ngetpid\n".utf8)
        )

        #expect(result.termination == .exited(0), "stderr: \(result.errorText)")
        #expect(result.outputText == "OK\nOK\nOK\n", "quit should end the script before getpid")
        #expect(result.errorText == "")
    }
}
