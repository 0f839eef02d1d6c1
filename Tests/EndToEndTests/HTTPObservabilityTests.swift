import Foundation
import ProcessTestSupport
import Testing

/// `GET /status`, `/metrics` and `/healthz` of our gearmand's HTTP module, checked against the
/// admin `status` and `prioritystatus` replies for the same state.
@Suite(.enabled(if: Curl.isInstalled, "curl (/usr/bin/curl) is not installed"), .timeLimit(.minutes(2)))
struct HTTPObservabilityTests {
    static let python = "/usr/bin/python3"
    static let promtool = "/usr/bin/promtool"

    /// Sets up two functions with queued jobs of every priority, one running job and one worker.
    static func startBusyServer() async throws -> (HTTPServer, RawWorker) {
        let http = try await HTTPServer.start()
        let submissions: [(function: String, priority: String)] = [
            ("f", "high"), ("f", "normal"), ("f", "normal"), ("f", "low"), ("g", "low"), ("g", "normal"),
        ]
        for submission in submissions {
            let result = try await Curl.run([
                "-H", "X-Gearman-Background: true", "-H", "X-Gearman-Priority: \(submission.priority)", "-d", "x",
                "\(http.baseURL)/\(submission.function)",
            ])
            try #require(result.termination == .exited(0), "curl: \(result.errorText)")
        }
        let worker = try await RawWorker(server: http, function: "f")
        _ = try await worker.grab()
        return (http, worker)
    }

    @Test func healthzAnswersOk() async throws {
        let http = try await HTTPServer.start()
        defer { http.stop() }
        let result = try await Curl.run(["-i", "\(http.baseURL)/healthz"])
        let response = try #require(Curl.responses(result).first, "curl: \(result.errorText)")
        #expect(response.status == 200)
        #expect(response.bodyText == "ok\n")

        let head = try await Curl.run(["-I", "\(http.baseURL)/status"])
        let headResponse = try #require(Curl.responses(head).first, "curl -I: \(head.errorText)")
        #expect(headResponse.status == 200)
        #expect(headResponse.value("Content-Type") == "application/json")
        #expect(Int(headResponse.value("Content-Length") ?? "") ?? 0 > 0)
        // The dashboard of another server fetches /status from its own origin.
        #expect(headResponse.value("Access-Control-Allow-Origin") == "*")
        #expect(response.value("Access-Control-Allow-Origin") == nil)
    }

    @Test(.enabled(if: TestPaths.isExecutable(python), "python3 (/usr/bin/python3) is not installed"))
    func statusMatchesAdminStatus() async throws {
        let (http, worker) = try await Self.startBusyServer()
        defer { http.stop() }
        let status = try http.admin("status")
        let priorityStatus = try http.admin("prioritystatus")
        let result = try await Curl.run(["-i", "\(http.baseURL)/status"])
        let response = try #require(Curl.responses(result).first, "curl: \(result.errorText)")
        #expect(response.value("Content-Type") == "application/json")

        // The script prints the status lines, a separator, the prioritystatus lines, a
        // separator, and each worker's functions, all from the parsed JSON.
        let script = """
            import json, sys
            d = json.load(sys.stdin)
            for f in d["functions"]:
                print("%s\\t%d\\t%d\\t%d" % (f["name"], f["jobs"], f["running"], f["workers"]))
                assert sum(f["queued"].values()) + f["running"] == f["jobs"]
            print("--")
            for f in d["functions"]:
                q = f["queued"]
                print("%s\\t%d\\t%d\\t%d\\t%d" % (f["name"], q["high"], q["normal"], q["low"], f["workers"]))
            print("--")
            for w in d["workers"]:
                print(",".join(w["functions"]))
            assert d["version"], d
            assert d["uptime_seconds"] >= 0, d
            assert d["connections"] >= 2, d
            """
        let parsed = try await ToolRunner.run(Self.python, ["-c", script], input: response.body, timeout: .seconds(30))
        #expect(parsed.termination == .exited(0), "python3: \(parsed.errorText)\nJSON: \(response.bodyText)")
        let sections = parsed.outputText.components(separatedBy: "--\n")
        try #require(sections.count == 3, "python3 output: \(parsed.outputText)")
        #expect(sections[0] == status.map { $0 + "\n" }.joined())
        #expect(sections[1] == priorityStatus.map { $0 + "\n" }.joined())
        #expect(sections[2] == "f\n")
        #expect(status.contains("f\t4\t1\t1"), "admin status: \(status)")
        withExtendedLifetime(worker) {}
    }

    @Test func metricsMatchAdminStatus() async throws {
        let (http, worker) = try await Self.startBusyServer()
        defer { http.stop() }
        let status = try http.admin("status")
        let priorityStatus = try http.admin("prioritystatus")
        let result = try await Curl.run(["-i", "\(http.baseURL)/metrics"])
        let response = try #require(Curl.responses(result).first, "curl: \(result.errorText)")
        #expect(response.value("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")

        var samples: [String: String] = [:]
        for line in response.bodyText.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " ") else { continue }
            samples[String(line[..<space])] = String(line[line.index(after: space)...])
        }
        for line in status {
            let fields = line.split(separator: "\t").map(String.init)
            let name = fields[0]
            #expect(samples["gearman_jobs_running{function=\"\(name)\"}"] == fields[2], "\(name)")
            #expect(samples["gearman_workers{function=\"\(name)\"}"] == fields[3], "\(name)")
            let queued = ["high", "normal", "low"].compactMap {
                samples["gearman_jobs_queued{function=\"\(name)\",priority=\"\($0)\"}"]
            }
            #expect(queued.count == 3, "\(name)")
            #expect(queued.compactMap(Int.init).reduce(0, +) + (Int(fields[2]) ?? 0) == Int(fields[1]), "\(name)")
        }
        for line in priorityStatus {
            let fields = line.split(separator: "\t").map(String.init)
            let queued = ["high", "normal", "low"].map {
                samples["gearman_jobs_queued{function=\"\(fields[0])\",priority=\"\($0)\"}"] ?? "?"
            }
            #expect(queued == Array(fields[1...3]), "\(fields[0])")
        }
        #expect(samples["gearman_jobs_submitted_total{function=\"f\"}"] == "4")
        #expect(samples["gearman_job_queue_wait_seconds_count{function=\"f\"}"] == "1")
        #expect(Int(samples["process_open_fds"] ?? "") ?? 0 > 3)
        #expect(Int(samples["process_resident_memory_bytes"] ?? "") ?? 0 > 0)
        #expect(Double(samples["process_start_time_seconds"] ?? "") ?? 0 > 1_600_000_000)
        #expect(samples["process_cpu_seconds_total"] != nil)
        withExtendedLifetime(worker) {}
    }

    @Test(
        .enabled(
            if: TestPaths.isExecutable(promtool),
            "promtool (/usr/bin/promtool, Debian package prometheus) is not installed"
        ))
    func metricsPassPromtool() async throws {
        let (http, worker) = try await Self.startBusyServer()
        defer { http.stop() }
        let job = try await worker.grab()
        try worker.send(PacketNumber.workComplete, handle: job.handle, [])
        let metrics = try await Curl.run(["\(http.baseURL)/metrics"])
        #expect(metrics.termination == .exited(0), "curl: \(metrics.errorText)")
        let check = try await ToolRunner.run(
            Self.promtool, ["check", "metrics"], input: metrics.standardOutput, timeout: .seconds(30))
        #expect(check.termination == .exited(0), "promtool: \(check.outputText)\(check.errorText)")
        #expect(check.outputText + check.errorText == "", "promtool warnings: \(check.outputText)\(check.errorText)")
    }
}

@Suite("Web dashboard")
struct DashboardTests {
    @Test("GET / serves the dashboard page")
    func dashboardIsServed() async throws {
        let http = try await HTTPServer.start()
        defer { http.stop() }
        let page = try await Curl.run(["-s", "-i", "\(http.baseURL)/"])
        #expect(page.outputText.contains("Content-Type: text/html; charset=utf-8"))
        #expect(page.outputText.contains("<title>Gearman job server</title>"))
        #expect(page.outputText.contains("fetch(server.url"))
    }
}
