/// One unit a peer sends on a Gearman port: a binary packet or an admin text line.
public enum Frame: Sendable, Equatable {
    /// A binary packet.
    case packet(Packet)
    /// An admin text command without its line ending (`\n` or `\r\n`).
    case adminLine([UInt8])
}
