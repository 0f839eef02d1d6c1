import Foundation
import ProcessTestSupport
import Testing

/// Headers that declare large bodies which never arrive. A server that reserves the declared
/// length at once runs out of address space after a few such headers, and under `ulimit -v`
/// it aborts.
@Suite(.timeLimit(.minutes(2)))
struct DeclaredBodyLengthTests {
    /// Reads the virtual memory size of process `pid` in bytes from the VmSize line of /proc/PID/status.
    static func virtualMemorySize(of pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmSize:") }
        let fields = line?.split(separator: " ") ?? []
        let kilobytes = try #require(fields.count == 3 ? Int(fields[1]) : nil, "no VmSize in \(status)")
        return kilobytes * 1024
    }

    @Test func packetHeadersWithoutBodies() async throws {
        let server = try await ServerProcess.start()
        defer { server.stop() }
        let bystander = try server.connect()
        try MalformedInputTests.expectEcho(on: bystander, payload: "before")
        let before = try Self.virtualMemorySize(of: server.pid)

        // Eight ECHO_REQ headers each declare 256 MiB, the default --max-packet-size, and send
        // one body byte.
        let declared = 256 << 20
        var offenders: [RawConnection] = []
        for _ in 0..<8 {
            let connection = try server.connect()
            try connection.send(Wire.header(type: PacketNumber.echoRequest, bodyLength: UInt32(declared)) + [0x78])
            offenders.append(connection)
        }
        // Once the bystander has its reply, the server has most likely read the headers sent
        // before it, and the pause covers the rest.
        try MalformedInputTests.expectEcho(on: bystander, payload: "after headers")
        try await Task.sleep(for: .milliseconds(200))
        let growth = try Self.virtualMemorySize(of: server.pid) - before
        #expect(growth < 2 * declared, "virtual memory grew by \(growth) bytes for 8 headers without bodies")

        // A large body that does arrive, in pieces, is still echoed in full.
        let payload = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 12) }
        let sender = try server.connect()
        let wire = Wire.packet(type: PacketNumber.echoRequest, body: payload)
        var offset = 0
        while offset < wire.count {
            let end = min(wire.count, offset + 65536)
            try sender.send(Array(wire[offset..<end]))
            offset = end
            try await Task.sleep(for: .milliseconds(2))
        }
        let echo = try sender.receivePacket()
        #expect(echo.type == PacketNumber.echoResponse)
        #expect(echo.body == payload)
        #expect(server.child.isRunning)
    }

    @Test func httpHeadsWithoutBodies() async throws {
        let http = try await HTTPServer.start()
        defer { http.stop() }
        let warmUp = try http.connect()
        try warmUp.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        _ = try warmUp.receiveUntilClosed()
        let before = try Self.virtualMemorySize(of: http.server.pid)

        // Sixteen POSTs each declare 64 MiB, the default --http-max-body-size, and send one byte.
        let declared = 64 << 20
        var offenders: [RawConnection] = []
        for _ in 0..<16 {
            let connection = try http.connect()
            try connection.send("POST /reverse HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(declared)\r\n\r\nx")
            offenders.append(connection)
        }
        let check = try http.connect()
        try check.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        let reply = String(decoding: try check.receiveUntilClosed(), as: UTF8.self)
        #expect(reply.hasPrefix("HTTP/1.1 200 "), "reply \(reply.debugDescription)")
        try await Task.sleep(for: .milliseconds(200))
        let growth = try Self.virtualMemorySize(of: http.server.pid) - before
        #expect(growth < 4 * declared, "virtual memory grew by \(growth) bytes for 16 heads without bodies")
        #expect(http.server.child.isRunning)
    }
}
