import Foundation
import ProcessTestSupport
import Testing

/// Our gearmand driven by the C `gearman` client and worker from Debian's gearman-tools.
@Suite(
    .enabled(if: Paths.hasGearmanTools, "gearman-tools (/usr/bin/gearman, /usr/bin/gearadmin) is not installed"),
    .timeLimit(.minutes(2)))
struct GearmanToolsTests {
    /// Starts `gearman -w -f <function> -- <command>` against `server` and waits until it has registered.
    static func startWorker(
        on server: ServerProcess, function: String, command: [String], name: String
    ) async throws -> ChildProcess {
        let worker = try ChildProcess(
            executable: Paths.gearmanTool,
            arguments: ["-h", "127.0.0.1", "-p", String(server.port), "-w", "-f", function, "--"] + command,
            standardOutput: server.directory.file("\(name).stdout"),
            standardError: server.directory.file("\(name).stderr"))
        let registered = try await server.waitForWorker(of: function)
        if !registered {
            worker.stop()
            Issue.record(
                "gearman -w -f \(function) did not register within 10 s; stderr: \(worker.standardErrorText())")
        }
        return worker
    }

    /// Runs `gearman -f <function>` against `server` with `input` as the workload.
    static func submit(
        to server: ServerProcess, function: String, input: [UInt8], timeout: Duration = .seconds(30)
    ) async throws -> ToolResult {
        try await ToolRunner.run(
            Paths.gearmanTool, ["-h", "127.0.0.1", "-p", String(server.port), "-f", function], input: input,
            timeout: timeout)
    }

    @Test func reverseWorkerReversesLine() async throws {
        let server = try await ServerProcess.start()
        defer { server.stop() }
        let worker = try await Self.startWorker(on: server, function: "reverse", command: ["/usr/bin/rev"], name: "rev")
        defer { worker.stop() }

        let result = try await Self.submit(to: server, function: "reverse", input: Array("Hello World!\n".utf8))

        #expect(!result.timedOut, "gearman -f reverse timed out")
        #expect(result.termination == .exited(0), "stderr: \(result.errorText)")
        #expect(result.outputText == "!dlroW olleH\n")
        #expect(result.errorText == "")
    }

    @Test func grepWorkerMatchesLocalGrep() async throws {
        let listing = try await ToolRunner.run("/usr/bin/ls", ["/"], timeout: .seconds(30))
        try #require(listing.termination == .exited(0), "ls / failed: \(listing.errorText)")
        let expected = try await ToolRunner.run(
            "/usr/bin/grep", ["lib"], input: listing.standardOutput, timeout: .seconds(30))
        try #require(
            !expected.standardOutput.isEmpty, "ls / has no entry containing 'lib', so the test would prove nothing")

        let server = try await ServerProcess.start()
        defer { server.stop() }
        let worker = try await Self.startWorker(
            on: server, function: "test", command: ["/usr/bin/grep", "lib"], name: "grep")
        defer { worker.stop() }

        let result = try await Self.submit(to: server, function: "test", input: listing.standardOutput)

        #expect(!result.timedOut, "gearman -f test timed out")
        #expect(result.termination == .exited(0), "stderr: \(result.errorText)")
        #expect(result.outputText == expected.outputText)
    }

    @Test(.enabled(if: Paths.hasImageMagick, "ImageMagick (/usr/bin/convert, /usr/bin/identify) is not installed"))
    func resizeWorkerMakesThumbnail() async throws {
        let server = try await ServerProcess.start()
        defer { server.stop() }
        let large = server.directory.file("large.jpg")
        // A plasma fractal compresses badly, so 3000x2250 at quality 95 is several megabytes.
        let generated = try await ToolRunner.run(
            TestPaths.convert, ["-size", "3000x2250", "plasma:fractal", "-quality", "95", large.path],
            timeout: .seconds(60))
        try #require(generated.termination == .exited(0), "convert failed: \(generated.errorText)")
        let image = try Array(Data(contentsOf: large))
        try #require(image.count > 2_000_000, "large.jpg is only \(image.count) bytes")

        let worker = try await Self.startWorker(
            on: server, function: "resize",
            command: [TestPaths.convert, "-", "-resize", "200x150", "jpg:-"], name: "resize")
        defer { worker.stop() }

        // gearman 1.1.20 reads standard input in small steps, about 3 s for 4 MB on a 2-core VM.
        let result = try await Self.submit(to: server, function: "resize", input: image, timeout: .seconds(90))
        #expect(!result.timedOut, "gearman -f resize timed out")
        #expect(result.termination == .exited(0), "stderr: \(result.errorText)")

        let thumbnail = server.directory.file("thumb.jpg")
        try Data(result.standardOutput).write(to: thumbnail)
        let size = try await ToolRunner.run(
            TestPaths.identify, ["-format", "%wx%h", thumbnail.path], timeout: .seconds(30))
        #expect(size.termination == .exited(0), "identify failed: \(size.errorText)")
        // -resize 200x150 keeps the 4:3 aspect ratio, so the thumbnail fills the box exactly.
        #expect(size.outputText == "200x150")
    }
}
