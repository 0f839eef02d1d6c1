import Foundation
import ProcessTestSupport
import Testing

/// Runs the example programs of Examples/ as a user would, against our gearmand and the C one
/// started as processes: a worker that runs until the test stops it, and a client run to
/// completion.
@Suite("Swift examples", .timeLimit(.minutes(1)))
struct SwiftExampleTests {
    static let hasImageMagick = TestPaths.isExecutable(TestPaths.convert) && TestPaths.isExecutable(TestPaths.identify)

    @Test("reverse client prints the reversed text", arguments: ServerKind.allCases)
    func reverse(server kind: ServerKind) async throws {
        let run = try await ExampleRun.start(kind)
        defer { run.stop() }
        let program = TestPaths.built("example-reverse")
        try run.launch("worker", program, ["--role", "worker", "--servers", run.server.address])

        let result = try await ToolRunner.run(
            program, ["--role", "client", "--servers", run.server.address, "Hello", "World!"])
        #expect(result.succeeded, "\(result.transcript)\n\(run.launchedOutput)")
        #expect(result.outputText == "!dlroW olleH\n")

        // Characters, not bytes, are reversed, so multi-byte UTF-8 stays valid.
        let unicode = try await ToolRunner.run(program, ["--role", "client", "--servers", run.server.address, "añb€"])
        #expect(unicode.outputText == "€bña\n")
    }

    @Test("reverse without a role prints its usage")
    func reverseUsage() async throws {
        let result = try await ToolRunner.run(TestPaths.built("example-reverse"), ["--servers", "127.0.0.1:1"])
        #expect(result.termination == .exited(2))
        #expect(result.errorText.contains("Usage: example-reverse"))
    }

    @Test(
        "resize writes a thumbnail that fits the box", .enabled(if: hasImageMagick, "ImageMagick is not installed"),
        arguments: ServerKind.allCases)
    func resize(server kind: ServerKind) async throws {
        let run = try await ExampleRun.start(kind)
        defer { run.stop() }
        let program = TestPaths.built("example-resize")
        let input = run.directory.file("photo.jpg")
        let output = run.directory.file("thumbnail.jpg")
        try await makeJPEG(at: input, width: 640, height: 480)
        try run.launch("worker", program, ["--role", "worker", "--servers", run.server.address])

        let result = try await ToolRunner.run(
            program,
            ["--role", "client", "--servers", run.server.address, "--size", "160x160", input.path, output.path])
        #expect(result.succeeded, "\(result.transcript)\n\(run.launchedOutput)")
        #expect(result.outputText.hasPrefix("wrote \(output.path) ("))
        // -resize keeps the aspect ratio: 640x480 fits 160x160 as 160x120.
        #expect(try await imageSize(at: output) == "160x120")
    }

    @Test(
        "resize reports a worker's exception", .enabled(if: hasImageMagick, "ImageMagick is not installed"),
        arguments: ServerKind.allCases)
    func resizeFailures(server kind: ServerKind) async throws {
        let run = try await ExampleRun.start(kind)
        defer { run.stop() }
        let program = TestPaths.built("example-resize")
        let input = run.directory.file("photo.jpg")
        let notAnImage = run.directory.file("notes.jpg")
        try await makeJPEG(at: input, width: 64, height: 64)
        try Data("not a JPEG".utf8).write(to: notAnImage)
        try run.launch("worker", program, ["--role", "worker", "--servers", run.server.address])

        let badSize = try await ToolRunner.run(
            program,
            [
                "--role", "client", "--servers", run.server.address, "--size", "10x-1", input.path,
                run.directory.file("a.jpg").path,
            ])
        #expect(badSize.termination == .exited(1))
        #expect(badSize.errorText.contains("invalid size '10x-1'"), "\(badSize.transcript)")

        let badImage = try await ToolRunner.run(
            program,
            ["--role", "client", "--servers", run.server.address, notAnImage.path, run.directory.file("b.jpg").path])
        #expect(badImage.termination == .exited(1))
        #expect(badImage.errorText.contains("convert failed with status 1"), "\(badImage.transcript)")
        #expect(!FileManager.default.fileExists(atPath: run.directory.file("b.jpg").path))
    }

    @Test("newsletter renders and sends every newsletter in one process", arguments: ServerKind.allCases)
    func newsletterAll(server kind: ServerKind) async throws {
        let run = try await ExampleRun.start(kind)
        defer { run.stop() }
        let result = try await ToolRunner.run(
            TestPaths.built("example-newsletter"), ["--role", "all", "--servers", run.server.address],
            timeout: .seconds(45))
        #expect(result.succeeded, "\(result.transcript)")
        #expect(
            result.outputText.split(separator: "\n") == [
                "users: 5000 in 3 batches",
                "newsletters rendered: 5000",
                "send jobs submitted: 5000",
                "send jobs done: 5000",
            ])
    }

    @Test("newsletter client works with a separate worker process", arguments: ServerKind.allCases)
    func newsletterSeparateProcesses(server kind: ServerKind) async throws {
        let run = try await ExampleRun.start(kind)
        defer { run.stop() }
        let program = TestPaths.built("example-newsletter")
        try run.launch("workers", program, ["--role", "worker", "--servers", run.server.address])

        let result = try await ToolRunner.run(
            program, ["--role", "client", "--servers", run.server.address, "--users", "450", "--batch-size", "200"])
        #expect(result.succeeded, "\(result.transcript)\n\(run.launchedOutput)")
        #expect(
            result.outputText.split(separator: "\n") == [
                "users: 450 in 3 batches",
                "newsletters rendered: 450",
                "send jobs submitted: 450",
            ])
        // The send jobs run in the background after the client exited.
        #expect(try await run.server.waitUntilIdle("send_newsletter"))
    }

    @Test("ids-log worker appends every background job to the log", arguments: ServerKind.allCases)
    func idsLog(server kind: ServerKind) async throws {
        let run = try await ExampleRun.start(kind)
        defer { run.stop() }
        let program = TestPaths.built("example-ids-log")
        let log = run.directory.file("ids.log")
        try run.launch("worker", program, ["--role", "worker", "--servers", run.server.address, "--log", log.path])

        let result = try await ToolRunner.run(
            program, ["--role", "client", "--servers", run.server.address, "--count", "40"])
        #expect(result.succeeded, "\(result.transcript)")
        #expect(result.outputText == "submitted 40 background jobs\n")

        let complete = try await waitUntil(timeout: .seconds(10)) { readLines(log).count >= 40 }
        #expect(complete, "log has \(readLines(log).count) lines\n\(run.launchedOutput)")
        let lines = readLines(log)
        #expect(lines.count == 40)
        // Each line is "TIMESTAMP ADDRESS REQUEST"; the 40 sample addresses are all different.
        let addresses = Set(lines.compactMap { $0.split(separator: " ").dropFirst().first })
        #expect(addresses.count == 40)
        #expect(lines.allSatisfy { $0.contains(" HTTP/1.1") })
    }
}
