import Foundation
import ProcessTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A program running in a detached tmux session on a tmux server of its own, driven by
/// keystrokes and read back from the screen.
///
/// Call `kill()` from a `defer`: it stops the private tmux server and everything in it.
final class TmuxSession {
    static let tmux = "/usr/bin/tmux"
    static var isInstalled: Bool { TestPaths.isExecutable(tmux) }

    /// The name of the private tmux server's socket (`tmux -L`), which is also the session name.
    let name: String

    /// Starts `command` (run by /bin/sh) in a 120x30 terminal.
    init(command: String) async throws {
        name = "gearmankit-\(UUID().uuidString.prefix(8))"
        let started = try await Self.run(
            ["-L", name, "-f", "/dev/null", "new-session", "-d", "-s", name, "-x", "120", "-y", "30", command])
        guard started.termination == .exited(0) else {
            throw ServerStartError(description: "tmux new-session failed: \(started.errorText)")
        }
    }

    private static func run(_ arguments: [String]) async throws -> ToolResult {
        var environment = ChildProcess.defaultEnvironment
        environment["TMUX"] = nil
        return try await ToolRunner.run(tmux, arguments, environment: environment, timeout: .seconds(10))
    }

    /// Sends keys as `tmux send-keys` names them: text, `Enter`, `Tab`, `Up`, `C-d`.
    func send(_ keys: String...) async throws {
        _ = try await Self.run(["-L", name, "send-keys", "-t", name] + keys)
    }

    /// Sends `text` literally, without key-name lookup.
    func type(_ text: String) async throws {
        _ = try await Self.run(["-L", name, "send-keys", "-t", name, "-l", text])
    }

    /// Returns the visible screen, lines without trailing blanks.
    func screen() async throws -> String {
        try await Self.run(["-L", name, "capture-pane", "-p", "-t", name]).outputText
    }

    /// Polls the screen every 50 ms until `condition` is true or `timeout` passes.
    ///
    /// - Returns: whether the condition became true. `lastScreen` keeps the last screen for messages.
    @discardableResult
    func waitForScreen(timeout: Duration = .seconds(10), _ condition: (String) -> Bool) async throws -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while true {
            lastScreen = try await screen()
            if condition(lastScreen) { return true }
            if clock.now >= deadline { return false }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    var lastScreen = ""

    /// Returns whether the session still exists, that is, whether its program is still running.
    func isAlive() async throws -> Bool {
        try await Self.run(["-L", name, "has-session", "-t", name]).termination == .exited(0)
    }

    /// Stops the private tmux server, blocking so that it can run from a `defer`.
    func kill() {
        var environment = ChildProcess.defaultEnvironment
        environment["TMUX"] = nil
        guard
            let directory = try? TemporaryDirectory(),
            let child = try? ChildProcess(
                executable: Self.tmux, arguments: ["-L", name, "kill-server"], environment: environment,
                standardOutput: directory.file("stdout"), standardError: directory.file("stderr"))
        else { return }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(5))
        while child.isRunning && clock.now < deadline { usleep(10_000) }
        child.stop()
        directory.remove()
        // The server leaves its socket file behind; tmux keeps it in $TMUX_TMPDIR/tmux-UID.
        let socketFolder = ProcessInfo.processInfo.environment["TMUX_TMPDIR"] ?? "/tmp"
        unlink("\(socketFolder)/tmux-\(getuid())/\(name)")
    }
}

/// The interactive gearadmin shell in a real pseudo-terminal, against our gearmand.
@Suite(.enabled(if: TmuxSession.isInstalled, "tmux is not installed"), .timeLimit(.minutes(2)))
struct GearadminShellTests {
    /// Starts the shell for `server` with HOME at `home`, so the history file is private.
    static func startShell(server: ToolTestServer, home: URL) async throws -> TmuxSession {
        let command = "HOME='\(home.path)' TERM=xterm exec '\(Paths.ourGearadmin)' -h 127.0.0.1 -p \(server.port)"
        let session = try await TmuxSession(command: command)
        // capture-pane drops trailing blanks, so the prompt's last space is not on the screen.
        let ready = try await session.waitForScreen { $0.contains("127.0.0.1:\(server.port)>") }
        if !ready {
            session.kill()
            Issue.record("the shell did not show its prompt; screen:\n\(session.lastScreen)")
        }
        return session
    }

    static func makeHome(in server: ToolTestServer) throws -> URL {
        let home = server.directory.file("home")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        return home
    }

    @Test func statusShowsTable() async throws {
        let server = try await ToolTestServer.start(.gearmanKit)
        defer { server.stop() }
        _ = try await server.runGearadmin(.ours, ["--create-function", "resize_images"])
        let session = try await Self.startShell(server: server, home: try Self.makeHome(in: server))
        defer { session.kill() }

        try await session.type("status")
        try await session.send("Enter")

        let shown = try await session.waitForScreen { $0.contains("resize_images") }
        #expect(shown, "screen:\n\(session.lastScreen)")
        let lines = session.lastScreen.split(separator: "\n").map(String.init)
        let header = try #require(lines.firstIndex { $0.hasPrefix("FUNCTION") }, "no header:\n\(session.lastScreen)")
        #expect(lines[header] == "FUNCTION       JOBS  RUNNING  WORKERS")
        #expect(lines[header + 1] == "-------------  ----  -------  -------")
        #expect(lines[header + 2] == "resize_images     0        0        0")
    }

    @Test func tabCompletesFunctionName() async throws {
        let server = try await ToolTestServer.start(.gearmanKit)
        defer { server.stop() }
        _ = try await server.runGearadmin(.ours, ["--create-function", "resize_images"])
        _ = try await server.runGearadmin(.ours, ["--create-function", "thumbnails"])
        let session = try await Self.startShell(server: server, home: try Self.makeHome(in: server))
        defer { session.kill() }

        try await session.type("drop function res")
        try await session.send("Tab")

        let completed = try await session.waitForScreen { $0.contains("> drop function resize_images") }
        #expect(completed, "screen:\n\(session.lastScreen)")
        try await session.send("Enter")
        let dropped = try await session.waitForScreen { $0.contains("drop function resize_images\nOK") }
        #expect(dropped, "screen:\n\(session.lastScreen)")
    }

    @Test func upKeyRecallsHistory() async throws {
        let server = try await ToolTestServer.start(.gearmanKit)
        defer { server.stop() }
        let home = try Self.makeHome(in: server)
        let prompt = "127.0.0.1:\(server.port)> "

        let first = try await Self.startShell(server: server, home: home)
        defer { first.kill() }
        try await first.type("getpid")
        try await first.send("Enter")
        #expect(try await first.waitForScreen { $0.contains("\n\(server.pid)\n") }, "screen:\n\(first.lastScreen)")
        try await first.send("Up")
        let recalled = try await first.waitForScreen {
            $0.hasSuffix("\(prompt)getpid\n") || $0.contains("\(prompt)getpid\n\n")
        }
        #expect(recalled, "screen:\n\(first.lastScreen)")
        try await first.send("C-u")
        try await first.type("quit")
        try await first.send("Enter")
        let ended = try await waitUntilAsync { try await !first.isAlive() }
        #expect(ended, "quit should end the shell")
        #expect(readText(home.appendingPathComponent(".gearadmin_history")) == "getpid\nquit\n")

        // A new shell reads the history file, so Up recalls the last session's commands.
        let second = try await Self.startShell(server: server, home: home)
        defer { second.kill() }
        try await second.send("Up")
        #expect(try await second.waitForScreen { $0.contains("\(prompt)quit") }, "screen:\n\(second.lastScreen)")
        try await second.send("Up")
        #expect(try await second.waitForScreen { $0.contains("\(prompt)getpid") }, "screen:\n\(second.lastScreen)")
    }

    @Test func helpListsCommands() async throws {
        let server = try await ToolTestServer.start(.gearmanKit)
        defer { server.stop() }
        let session = try await Self.startShell(server: server, home: try Self.makeHome(in: server))
        defer { session.kill() }

        try await session.type("help")
        try await session.send("Enter")

        let listed = try await session.waitForScreen { $0.contains("connect HOST[:PORT]") }
        #expect(listed, "screen:\n\(session.lastScreen)")
        for command in [
            "status", "prioritystatus", "workers", "show jobs", "show unique jobs", "maxqueue", "cancel job",
            "create function", "drop function", "getpid", "verbose", "version", "watch status [SECONDS]",
        ] {
            #expect(session.lastScreen.contains("  \(command)"), "help lacks \(command)")
        }
    }

    /// Commands the shell does not know go to the server as typed.
    @Test func rawCommandPassesThrough() async throws {
        let server = try await ToolTestServer.start(.gearmanKit)
        defer { server.stop() }
        let session = try await Self.startShell(server: server, home: try Self.makeHome(in: server))
        defer { session.kill() }

        try await session.type("maxqueue limited 3")
        try await session.send("Enter")
        try await session.type("bogus")
        try await session.send("Enter")

        #expect(try await session.waitForScreen { $0.contains("maxqueue limited 3\nOK") }, "\(session.lastScreen)")
        #expect(
            try await session.waitForScreen { $0.contains("Error: UNKNOWN_COMMAND") }, "screen:\n\(session.lastScreen)")
    }

    @Test func watchRedrawsUntilKey() async throws {
        let server = try await ToolTestServer.start(.gearmanKit)
        defer { server.stop() }
        let session = try await Self.startShell(server: server, home: try Self.makeHome(in: server))
        defer { session.kill() }

        try await session.type("watch status 0.5")
        try await session.send("Enter")
        let watching = try await session.waitForScreen { $0.contains("status of 127.0.0.1:\(server.port) every 0.5 s") }
        #expect(watching, "screen:\n\(session.lastScreen)")

        // A function created meanwhile shows up on a later refresh.
        _ = try await server.runGearadmin(.ours, ["--create-function", "appeared_later"])
        let redrawn = try await session.waitForScreen(timeout: .seconds(5)) { $0.contains("appeared_later") }
        #expect(redrawn, "screen:\n\(session.lastScreen)")

        try await session.type("q")
        try await session.type("getpid")
        try await session.send("Enter")
        let stopped = try await session.waitForScreen { $0.contains("> getpid\n\(server.pid)") }
        #expect(stopped, "a key should stop watch and return to the prompt; screen:\n\(session.lastScreen)")
    }

    @Test func connectSwitchesServer() async throws {
        let server = try await ToolTestServer.start(.gearmanKit)
        defer { server.stop() }
        let second = try await ToolTestServer.start(.gearmanKit)
        defer { second.stop() }
        let session = try await Self.startShell(server: server, home: try Self.makeHome(in: server))
        defer { session.kill() }

        try await session.type("connect 127.0.0.1:\(second.port)")
        try await session.send("Enter")
        let connected = try await session.waitForScreen { $0.contains("connected to 127.0.0.1:\(second.port)") }
        #expect(connected, "screen:\n\(session.lastScreen)")
        try await session.type("getpid")
        try await session.send("Enter")

        let answered = try await session.waitForScreen {
            $0.contains("127.0.0.1:\(second.port)> getpid\n\(second.pid)")
        }
        #expect(answered, "screen:\n\(session.lastScreen)")
    }
}

/// Polls an async `condition` every 20 ms until it is true or `timeout` passes.
func waitUntilAsync(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while true {
        if try await condition() { return true }
        if clock.now >= deadline { return false }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// The generated shell completions, run by the shells themselves.
@Suite(.timeLimit(.minutes(1)))
struct CompletionScriptTests {
    static let completions = TestPaths.packageRoot.appendingPathComponent("completions")

    /// `gearman -p PORT -f <Tab>` lists the functions of the server on that port.
    @Test func bashCompletesFunctionNames() async throws {
        let server = try await ToolTestServer.start(.gearmanKit)
        defer { server.stop() }
        for function in ["resize_images", "reverse", "thumbnails"] {
            _ = try await server.runGearadmin(.ours, ["--create-function", function])
        }
        let script = Self.completions.appendingPathComponent("bash/gearman").path
        var environment = ChildProcess.defaultEnvironment
        // The completion runs `gearadmin --status`, so ours goes first on PATH.
        let buildDirectory = URL(fileURLWithPath: Paths.ourGearadmin).deletingLastPathComponent().path
        environment["PATH"] = buildDirectory + ":" + (environment["PATH"] ?? "/usr/bin:/bin")

        func complete(_ word: String) async throws -> [String] {
            let program = """
                source '\(script)'
                COMP_WORDS=(gearman -p \(server.port) -f '\(word)'); COMP_CWORD=4
                _gearman_complete
                printf '%s\\n' "${COMPREPLY[@]}"
                """
            let result = try await ToolRunner.run(
                "/bin/bash", ["-c", program], environment: environment, timeout: .seconds(30))
            #expect(result.termination == .exited(0), "bash: \(result.errorText)")
            return result.outputText.split(separator: "\n").map(String.init).sorted()
        }

        #expect(try await complete("") == ["resize_images", "reverse", "thumbnails"])
        #expect(try await complete("re") == ["resize_images", "reverse"])
    }

    @Test(arguments: ["gearman", "gearadmin", "gearmand"])
    func zshAcceptsScript(_ tool: String) async throws {
        try #require(TestPaths.isExecutable("/usr/bin/zsh"), "zsh is not installed")
        let result = try await ToolRunner.run(
            "/usr/bin/zsh", ["-n", Self.completions.appendingPathComponent("zsh/_\(tool)").path], timeout: .seconds(30))
        #expect(result.termination == .exited(0), "zsh -n: \(result.errorText)")
    }

    @Test(arguments: ["gearman", "gearadmin", "gearmand"])
    func fishAcceptsScript(_ tool: String) async throws {
        try #require(TestPaths.isExecutable("/usr/bin/fish"), "fish is not installed")
        let result = try await ToolRunner.run(
            "/usr/bin/fish", ["-n", Self.completions.appendingPathComponent("fish/\(tool).fish").path],
            timeout: .seconds(30))
        #expect(result.termination == .exited(0), "fish -n: \(result.errorText)")
    }
}
