import GearmanKit
import GearmanTools

#if canImport(Glibc)
    import Glibc
#endif

/// The gearadmin shell: reads admin commands from a terminal (with readline, history, completion
/// and tables) or from a pipe (plain replies, for scripts), and sends them to one server.
final class AdminShell {
    private var server: ServerAddress
    private let interactive: Bool
    private var client: AdminClient?
    private var failed = false

    /// The commands the shell completes and `help` lists, with a description each.
    static let commands: [(name: String, help: String)] = [
        ("status", "functions with their jobs, running jobs and workers"),
        ("prioritystatus", "functions with queued jobs by priority"),
        ("workers", "connections with their client IDs and functions"),
        ("show jobs", "every job: handle, retries, ignored, persistent"),
        ("show unique jobs", "the unique key of every job"),
        ("maxqueue FUNCTION [N | HIGH NORMAL LOW]", "limit queued jobs of a function (no N: no limit)"),
        ("cancel job HANDLE", "remove a job"),
        ("create function FUNCTION", "create an empty function"),
        ("drop function FUNCTION", "remove a function with no workers and no jobs"),
        ("getpid", "the server's process ID"),
        ("verbose", "the server's log level"),
        ("version", "the server's version"),
        ("watch status [SECONDS]", "refresh the status table every SECONDS (default 2) until a key is pressed"),
        ("connect HOST[:PORT]", "talk to another server"),
        ("help", "this list"),
        ("quit", "leave the shell (also exit or Ctrl-D)"),
    ]

    init(server: ServerAddress, interactive: Bool) {
        self.server = server
        self.interactive = interactive
    }

    /// Runs until end of input or `quit`; returns 1 when a command failed in script mode.
    func run() -> Int32 {
        if interactive {
            runInteractive()
            return 0
        }
        // Each line runs as soon as it arrives, so a program can drive the shell through a pipe.
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        reading: while true {
            let count = read(0, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            for byte in chunk[0..<count] {
                if byte == UInt8(ascii: "\n") {
                    if !execute(String(decoding: pending, as: UTF8.self)) { break reading }
                    pending.removeAll()
                } else {
                    pending.append(byte)
                }
            }
        }
        if !pending.isEmpty { _ = execute(String(decoding: pending, as: UTF8.self)) }
        return failed ? 1 : 0
    }

    private func runInteractive() {
        let home = getenv("HOME").map { String(cString: $0) }
        let editor = LineEditor(historyPath: home.map { $0 + "/.gearadmin_history" })
        LineEditor.completer = { [unowned self] before, word in self.completions(before: before, word: word) }
        Output.write("gearadmin shell for \(server); type 'help' for commands, 'quit' to leave.\n")
        while let line = editor.readLine(prompt: "\(server)> ") {
            if !execute(line) { break }
        }
        Output.write("\n")
    }

    /// Runs one command line; returns false when the shell should end.
    func execute(_ rawLine: String) -> Bool {
        let line = rawLine.hasSuffix("\r") ? String(rawLine.dropLast()).trimmingSpaces : rawLine.trimmingSpaces
        if line.isEmpty || line.hasPrefix("#") { return true }
        let words = line.split(separator: " ").map(String.init)
        switch words[0].lowercased() {
        case "quit", "exit":
            return false
        case "help", "?":
            printHelp()
        case "connect":
            connect(words.count > 1 ? words[1] : "")
        case "watch":
            watch(words)
        default:
            send(line)
        }
        return true
    }

    private func printHelp() {
        let width = Self.commands.map(\.name.count).max() ?? 0
        var text = "Commands (anything else is sent to the server as it is):\n"
        for command in Self.commands {
            text +=
                "  " + command.name + String(repeating: " ", count: width - command.name.count + 2) + command.help
                + "\n"
        }
        Output.write(text)
    }

    private func connect(_ target: String) {
        do {
            let address = try ServerAddress(parsing: target)
            let newClient = try AdminClient(server: address, timeout: 10_000)
            client?.close()
            client = newClient
            server = address
            Output.write("connected to \(address)\n")
        } catch {
            report("\(error)")
        }
    }

    private func connection() throws -> AdminClient {
        if let client { return client }
        let created = try AdminClient(server: server, timeout: 10_000)
        client = created
        return created
    }

    /// Sends a command and prints the reply: a table on a terminal, the raw lines in a script.
    private func send(_ command: String) {
        do {
            let reply: AdminReply
            do {
                reply = try connection().send(command)
            } catch let error as GearmanError {
                guard case .connectionClosed = error else { throw error }
                // The server may have been restarted; try once more on a new connection.
                client = nil
                reply = try connection().send(command)
            }
            print(reply, for: command)
        } catch {
            client?.close()
            client = nil
            report("\(error)")
        }
    }

    private func print(_ reply: AdminReply, for command: String) {
        switch reply {
        case .lines(let lines):
            if interactive, let table = TextTable.forReply(command: command, lines: lines) {
                Output.write(lines.isEmpty ? "(none)\n" : table.render())
            } else {
                Output.write(lines.map { $0 + "\n" }.joined() + (interactive ? "" : ".\n"))
            }
        case .ok(let value):
            Output.write((value ?? "OK") + "\n")
        case .error(let text):
            failed = true
            Output.error("Error: \(text)\n")
        }
    }

    private func report(_ message: String) {
        failed = true
        Output.error("gearadmin: \(message)\n")
    }

    // MARK: Watch

    /// Redraws the status table every few seconds until a key is pressed (or, in a script, for
    /// one refresh only).
    private func watch(_ words: [String]) {
        guard words.count >= 2, words[1].lowercased() == "status" else {
            report("usage: watch status [SECONDS]")
            return
        }
        let seconds = words.count > 2 ? Double(words[2]) ?? 0 : 2
        guard seconds >= 0.1 else {
            report("invalid interval '\(words[2])': use a number of seconds of at least 0.1")
            return
        }
        guard interactive else {
            send("status")
            return
        }
        var saved = termios()
        tcgetattr(0, &saved)
        var raw = saved
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
        tcsetattr(0, TCSANOW, &raw)
        defer { tcsetattr(0, TCSANOW, &saved) }
        while true {
            Output.write("\u{1B}[H\u{1B}[2J")
            Output.write("status of \(server) every \(seconds) s, \(Self.clock()); press any key to stop\n\n")
            send("status")
            var descriptor = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, Int32(seconds * 1000)) > 0 {
                var key: UInt8 = 0
                _ = read(0, &key, 1)
                return
            }
        }
    }

    private static func clock() -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        func pad(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec))"
    }

    // MARK: Completion

    /// Completes command words, then function names and job handles from the server.
    func completions(before: String, word: String) -> [String] {
        let words = before.lowercased().split(separator: " ").map(String.init)
        switch words {
        case []:
            return [
                "status", "prioritystatus", "workers", "show", "maxqueue", "cancel", "create", "drop", "getpid",
                "verbose", "version", "watch", "connect", "help", "quit", "exit",
            ]
        case ["show"]: return ["jobs", "unique"]
        case ["show", "unique"]: return ["jobs"]
        case ["cancel"]: return ["job"]
        case ["create"], ["drop"]: return ["function"]
        case ["watch"]: return ["status"]
        case ["drop", "function"], ["maxqueue"]: return functionNames()
        case ["cancel", "job"]: return jobHandles()
        default: return []
        }
    }

    private func functionNames() -> [String] {
        guard case .lines(let lines)? = try? connection().send("status") else { return [] }
        return lines.compactMap { $0.split(separator: "\t").first.map(String.init) }.sorted()
    }

    private func jobHandles() -> [String] {
        guard case .lines(let lines)? = try? connection().send("show jobs") else { return [] }
        return lines.compactMap { $0.split(separator: "\t").first.map(String.init) }
    }
}
