import Foundation
import ProcessTestSupport
import Testing

/// One gearadmin call of `Tests/Fixtures/admin-scenario.sh` and how its output is compared.
struct AdminStep: Sendable, CustomTestStringConvertible {
    enum Comparison: Sendable {
        /// Line for line.
        case exact
        /// A list reply: lines in any order (gearmand prints hash-table order), then `.`.
        case unorderedList
        /// `workers`: an unordered list whose first field, the server's fd, is not compared.
        case workers
        /// `getpid`: the pid of the server that ran the scenario.
        case processID
        /// `version` without `OK `: what the server reports, which differs between servers by design.
        case version
    }

    /// The base name of the recorded `.txt`, `.stderr` and `.exit` files.
    let name: String
    /// The gearadmin option the scenario ran for this step.
    let option: String
    let comparison: Comparison

    var testDescription: String { "\(name) (gearadmin \(option))" }

    /// Every step of admin-scenario.sh, in the order the script runs them.
    static let all: [AdminStep] = [
        AdminStep(name: "create-function", option: "--create-function empty-fn", comparison: .exact),
        AdminStep(name: "status", option: "--status", comparison: .unorderedList),
        AdminStep(name: "workers", option: "--workers", comparison: .workers),
        AdminStep(name: "show-jobs", option: "--show-jobs", comparison: .unorderedList),
        AdminStep(name: "show-unique-jobs", option: "--show-unique-jobs", comparison: .unorderedList),
        AdminStep(name: "priority-status", option: "--priority-status", comparison: .unorderedList),
        AdminStep(name: "getpid", option: "--getpid", comparison: .processID),
        AdminStep(name: "server-version", option: "--server-version", comparison: .version),
        AdminStep(name: "cancel-job-known", option: "--cancel-job H:fixture:4", comparison: .exact),
        AdminStep(name: "cancel-job-unknown", option: "--cancel-job H:fixture:999", comparison: .exact),
        AdminStep(name: "drop-function-ok", option: "--drop-function empty-fn", comparison: .exact),
        AdminStep(name: "drop-function-missing", option: "--drop-function no-such-fn", comparison: .exact),
        AdminStep(name: "drop-function-busy", option: "--drop-function busy-fn", comparison: .exact),
        AdminStep(name: "status-after", option: "--status", comparison: .unorderedList),
        AdminStep(name: "show-jobs-after", option: "--show-jobs", comparison: .unorderedList),
        AdminStep(name: "priority-status-after", option: "--priority-status", comparison: .unorderedList),
    ]
}

/// The files one run of admin-scenario.sh wrote, and facts about the server it ran against.
struct AdminRecording: Sendable {
    /// File contents by file name, e.g. `status.txt`.
    var files: [String: [UInt8]]
    var serverPID: Int32
    /// The server's `version` reply without `OK ` and the line ending.
    var serverVersion: String
}

enum AdminScenario {
    static let script = Paths.fixtures.appendingPathComponent("admin-scenario.sh")
    static let referenceOutput = Paths.fixtures.appendingPathComponent("c-gearmand-1.1.20")

    /// The scenario run against our gearmand, shared by every case of the parameterized test.
    static let ourRecording = Task<AdminRecording, any Error> {
        let server = try await ServerProcess.start(arguments: ["--job-handle-prefix=H:fixture"])
        defer { server.stop() }
        return try await record(port: server.port, pid: server.pid, directory: server.directory)
    }

    /// Runs the script against 127.0.0.1:`port` and reads back everything it wrote.
    static func record(port: UInt16, pid: Int32, directory: TemporaryDirectory) async throws -> AdminRecording {
        let output = directory.file("admin-scenario")
        // The fixture was recorded with Debian's gearman and gearadmin, so /usr/bin goes first.
        var environment = ChildProcess.defaultEnvironment
        environment["PATH"] = "/usr/bin:/bin:" + (environment["PATH"] ?? "")
        let run = try await ToolRunner.run(
            "/bin/bash", [script.path, String(port), output.path], environment: environment, timeout: .seconds(90))
        guard run.termination == .exited(0) else {
            throw ServerStartError(
                description: "admin-scenario.sh \(port) failed (\(run.termination)): \(run.errorText)\(run.outputText)")
        }

        // Asked only now, because the scenario's `workers` output lists every open connection.
        let admin = try RawConnection(port: port)
        try admin.send("version\n")
        let versionLine = try admin.receiveLine()
        guard versionLine.hasPrefix("OK "), versionLine.hasSuffix("\n") else {
            throw ServerStartError(description: "unexpected version reply \(versionLine.debugDescription)")
        }
        let version = String(versionLine.dropFirst(3).dropLast())

        var files: [String: [UInt8]] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: output.path) {
            files[name] = Array(try Data(contentsOf: output.appendingPathComponent(name)))
        }
        return AdminRecording(files: files, serverPID: pid, serverVersion: version)
    }

    /// Splits `bytes` at `\n` and keeps everything else, so a missing final newline or a `\r`
    /// shows up in a comparison. "a\n" becomes ["a", ""].
    static func lines(_ bytes: [UInt8]) -> [String] {
        String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    /// Lines of a list reply in sorted order, with the closing `.` kept last.
    ///
    /// Text that does not end in `.\n` is returned unchanged, so the comparison shows it as is.
    static func unorderedListLines(_ bytes: [UInt8], replacingFirstField: Bool) -> [String] {
        var all = lines(bytes)
        guard all.count >= 2, all[all.count - 2] == ".", all[all.count - 1] == "" else { return all }
        all.removeLast(2)
        if replacingFirstField {
            all = all.map { line in
                var fields = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
                if let first = fields.first, !first.isEmpty, first.allSatisfy(\.isNumber) {
                    fields[0] = "<fd>"
                }
                return fields.joined(separator: " ")
            }
        }
        return all.sorted() + [".", ""]
    }

    /// Normalises the lines of a step's `.txt` output for comparison. With `expected` set the
    /// bytes are the fixture's, and for pid and version the recorded server's own values replace them.
    static func normalisedOutput(
        _ step: AdminStep, bytes: [UInt8], recording: AdminRecording, expected: Bool
    ) -> [String] {
        switch step.comparison {
        case .exact:
            return lines(bytes)
        case .unorderedList:
            return unorderedListLines(bytes, replacingFirstField: false)
        case .workers:
            return unorderedListLines(bytes, replacingFirstField: true)
        case .processID:
            return expected ? ["\(recording.serverPID)", ""] : lines(bytes)
        case .version:
            return expected ? [recording.serverVersion, ""] : lines(bytes)
        }
    }

    static func fixture(_ fileName: String) throws -> [UInt8] {
        Array(try Data(contentsOf: referenceOutput.appendingPathComponent(fileName)))
    }

    /// Compares one step's three recorded files with the C gearmand fixture.
    static func expectMatchesFixture(
        _ step: AdminStep, recording: AdminRecording, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let outputName = "\(step.name).txt"
        let actualOutput = try #require(recording.files[outputName], "\(outputName) was not written")
        let output = normalisedOutput(step, bytes: actualOutput, recording: recording, expected: false)
        let expectedOutput = normalisedOutput(
            step, bytes: try fixture(outputName), recording: recording, expected: true)
        #expect(
            output == expectedOutput, "\(outputName): stdout of gearadmin \(step.option)",
            sourceLocation: sourceLocation)

        for suffix in ["stderr", "exit"] {
            let name = "\(step.name).\(suffix)"
            let actual = lines(try #require(recording.files[name], "\(name) was not written"))
            let expected = lines(try fixture(name))
            #expect(actual == expected, "\(name) of gearadmin \(step.option)", sourceLocation: sourceLocation)
        }
    }
}

@Suite(
    .enabled(if: Paths.hasGearmanTools, "gearman-tools (/usr/bin/gearman, /usr/bin/gearadmin) is not installed"),
    .timeLimit(.minutes(2)))
struct AdminFixtureTests {
    @Test(arguments: AdminStep.all)
    func gearadminOutputMatchesC(_ step: AdminStep) async throws {
        let recording = try await AdminScenario.ourRecording.value
        try AdminScenario.expectMatchesFixture(step, recording: recording)
    }

    @Test func stepsCoverEveryFixtureFile() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: AdminScenario.referenceOutput.path)
        let fixtureSteps = Set(
            names.filter { $0.hasSuffix(".exit") }.map { String($0.dropLast(".exit".count)) })
        #expect(fixtureSteps == Set(AdminStep.all.map(\.name)))
    }

    @Test func stepsCoverEveryAdminOption() {
        let options = Set(AdminStep.all.map { String($0.option.split(separator: " ")[0]) })
        let required: Set = [
            "--status", "--workers", "--show-jobs", "--show-unique-jobs", "--priority-status", "--getpid",
            "--server-version", "--cancel-job", "--create-function", "--drop-function",
        ]
        #expect(required.subtracting(options).isEmpty)
    }

    /// Runs the scenario against the C gearmand too, which checks that the fixture still
    /// describes the installed C server and that the normalisation above hides only what varies.
    @Test(.enabled(if: ReferenceServer.isInstalled, Comment(rawValue: ReferenceServer.missingMessage)))
    func referenceServerMatchesFixture() async throws {
        let server = try await ReferenceServer.start(arguments: ["--job-handle-prefix=H:fixture", "--threads=1"])
        defer { server.stop() }
        let recording = try await AdminScenario.record(port: server.port, pid: server.pid, directory: server.directory)
        #expect(recording.serverVersion == "1.1.20+ds", "the fixture was recorded with gearmand 1.1.20+ds")
        for step in AdminStep.all {
            try AdminScenario.expectMatchesFixture(step, recording: recording)
        }
    }
}
