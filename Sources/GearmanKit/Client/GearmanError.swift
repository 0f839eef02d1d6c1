/// An error from the Gearman client, worker or admin API.
///
/// Each case carries the server, packet or value involved; `description` is one plain sentence
/// that says what failed and, where it helps, what to do next. Payloads are never included.
public enum GearmanError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A server list entry could not be parsed.
    case invalidServerAddress(String, reason: String)
    /// The connection to a server could not be opened.
    case connectionFailed(ServerAddress, SystemError)
    /// The host name of a server could not be resolved.
    case hostNotFound(ServerAddress, reason: String)
    /// The server closed the connection.
    case connectionClosed(ServerAddress)
    /// A read or write on an open connection failed.
    case ioFailed(ServerAddress, SystemError)
    /// No reply arrived within the timeout, in milliseconds.
    case timedOut(ServerAddress, milliseconds: Int)
    /// The server sent bytes that are not a valid packet.
    case protocolViolation(ServerAddress, WireError)
    /// The server replied with an ERROR packet.
    case serverError(ServerAddress, code: String, message: String)
    /// The server sent a packet that makes no sense at this point.
    case unexpectedPacket(ServerAddress, PacketType)
    /// No server was given.
    case noServers
    /// A worker was started before any function was registered.
    case noFunctionsRegistered
    /// The server sent a reply this library cannot read, such as a non-numeric pid.
    case invalidReply(ServerAddress, String)

    public var description: String {
        switch self {
        case .invalidServerAddress(let text, let reason):
            return "invalid server address '\(text)': \(reason)"
        case .connectionFailed(let server, let error):
            return "cannot connect to \(server): \(error.message)"
        case .hostNotFound(let server, let reason):
            return "cannot resolve the host of \(server): \(reason)"
        case .connectionClosed(let server):
            return "\(server) closed the connection"
        case .ioFailed(let server, let error):
            return "connection to \(server) failed: \(error.message)"
        case .timedOut(let server, let milliseconds):
            return "no reply from \(server) within \(milliseconds) ms"
        case .protocolViolation(let server, let fault):
            return "\(server) sent an invalid packet: \(fault)"
        case .serverError(let server, let code, let message):
            return "\(server) returned \(code): \(message)"
        case .unexpectedPacket(let server, let type):
            return "\(server) sent an unexpected \(type.protocolName) packet"
        case .noServers:
            return "no job server given"
        case .noFunctionsRegistered:
            return "no function registered; call register() before run()"
        case .invalidReply(let server, let reply):
            return "\(server) sent a reply that cannot be read: '\(reply.prefix(80))'"
        }
    }
}
