import Foundation
import ProcessTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `gearmand --daemon`: the launcher waits until the daemon is ready, start-up errors reach
/// the terminal, and the daemon stops on signals with every store.
@Suite(.timeLimit(.minutes(2)))
struct GearmandDaemonTests {
    /// Starts our gearmand with `--daemon` in `directory`, logging at INFO to `gearmand.log`
    /// and writing the pid file `gearmand.pid` there, on 127.0.0.1 and an ephemeral port.
    static func launch(_ arguments: [String], in directory: TemporaryDirectory) async throws -> DaemonLaunch {
        let pidFile = directory.file("gearmand.pid")
        let options = [
            "--daemon", "--listen", "127.0.0.1", "--port", "0", "--verbose", "INFO", "--threads", "2",
            "--log-file", directory.file("gearmand.log").path, "--pid-file", pidFile.path,
        ]
        return try await DaemonLaunch.run(Paths.gearmand, options + arguments, in: directory.url, pidFile: pidFile)
    }

    /// The `-q` options of each store that runs without an outside server.
    static let stores: [[String]] = [
        [],
        ["-q", "libsqlite3", "--libsqlite3-db=queue.db"],
        ["-q", "logfile", "--logfile-path=queue.log"],
        ["-q", "logfile", "--logfile-path=queue.log", "--logfile-fsync=50"],
    ]

    @Test(arguments: stores)
    func daemonStopsOnTerm(_ store: [String]) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let daemon = try await Self.launch(store, in: directory)
        defer { daemon.stop() }
        let log = directory.file("gearmand.log")

        #expect(daemon.result.termination == .exited(0), "\(daemon.result.transcript)\nlog:\n\(readText(log))")
        #expect(daemon.result.errorText == "")
        let pid = try #require(daemon.daemonPID, "no pid file when the launcher returned")
        #expect(DaemonLaunch.isRunning(pid))
        let port = try #require(ServerProcess.parseListeningPort(readText(log)), "log:\n\(readText(log))")
        let connection = try RawConnection(port: port)
        try MalformedInputTests.expectEcho(on: connection, payload: "daemon")

        daemon.signal(SIGTERM)
        let stopped = try await daemon.waitForExit()
        #expect(stopped, "the daemon still runs 10 s after SIGTERM; log:\n\(readText(log))")
        #expect(readText(log).contains("gearmand stopped"), "log:\n\(readText(log))")
        #expect(!FileManager.default.fileExists(atPath: daemon.pidFile.path))
    }

    @Test(arguments: [SIGINT, SIGUSR1])
    func sqliteDaemonStopsOnSignal(_ signal: Int32) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let daemon = try await Self.launch(["-q", "libsqlite3", "--libsqlite3-db=queue.db"], in: directory)
        defer { daemon.stop() }
        let log = directory.file("gearmand.log")
        try #require(daemon.result.termination == .exited(0), "\(daemon.result.transcript)")
        try #require(daemon.isRunning)

        daemon.signal(signal)
        let stopped = try await daemon.waitForExit()
        #expect(stopped, "the daemon still runs 10 s after signal \(signal); log:\n\(readText(log))")
        // SQLite removes the -wal file when the last connection closes, so the store closed.
        #expect(!FileManager.default.fileExists(atPath: directory.file("queue.db-wal").path))
    }

    @Test func pidFileExistsWhenLauncherReturns() async throws {
        for _ in 0..<5 {
            let directory = try TemporaryDirectory()
            defer { directory.remove() }
            let daemon = try await Self.launch([], in: directory)
            defer { daemon.stop() }

            #expect(daemon.result.termination == .exited(0), "\(daemon.result.transcript)")
            let pid = try #require(daemon.daemonPID, "no pid file when the launcher returned")
            #expect(DaemonLaunch.isRunning(pid))
        }
    }

    @Test func unknownUserFailsWithStatusOne() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let daemon = try await Self.launch(["--user", "nosuchuser"], in: directory)
        defer { daemon.stop() }

        #expect(daemon.result.termination == .exited(1), "\(daemon.result.transcript)")
        #expect(daemon.result.errorText.contains("user 'nosuchuser' not found"), "\(daemon.result.transcript)")
        #expect(daemon.pidFileText == nil, "pid file left behind: \(daemon.pidFileText ?? "")")
    }

    @Test(arguments: [true, false])
    func unwritablePidFileFailsWithStatusOne(daemonMode: Bool) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let pidFile = "/nonexistent/gearmankit-test/x.pid"
        let arguments = [
            "--listen", "127.0.0.1", "--port", "0", "--log-file", directory.file("gearmand.log").path,
            "--pid-file", pidFile,
        ]
        let daemon = try await DaemonLaunch.run(
            Paths.gearmand, (daemonMode ? ["--daemon"] : []) + arguments, in: directory.url,
            pidFile: URL(fileURLWithPath: pidFile), timeout: .seconds(10))
        defer { daemon.stop() }

        #expect(daemon.result.termination == .exited(1), "\(daemon.result.transcript)")
        #expect(
            daemon.result.errorText.contains("cannot open pid file \(pidFile) for writing: No such file or directory"),
            "\(daemon.result.transcript)")
        #expect(readText(directory.file("gearmand.log")).contains("FATAL cannot open pid file"))
    }

    @Test func portInUseFailsWithStatusOne() async throws {
        let first = try TemporaryDirectory()
        defer { first.remove() }
        let running = try await Self.launch([], in: first)
        defer { running.stop() }
        let log = readText(first.file("gearmand.log"))
        let port = try #require(ServerProcess.parseListeningPort(log), "log:\n\(log)")

        let second = try TemporaryDirectory()
        defer { second.remove() }
        let daemon = try await Self.launch(["--port", String(port)], in: second)
        defer { daemon.stop() }

        #expect(daemon.result.termination == .exited(1), "\(daemon.result.transcript)")
        #expect(daemon.result.errorText.contains("Address already in use"), "\(daemon.result.transcript)")
        #expect(daemon.pidFileText == nil)
    }

    /// The daemon keeps the working directory, as the C gearmand 1.1.20 does (checked below
    /// when it is installed), so relative paths name files there, also on SIGHUP.
    @Test func relativePathsStayInWorkingDirectory() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let daemon = try await DaemonLaunch.run(
            Paths.gearmand,
            [
                "--daemon", "--listen", "127.0.0.1", "--port", "0", "--verbose", "INFO", "--pid-file=rel.pid",
                "--log-file=rel.log", "-q", "libsqlite3", "--libsqlite3-db=rel.db",
            ],
            in: directory.url, pidFile: directory.file("rel.pid"))
        defer { daemon.stop() }

        #expect(daemon.result.termination == .exited(0), "\(daemon.result.transcript)")
        try #require(daemon.daemonPID != nil, "no rel.pid in \(directory.url.path)")
        #expect(daemon.workingDirectory == directory.url.path)
        #expect(FileManager.default.fileExists(atPath: directory.file("rel.db").path))

        try FileManager.default.moveItem(at: directory.file("rel.log"), to: directory.file("rel.log.1"))
        daemon.signal(SIGHUP)
        let reopened = try await waitUntil { readText(directory.file("rel.log")).contains("reopened") }
        #expect(reopened, "no 'reopened' line in \(directory.file("rel.log").path)")

        if ReferenceServer.isInstalled {
            let reference = try TemporaryDirectory()
            defer { reference.remove() }
            let port = try findFreePort()
            let cDaemon = try await DaemonLaunch.run(
                TestPaths.referenceGearmand,
                ["-d", "-L", "127.0.0.1", "-p", String(port), "--pid-file=rel.pid", "--log-file=rel.log"],
                in: reference.url, pidFile: reference.file("rel.pid"))
            defer { cDaemon.stop() }
            #expect(cDaemon.result.termination == .exited(0), "\(cDaemon.result.transcript)")
            #expect(cDaemon.workingDirectory == reference.url.path, "the C gearmand's working directory")
        }
    }

    @Test(.enabled(if: getpwnam("nobody") != nil, "needs the user nobody"))
    func failedLogReopenIsLogged() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // The folder belongs to root, so the daemon cannot create a new log file there once it
        // runs as the user `nobody`.
        let daemon = try await Self.launch(["--user", "nobody"], in: directory)
        defer { daemon.stop() }
        try #require(daemon.result.termination == .exited(0), "\(daemon.result.transcript)")
        try #require(daemon.isRunning)

        let rotated = directory.file("gearmand.log.1")
        try FileManager.default.moveItem(at: directory.file("gearmand.log"), to: rotated)
        daemon.signal(SIGHUP)
        let logged = try await waitUntil { readText(rotated).contains("cannot reopen the log file") }

        #expect(logged, "rotated log:\n\(readText(rotated))")
        let line = readText(rotated).split(separator: "\n").first { $0.contains("cannot reopen") } ?? ""
        #expect(line.contains("ERROR"))
        #expect(line.contains(directory.file("gearmand.log").path))
        #expect(line.contains("Permission denied"))
    }
}
