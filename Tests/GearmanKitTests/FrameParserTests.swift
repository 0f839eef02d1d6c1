import Testing

@testable import GearmanKit

@Suite("FrameParser")
struct FrameParserTests {
    func bytes(_ packet: Packet) -> [UInt8] { packet.encoded() }

    @Test("a packet split into single bytes is parsed once complete")
    func splitAcrossReads() throws {
        let packet = Packet.request(.submitJob, "reverse", "u1", "Hello")
        var parser = FrameParser()
        var frames: [Frame] = []
        for byte in bytes(packet) {
            frames += try parser.parse([byte])
        }
        #expect(frames == [.packet(packet)])
        #expect(!parser.hasPartialFrame)
    }

    @Test("many packets in one read are all returned in order")
    func manyPacketsInOneRead() throws {
        let packets = (0..<100).map { Packet.request(.echoRequest, "payload \($0)") }
        var parser = FrameParser()
        let frames = try parser.parse(packets.flatMap { $0.encoded() })
        #expect(frames == packets.map { .packet($0) })
    }

    @Test("arguments are split by the type's count and the payload keeps its NULs")
    func payloadKeepsNuls() throws {
        let data: [UInt8] = [1, 0, 2, 0, 0, 3]
        let packet = Packet(magic: .request, type: .submitJob, arguments: [Array("fn".utf8), Array("u".utf8), data])
        var parser = FrameParser()
        let frames = try parser.parse(packet.encoded())
        guard case .packet(let parsed) = frames.first else {
            Issue.record("expected a packet, got \(frames)")
            return
        }
        #expect(parsed.arguments.count == 3)
        #expect(Array(parsed.argument(2)) == data)
    }

    @Test("missing separators are an error, not a read into the next packet")
    func missingArgumentsStayInsideBody() throws {
        var wire: [UInt8] = []
        PacketHeader(magic: .request, type: .submitJob, bodyLength: 3).encode(into: &wire)
        wire += Array("abc".utf8)
        wire += Packet.request(.echoRequest, "x\0y\0z").encoded()
        var parser = FrameParser()
        #expect(throws: WireError.missingArguments(.submitJob, expected: 2, found: 0)) {
            _ = try parser.parse(wire)
        }
    }

    @Test("a body over the maximum is rejected from its header alone")
    func sizeCheckedBeforeAllocation() throws {
        var wire: [UInt8] = []
        PacketHeader(magic: .request, type: .echoRequest, bodyLength: 0xFFFF_FFFF).encode(into: &wire)
        var parser = FrameParser(maximumBodyLength: 1024)
        #expect(throws: WireError.packetTooLarge(length: 0xFFFF_FFFF, maximum: 1024)) {
            _ = try parser.parse(wire)
        }
    }

    @Test("the size limit applies when the header arrives in pieces")
    func sizeCheckedForSplitHeader() throws {
        var wire: [UInt8] = []
        PacketHeader(magic: .request, type: .echoRequest, bodyLength: 2048).encode(into: &wire)
        var parser = FrameParser(maximumBodyLength: 1024)
        _ = try parser.parse(Array(wire[0..<5]))
        #expect(throws: WireError.packetTooLarge(length: 2048, maximum: 1024)) {
            _ = try parser.parse(Array(wire[5...]))
        }
    }

    @Test("256 MiB header reserves no body", arguments: [false, true])
    func hugeDeclaredBodyReservesNothing(headerInPieces: Bool) throws {
        var wire: [UInt8] = []
        PacketHeader(magic: .request, type: .echoRequest, bodyLength: 256 << 20).encode(into: &wire)
        var parser = FrameParser(maximumBodyLength: 256 << 20)
        if headerInPieces {
            _ = try parser.parse(Array(wire[0..<7]))
            _ = try parser.parse(Array(wire[7...]))
        } else {
            _ = try parser.parse(wire)
        }
        #expect(parser.hasPartialFrame)
        #expect(parser.partialBodyCapacity == 0)

        _ = try parser.parse([0x78])
        #expect(parser.partialBodyCapacity >= 1)
        #expect(parser.partialBodyCapacity < 4096, "capacity \(parser.partialBodyCapacity) after one body byte")
    }

    @Test("4 MiB body grows piece by piece")
    func largeBodyInPieces() throws {
        let payload = (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 16) }
        let packet = Packet(magic: .request, type: .echoRequest, arguments: [payload])
        let wire = packet.encoded()
        var parser = FrameParser()
        var frames: [Frame] = []
        // The first read ends inside the body, as it does when a large packet meets a read buffer.
        let firstRead = PacketHeader.size + 100
        frames += try parser.parse(Array(wire[0..<firstRead]))
        var offset = firstRead
        while offset < wire.count {
            let received = offset - PacketHeader.size
            #expect(frames.isEmpty)
            #expect(
                parser.partialBodyCapacity <= 2 * received + 4096,
                "capacity \(parser.partialBodyCapacity) after \(received) body bytes")
            let end = min(wire.count, offset + 65536)
            frames += try parser.parse(Array(wire[offset..<end]))
            offset = end
        }
        #expect(frames == [.packet(packet)])
        #expect(!parser.hasPartialFrame)
        #expect(parser.partialBodyCapacity == 0)
    }

    @Test("an unknown magic is rejected")
    func badMagic() throws {
        var parser = FrameParser()
        #expect(throws: WireError.invalidMagic(0x0058_595A)) {
            _ = try parser.parse([0, 0x58, 0x59, 0x5A, 0, 0, 0, 16, 0, 0, 0, 0])
        }
    }

    @Test("type numbers 0 and 43 are rejected", arguments: [UInt32(0), 43])
    func unknownType(type: UInt32) throws {
        var wire: [UInt8] = [0, 0x52, 0x45, 0x51]
        wire.appendBigEndian(type)
        wire.appendBigEndian(0)
        var parser = FrameParser()
        #expect(throws: WireError.unknownPacketType(type)) {
            _ = try parser.parse(wire)
        }
    }

    @Test("admin lines share the port and drop CR before LF")
    func adminLinesMixWithPackets() throws {
        let echo = Packet.request(.echoRequest, "ping")
        var wire = Array("status\r\nworkers\n".utf8)
        wire += echo.encoded()
        wire += Array("version\n".utf8)
        var parser = FrameParser()
        let frames = try parser.parse(wire)
        #expect(
            frames == [
                .adminLine(Array("status".utf8)), .adminLine(Array("workers".utf8)), .packet(echo),
                .adminLine(Array("version".utf8)),
            ])
    }

    @Test("an admin line split across reads is joined")
    func adminLineSplit() throws {
        var parser = FrameParser()
        #expect(try parser.parse(Array("sta".utf8)).isEmpty)
        #expect(try parser.parse(Array("tus\r".utf8)).isEmpty)
        #expect(try parser.parse(Array("\n".utf8)) == [.adminLine(Array("status".utf8))])
    }

    @Test("an admin line over the maximum is rejected before its newline arrives")
    func adminLineTooLong() throws {
        var parser = FrameParser(maximumLineLength: 16)
        #expect(throws: WireError.lineTooLong(maximum: 16)) {
            _ = try parser.parse([UInt8](repeating: UInt8(ascii: "a"), count: 17))
        }
    }

    @Test("every packet type survives an encode and parse round trip", arguments: PacketType.allCases)
    func roundTrip(type: PacketType) throws {
        let arguments: [[UInt8]] =
            type.hasNoArguments
            ? [] : (0...type.separatorCount).map { Array("arg\($0)".utf8) }
        let packet = Packet(magic: .request, type: type, arguments: arguments)
        var parser = FrameParser()
        #expect(try parser.parse(packet.encoded()) == [.packet(packet)])
    }

    @Test("a zero-length body parses for types that carry one argument")
    func emptyBody() throws {
        let packet = Packet(magic: .request, type: .echoRequest, arguments: [[UInt8]()])
        var parser = FrameParser()
        #expect(try parser.parse(packet.encoded()) == [.packet(packet)])
    }
}

@Suite("FrameParser line limit")
struct FrameParserLineLimitTests {
    @Test("a line at the limit may arrive with its CR and LF in separate reads")
    func lineAtLimitWithSplitEnding() throws {
        var parser = FrameParser(maximumLineLength: 4)
        #expect(try parser.parse(Array("abcd\r".utf8)).isEmpty)
        #expect(try parser.parse(Array("\n".utf8)) == [.adminLine(Array("abcd".utf8))])
    }
}

@Suite("FrameParser leniency")
struct FrameParserLeniencyTests {
    @Test("a WORK_COMPLETE holding only the handle reads as an empty result")
    func workCompleteWithoutPayload() throws {
        var wire: [UInt8] = []
        PacketHeader(magic: .request, type: .workComplete, bodyLength: 5).encode(into: &wire)
        wire += Array("H:x:1".utf8)
        var parser = FrameParser()
        let frames = try parser.parse(wire)
        #expect(
            frames == [.packet(Packet(magic: .request, type: .workComplete, arguments: [Array("H:x:1".utf8), []]))])
    }

    @Test("a handle with a stray trailing NUL is cut at the NUL")
    func handleWithTrailingNul() {
        let packet = Packet(magic: .response, type: .workFail, arguments: [Array("H:x:1\0".utf8)])
        #expect(packet.handle == "H:x:1")
    }
}

@Suite("FrameParser function name limit")
struct FrameParserFunctionNameTests {
    /// A request of `type` whose function name is `length` bytes, with the other arguments each
    /// type needs.
    static func packet(_ type: PacketType, nameLength length: Int) -> Packet {
        let name = [UInt8](repeating: UInt8(ascii: "f"), count: length)
        let arguments: [[UInt8]]
        switch type {
        case .canDo: arguments = [name]
        case .canDoTimeout: arguments = [name, Array("10".utf8)]
        case .submitJobEpoch: arguments = [name, Array("u".utf8), Array("0".utf8), Array("data".utf8)]
        case .submitReduceJob, .submitReduceJobBackground:
            arguments = [name, Array("u".utf8), Array("r".utf8), Array("a".utf8), Array("data".utf8)]
        case .submitJobScheduled:
            arguments = [name, Array("u".utf8)] + [[UInt8]](repeating: Array("1".utf8), count: 5) + [Array("d".utf8)]
        default: arguments = [name, Array("u".utf8), Array("data".utf8)]
        }
        return Packet(magic: .request, type: type, arguments: arguments)
    }

    static let namedTypes = PacketType.allCases.filter(\.startsWithFunctionName)

    @Test("types that carry a function name")
    func namedTypesList() {
        #expect(
            Set(Self.namedTypes) == [
                .canDo, .canDoTimeout, .submitJob, .submitJobBackground, .submitJobHigh, .submitJobHighBackground,
                .submitJobLow, .submitJobLowBackground, .submitJobScheduled, .submitJobEpoch, .submitReduceJob,
                .submitReduceJobBackground,
            ])
    }

    @Test("name of exactly 8192 bytes is accepted", arguments: namedTypes)
    func nameAtLimit(type: PacketType) throws {
        #expect(FrameParser.maximumFunctionNameLength == 8192)
        let packet = Self.packet(type, nameLength: 8192)
        var parser = FrameParser()
        let frames = try parser.parse(packet.encoded())
        #expect(frames == [.packet(packet)])
    }

    @Test("name of 8193 bytes is rejected", arguments: namedTypes)
    func nameOverLimit(type: PacketType) {
        var parser = FrameParser()
        #expect(throws: WireError.functionNameTooLong(type, length: 8193, maximum: 8192)) {
            _ = try parser.parse(Self.packet(type, nameLength: 8193).encoded())
        }
    }

    @Test("name over the limit in pieces is rejected")
    func nameOverLimitInPieces() throws {
        let wire = Self.packet(.canDo, nameLength: 1 << 20).encoded()
        var parser = FrameParser()
        var offset = 0
        while offset + 4096 < wire.count {
            _ = try parser.parse(Array(wire[offset..<(offset + 4096)]))
            offset += 4096
        }
        #expect(throws: WireError.functionNameTooLong(.canDo, length: 1 << 20, maximum: 8192)) {
            _ = try parser.parse(Array(wire[offset...]))
        }
    }

    @Test("CANT_DO and response types are not limited")
    func otherTypesUnlimited() throws {
        let name = String(repeating: "f", count: 8193)
        let packets = [
            Packet.request(.cantDo, name),
            Packet.response(.jobAssign, "H:x:1", name, "data"),
            Packet.request(.echoRequest, name),
        ]
        var parser = FrameParser()
        let frames = try parser.parse(packets.flatMap { $0.encoded() })
        #expect(frames == packets.map { .packet($0) })
    }

    @Test("over-limit error reads as ARGUMENT_TOO_LARGE")
    func errorText() {
        let error = WireError.functionNameTooLong(.canDo, length: 8193, maximum: 8192)
        #expect(error.errorCode == "ARGUMENT_TOO_LARGE")
        #expect(error.description == "CAN_DO function name of 8193 bytes is longer than the maximum of 8192 bytes")
    }
}
