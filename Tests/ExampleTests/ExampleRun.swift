import Foundation
import ProcessTestSupport
import Testing

/// A job server, a scratch directory and the long-running processes (workers) of one example
/// test. `stop()` ends them all; call it from a `defer`.
final class ExampleRun {
    let server: JobServerProcess
    let directory: TemporaryDirectory
    private var children: [ChildProcess] = []

    private init(server: JobServerProcess, directory: TemporaryDirectory) {
        self.server = server
        self.directory = directory
    }

    /// Starts a server of `kind`, or cancels the test when it is not installed.
    static func start(_ kind: ServerKind = .gearmanKit) async throws -> ExampleRun {
        if !kind.isInstalled { try Test.cancel(Comment(rawValue: kind.missingMessage)) }
        let server = try await JobServerProcess.start(kind)
        do {
            return ExampleRun(server: server, directory: try TemporaryDirectory())
        } catch {
            server.stop()
            throw error
        }
    }

    /// Starts a process that runs until `stop()`, with its output in files named after `name`.
    @discardableResult
    func launch(
        _ name: String, _ executable: String, _ arguments: [String], environment: [String: String]? = nil
    ) throws -> ChildProcess {
        let child = try ChildProcess(
            executable: executable, arguments: arguments, environment: environment,
            standardOutput: directory.file("\(name).stdout"), standardError: directory.file("\(name).stderr"))
        children.append(child)
        return child
    }

    /// The standard error of every launched process, for a failure message.
    var launchedOutput: String {
        children.map { "pid \($0.pid) (\($0.termination)):\n\($0.standardErrorText())" }.joined(separator: "\n")
    }

    func stop() {
        for child in children.reversed() { child.stop() }
        server.stop()
        directory.remove()
    }
}

/// A test fixture that could not be made.
struct SetupError: Error, CustomStringConvertible {
    let description: String
}

/// Makes a `width`×`height` JPEG at `url` with ImageMagick.
func makeJPEG(at url: URL, width: Int, height: Int) async throws {
    let result = try await ToolRunner.run(
        TestPaths.convert, ["-size", "\(width)x\(height)", "gradient:navy-skyblue", url.path])
    guard result.succeeded else {
        throw SetupError(description: "convert could not make a test JPEG: \(result.transcript)")
    }
}

/// Returns an image's size as ImageMagick's `identify` reports it: "WIDTHxHEIGHT".
func imageSize(at url: URL) async throws -> String {
    let result = try await ToolRunner.run(TestPaths.identify, ["-format", "%wx%h", url.path])
    return result.succeeded ? result.outputText : "identify failed: \(result.transcript)"
}
