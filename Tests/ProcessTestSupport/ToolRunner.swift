import Foundation

/// What a finished command wrote and how it ended.
public struct ToolResult: Sendable {
    public var standardOutput: [UInt8]
    public var standardError: [UInt8]
    public var termination: Termination
    public var timedOut: Bool

    public var outputText: String { String(decoding: standardOutput, as: UTF8.self) }
    public var errorText: String { String(decoding: standardError, as: UTF8.self) }
    public var succeeded: Bool { termination == .exited(0) }

    /// The command's output for a failure message.
    public var transcript: String {
        "\(termination)\(timedOut ? " after a timeout" : "")\nstdout:\n\(outputText)\nstderr:\n\(errorText)"
    }
}

/// Runs commands to completion with a given standard input and a time limit.
public enum ToolRunner {
    /// Runs `executable` with `input` on its standard input and returns its output and status.
    ///
    /// A command still running after `timeout` is stopped as `ChildProcess.waitForResult`
    /// describes, so a hung command fails its test instead of hanging the run.
    public static func run(
        _ executable: String, _ arguments: [String], input: [UInt8] = [],
        environment: [String: String]? = nil, timeout: Duration = .seconds(20)
    ) async throws -> ToolResult {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let inputFile = directory.file("stdin")
        try Data(input).write(to: inputFile)

        let child = try ChildProcess(
            executable: executable, arguments: arguments, environment: environment,
            standardInput: inputFile, standardOutput: directory.file("stdout"), standardError: directory.file("stderr"))
        return try await child.waitForResult(timeout: timeout)
    }
}

extension ChildProcess {
    /// Waits up to `timeout` for the child to exit, stops it and its process group, and returns
    /// what it wrote.
    ///
    /// A child still running after `timeout` gets SIGTERM, then SIGKILL 5 s later, and the result
    /// has `timedOut` set. SIGTERM first lets a shell script run its cleanup trap. The output is
    /// read after the group is stopped, so no process of the group writes to it any more.
    public func waitForResult(timeout: Duration) async throws -> ToolResult {
        let timedOut = try await waitForExit(timeout: timeout) == .running
        let termination = stop()
        let output = FileManager.default.contents(atPath: standardOutput.path) ?? Data()
        let errors = FileManager.default.contents(atPath: standardError.path) ?? Data()
        return ToolResult(
            standardOutput: Array(output), standardError: Array(errors), termination: termination, timedOut: timedOut)
    }
}
