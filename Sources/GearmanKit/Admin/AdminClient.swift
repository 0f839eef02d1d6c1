/// A reply to an admin text command.
public enum AdminReply: Sendable, Equatable {
    /// A list reply (`status`, `workers`, `show jobs` …): its lines without the closing `.`.
    case lines([String])
    /// `OK`, or `OK <value>` for version, verbose and getpid.
    case ok(String?)
    /// `ERR <code> <text>`: the text after `ERR `.
    case error(String)
}

/// A synchronous connection for the admin text protocol that shares the Gearman port.
public final class AdminClient {
    public let connection: GearmanConnection
    /// Milliseconds to wait for each reply line; nil waits forever.
    public var timeout: Int?

    /// Connects to `server`.
    public init(server: ServerAddress, timeout: Int? = nil) throws {
        self.connection = try GearmanConnection(to: server, timeout: timeout)
        self.timeout = timeout
    }

    public var server: ServerAddress { connection.server }

    /// Commands whose successful reply is a list closed by a `.` line.
    public static func repliesWithList(_ command: String) -> Bool {
        let words = command.split(separator: " ").map { $0.lowercased() }
        guard let first = words.first else { return false }
        switch first {
        case "status", "workers", "prioritystatus": return true
        case "show": return words.count > 1
        default: return false
        }
    }

    /// Sends one command line (CRLF is added) and reads its reply.
    public func send(_ command: String) throws -> AdminReply {
        try connection.send(bytes: Array((command + "\r\n").utf8))
        let first = try connection.receiveLine(timeout: timeout)
        if first.hasPrefix("ERR") && !first.contains("\t") {
            return .error(first.hasPrefix("ERR ") ? String(first.dropFirst(4)) : String(first.dropFirst(3)))
        }
        if Self.repliesWithList(command) {
            var lines: [String] = []
            var line = first
            while line != "." {
                lines.append(line)
                line = try connection.receiveLine(timeout: timeout)
            }
            return .lines(lines)
        }
        if first == "OK" { return .ok(nil) }
        if first.hasPrefix("OK ") { return .ok(String(first.dropFirst(3))) }
        // An unknown reply shape: a list from a command this client does not know, or a bare value.
        if first == "." { return .lines([]) }
        return .ok(first)
    }

    public func close() {
        connection.close()
    }
}
