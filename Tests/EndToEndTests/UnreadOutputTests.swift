import Foundation
import ProcessTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// CPU time and resident memory of a process, read from /proc.
enum ProcessUsage {
    /// User plus system CPU seconds of process `pid`, from fields 14 and 15 of /proc/PID/stat.
    static func cpuSeconds(_ pid: Int32) throws -> Double {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // The command name in brackets may contain spaces, so the fields are counted after it.
        let fields = stat[stat.range(of: ")", options: .backwards)!.upperBound...].split(separator: " ")
        let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Returns the share of one core, in percent, that process `pid` used over `seconds`. The
    /// wait blocks the thread, so that a busy cooperative pool cannot stretch it.
    static func cpuPercent(_ pid: Int32, over seconds: Double) throws -> Double {
        let before = try cpuSeconds(pid)
        usleep(useconds_t(seconds * 1_000_000))
        return 100 * (try cpuSeconds(pid) - before) / seconds
    }

    /// VmRSS of process `pid` in MiB, from /proc/PID/status.
    static func residentMiB(_ pid: Int32) throws -> Double {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = Double(line.split(separator: " ", omittingEmptySubsequences: true)[1])
        else { return 0 }
        return kilobytes / 1024
    }
}

extension RawConnection {
    /// Shrinks the socket's receive buffer to 128 KiB, so that the server's output piles up in
    /// user space sooner when the test does not read. The buffer stays larger than the loopback
    /// MSS of 64 KiB: with a smaller receive window, TCP moves only some 10 KB/s.
    func shrinkReceiveBuffer() {
        var size: Int32 = 128 * 1024
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Sends `chunk` again and again without blocking for `seconds`, and returns the bytes sent.
    /// When the server stops reading, the sends fail with EAGAIN and the loop waits 1 ms.
    func sendRepeatedly(_ chunk: [UInt8], for seconds: Double, sample: () throws -> Void) throws -> Int {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .milliseconds(Int(seconds * 1000)))
        var total = 0
        var offset = 0
        while clock.now < deadline {
            let written = chunk[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            }
            if written > 0 {
                total += written
                offset = (offset + written) % chunk.count
            } else if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR {
                usleep(1_000)
            } else {
                throw RawConnectionError.systemCall("send", errno)
            }
            try sample()
        }
        return total
    }
}

/// Connections whose peer does not read the server's output: a closing connection must not
/// make the server spin, and unread output must not grow without bound.
///
/// The CPU bounds are generous, because other tests and builds run on the same cores. A server
/// that keeps polling a closing connection takes 60 to 100 % of a core in each of these cases.
@Suite(.timeLimit(.minutes(2)))
struct UnreadOutputTests {
    static let echoPayload = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)
    static let maximumIdlePercent = 30.0

    /// Sends `count` ECHO_REQ packets of 1 MiB without reading the replies.
    static func sendUnreadEchoes(_ count: Int, on connection: RawConnection) throws {
        let packet = Wire.packet(type: PacketNumber.echoRequest, body: echoPayload)
        for _ in 0..<count {
            try connection.send(packet)
        }
    }

    /// A client that sent a bad packet after echoes it does not read leaves the server idle,
    /// and the server closes the connection once the client has read nothing for 10 s.
    @Test func badPacketWithUnreadOutput() async throws {
        let server = try await ServerProcess.start()
        defer { server.stop() }
        let client = try server.connect()
        client.shrinkReceiveBuffer()
        try Self.sendUnreadEchoes(6, on: client)
        usleep(500_000)
        try client.send(Wire.header(magic: [0, 0x58, 0x59, 0x5a], type: PacketNumber.echoRequest, bodyLength: 0))
        usleep(500_000)
        try client.send("more")
        usleep(500_000)

        let percent = try ProcessUsage.cpuPercent(server.pid, over: 3)
        #expect(percent < Self.maximumIdlePercent, "the server used \(percent) % of a core")

        let other = try server.connect()
        try MalformedInputTests.expectEcho(on: other, payload: "still served")

        let closed = try await waitUntil(timeout: .seconds(15)) {
            server.logText().contains("bytes of output unsent: the peer read nothing for 10 s")
        }
        #expect(closed, "log:\n\(server.logText())")
        try MalformedInputTests.expectEcho(on: other, payload: "served after the close")
    }

    /// A client that shuts down its sending side before it reads gets every reply and then
    /// the end of the stream, and the server stays idle while it waits.
    @Test func halfClosedClientGetsAllReplies() async throws {
        let server = try await ServerProcess.start()
        defer { server.stop() }
        let client = try server.connect()
        client.shrinkReceiveBuffer()
        let count = 6
        try Self.sendUnreadEchoes(count, on: client)
        shutdown(client.fd, Int32(SHUT_WR))
        usleep(500_000)

        let percent = try ProcessUsage.cpuPercent(server.pid, over: 3)
        #expect(percent < Self.maximumIdlePercent, "the server used \(percent) % of a core")

        for index in 0..<count {
            let reply = try client.receivePacket()
            #expect(reply.type == PacketNumber.echoResponse, "reply \(index)")
            #expect(reply.body.count == Self.echoPayload.count, "reply \(index)")
        }
        #expect(try client.receiveUntilClosed().isEmpty)
    }

    /// An unread stream of ECHO_REQ packets stops being read once the replies back up, so the
    /// server's memory stays bounded. A server that kept reading grew by 1.6 GB in 3 s.
    @Test func unreadEchoStreamIsBounded() async throws {
        let server = try await ServerProcess.start()
        defer { server.stop() }
        let client = try server.connect()
        client.shrinkReceiveBuffer()
        let baseline = try ProcessUsage.residentMiB(server.pid)
        var peak = baseline
        let packet = Wire.packet(type: PacketNumber.echoRequest, body: Self.echoPayload)
        let sent = try client.sendRepeatedly(packet, for: 2) {
            peak = max(peak, try ProcessUsage.residentMiB(server.pid))
        }
        #expect(peak - baseline < 100, "VmRSS grew from \(baseline) to \(peak) MiB after \(sent) bytes")

        let other = try server.connect()
        try MalformedInputTests.expectEcho(on: other, payload: "still served")
    }
}

/// HTTP connections whose client does not read the responses, and request heads that arrive
/// too slowly.
@Suite(.timeLimit(.minutes(2)))
struct HTTPUnreadOutputTests {
    /// The request that ends each pipeline, and the status of its response.
    static let closingRequests: [(request: String, status: Int)] = [
        ("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 200),
        ("GET / HTTP/9.9\r\nHost: t\r\n\r\n", 505),
    ]

    /// Pipelined dashboard requests that end the connection while 12 MB of responses are
    /// unread leave the server idle, and every response still arrives once the client reads.
    @Test(arguments: [0, 1])
    func closingPipelineDoesNotSpin(closingIndex: Int) async throws {
        let (closingRequest, closingStatus) = Self.closingRequests[closingIndex]
        let http = try await HTTPServer.start()
        defer { http.stop() }
        let client = try http.connect()
        client.shrinkReceiveBuffer()
        let count = 1500
        let pipeline = String(repeating: "GET / HTTP/1.1\r\nHost: t\r\n\r\n", count: count) + closingRequest
        try client.send(pipeline)
        usleep(500_000)
        try client.send("more")
        usleep(500_000)

        let percent = try ProcessUsage.cpuPercent(http.server.pid, over: 3)
        #expect(percent < UnreadOutputTests.maximumIdlePercent, "the server used \(percent) % of a core")

        let responses = HTTPResponse.parseAll(try client.receiveUntilClosed())
        #expect(responses.count == count + 1)
        #expect(responses.dropLast().allSatisfy { $0.status == 200 })
        #expect(responses.last?.status == closingStatus)
    }

    /// A client that pipelines requests and never reads the responses stops being read, so
    /// the server's memory stays bounded. A server that kept reading grew by 1.6 GB in 2 s.
    @Test(arguments: ["/", "/healthz", "/missing"])
    func unreadResponsesAreBounded(path: String) async throws {
        let http = try await HTTPServer.start()
        defer { http.stop() }
        let client = try http.connect()
        client.shrinkReceiveBuffer()
        let pid = http.server.pid
        let baseline = try ProcessUsage.residentMiB(pid)
        var peak = baseline
        let requests = Array(String(repeating: "GET \(path) HTTP/1.1\r\nHost: t\r\n\r\n", count: 1000).utf8)
        let sent = try client.sendRepeatedly(requests, for: 2) {
            peak = max(peak, try ProcessUsage.residentMiB(pid))
        }
        #expect(peak - baseline < 100, "VmRSS grew from \(baseline) to \(peak) MiB after \(sent) bytes")

        let other = try http.connect()
        try other.send("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        #expect(HTTPResponse.parseAll(try other.receiveUntilClosed()).map(\.status) == [200])
    }

    /// A request head sent one byte at a time gets 408 once the idle timeout has passed since
    /// its first byte, although every pause between the bytes is shorter than the timeout.
    @Test func slowHeadTimesOut() async throws {
        let http = try await HTTPServer.start(arguments: ["--http-idle-timeout", "2"])
        defer { http.stop() }
        let client = try RawConnection(port: http.httpPort, timeout: .milliseconds(500))
        let head = Array("GET /f HTTP/1.1\r\nHost: t\r\nX-Padding: \(String(repeating: "p", count: 100))".utf8)
        let clock = ContinuousClock()
        let start = clock.now
        var received: [UInt8] = []
        var isClosed = false
        for byte in head where !isClosed && clock.now - start < .seconds(10) {
            try? client.send([byte])
            do {
                received += try client.receiveUntilClosed()
                isClosed = true
            } catch RawConnectionError.timedOut(let partial) {
                received += partial
            }
        }
        let elapsed = clock.now - start
        #expect(isClosed, "the connection was still open after \(elapsed)")
        #expect(elapsed < .seconds(6))
        #expect(HTTPResponse.parseAll(received).map(\.status) == [408])
    }

    /// A body sent slowly, for longer than the idle timeout in all but with shorter pauses, is
    /// accepted: only the head has a deadline.
    @Test func slowBodyIsAccepted() async throws {
        let http = try await HTTPServer.start(arguments: ["--http-idle-timeout", "2"])
        defer { http.stop() }
        let client = try http.connect()
        let body = "0123456"
        try client.send(
            "POST /slow HTTP/1.1\r\nHost: t\r\nX-Gearman-Background: true\r\nContent-Length: \(body.utf8.count)\r\n"
                + "Connection: close\r\n\r\n")
        for byte in body.utf8 {
            usleep(500_000)
            try client.send([byte])
        }
        let responses = HTTPResponse.parseAll(try client.receiveUntilClosed())
        #expect(responses.map(\.status) == [200])
        #expect(try http.adminFields("status", of: "slow")?[1] == "1")
    }
}
