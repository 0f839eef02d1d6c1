import Foundation
import GearmanKit
import ProcessTestSupport
import Testing

@testable import GearmanServer

#if canImport(Glibc)
    import Glibc
#endif

/// Starts the built gearmand on a damaged append-only log: it must stop with exit status 1 and
/// leave every byte of the file as it was.
@Suite("Startup on a corrupt logfile queue")
struct CorruptLogStartupTests {
    @Test("gearmand rejects a log damaged before its last batch")
    func rejectsCorruptLog() async throws {
        let folder = TemporaryFolder()
        let (path, sizeAfterFirst) = try writeThreeBatchLog(in: folder)
        // A byte inside the payload of the second batch's add record.
        flipByte(in: path, at: sizeAfterFirst + 20)
        let before = try fileBytes(path)

        let port = try freeLoopbackPort()
        let output = URL(fileURLWithPath: folder.file("gearmand.err"))
        let process = try ChildProcess(
            executable: TestPaths.built("gearmand"),
            arguments: [
                "--listen", "127.0.0.1", "--port", String(port), "--pid-file=", "--log-file",
                folder.file("gearmand.log"),
                "-q", "logfile", "--logfile-path", path,
            ],
            standardOutput: output, standardError: output)
        let termination = try await process.waitForExit(timeout: .seconds(20))
        _ = process.stop(signal: SIGKILL)

        #expect(termination == .exited(1))
        #expect(try fileBytes(path) == before)
        let errorText = process.standardErrorText()
        #expect(errorText.contains(path), "stderr: \(errorText)")
        #expect(errorText.contains("damaged at offset \(sizeAfterFirst)"), "stderr: \(errorText)")
        #expect(errorText.contains("Move the file away"), "stderr: \(errorText)")
        let log = (try? String(contentsOfFile: folder.file("gearmand.log"), encoding: .utf8)) ?? ""
        #expect(log.contains("FATAL"), "log: \(log)")
        #expect(log.contains("damaged at offset \(sizeAfterFirst)"), "log: \(log)")
    }
}
