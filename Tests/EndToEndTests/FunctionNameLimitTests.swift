import Foundation
import ProcessTestSupport
import Testing

/// The 8192-byte limit on function names, which the server keeps after the worker or client
/// that sent them has left.
@Suite(.timeLimit(.minutes(2)))
struct FunctionNameLimitTests {
    static let canDoTimeout: UInt32 = 23  // CAN_DO_TIMEOUT

    static func name(_ length: Int, tag: String) -> String {
        tag + String(repeating: "f", count: length - tag.count)
    }

    /// Returns the function names that the admin `status` command lists.
    static func listedFunctions(on connection: RawConnection) throws -> Set<String> {
        Set(
            try connection.adminList("status").map {
                String($0.split(separator: "\t", omittingEmptySubsequences: false)[0])
            })
    }

    @Test func namesAtLimitAccepted() async throws {
        let server = try await ServerProcess.start(arguments: ["--max-admin-line", "9000"])
        defer { server.stop() }
        let connection = try server.connect()

        let canDoName = Self.name(8192, tag: "can-do-")
        try connection.send(Wire.request(PacketNumber.canDo, [canDoName]))
        let timeoutName = Self.name(8192, tag: "can-do-timeout-")
        try connection.send(Wire.request(Self.canDoTimeout, [timeoutName, "1000"]))
        let submitName = Self.name(8192, tag: "submit-")
        try connection.send(Wire.request(PacketNumber.submitJobBackground, [submitName, "", "x"]))
        let created = try connection.receivePacket()
        #expect(created.type == PacketNumber.jobCreated, "SUBMIT_JOB_BG got \(created.arguments)")
        let createdName = Self.name(8192, tag: "create-")
        try connection.send("create function \(createdName)\r\n")
        #expect(try connection.receiveLine() == "OK\r\n")
        try MalformedInputTests.expectEcho(on: connection, payload: "still open")

        let listed = try Self.listedFunctions(on: connection)
        #expect(listed.contains(canDoName))
        #expect(listed.contains(timeoutName))
        #expect(listed.contains(submitName))
        #expect(listed.contains(createdName))

        // One byte longer, CAN_DO_TIMEOUT gets an ERROR and its connection is closed.
        let over = try server.connect()
        try over.send(Wire.request(Self.canDoTimeout, [Self.name(8193, tag: "over-"), "1000"]))
        let error = try over.receivePacket()
        #expect(error.type == PacketNumber.error)
        #expect(
            error.arguments == [
                "ARGUMENT_TOO_LARGE",
                "CAN_DO_TIMEOUT function name of 8193 bytes is longer than the maximum of 8192 bytes",
            ])
        #expect(try over.receiveUntilClosed().isEmpty)
        #expect(!(try Self.listedFunctions(on: connection)).contains { $0.hasPrefix("over-") })
    }

    /// One connection per name, as a worker that registers a new 1 MiB name and leaves. Each
    /// gets an ERROR and is closed, and none of the names is kept.
    @Test func longNamesNotKept() async throws {
        let server = try await ServerProcess.start()
        defer { server.stop() }
        let bystander = try server.connect()

        for index in 0..<20 {
            let worker = try server.connect()
            try worker.send(Wire.request(PacketNumber.canDo, [Self.name(1 << 20, tag: "long-\(index)-")]))
            let error = try worker.receivePacket()
            #expect(error.type == PacketNumber.error)
            #expect(error.arguments.first == "ARGUMENT_TOO_LARGE")
            let trailing = try worker.receiveUntilClosed()
            #expect(trailing.isEmpty)
        }
        let listed = try Self.listedFunctions(on: bystander)
        #expect(!listed.contains { $0.hasPrefix("long-") }, "status lists \(listed.map { $0.prefix(20) })")
        try MalformedInputTests.expectEcho(on: bystander, payload: "after")
    }
}

/// Names of the maximum length that the C gearmand 1.1.20 accepts, sent to both servers.
@Suite(
    .enabled(if: ReferenceServer.isInstalled, Comment(rawValue: ReferenceServer.missingMessage)),
    .timeLimit(.minutes(2)))
struct FunctionNameLimitReferenceTests {
    /// A request that carries a function name. gearmand 1.1.20 closes the connection when a
    /// NUL-terminated argument takes more than 8192 bytes with its NUL, when a CAN_DO body is
    /// longer than 8192 bytes, or when an admin line is longer than 8192 bytes with its CRLF.
    enum Kind: String, Sendable, CaseIterable, CustomTestStringConvertible {
        case canDo = "CAN_DO"
        case canDoTimeout = "CAN_DO_TIMEOUT"
        case submitJobBackground = "SUBMIT_JOB_BG"
        case createFunction = "create function"

        var testDescription: String { rawValue }

        /// The maximum name length in bytes that gearmand 1.1.20 accepts in this request.
        var maximumLengthInC: Int {
            switch self {
            case .canDo: return 8192
            case .canDoTimeout, .submitJobBackground: return 8191
            case .createFunction: return 8192 - "create function \r\n".utf8.count
            }
        }

        func bytes(nameLength: Int) -> [UInt8] {
            // A space would split the admin command, so the tag has none.
            let tag = "\(rawValue.replacingOccurrences(of: " ", with: "-"))-\(nameLength)-"
            let name = FunctionNameLimitTests.name(nameLength, tag: tag)
            switch self {
            case .canDo: return Wire.request(PacketNumber.canDo, [name])
            case .canDoTimeout: return Wire.request(FunctionNameLimitTests.canDoTimeout, [name, "10"])
            case .submitJobBackground: return Wire.request(PacketNumber.submitJobBackground, [name, "", "x"])
            case .createFunction: return Array("create function \(name)\r\n".utf8)
            }
        }
    }

    /// Sends a request of `kind`, then an ECHO_REQ or a `version` line, and returns whether the
    /// reply to the second request arrived.
    static func isServed(_ kind: Kind, nameLength: Int, port: UInt16) throws -> Bool {
        let connection = try RawConnection(port: port)
        try connection.send(kind.bytes(nameLength: nameLength))
        if kind == .createFunction {
            guard try connection.receiveLine() == "OK\r\n" else { return false }
            try connection.send("version\r\n")
            return try connection.receiveLine().hasPrefix("OK ")
        }
        try connection.send(Wire.request(PacketNumber.echoRequest, ["ping"]))
        var packet = try connection.receivePacket()
        if packet.type == PacketNumber.jobCreated { packet = try connection.receivePacket() }
        return packet.type == PacketNumber.echoResponse
    }

    @Test(arguments: Kind.allCases)
    func cMaximumNamesAccepted(_ kind: Kind) async throws {
        let ours = try await ServerProcess.start(arguments: ["--max-admin-line", "9000"])
        defer { ours.stop() }
        let reference = try await ReferenceServer.start()
        defer { reference.stop() }

        let maximum = kind.maximumLengthInC
        #expect(try Self.isServed(kind, nameLength: maximum, port: reference.port), "C rejected \(maximum) bytes")
        #expect(try Self.isServed(kind, nameLength: maximum, port: ours.port))

        // One byte over the limit, ours replies with an error and closes the connection.
        let over = try ours.connect()
        try over.send(kind.bytes(nameLength: 8193))
        if kind == .createFunction {
            #expect(try over.receiveLine().hasPrefix("ERR ARGUMENT_TOO_LARGE "))
        } else {
            let error = try over.receivePacket()
            #expect(error.type == PacketNumber.error)
            #expect(error.arguments.first == "ARGUMENT_TOO_LARGE")
        }
        #expect(try over.receiveUntilClosed().isEmpty)
    }
}
