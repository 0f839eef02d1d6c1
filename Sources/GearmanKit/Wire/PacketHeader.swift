/// The fixed 12-byte header of a binary packet: magic, type and body length, all big-endian.
public struct PacketHeader: Sendable, Equatable {
    /// The size of an encoded header in bytes.
    public static let size = 12

    /// Whether the packet is a request or a response.
    public var magic: Magic
    /// The command the packet carries.
    public var type: PacketType
    /// The number of body bytes that follow the header.
    public var bodyLength: UInt32

    /// Creates a header from its three fields.
    public init(magic: Magic, type: PacketType, bodyLength: UInt32) {
        self.magic = magic
        self.type = type
        self.bodyLength = bodyLength
    }

    /// Appends the 12 header bytes to `bytes`.
    public func encode(into bytes: inout [UInt8]) {
        bytes.appendBigEndian(magic.rawValue)
        bytes.appendBigEndian(type.rawValue)
        bytes.appendBigEndian(bodyLength)
    }

    /// Decodes the magic and type of a header whose raw fields have already been read.
    ///
    /// - Throws: `WireError.invalidMagic` or `WireError.unknownPacketType`.
    public static func decode(magic rawMagic: UInt32, type rawType: UInt32, bodyLength: UInt32) throws(WireError)
        -> PacketHeader
    {
        guard let magic = Magic(rawValue: rawMagic) else {
            throw .invalidMagic(rawMagic)
        }
        guard let type = PacketType(rawValue: rawType) else {
            throw .unknownPacketType(rawType)
        }
        return PacketHeader(magic: magic, type: type, bodyLength: bodyLength)
    }
}

extension Array where Element == UInt8 {
    /// Appends `value` as four big-endian bytes.
    @inlinable
    public mutating func appendBigEndian(_ value: UInt32) {
        append(UInt8(truncatingIfNeeded: value >> 24))
        append(UInt8(truncatingIfNeeded: value >> 16))
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }
}
