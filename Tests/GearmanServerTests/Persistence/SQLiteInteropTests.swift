import Foundation
import GearmanKit
import ProcessTestSupport
import Testing

@testable import GearmanServer

#if canImport(Glibc)
    import Glibc
#endif

@Suite(
    "SQLite queue shared with the C gearmand",
    .enabled(
        if: ServerKind.cGearmand.isInstalled, "the C gearmand is not installed; apt-get install gearman-job-server"),
    .timeLimit(.minutes(1)))
struct SQLiteInteropTests {
    @Test("the C gearmand 1.1.20 replays a queue this store wrote")
    func cServerReplaysOurQueue() async throws {
        let folder = TemporaryFolder()
        let path = folder.file("queue.db")
        let store = try SQLiteQueueStore(path: path)
        try store.commit(SampleJobs.varied.map { .add($0) })
        store.close()

        let port = try freeLoopbackPort()
        let log = URL(fileURLWithPath: folder.file("gearmand.log"))
        let server = try ChildProcess(
            executable: TestPaths.referenceGearmand,
            arguments: [
                "-q", "libsqlite3", "--libsqlite3-db=\(path)", "--listen=127.0.0.1", "--port=\(port)",
                "--log-file=stderr", "--verbose=INFO", "--threads=1",
            ],
            standardOutput: log, standardError: log)
        defer { server.stop(grace: .seconds(10)) }

        let status = try await adminCommand("status", port: port)

        // Each line is: function, total jobs, running jobs, available workers.
        let totals = Dictionary(
            uniqueKeysWithValues: status.split(separator: "\n").compactMap { line -> (String, Int)? in
                let fields = line.split(separator: "\t")
                guard fields.count == 4, let total = Int(fields[1]) else { return nil }
                return (String(fields[0]), total)
            })
        #expect(totals == ["resize": 3, "email": 2, "report": 1])

        server.stop(grace: .seconds(10))
        let reopened = try SQLiteQueueStore(path: path)
        defer { reopened.close() }
        #expect(try reopened.load() == SampleJobs.varied)
    }

    /// Sends an admin text command and returns the reply up to its closing "." line, retrying
    /// the connection for up to 5 s while the server starts.
    private func adminCommand(_ command: String, port: Int) async throws -> String {
        for _ in 0..<100 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw SystemError.current("socket") }
            defer { close(fd) }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            guard connected else {
                try await Task.sleep(for: .milliseconds(50))
                continue
            }
            let request = Array((command + "\n").utf8)
            guard send(fd, request, request.count, 0) == request.count else { throw SystemError.current("send") }
            var reply: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while reply != Array(".\n".utf8) && !reply.ends(with: Array("\n.\n".utf8)) {
                let count = recv(fd, &buffer, buffer.count, 0)
                guard count > 0 else { throw SystemError.current("recv") }
                reply += buffer[0..<count]
            }
            return String(decoding: reply, as: UTF8.self)
        }
        throw TestSetupError("gearmand did not accept connections on port \(port) within 5 s")
    }
}

extension Array where Element == UInt8 {
    fileprivate func ends(with suffix: [UInt8]) -> Bool {
        count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix
    }
}
