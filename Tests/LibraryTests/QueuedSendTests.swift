import Foundation
import GearmanKit
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A loopback server that accepts connections but reads nothing from them for `holdTime`, so
/// that the client's socket buffers fill. Then it reads until it has `expectedBytes` in all, or
/// 10 s pass. The client may open more than one connection when several calls connect at once.
private final class SlowReader: Sendable {
    let port: UInt16
    private let listenerFD: Int32

    init() throws {
        // A small receive buffer, inherited by the accepted sockets, makes the client's side fill
        // after a few megabytes instead of tens.
        let (listenerFD, address) = try listenOnLoopback(backlog: 16) { fd in
            var receiveBuffer: Int32 = 4096
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, socklen_t(MemoryLayout<Int32>.size))
        }
        self.port = UInt16(bigEndian: address.sin_port)
        self.listenerFD = listenerFD
    }

    var servers: String { "127.0.0.1:\(port)" }

    /// The bytes read from each connection, once the serving thread has finished.
    final class Outcome: Sendable {
        private let received = Mutex<[[UInt8]]?>(nil)

        fileprivate func finish(_ bytes: [[UInt8]]) {
            received.withLock { $0 = bytes }
        }

        /// Waits for the serving thread by polling, so that it needs no task of its own to be
        /// scheduled while the test checks that the cooperative pool stays free.
        func value() async -> [[UInt8]] {
            _ = await pollUntil(timeout: .seconds(60)) { received.withLock { $0 != nil } }
            return received.withLock { $0 } ?? []
        }
    }

    /// Starts serving on a thread of its own, for `holdTime` plus the reading.
    func serve(holdTime: Duration, expectedBytes: Int) -> Outcome {
        let listenerFD = self.listenerFD
        let holdMilliseconds = Int(holdTime / .milliseconds(1))
        let outcome = Outcome()
        Foundation.Thread.detachNewThread {
            outcome.finish(Self.serve(listenerFD, holdMilliseconds: holdMilliseconds, expectedBytes: expectedBytes))
        }
        return outcome
    }

    private static func serve(_ listenerFD: Int32, holdMilliseconds: Int, expectedBytes: Int) -> [[UInt8]] {
        var clients: [Int32] = []
        var received: [[UInt8]] = []
        defer { for fd in clients where fd >= 0 { _ = Glibc.close(fd) } }
        let start = ContinuousClock.now
        let stop = start + .seconds(10) + .milliseconds(holdMilliseconds)
        var total = 0
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while total < expectedBytes || ContinuousClock.now < start + .milliseconds(holdMilliseconds) {
            let isHolding = ContinuousClock.now < start + .milliseconds(holdMilliseconds)
            var descriptors = [pollfd(fd: listenerFD, events: Int16(POLLIN), revents: 0)]
            if !isHolding {
                descriptors += clients.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            }
            let remaining = (isHolding ? start + .milliseconds(holdMilliseconds) : stop) - ContinuousClock.now
            if remaining <= .zero { break }
            let ready = poll(&descriptors, nfds_t(descriptors.count), Int32(remaining / .milliseconds(1)) + 1)
            if ready < 0 && errno != EINTR { break }
            if descriptors[0].revents != 0 {
                let fd = accept(listenerFD, nil, nil)
                if fd >= 0 {
                    clients.append(fd)
                    received.append([])
                }
            }
            for index in descriptors.indices.dropFirst() where descriptors[index].revents != 0 {
                let count = chunk.withUnsafeMutableBytes { read(descriptors[index].fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    received[index - 1].append(contentsOf: chunk[0..<count])
                    total += count
                } else {
                    // poll(2) skips negative descriptors, so a closed connection stays out.
                    _ = Glibc.close(clients[index - 1])
                    clients[index - 1] = -1
                }
            }
        }
        return received
    }

    func close() {
        _ = Glibc.close(listenerFD)
    }
}

/// Sends from async calls queue what the socket does not take, instead of blocking a thread of
/// Swift's cooperative pool until the server reads. That pool has one thread per core, so a
/// few blocked sends would stall every task of the program.
@Suite("Sends to a slow server queue", .timeLimit(.minutes(1)))
struct QueuedSendTests {
    static let submissions = 16
    /// 16 × 384 KiB is 6 MiB: more than the 3 MB the loopback socket buffers took in a trial
    /// with the reader's 4 KiB receive buffer, and less than the queue limit of 16 MiB.
    static let workloadSize = 384 * 1024

    static func workload(_ index: Int) -> [UInt8] {
        [UInt8](repeating: UInt8(index), count: workloadSize)
    }

    /// Returns a client that sends no OPTION_REQ, so the server receives only submissions.
    private static func makeClient(_ server: SlowReader) throws -> GearmanClient {
        var options = GearmanClient.Options()
        options.exceptions = false
        return try GearmanClient(servers: server.servers, options: options)
    }

    /// Submits `submissions` background jobs at once, with unique keys `u0`, `u1` …, and returns
    /// the number of calls that failed.
    private static func submitAll(to client: GearmanClient) -> Task<Int, Never> {
        Task {
            await withTaskGroup(of: Bool.self) { group in
                for index in 0..<submissions {
                    group.addTask {
                        (try? await client.submitBackground("f", workload: workload(index), unique: "u\(index)")) == nil
                    }
                }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
        }
    }

    static func submitPacket(_ index: Int) -> Packet {
        Packet(
            magic: .request, type: .submitJobBackground,
            arguments: [Array("f".utf8), Array("u\(index)".utf8), workload(index)])
    }

    @Test("submissions leave the pool free")
    func submissionsLeavePoolFree() async throws {
        let server = try SlowReader()
        defer { server.close() }
        let expectedBytes = (0..<Self.submissions).reduce(0) {
            $0 + PacketHeader.size + Self.submitPacket($1).bodyLength
        }
        let serving = server.serve(holdTime: .milliseconds(1500), expectedBytes: expectedBytes)
        let client = try Self.makeClient(server)
        let submissions = Self.submitAll(to: client)
        let start = ContinuousClock.now
        try await Task.sleep(for: .milliseconds(300))
        let slept = ContinuousClock.now - start
        let received = await serving.value()
        client.close()
        _ = await submissions.value

        #expect(slept < .milliseconds(1200), "a 300 ms sleep took \(slept) while sends waited for the server")
        #expect(received.map(\.count).reduce(0, +) == expectedBytes)
        var frames: [Frame] = []
        for bytes in received {
            var parser = FrameParser(maximumBodyLength: 1 << 20)
            frames += try parser.parse(bytes)
        }
        var indexes: [Int] = []
        for frame in frames {
            guard case .packet(let packet) = frame, packet.type == .submitJobBackground else {
                Issue.record("the server received \(frame), expected SUBMIT_JOB_BG")
                continue
            }
            let unique = String(decoding: packet.arguments[1], as: UTF8.self)
            guard let index = Int(unique.dropFirst()) else {
                Issue.record("unexpected unique key \(unique)")
                continue
            }
            #expect(Array(packet.arguments[2]) == Self.workload(index), "workload of \(unique) arrived changed")
            indexes.append(index)
        }
        #expect(indexes.sorted() == Array(0..<Self.submissions))
    }

    @Test("close ends calls with queued output")
    func closeEndsQueuedCalls() async throws {
        let server = try SlowReader()
        defer { server.close() }
        let serving = server.serve(holdTime: .seconds(2), expectedBytes: 0)
        let client = try Self.makeClient(server)
        let submissions = Self.submitAll(to: client)
        try await Task.sleep(for: .milliseconds(300))
        let start = ContinuousClock.now
        client.close()
        let failures = await submissions.value
        let ended = ContinuousClock.now - start
        _ = await serving.value()

        #expect(ended < .seconds(2), "calls took \(ended) to end after close")
        #expect(failures == Self.submissions)
    }

    @Test("server reset ends calls with queued output")
    func serverResetEndsQueuedCalls() async throws {
        let server = try SlowReader()
        let client = try Self.makeClient(server)
        defer { client.close() }
        let submissions = Self.submitAll(to: client)
        // Closing sockets with unread input sends a reset, so the queued output cannot be written.
        _ = await server.serve(holdTime: .milliseconds(500), expectedBytes: 0).value()
        server.close()
        let start = ContinuousClock.now
        let failures = await submissions.value
        let ended = ContinuousClock.now - start

        #expect(ended < .seconds(5), "calls took \(ended) to end after the server reset its connections")
        #expect(failures == Self.submissions)
    }
}
