import Foundation
import ProcessTestSupport
import Testing

/// The other-language Gearman libraries the interop tests run, each with a client and a worker
/// script under Scripts/.
enum ScriptLanguage: String, CaseIterable, Sendable, CustomStringConvertible {
    /// PHP with the pecl gearman extension, which is built on libgearman (Debian php-gearman).
    case php
    /// Perl's Gearman::Client and Gearman::Worker, a pure-Perl implementation (Debian
    /// libgearman-client-perl).
    case perl

    var description: String { self == .php ? "PHP" : "Perl" }

    var interpreter: String { self == .php ? TestPaths.php : TestPaths.perl }

    /// The prefix of the functions the worker script registers, as in `php_reverse`.
    var functionPrefix: String { rawValue }

    /// Returns the path of `worker.php`, `client.pl` and so on.
    func script(_ role: String) -> String {
        let fileExtension = self == .php ? "php" : "pl"
        return TestPaths.packageRoot.appendingPathComponent("Tests/InteropTests/Scripts/\(role).\(fileExtension)").path
    }

    /// A one-line program that exits 0 when the Gearman library of the language loads.
    private var libraryCheck: [String] {
        switch self {
        case .php: return ["-r", "exit(class_exists('GearmanClient') ? 0 : 1);"]
        case .perl: return ["-MGearman::Client", "-MGearman::Worker", "-e", "1"]
        }
    }

    private var missingMessage: String {
        switch self {
        case .php: return "PHP's gearman extension is not installed (Debian packages php-cli and php-gearman)"
        case .perl: return "Perl's Gearman::Client is not installed (Debian package libgearman-client-perl)"
        }
    }

    /// Cancels the current test case when the interpreter or its Gearman library is missing.
    func requireInstalled() async throws {
        guard TestPaths.isExecutable(interpreter) else { try Test.cancel(Comment(rawValue: missingMessage)) }
        let check = try await ToolRunner.run(interpreter, libraryCheck, timeout: .seconds(10))
        if !check.succeeded { try Test.cancel(Comment(rawValue: "\(missingMessage): \(check.errorText)")) }
    }

    /// Runs the client script for one job and returns its result.
    ///
    /// - Parameter mode: normal, high or low for a foreground job, or background,
    ///   high-background or low-background.
    func runClient(server: String, mode: String, function: String, workload: String) async throws -> ToolResult {
        try await ToolRunner.run(
            interpreter, [script("client"), server, mode, function, workload], timeout: .seconds(15))
    }
}

/// Starts a job server of `kind`, or cancels the current test case when it is not installed.
func startServer(_ kind: ServerKind) async throws -> JobServerProcess {
    if !kind.isInstalled { try Test.cancel(Comment(rawValue: kind.missingMessage)) }
    return try await JobServerProcess.start(kind)
}

/// Returns bytes as text, for comparisons.
func text(_ bytes: [UInt8]) -> String {
    String(decoding: bytes, as: UTF8.self)
}
