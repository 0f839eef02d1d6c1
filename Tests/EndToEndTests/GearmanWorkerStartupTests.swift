import Foundation
import ProcessTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Our `gearman -w` started before its job server: it keeps trying to connect, reports the
/// outage once, and works once the server is up, as the C worker does.
@Suite(.timeLimit(.minutes(2)))
struct GearmanWorkerStartupTests {
    /// How long the tests keep the server down, so that the worker fails several attempts.
    static let outage: Duration = .milliseconds(1500)

    /// Starts our gearmand on `port` of 127.0.0.1.
    static func startServer(on port: UInt16) async throws -> ServerProcess {
        try await ServerProcess.start(arguments: ["--port", String(port)], usesPortZero: false)
    }

    /// Runs one job of `workload` for `function` through our client and returns the result.
    static func runJob(port: UInt16, function: String, workload: String) async throws -> ToolResult {
        try await ToolRunner.run(
            Paths.ourGearman, ["-h", "127.0.0.1", "-p", String(port), "-f", function, workload],
            timeout: .seconds(20))
    }

    /// Returns the lines of `text` that contain `fragment`.
    static func lines(of text: String, containing fragment: String) -> [Substring] {
        text.split(separator: "\n").filter { $0.contains(fragment) }
    }

    @Test func workerWaitsForLateServer() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let port = try findFreePort()
        let worker = try ChildProcess(
            executable: Paths.ourGearman,
            arguments: ["-w", "-h", "127.0.0.1", "-p", String(port), "-f", "late", "--", "tr", "a-z", "A-Z"],
            standardOutput: directory.file("worker.stdout"), standardError: directory.file("worker.stderr"))
        defer { worker.stop() }

        try await Task.sleep(for: Self.outage)
        #expect(worker.isRunning, "the worker exited while the server was down: \(worker.standardErrorText())")
        let server = try await Self.startServer(on: port)
        defer { server.stop() }
        let registered = try await server.waitForWorker(of: "late")
        try #require(registered, "the worker did not register; stderr: \(worker.standardErrorText())")
        let result = try await Self.runJob(port: port, function: "late", workload: "abc")

        #expect(result.termination == .exited(0), "stderr: \(result.errorText)")
        #expect(result.outputText == "ABC")
        let errors = worker.standardErrorText()
        let failures = Self.lines(of: errors, containing: "cannot connect to 127.0.0.1:\(port): Connection refused")
        #expect(failures.count == 1, "the outage should be reported once: \(errors)")
        #expect(
            Self.lines(of: errors, containing: "connected to 127.0.0.1:\(port)").count == 1,
            "the recovery should be reported once after the failure: \(errors)")
    }

    /// Two servers of GEARMAN_SERVER both down at start: each is reported once, and the worker
    /// takes jobs from the one that comes up while the other stays down.
    @Test func workerWaitsForEitherServer() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let downPort = try refusedPort()
        let latePort = try findFreePort()
        var environment = ChildProcess.defaultEnvironment
        environment["GEARMAN_SERVER"] = "127.0.0.1:\(downPort),127.0.0.1:\(latePort)"
        let worker = try ChildProcess(
            executable: Paths.ourGearman, arguments: ["-w", "-f", "either", "--", "rev"], environment: environment,
            standardOutput: directory.file("worker.stdout"), standardError: directory.file("worker.stderr"))
        defer { worker.stop() }

        try await Task.sleep(for: Self.outage)
        #expect(worker.isRunning, "the worker exited while the servers were down: \(worker.standardErrorText())")
        let server = try await Self.startServer(on: latePort)
        defer { server.stop() }
        let registered = try await server.waitForWorker(of: "either")
        try #require(registered, "the worker did not register; stderr: \(worker.standardErrorText())")
        let result = try await Self.runJob(port: latePort, function: "either", workload: "abc")
        // Long enough for several more attempts on the server that stays down.
        try await Task.sleep(for: Self.outage)

        #expect(result.termination == .exited(0), "stderr: \(result.errorText)")
        #expect(result.outputText == "cba")
        let errors = worker.standardErrorText()
        for port in [downPort, latePort] {
            let failures = Self.lines(of: errors, containing: "cannot connect to 127.0.0.1:\(port):")
            #expect(failures.count == 1, "127.0.0.1:\(port) should be reported once: \(errors)")
        }
    }

    /// With `-d`, the parent exits 0 at once and nothing can report a failure, so the daemon
    /// must wait for the server.
    @Test func daemonWorkerWaitsForLateServer() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let port = try findFreePort()
        let pidFile = directory.file("worker.pid")
        let launch = try await ToolRunner.run(
            Paths.ourGearman,
            ["-w", "-d", "-i", pidFile.path, "-h", "127.0.0.1", "-p", String(port), "-f", "daemon", "--", "rev"],
            timeout: .seconds(10))
        let daemonPID = try await Self.readPID(pidFile)
        defer { if let daemonPID { Self.stopWorker(daemonPID) } }

        #expect(launch.termination == .exited(0), "stderr: \(launch.errorText)")
        try #require(daemonPID != nil, "the daemon did not write \(pidFile.path)")
        try await Task.sleep(for: Self.outage)
        #expect(DaemonLaunch.isRunning(daemonPID!), "the daemon exited while the server was down")
        let server = try await Self.startServer(on: port)
        defer { server.stop() }
        let registered = try await server.waitForWorker(of: "daemon")
        try #require(registered, "the daemon did not register")
        let result = try await Self.runJob(port: port, function: "daemon", workload: "abc")

        #expect(result.termination == .exited(0), "stderr: \(result.errorText)")
        #expect(result.outputText == "cba")
    }

    /// Waits up to 10 s for the pid file of a `gearman -d` and returns its PID.
    static func readPID(_ file: URL) async throws -> pid_t? {
        var pid: pid_t? = nil
        _ = try await waitUntil {
            pid = pid_t(readText(file).trimmingCharacters(in: .whitespacesAndNewlines))
            return pid != nil
        }
        return pid
    }

    /// Stops the daemonized worker `pid` with SIGTERM, or SIGKILL after 5 s, if it still runs
    /// our gearman.
    static func stopWorker(_ pid: pid_t) {
        guard let command = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
            String(decoding: command, as: UTF8.self).hasPrefix(Paths.ourGearman)
        else { return }
        kill(pid, SIGTERM)
        for _ in 0..<500 where DaemonLaunch.isRunning(pid) {
            usleep(10_000)
        }
        if DaemonLaunch.isRunning(pid) { kill(pid, SIGKILL) }
    }
}
