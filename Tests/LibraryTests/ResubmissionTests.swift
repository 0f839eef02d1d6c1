import Foundation
import GearmanKit
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A job whose connection the server closes is sent again on a new connection to the same
/// server, and that connection must stay the client's, so that `close()` reaches it.
@Suite("Jobs sent again after a connection loss", .timeLimit(.minutes(1)))
struct ResubmissionTests {
    /// Accepts a first connection, reads a request from it and closes it. Then it accepts a
    /// second one, reads the request sent again and keeps that connection open without replying.
    private final class ClosingServer: Sendable {
        let port: UInt16
        private let listenerFD: Int32
        private let secondRequestRead = Atomic<Bool>(false)

        init() throws {
            let (fd, address) = try listenOnLoopback(backlog: 4)
            listenerFD = fd
            port = UInt16(bigEndian: address.sin_port)
            Foundation.Thread.detachNewThread { [self] in serve() }
        }

        var hasReadSecondRequest: Bool { secondRequestRead.load(ordering: .acquiring) }

        private func serve() {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let first = accept(listenerFD, nil, nil)
            guard first >= 0 else { return }
            _ = buffer.withUnsafeMutableBytes { read(first, $0.baseAddress, $0.count) }
            _ = Glibc.close(first)
            let second = accept(listenerFD, nil, nil)
            guard second >= 0 else { return }
            if buffer.withUnsafeMutableBytes({ read(second, $0.baseAddress, $0.count) }) > 0 {
                secondRequestRead.store(true, ordering: .releasing)
            }
            // Waits until the client closes the connection, then ends.
            while buffer.withUnsafeMutableBytes({ read(second, $0.baseAddress, $0.count) }) > 0 {}
            _ = Glibc.close(second)
        }

        func close() {
            _ = Glibc.close(listenerFD)
        }
    }

    @Test("close reaches the new connection")
    func closeReachesNewConnection() async throws {
        let server = try ClosingServer()
        defer { server.close() }
        var options = GearmanClient.Options()
        options.exceptions = false
        let client = try GearmanClient(servers: "127.0.0.1:\(server.port)", options: options)

        let outcome = Mutex<Result<String, any Error>?>(nil)
        Task {
            let result: Result<String, any Error>
            do {
                result = .success(try await client.submitBackground("f", workload: [1, 2, 3]))
            } catch {
                result = .failure(error)
            }
            outcome.withLock { $0 = result }
        }
        let sentAgain = await pollUntil(timeout: .seconds(10)) { server.hasReadSecondRequest }
        #expect(sentAgain, "the job was not sent again on a second connection")
        client.close()
        // Polled, so that a call that never ends fails this test instead of hanging the run.
        let ended = await pollUntil(timeout: .seconds(3)) { outcome.withLock { $0 != nil } }

        #expect(ended, "the call did not end within 3 s after close")
        if let result = outcome.withLock({ $0 }) {
            #expect(throws: GearmanError.self) { try result.get() }
        }
    }
}
