import Foundation
import ProcessTestSupport
import Testing

/// Bytes that cannot be framed as a valid request, and the reply our gearmand gives before it
/// closes the connection.
struct MalformedInput: Sendable, CustomTestStringConvertible {
    enum Reply: Sendable {
        /// An ERROR packet with this code and, when given, this text.
        case errorPacket(code: String, text: String?)
        /// An admin text line starting with `ERR `.
        case adminError
    }

    let name: String
    let bytes: [UInt8]
    let serverArguments: [String]
    let reply: Reply

    var testDescription: String { name }

    static let all: [MalformedInput] = [
        MalformedInput(
            name: "bad magic \\0XYZ",
            bytes: Wire.header(magic: [0, 0x58, 0x59, 0x5a], type: PacketNumber.echoRequest, bodyLength: 0),
            serverArguments: [], reply: .errorPacket(code: "INVALID_MAGIC", text: nil)),
        MalformedInput(
            name: "ECHO_REQ with response magic \\0RES",
            bytes: Wire.packet(magic: Wire.responseMagic, type: PacketNumber.echoRequest, body: Array("ping".utf8)),
            serverArguments: [], reply: .errorPacket(code: "INVALID_MAGIC", text: "Request magic expected")),
        MalformedInput(
            name: "unknown packet type 0",
            bytes: Wire.header(type: 0, bodyLength: 0),
            serverArguments: [], reply: .errorPacket(code: "INVALID_COMMAND", text: nil)),
        MalformedInput(
            name: "unknown packet type 43",
            bytes: Wire.header(type: 43, bodyLength: 0),
            serverArguments: [], reply: .errorPacket(code: "INVALID_COMMAND", text: nil)),
        // Only the header is sent: the server must reject the length before it waits for the body.
        MalformedInput(
            name: "body of 4096 bytes over --max-packet-size 2048",
            bytes: Wire.header(type: PacketNumber.echoRequest, bodyLength: 4096),
            serverArguments: ["--max-packet-size", "2048"], reply: .errorPacket(code: "ARGUMENT_TOO_LARGE", text: nil)),
        MalformedInput(
            name: "SUBMIT_JOB body without NUL",
            bytes: Wire.packet(type: PacketNumber.submitJob, body: Array("reverse".utf8)),
            serverArguments: [], reply: .errorPacket(code: "INVALID_ARGUMENT", text: nil)),
        MalformedInput(
            name: "JOB_CREATED sent to the server",
            bytes: Wire.packet(type: PacketNumber.jobCreated, body: Array("H:e2e:1".utf8)),
            serverArguments: [], reply: .errorPacket(code: "INVALID_COMMAND", text: "Command not expected")),
        MalformedInput(
            name: "CAN_DO with a function name of 8193 bytes",
            bytes: Wire.packet(type: PacketNumber.canDo, body: [UInt8](repeating: UInt8(ascii: "f"), count: 8193)),
            serverArguments: [],
            reply: .errorPacket(
                code: "ARGUMENT_TOO_LARGE",
                text: "CAN_DO function name of 8193 bytes is longer than the maximum of 8192 bytes")),
        MalformedInput(
            name: "SUBMIT_JOB_BG with a function name of 8193 bytes",
            bytes: Wire.request(PacketNumber.submitJobBackground, [String(repeating: "f", count: 8193), "", "x"]),
            serverArguments: [],
            reply: .errorPacket(
                code: "ARGUMENT_TOO_LARGE",
                text: "SUBMIT_JOB_BG function name of 8193 bytes is longer than the maximum of 8192 bytes")),
        MalformedInput(
            name: "create function with a name of 8193 bytes",
            bytes: Array("create function \(String(repeating: "f", count: 8193))\r\n".utf8),
            serverArguments: ["--max-admin-line", "9000"], reply: .adminError),
        MalformedInput(
            name: "admin line of 1000 bytes over --max-admin-line 128",
            bytes: [UInt8](repeating: UInt8(ascii: "a"), count: 1000),
            serverArguments: ["--max-admin-line", "128"], reply: .adminError),
    ]
}

@Suite(.timeLimit(.minutes(2)))
struct MalformedInputTests {
    /// Sends ECHO_REQ with `payload` and expects ECHO_RES with the same bytes.
    static func expectEcho(on connection: RawConnection, payload: String) throws {
        try connection.send(Wire.request(PacketNumber.echoRequest, [payload]))
        let reply = try connection.receivePacket()
        #expect(reply.magic == Wire.responseMagic)
        #expect(reply.type == PacketNumber.echoResponse)
        #expect(reply.body == Array(payload.utf8))
    }

    /// Submits a foreground job on `client`, runs it with a fresh worker connection and
    /// expects the worker's result to reach the client.
    static func expectJobRuns(on server: ServerProcess, client: RawConnection) throws {
        try client.send(Wire.request(PacketNumber.submitJob, ["e2e-function", "", "job-payload"]))
        let created = try client.receivePacket()
        try #require(created.type == PacketNumber.jobCreated, "SUBMIT_JOB got \(created.arguments)")
        let handle = String(decoding: created.body, as: UTF8.self)

        let worker = try server.connect()
        try worker.send(Wire.request(PacketNumber.canDo, ["e2e-function"]))
        try worker.send(Wire.packet(type: PacketNumber.grabJob, body: []))
        let assigned = try worker.receivePacket()
        try #require(assigned.type == PacketNumber.jobAssign, "GRAB_JOB got \(assigned.arguments)")
        #expect(assigned.arguments == [handle, "e2e-function", "job-payload"])

        try worker.send(Wire.request(PacketNumber.workComplete, [handle, "job-result"]))
        let completed = try client.receivePacket()
        #expect(completed.type == PacketNumber.workComplete)
        #expect(completed.arguments == [handle, "job-result"])
    }

    static func isConnectionErrorLine(_ line: String) -> Bool {
        line.contains(" ERROR closed connection from 127.0.0.1 (fd ")
    }

    @Test(arguments: MalformedInput.all)
    func malformedInputClosesOnlyItsConnection(_ input: MalformedInput) async throws {
        let server = try await ServerProcess.start(arguments: input.serverArguments)
        defer { server.stop() }
        let bystander = try server.connect()
        try Self.expectEcho(on: bystander, payload: "before")

        let offender = try server.connect()
        try offender.send(input.bytes)
        switch input.reply {
        case .errorPacket(let code, let text):
            let error = try offender.receivePacket()
            #expect(error.magic == Wire.responseMagic)
            #expect(error.type == PacketNumber.error)
            let arguments = error.arguments
            #expect(arguments.count == 2, "ERROR body \(arguments) is not CODE\\0text")
            #expect(arguments.first == code)
            if let text {
                #expect(arguments.last == text)
            }
        case .adminError:
            let line = try offender.receiveLine()
            #expect(line.hasPrefix("ERR "))
            #expect(line.hasSuffix("\r\n"))
        }
        let trailing = try offender.receiveUntilClosed()
        #expect(trailing.isEmpty, "bytes after the error reply: \(trailing)")

        // The server writes the log line right after it closes the socket, so it may lag a little.
        let logged = try await waitUntil { server.logLines().contains(where: Self.isConnectionErrorLine) }
        #expect(logged, "no ERROR line for the closed connection; log:\n\(server.logText())")

        try Self.expectEcho(on: bystander, payload: "after")
        try Self.expectJobRuns(on: server, client: bystander)

        let errorLines = server.logLines().filter { $0.contains(" ERROR ") }
        #expect(errorLines.count == 1, "log:\n\(server.logText())")
        #expect(errorLines.allSatisfy(Self.isConnectionErrorLine), "log:\n\(server.logText())")
    }

    /// The --max-admin-line limit excludes the line ending, so a command of exactly the maximum
    /// length is accepted however the reads split its `\r\n`.
    /// ERROR replies that keep the connection open get a WARNING line each, as in gearmand 1.1.
    @Test func errorRepliesThatKeepTheConnectionAreLogged() async throws {
        let server = try await ServerProcess.start()
        defer { server.stop() }
        let connection = try server.connect()
        try connection.send(Wire.request(PacketNumber.workComplete, ["H:nowhere:7", "result"]))
        let error = try connection.receivePacket()
        #expect(error.type == PacketNumber.error)
        try Self.expectEcho(on: connection, payload: "still open")

        let expected = "WARNING rejected a packet from connection "
        let logged = try await waitUntil { server.logLines().contains { $0.contains(expected) } }
        #expect(logged, "no WARNING line for the ERROR reply; log:\n\(server.logText())")
        let line = server.logLines().first { $0.contains(expected) } ?? ""
        // The accept line names the client's port too, as gearmand 1.1 does.
        let accepted = server.logLines().contains {
            $0.contains(" accepted connection ") && $0.contains(" from 127.0.0.1:")
        }
        #expect(accepted, "no accept line with the client's port; log:\n\(server.logText())")
        #expect(line.hasSuffix(" (127.0.0.1) with JOB_NOT_FOUND: Job given in work result not found"), "line: \(line)")
    }

    @Test func adminLineAtLimitWithSplitEnding() async throws {
        let server = try await ServerProcess.start(arguments: ["--max-admin-line", "128"])
        defer { server.stop() }
        let command = String(repeating: "x", count: 128)

        let together = try server.connect()
        try together.send(command + "\r\n")
        let togetherReply = try together.receiveLine()
        #expect(togetherReply.hasPrefix("ERR UNKNOWN_COMMAND "), "reply \(togetherReply.debugDescription)")

        let split = try server.connect()
        try split.send(command + "\r")
        // Only a pause makes the server read the \r before the \n arrives.
        try await Task.sleep(for: .milliseconds(100))
        // A server that already rejected the line may have closed the connection.
        try? split.send("\n")
        let splitReply = try split.receiveLine()
        #expect(splitReply.hasPrefix("ERR UNKNOWN_COMMAND "), "reply \(splitReply.debugDescription)")
    }

    @Test func packetSplitIntoSingleBytes() async throws {
        let server = try await ServerProcess.start()
        defer { server.stop() }
        let connection = try server.connect()

        let payload = "split across one-byte writes"
        try connection.sendOneByteAtATime(Wire.request(PacketNumber.echoRequest, [payload]))
        let echo = try connection.receivePacket()
        #expect(echo.type == PacketNumber.echoResponse)
        #expect(echo.body == Array(payload.utf8))

        try connection.sendOneByteAtATime(Array("version\r\n".utf8))
        let version = try connection.receiveLine()
        #expect(version.hasPrefix("OK "))

        try Self.expectJobRuns(on: server, client: connection)
    }

    @Test func manyPacketsInOneWrite() async throws {
        let server = try await ServerProcess.start()
        defer { server.stop() }
        let connection = try server.connect()

        // 200 ECHO_REQ packets with an admin line in the middle, all in a single send.
        let payloads = (0..<200).map { "echo-\($0)" }
        var bytes: [UInt8] = []
        for payload in payloads[..<100] { bytes += Wire.request(PacketNumber.echoRequest, [payload]) }
        bytes += Array("version\n".utf8)
        for payload in payloads[100...] { bytes += Wire.request(PacketNumber.echoRequest, [payload]) }
        try connection.send(bytes)

        var received: [String] = []
        for _ in 0..<100 {
            let packet = try connection.receivePacket()
            #expect(packet.type == PacketNumber.echoResponse)
            received.append(String(decoding: packet.body, as: UTF8.self))
        }
        let version = try connection.receiveLine()
        #expect(version.hasPrefix("OK "))
        for _ in 100..<200 {
            let packet = try connection.receivePacket()
            #expect(packet.type == PacketNumber.echoResponse)
            received.append(String(decoding: packet.body, as: UTF8.self))
        }
        #expect(received == payloads)
    }
}

/// The same invalid requests sent to our gearmand and to the C gearmand 1.1.20.
@Suite(
    .enabled(if: ReferenceServer.isInstalled, Comment(rawValue: ReferenceServer.missingMessage)),
    .timeLimit(.minutes(2)))
struct MalformedInputReferenceTests {
    struct Request: Sendable {
        let name: String
        let bytes: [UInt8]
        /// Whether our server closes the connection after the ERROR. The C server keeps it open
        /// after each of these requests, but ours drops a peer that sends response magic or a
        /// response type, because such a peer is not speaking the protocol as a client or worker.
        let oursCloses: Bool
    }

    /// Requests to which both servers reply with an ERROR packet. The two replies must be identical.
    static let requests: [Request] = [
        Request(
            name: "ECHO_REQ with \\0RES magic",
            bytes: Wire.packet(magic: Wire.responseMagic, type: PacketNumber.echoRequest, body: Array("ping".utf8)),
            oursCloses: true),
        Request(
            name: "JOB_CREATED", bytes: Wire.packet(type: PacketNumber.jobCreated, body: Array("H:e2e:1".utf8)),
            oursCloses: true),
        Request(name: "type 5 (unused)", bytes: Wire.header(type: 5, bodyLength: 0), oursCloses: false),
        Request(name: "ALL_YOURS", bytes: Wire.header(type: 24, bodyLength: 0), oursCloses: false),
    ]

    @Test func errorRepliesMatchC() async throws {
        let ours = try await ServerProcess.start()
        defer { ours.stop() }
        let reference = try await ReferenceServer.start()
        defer { reference.stop() }

        for request in Self.requests {
            let ourConnection = try ours.connect()
            try ourConnection.send(request.bytes)
            let ourReply = try ourConnection.receivePacket()

            let referenceConnection = try RawConnection(port: reference.port)
            try referenceConnection.send(request.bytes)
            let referenceReply = try referenceConnection.receivePacket()

            #expect(ourReply == referenceReply, "reply to \(request.name)")

            try MalformedInputTests.expectEcho(on: referenceConnection, payload: "still open")
            if request.oursCloses {
                let trailing = try ourConnection.receiveUntilClosed()
                #expect(trailing.isEmpty, "bytes after the reply to \(request.name): \(trailing)")
            } else {
                try MalformedInputTests.expectEcho(on: ourConnection, payload: "still open")
            }
        }
    }
}
