/// A fault in the bytes a peer sent, found while framing or splitting a packet.
///
/// Each case maps to the ERROR code a server sends before it closes the connection.
public enum WireError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The first four bytes were neither `\0REQ` nor `\0RES`.
    case invalidMagic(UInt32)
    /// The type number is 0 or above the highest known type.
    case unknownPacketType(UInt32)
    /// The declared body length is above the configured maximum.
    case packetTooLarge(length: UInt32, maximum: Int)
    /// The body has fewer NUL separators than the type requires.
    case missingArguments(PacketType, expected: Int, found: Int)
    /// An admin text line grew past the configured maximum without a newline.
    case lineTooLong(maximum: Int)
    /// The function name that starts a CAN_DO, CAN_DO_TIMEOUT or SUBMIT_JOB packet is longer
    /// than `FrameParser.maximumFunctionNameLength`.
    case functionNameTooLong(PacketType, length: Int, maximum: Int)

    /// The ERROR packet code for the fault, as gearmand names its return codes.
    public var errorCode: String {
        switch self {
        case .invalidMagic: return "INVALID_MAGIC"
        case .unknownPacketType: return "INVALID_COMMAND"
        case .packetTooLarge: return "ARGUMENT_TOO_LARGE"
        case .missingArguments: return "INVALID_ARGUMENT"
        case .lineTooLong: return "ARGUMENT_TOO_LARGE"
        case .functionNameTooLong: return "ARGUMENT_TOO_LARGE"
        }
    }

    public var description: String {
        switch self {
        case .invalidMagic(let magic):
            return "invalid packet magic 0x\(String(magic, radix: 16)), expected \\0REQ"
        case .unknownPacketType(let type):
            return "unknown packet type \(type)"
        case .packetTooLarge(let length, let maximum):
            return "packet body of \(length) bytes is over the maximum of \(maximum) bytes"
        case .missingArguments(let type, let expected, let found):
            return "\(type.protocolName) needs \(expected + 1) arguments but its body has only \(found + 1)"
        case .lineTooLong(let maximum):
            return "admin command line is longer than the maximum of \(maximum) bytes"
        case .functionNameTooLong(let type, let length, let maximum):
            return
                "\(type.protocolName) function name of \(length) bytes is longer than the maximum of \(maximum) bytes"
        }
    }
}
