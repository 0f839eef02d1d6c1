/// The four bytes that open a binary packet: `\0REQ` towards a server, `\0RES` from it.
public enum Magic: UInt32, Sendable {
    /// `\0REQ`, a request sent to a server.
    case request = 0x0052_4551
    /// `\0RES`, a response sent by a server.
    case response = 0x0052_4553
}
