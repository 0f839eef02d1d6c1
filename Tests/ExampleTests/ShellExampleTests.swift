import Foundation
import ProcessTestSupport
import Testing

/// The `gearman` program the shell examples find first on PATH.
enum GearmanCommand: String, CaseIterable, CustomStringConvertible {
    /// This package's `gearman`, built next to the test bundle.
    case gearmanKit
    /// The C `gearman` 1.1.x at /usr/bin/gearman (Debian's gearman-tools).
    case libgearman

    var description: String { self == .gearmanKit ? "our gearman" : "C gearman" }

    var directory: String {
        switch self {
        case .gearmanKit: return TestPaths.buildDirectory.path
        case .libgearman: return "/usr/bin"
        }
    }

    var isInstalled: Bool { TestPaths.isExecutable(directory + "/gearman") }

    /// Returns the environment for a script: PATH starts with this command's directory, and
    /// GEARMAN_SERVER is set only when `server` is given.
    func environment(server: String? = nil) -> [String: String] {
        var environment = ChildProcess.defaultEnvironment
        environment["PATH"] = "\(directory):/usr/bin:/bin"
        environment["GEARMAN_SERVER"] = server
        return environment
    }
}

/// Runs the bash scripts of Examples/shell with our `gearman` and with the C one, against our
/// gearmand.
@Suite("Shell examples", .timeLimit(.minutes(1)))
struct ShellExampleTests {
    static let scripts = TestPaths.packageRoot.appendingPathComponent("Examples/shell")

    static func script(_ name: String) -> String {
        scripts.appendingPathComponent(name).path
    }

    /// Cancels the test case when `command` is not installed.
    static func require(_ command: GearmanCommand) throws {
        if !command.isInstalled {
            try Test.cancel("\(command.directory)/gearman is not installed (Debian package gearman-tools)")
        }
    }

    @Test("reverse.sh reverses text", arguments: GearmanCommand.allCases)
    func reverse(command: GearmanCommand) async throws {
        try Self.require(command)
        let run = try await ExampleRun.start()
        defer { run.stop() }
        let port = String(run.server.port)
        try run.launch(
            "worker", TestPaths.bash, [Self.script("reverse.sh"), "-h", "127.0.0.1", "-p", port, "worker"],
            environment: command.environment())

        let result = try await ToolRunner.run(
            TestPaths.bash, [Self.script("reverse.sh"), "-h", "127.0.0.1", "-p", port, "client", "Hello", "World"],
            environment: command.environment())
        #expect(result.succeeded, "\(result.transcript)\n\(run.launchedOutput)")
        #expect(result.outputText == "dlroW olleH\n")

        // GEARMAN_SERVER names the server without -h and -p.
        let fromEnvironment = try await ToolRunner.run(
            TestPaths.bash, [Self.script("reverse.sh"), "client", "abc"],
            environment: command.environment(server: run.server.address))
        #expect(fromEnvironment.succeeded, "\(fromEnvironment.transcript)")
        #expect(fromEnvironment.outputText == "cba\n")
    }

    @Test("resize.sh writes a thumbnail", arguments: GearmanCommand.allCases)
    func resize(command: GearmanCommand) async throws {
        try Self.require(command)
        guard SwiftExampleTests.hasImageMagick else { try Test.cancel("ImageMagick is not installed") }
        let run = try await ExampleRun.start()
        defer { run.stop() }
        let port = String(run.server.port)
        let input = run.directory.file("photo.jpg")
        let output = run.directory.file("thumbnail.jpg")
        try await makeJPEG(at: input, width: 400, height: 300)
        try run.launch(
            "worker", TestPaths.bash,
            [Self.script("resize.sh"), "-h", "127.0.0.1", "-p", port, "-s", "100x100", "worker"],
            environment: command.environment())

        let result = try await ToolRunner.run(
            TestPaths.bash,
            [Self.script("resize.sh"), "-h", "127.0.0.1", "-p", port, "client", input.path, output.path],
            environment: command.environment())
        #expect(result.succeeded, "\(result.transcript)\n\(run.launchedOutput)")
        #expect(result.outputText.hasPrefix("wrote \(output.path) ("))
        #expect(try await imageSize(at: output) == "100x75")
    }

    @Test("fanout.sh renders and sends one newsletter per user", arguments: GearmanCommand.allCases)
    func fanout(command: GearmanCommand) async throws {
        try Self.require(command)
        let run = try await ExampleRun.start()
        defer { run.stop() }
        let port = String(run.server.port)
        let outbox = run.directory.file("outbox.txt")
        try run.launch(
            "workers", TestPaths.bash,
            [Self.script("fanout.sh"), "-h", "127.0.0.1", "-p", port, "-o", outbox.path, "worker"],
            environment: command.environment())

        let result = try await ToolRunner.run(
            TestPaths.bash, [Self.script("fanout.sh"), "-h", "127.0.0.1", "-p", port, "client", "30"],
            environment: command.environment())
        #expect(result.succeeded, "\(result.transcript)\n\(run.launchedOutput)")
        #expect(result.outputText == "newsletters rendered: 30\nsend jobs submitted: 30\n")

        let sent = try await waitUntil(timeout: .seconds(15)) { readLines(outbox).count >= 30 }
        #expect(sent, "outbox has \(readLines(outbox).count) lines\n\(run.launchedOutput)")
        let newsletters = Set(readLines(outbox))
        #expect(newsletters.count == 30)
        #expect(newsletters.contains("<p>Newsletter for user-1</p>"))
        #expect(newsletters.contains("<p>Newsletter for user-30</p>"))
    }

    @Test("ids-log.sh appends each background job to the log", arguments: GearmanCommand.allCases)
    func idsLog(command: GearmanCommand) async throws {
        try Self.require(command)
        let run = try await ExampleRun.start()
        defer { run.stop() }
        let port = String(run.server.port)
        let log = run.directory.file("ids.log")
        try run.launch(
            "worker", TestPaths.bash,
            [Self.script("ids-log.sh"), "-h", "127.0.0.1", "-p", port, "-l", log.path, "worker"],
            environment: command.environment())

        let requests = (1...20).map { "198.51.100.\($0) GET /admin/../../etc/passwd HTTP/1.1" }
        let result = try await ToolRunner.run(
            TestPaths.bash, [Self.script("ids-log.sh"), "-h", "127.0.0.1", "-p", port, "client"],
            input: Array((requests.joined(separator: "\n") + "\n").utf8), environment: command.environment())
        #expect(result.succeeded, "\(result.transcript)")
        #expect(result.outputText.isEmpty)

        let logged = try await waitUntil(timeout: .seconds(15)) { readLines(log).count >= 20 }
        #expect(logged, "log has \(readLines(log).count) lines\n\(run.launchedOutput)")
        #expect(Set(readLines(log)) == Set(requests))
    }
}
