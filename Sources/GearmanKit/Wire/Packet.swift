/// One Gearman binary packet: a magic, a type and the arguments of its body.
///
/// The body of a packet is its arguments joined by single NUL bytes; every argument but the last
/// is NUL-terminated and the last runs to the end of the body, so an opaque payload may contain
/// NULs. `arguments` holds slices of one body array, so splitting a packet copies nothing.
public struct Packet: Sendable, Equatable {
    /// Whether the packet is a request or a response.
    public var magic: Magic
    /// The command the packet carries.
    public var type: PacketType
    /// The body split into arguments by the type's argument count.
    public var arguments: [ArraySlice<UInt8>]

    /// Creates a packet from arguments given as byte slices.
    public init(magic: Magic, type: PacketType, arguments: [ArraySlice<UInt8>] = []) {
        self.magic = magic
        self.type = type
        self.arguments = arguments
    }

    /// Creates a packet from arguments given as byte arrays.
    public init(magic: Magic, type: PacketType, arguments: [[UInt8]]) {
        self.init(magic: magic, type: type, arguments: arguments.map { $0[...] })
    }

    /// Creates a request packet whose arguments are UTF-8 strings.
    public static func request(_ type: PacketType, _ arguments: String...) -> Packet {
        Packet(magic: .request, type: type, arguments: arguments.map { Array($0.utf8)[...] })
    }

    /// Creates a response packet whose arguments are UTF-8 strings.
    public static func response(_ type: PacketType, _ arguments: String...) -> Packet {
        Packet(magic: .response, type: type, arguments: arguments.map { Array($0.utf8)[...] })
    }

    /// Returns the argument at `index`, or an empty slice when the packet has fewer arguments.
    public func argument(_ index: Int) -> ArraySlice<UInt8> {
        index < arguments.count ? arguments[index] : []
    }

    /// Returns the argument at `index` decoded as UTF-8, replacing invalid sequences.
    public func stringArgument(_ index: Int) -> String {
        String(decoding: argument(index), as: UTF8.self)
    }

    /// The job handle a WORK_* or JOB_CREATED packet refers to, cut at the first NUL: the C
    /// gearmand 1.1.20 sends WORK_FAIL with a stray NUL after the handle.
    public var handle: String {
        let first = argument(0)
        return String(decoding: first.prefix(while: { $0 != 0 }), as: UTF8.self)
    }

    /// The number of bytes the body takes on the wire.
    public var bodyLength: Int {
        if arguments.isEmpty { return 0 }
        var length = arguments.count - 1
        for argument in arguments { length += argument.count }
        return length
    }

    /// Returns the packet as it is sent on the wire: the 12-byte header followed by the body.
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(12 + bodyLength)
        encode(into: &bytes)
        return bytes
    }

    /// Appends the packet as it is sent on the wire to `bytes`.
    public func encode(into bytes: inout [UInt8]) {
        PacketHeader(magic: magic, type: type, bodyLength: UInt32(bodyLength)).encode(into: &bytes)
        for (index, argument) in arguments.enumerated() {
            if index > 0 { bytes.append(0) }
            bytes.append(contentsOf: argument)
        }
    }
}
