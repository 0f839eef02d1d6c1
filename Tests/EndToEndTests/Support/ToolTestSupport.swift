import Foundation
import ProcessTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension Paths {
    /// Our `gearman` and `gearadmin`, built next to `gearmand`.
    static let ourGearman = sibling(of: gearmand, named: "gearman")
    static let ourGearadmin = sibling(of: gearmand, named: "gearadmin")

    /// The scripted Python worker that sends the packets each workload lists.
    static let scriptedWorker = fixtures.appendingPathComponent("scripted-worker.py").path

    private static func sibling(of path: String, named name: String) -> String {
        URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(name).path
    }
}

/// Which implementation of a command-line tool runs.
enum ToolKind: String, CaseIterable, Sendable {
    case ours
    case reference

    var gearman: String { self == .ours ? Paths.ourGearman : Paths.gearmanTool }
    var gearadmin: String { self == .ours ? Paths.ourGearadmin : Paths.gearadminTool }
}

/// A gearmand of either kind started for one test, with a folder for the test's files and the
/// processes the test starts against it.
///
/// Call `stop()` from a `defer`: it stops every process started with `start(_:_:name:)` and
/// then the server.
final class ToolTestServer {
    let kind: ServerKind
    let port: UInt16
    let pid: Int32
    /// The test's own files: process output, pid files, markers.
    let directory: TemporaryDirectory
    private let stopServer: () -> Void
    private var children: [ChildProcess] = []

    private init(kind: ServerKind, port: UInt16, pid: Int32, stopServer: @escaping () -> Void) throws {
        self.kind = kind
        self.port = port
        self.pid = pid
        self.stopServer = stopServer
        directory = try TemporaryDirectory()
    }

    /// Starts a server of `kind` on 127.0.0.1; `arguments` go to our gearmand only.
    static func start(_ kind: ServerKind, arguments: [String] = []) async throws -> ToolTestServer {
        switch kind {
        case .gearmanKit:
            let server = try await ServerProcess.start(arguments: arguments)
            return try ToolTestServer(kind: kind, port: server.port, pid: server.pid) { server.stop() }
        case .cGearmand:
            let server = try await ReferenceServer.start()
            return try ToolTestServer(kind: kind, port: server.port, pid: server.pid) { server.stop() }
        }
    }

    /// The `-h` and `-p` options that point a tool at this server.
    var address: [String] { ["-h", "127.0.0.1", "-p", String(port)] }

    /// Starts a process that runs until the test stops it, with its output in `name.stdout`
    /// and `name.stderr` of the test's folder. Its standard input is `input`, else the file or
    /// FIFO at `standardInput`, else /dev/null.
    @discardableResult
    func start(
        _ executable: String, _ arguments: [String], name: String, input: [UInt8]? = nil,
        standardInput: URL? = nil, environment: [String: String]? = nil
    ) throws -> ChildProcess {
        var inputFile = standardInput
        if let input {
            inputFile = directory.file("\(name).stdin")
            try Data(input).write(to: inputFile!)
        }
        let child = try ChildProcess(
            executable: executable, arguments: arguments, environment: environment, standardInput: inputFile,
            standardOutput: directory.file("\(name).stdout"), standardError: directory.file("\(name).stderr"))
        children.append(child)
        return child
    }

    /// Starts `gearman -w` of `tool` for `functions` and waits until the server lists it.
    @discardableResult
    func startWorker(
        _ tool: ToolKind, functions: [String], options: [String] = [], command: [String] = [], name: String
    ) async throws -> ChildProcess {
        var arguments = address + ["-w"] + functions.flatMap { ["-f", $0] } + options
        if !command.isEmpty { arguments += ["--"] + command }
        let worker = try start(tool.gearman, arguments, name: name)
        for function in functions {
            let registered = try await waitForWorkers(of: function)
            try #require(
                registered,
                "gearman -w -f \(function) did not register within 10 s; stderr: \(readText(directory.file("\(name).stderr")))"
            )
        }
        return worker
    }

    /// Starts Tests/Fixtures/scripted-worker.py for `function` and waits until it has registered.
    @discardableResult
    func startScriptedWorker(function: String, name: String) async throws -> ChildProcess {
        let worker = try start("/usr/bin/env", ["python3", Paths.scriptedWorker, String(port), function], name: name)
        let registered = try await waitForWorkers(of: function)
        try #require(registered, "scripted-worker.py did not register: \(readText(directory.file("\(name).stderr")))")
        return worker
    }

    /// Sends an admin command and returns its list reply without the final `.`.
    func adminList(_ command: String) throws -> [String] {
        try RawConnection(port: port).adminList(command)
    }

    /// Returns the tab-separated fields of the line of `function` in the reply to `command`, or nil
    /// when the reply does not list it.
    func statusFields(of function: String, command: String = "status") throws -> [String]? {
        try adminList(command).map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
            .first { $0.first == function }
    }

    /// Waits until `status` lists at least `count` workers for `function`.
    func waitForWorkers(of function: String, count: Int = 1, timeout: Duration = .seconds(10)) async throws -> Bool {
        try await waitUntil(timeout: timeout) {
            guard let fields = try statusFields(of: function), fields.count == 4 else { return false }
            return (Int(fields[3]) ?? 0) >= count
        }
    }

    /// Waits until `status` shows exactly `count` jobs for `function`.
    func waitForJobs(of function: String, count: Int, timeout: Duration = .seconds(10)) async throws -> Bool {
        try await waitUntil(timeout: timeout) {
            guard let fields = try statusFields(of: function), fields.count == 4 else { return count == 0 }
            return Int(fields[1]) == count
        }
    }

    /// Runs `gearman` of `tool` against this server and returns what it printed.
    func runGearman(
        _ tool: ToolKind, _ arguments: [String], input: [UInt8] = [], environment: [String: String]? = nil,
        timeout: Duration = .seconds(20)
    ) async throws -> ToolResult {
        try await ToolRunner.run(
            tool.gearman, address + arguments, input: input, environment: environment, timeout: timeout)
    }

    /// Runs `gearadmin` of `tool` against this server and returns what it printed.
    func runGearadmin(
        _ tool: ToolKind, _ arguments: [String], input: [UInt8] = [], timeout: Duration = .seconds(20)
    ) async throws -> ToolResult {
        try await ToolRunner.run(tool.gearadmin, address + arguments, input: input, timeout: timeout)
    }

    func stop() {
        for child in children.reversed() {
            child.stop()
        }
        stopServer()
        directory.remove()
    }
}

/// Both tools' results for the same command line and input.
struct ToolPair {
    var ours: ToolResult
    var reference: ToolResult
}

extension ToolTestServer {
    /// Runs our `gearman` and then the C one with the same arguments and input.
    func runBothGearman(
        _ arguments: [String], input: [UInt8] = [], environment: [String: String]? = nil,
        timeout: Duration = .seconds(20)
    ) async throws -> ToolPair {
        let ours = try await runGearman(.ours, arguments, input: input, environment: environment, timeout: timeout)
        let reference = try await runGearman(
            .reference, arguments, input: input, environment: environment, timeout: timeout)
        return ToolPair(ours: ours, reference: reference)
    }

    /// Runs our `gearadmin` and then the C one with the same arguments and input.
    func runBothGearadmin(_ arguments: [String], input: [UInt8] = []) async throws -> ToolPair {
        let ours = try await runGearadmin(.ours, arguments, input: input)
        let reference = try await runGearadmin(.reference, arguments, input: input)
        return ToolPair(ours: ours, reference: reference)
    }
}

/// Checks that both tools wrote the same bytes to each stream and ended the same way.
func expectSameResults(
    _ pair: ToolPair, _ context: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(!pair.ours.timedOut, "ours timed out: \(context)", sourceLocation: sourceLocation)
    #expect(!pair.reference.timedOut, "C tool timed out: \(context)", sourceLocation: sourceLocation)
    #expect(
        pair.ours.outputText == pair.reference.outputText, "standard output differs: \(context)",
        sourceLocation: sourceLocation)
    #expect(
        pair.ours.errorText == pair.reference.errorText, "standard error differs: \(context)",
        sourceLocation: sourceLocation)
    #expect(
        pair.ours.termination == pair.reference.termination, "exit differs: \(context)", sourceLocation: sourceLocation)
}

/// Replaces the handle after each `Task created: ` with `<handle>`.
func maskingHandles(_ text: String) -> String {
    text.replacing(/Task created: [^\n]*/, with: "Task created: <handle>")
}

/// Returns a port of 127.0.0.1 that refuses connections for the rest of the test run.
///
/// The port is bound but never listened on, and the socket stays open, so no server started
/// by a concurrent test can take the number (a closed port could be reused at once).
func refusedPort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ServerStartError(description: "socket failed: errno \(errno)") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
            bind(fd, socketAddress, length) == 0 && getsockname(fd, socketAddress, &length) == 0
        }
    }
    guard bound else {
        close(fd)
        throw ServerStartError(description: "bind to 127.0.0.1:0 failed: errno \(errno)")
    }
    // Deliberately left open: the descriptor reserves the port until the test process exits.
    return UInt16(bigEndian: address.sin_port)
}
