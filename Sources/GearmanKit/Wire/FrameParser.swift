/// An incremental parser that turns the bytes read from one connection into frames.
///
/// Bytes may arrive in any split: a packet torn across reads and many packets in one read both
/// work. At each frame boundary the first byte decides the kind: `0x00` starts a binary packet
/// and anything else starts an admin text line, so the two may be mixed on one connection.
///
/// The parser checks a packet's declared body length against `maximumBodyLength` before it
/// allocates anything and never reads past the declared length. A body that arrives in one read
/// with its header is copied once, into the array whose slices become the packet's arguments. A
/// body that arrives over several reads grows with the bytes received, not with its declared
/// length.
public struct FrameParser: Sendable {
    /// The largest body length accepted, in bytes.
    public var maximumBodyLength: Int
    /// The longest admin line accepted, in bytes, line ending excluded.
    public var maximumLineLength: Int

    private enum State: Sendable {
        /// At a frame boundary, nothing buffered.
        case idle
        /// Part of a 12-byte packet header.
        case header([UInt8])
        /// A complete header and part of its body.
        case body(PacketHeader, [UInt8])
        /// Part of an admin line.
        case line([UInt8])
    }

    private var state: State = .idle

    /// The maximum length of a function name in CAN_DO, CAN_DO_TIMEOUT and the SUBMIT_JOB types,
    /// in bytes.
    ///
    /// A server keeps every function name it has seen after the worker or client leaves, so
    /// names need a bound. Measured on loopback, Debian's gearmand 1.1.20 closes the connection
    /// when a NUL-terminated argument takes more than 8192 bytes with its NUL, or when the name
    /// that makes up a CAN_DO body is longer than 8192 bytes. This limit accepts every name that
    /// gearmand accepts.
    public static let maximumFunctionNameLength = 8192

    /// Creates a parser with the given limits.
    public init(maximumBodyLength: Int = 256 << 20, maximumLineLength: Int = 8192) {
        self.maximumBodyLength = maximumBodyLength
        self.maximumLineLength = maximumLineLength
    }

    /// Whether the parser holds part of a frame that has not been completed yet.
    public var hasPartialFrame: Bool {
        if case .idle = state { return false }
        return true
    }

    /// Parses `bytes` and appends every frame it completes to `frames`.
    ///
    /// - Throws: a `WireError` for bytes that cannot be framed; the connection is then unusable.
    public mutating func parse(_ bytes: UnsafeRawBufferPointer, into frames: inout [Frame]) throws(WireError) {
        var offset = 0
        let count = bytes.count
        while offset < count {
            switch state {
            case .idle:
                if bytes[offset] != 0 {
                    state = .line([])
                    continue
                }
                if count - offset >= PacketHeader.size {
                    let header = try Self.readHeader(bytes, at: offset)
                    try checkLength(header)
                    let bodyLength = Int(header.bodyLength)
                    offset += PacketHeader.size
                    if count - offset >= bodyLength {
                        let body = Array(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + bodyLength)]))
                        offset += bodyLength
                        frames.append(.packet(try Self.makePacket(header, body: body)))
                    } else {
                        var body: [UInt8] = []
                        Self.appendBodyPart(
                            UnsafeRawBufferPointer(rebasing: bytes[offset..<count]), to: &body, bodyLength: bodyLength)
                        offset = count
                        state = .body(header, body)
                    }
                } else {
                    state = .header(Array(UnsafeRawBufferPointer(rebasing: bytes[offset..<count])))
                    offset = count
                }

            case .header(var partial):
                let needed = PacketHeader.size - partial.count
                let available = min(needed, count - offset)
                partial.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + available)]))
                offset += available
                if partial.count < PacketHeader.size {
                    state = .header(partial)
                    break
                }
                func word(_ at: Int) -> UInt32 {
                    UInt32(partial[at]) << 24 | UInt32(partial[at + 1]) << 16 | UInt32(partial[at + 2]) << 8
                        | UInt32(partial[at + 3])
                }
                let header = try PacketHeader.decode(magic: word(0), type: word(4), bodyLength: word(8))
                try checkLength(header)
                if header.bodyLength == 0 {
                    state = .idle
                    frames.append(.packet(try Self.makePacket(header, body: [])))
                } else {
                    state = .body(header, [])
                }

            case .body(let header, var body):
                state = .idle  // Releases the reference so `body` is appended to in place.
                let needed = Int(header.bodyLength) - body.count
                let available = min(needed, count - offset)
                Self.appendBodyPart(
                    UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + available)]), to: &body,
                    bodyLength: Int(header.bodyLength))
                offset += available
                if body.count < Int(header.bodyLength) {
                    state = .body(header, body)
                } else {
                    frames.append(.packet(try Self.makePacket(header, body: body)))
                }

            case .line(var line):
                state = .idle
                var end = offset
                while end < count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
                line.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<end]))
                if end == count {
                    offset = count
                    // A trailing CR may be the first half of the line ending, which the limit excludes.
                    let length = line.last == UInt8(ascii: "\r") ? line.count - 1 : line.count
                    if length > maximumLineLength { throw .lineTooLong(maximum: maximumLineLength) }
                    state = .line(line)
                } else {
                    offset = end + 1
                    if line.last == UInt8(ascii: "\r") { line.removeLast() }
                    if line.count > maximumLineLength { throw .lineTooLong(maximum: maximumLineLength) }
                    frames.append(.adminLine(line))
                }
            }
        }
    }

    /// Parses `bytes` and returns the frames it completes.
    public mutating func parse(_ bytes: [UInt8]) throws(WireError) -> [Frame] {
        var frames: [Frame] = []
        let result: Result<Void, WireError> = bytes.withUnsafeBytes { raw in
            do throws(WireError) {
                try parse(raw, into: &frames)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
        return frames
    }

    /// Appends part of a body that arrived in a later read than its header.
    ///
    /// The capacity grows to at most twice the bytes received and never past `bodyLength`. A
    /// peer can declare a body of up to `maximumBodyLength` bytes in a 12-byte header, so
    /// reserving the declared length would let a few headers without bodies take gigabytes of
    /// address space.
    private static func appendBodyPart(_ part: UnsafeRawBufferPointer, to body: inout [UInt8], bodyLength: Int) {
        let needed = body.count + part.count
        if needed > body.capacity {
            body.reserveCapacity(min(bodyLength, max(needed, 2 * body.capacity)))
        }
        body.append(contentsOf: part)
    }

    /// The capacity of the body being received, or 0 at a frame boundary.
    var partialBodyCapacity: Int {
        if case .body(_, let body) = state { return body.capacity }
        return 0
    }

    private func checkLength(_ header: PacketHeader) throws(WireError) {
        if Int(header.bodyLength) > maximumBodyLength {
            throw .packetTooLarge(length: header.bodyLength, maximum: maximumBodyLength)
        }
    }

    private static func readHeader(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(WireError) -> PacketHeader {
        func word(_ at: Int) -> UInt32 {
            UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
        }
        return try PacketHeader.decode(magic: word(offset), type: word(offset + 4), bodyLength: word(offset + 8))
    }

    /// Splits `body` into the type's arguments without looking past its end.
    static func makePacket(_ header: PacketHeader, body: [UInt8]) throws(WireError) -> Packet {
        let type = header.type
        if type.hasNoArguments {
            return Packet(magic: header.magic, type: type, arguments: [ArraySlice<UInt8>]())
        }
        let separators = type.separatorCount
        var arguments: [ArraySlice<UInt8>] = []
        arguments.reserveCapacity(separators + 1)
        var start = 0
        var index = 0
        let end = body.count
        while arguments.count < separators {
            while index < end && body[index] != 0 { index += 1 }
            if index == end {
                // Some workers (Perl's Gearman::Worker 2.004 for an empty result) send a result
                // packet holding only the handle; read that as an empty payload.
                if type.hasHandleThenPayload && arguments.isEmpty {
                    return Packet(magic: header.magic, type: type, arguments: [body[start..<end], []])
                }
                throw .missingArguments(type, expected: separators, found: arguments.count)
            }
            arguments.append(body[start..<index])
            index += 1
            start = index
        }
        arguments.append(body[start..<end])
        if type.startsWithFunctionName && arguments[0].count > maximumFunctionNameLength {
            throw .functionNameTooLong(type, length: arguments[0].count, maximum: maximumFunctionNameLength)
        }
        return Packet(magic: header.magic, type: type, arguments: arguments)
    }
}
