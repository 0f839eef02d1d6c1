import Foundation
import ProcessTestSupport
import Testing

/// The Munin plugin contrib/munin/gearman_, run as each of its links against a known server.
@Suite(.timeLimit(.minutes(1)))
struct MuninPluginTests {
    static let plugin = TestPaths.packageRoot.appendingPathComponent("contrib/munin/gearman_").path

    /// Runs the plugin through a link named `gearman_<graph>`, as munin-node does.
    static func run(
        graph: String, arguments: [String], port: UInt16, directory: TemporaryDirectory
    ) async throws -> ToolResult {
        let link = directory.file("gearman_\(graph)").path
        if !FileManager.default.fileExists(atPath: link) {
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: plugin)
        }
        var environment = ChildProcess.defaultEnvironment
        environment["host"] = "127.0.0.1"
        environment["port"] = String(port)
        environment["gearadmin"] = builtGearadmin
        return try await ToolRunner.run(link, arguments, environment: environment, timeout: .seconds(15))
    }

    @Test func fetchPrintsValuesPerGraph() async throws {
        let state = try await KnownStateServer.start()
        defer { state.stop() }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }

        // Fields follow the byte order of the names. Both a-b and a.b clean to a_b, so a.b gets a_b_2.
        let expected = [
            "queued": "_9lives.value 0\na_b.value 0\na_b_2.value 0\nmail_send_2.value 1\nresize.value 3\n",
            "running": "_9lives.value 0\na_b.value 0\na_b_2.value 0\nmail_send_2.value 0\nresize.value 1\n",
            "workers": "_9lives.value 0\na_b.value 0\na_b_2.value 0\nmail_send_2.value 0\nresize.value 2\n",
        ]
        for (graph, values) in expected.sorted(by: { $0.key < $1.key }) {
            let result = try await Self.run(graph: graph, arguments: [], port: state.port, directory: directory)
            #expect(result.termination == .exited(0), "gearman_\(graph): \(result.errorText)")
            #expect(result.outputText == values, "gearman_\(graph)")
        }
    }

    @Test func configDescribesFields() async throws {
        let state = try await KnownStateServer.start()
        defer { state.stop() }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }

        let result = try await Self.run(graph: "queued", arguments: ["config"], port: state.port, directory: directory)

        #expect(result.termination == .exited(0), "stderr: \(result.errorText)")
        #expect(
            result.outputText
                == """
                graph_title Gearman jobs queued
                graph_vlabel jobs
                graph_category appserver
                graph_args --base 1000 -l 0
                graph_info Jobs waiting for a worker, per function. Server: 127.0.0.1:\(state.port).
                _9lives.label 9lives
                _9lives.min 0
                a_b.label a-b
                a_b.min 0
                a_b_2.label a.b
                a_b_2.min 0
                mail_send_2.label mail.send-2
                mail_send_2.min 0
                resize.label resize
                resize.min 0

                """)

        let workers = try await Self.run(
            graph: "workers", arguments: ["config"], port: state.port, directory: directory)
        #expect(workers.outputText.hasPrefix("graph_title Gearman workers\ngraph_vlabel workers\n"))
    }

    @Test func autoconfAndSuggest() async throws {
        let state = try await KnownStateServer.start()
        defer { state.stop() }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }

        let autoconf = try await Self.run(graph: "", arguments: ["autoconf"], port: state.port, directory: directory)
        #expect(autoconf.termination == .exited(0))
        #expect(autoconf.outputText == "yes\n")

        let suggest = try await Self.run(graph: "", arguments: ["suggest"], port: state.port, directory: directory)
        #expect(suggest.termination == .exited(0))
        #expect(suggest.outputText == "queued\nrunning\nworkers\n")
    }

    @Test func serverDownFailsFetch() async throws {
        let port = try refusedPort()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }

        let fetch = try await Self.run(graph: "queued", arguments: [], port: port, directory: directory)
        #expect(fetch.termination == .exited(1))
        #expect(fetch.outputText == "")
        #expect(fetch.errorText.contains("gearman_: gearadmin --status failed for 127.0.0.1:\(port)"))

        let autoconf = try await Self.run(graph: "queued", arguments: ["autoconf"], port: port, directory: directory)
        #expect(autoconf.termination == .exited(0))
        #expect(autoconf.outputText == "no (gearadmin --status failed for 127.0.0.1:\(port))\n")
    }
}

/// Function names with a tab or a newline, which split a `status` line into more fields or
/// more lines.
@Suite(.timeLimit(.minutes(1)))
struct MuninPluginControlCharacterTests {
    @Test func tabAndNewlineNamesKeepTheirCounts() async throws {
        let server = try await ServerProcess.start()
        defer { server.stop() }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }

        let worker = try server.connect()
        for function in ["x\ny", "p\tq"] {
            try worker.send(Wire.request(PacketNumber.canDo, [function]))
        }
        let client = try server.connect()
        for function in ["x\ny", "p\tq", "p\tq"] {
            try client.send(Wire.request(PacketNumber.submitJobBackground, [function, "", "payload"]))
            let reply = try client.receivePacket()
            try #require(reply.type == PacketNumber.jobCreated, "SUBMIT_JOB_BG got packet \(reply.type)")
        }
        let admin = try server.connect()
        let ready = try await waitUntil(timeout: .seconds(10)) {
            try admin.adminList("status").contains("p\tq\t2\t0\t1")
        }
        try #require(ready, "status never showed the worker of p<TAB>q within 10 s")

        let config = try await MuninPluginTests.run(
            graph: "queued", arguments: ["config"], port: server.port, directory: directory)
        #expect(config.termination == .exited(0), "stderr: \(config.errorText)")
        #expect(config.outputText.hasSuffix("p_q.label p_q\np_q.min 0\nx_y.label x_y\nx_y.min 0\n"))

        let expected = ["queued": "p_q.value 2\nx_y.value 1\n", "workers": "p_q.value 1\nx_y.value 1\n"]
        for (graph, values) in expected.sorted(by: { $0.key < $1.key }) {
            let result = try await MuninPluginTests.run(
                graph: graph, arguments: [], port: server.port, directory: directory)
            #expect(result.termination == .exited(0), "gearman_\(graph): \(result.errorText)")
            #expect(result.outputText == values, "gearman_\(graph)")
        }
    }
}
