/// A job server's host and port, as written in a server list such as `"10.0.0.1, [::1]:7003"`.
public struct ServerAddress: Sendable, Hashable, CustomStringConvertible {
    /// The IANA port of the Gearman protocol.
    public static let defaultPort = 4730

    /// A host name or a literal IPv4 or IPv6 address, without brackets.
    public var host: String
    public var port: Int

    public init(host: String, port: Int = ServerAddress.defaultPort) {
        self.host = host
        self.port = port
    }

    /// Parses `host`, `host:port`, `[ipv6]` or `[ipv6]:port`; a bare IPv6 address without
    /// brackets is taken whole as the host.
    ///
    /// - Throws: `GearmanError.invalidServerAddress` for an empty host or a port outside 1...65535.
    public init(parsing text: String, defaultPort: Int = ServerAddress.defaultPort) throws {
        let trimmed = text.trimmingSpaces
        var host = trimmed
        var portText: Substring? = nil
        if trimmed.hasPrefix("[") {
            guard let close = trimmed.firstIndex(of: "]") else {
                throw GearmanError.invalidServerAddress(text, reason: "missing ']' after the IPv6 address")
            }
            host = String(trimmed[trimmed.index(after: trimmed.startIndex)..<close])
            let rest = trimmed[trimmed.index(after: close)...]
            if rest.hasPrefix(":") {
                portText = rest.dropFirst()
            } else if !rest.isEmpty {
                throw GearmanError.invalidServerAddress(text, reason: "unexpected text after ']'")
            }
        } else if let colon = trimmed.firstIndex(of: ":"), trimmed.lastIndex(of: ":") == colon {
            host = String(trimmed[..<colon])
            portText = trimmed[trimmed.index(after: colon)...]
        }
        guard !host.isEmpty else {
            throw GearmanError.invalidServerAddress(text, reason: "the host is empty")
        }
        var port = defaultPort
        if let portText {
            guard let parsed = Int(portText), (1...65535).contains(parsed) else {
                throw GearmanError.invalidServerAddress(text, reason: "the port must be a number from 1 to 65535")
            }
            port = parsed
        }
        self.init(host: host, port: port)
    }

    /// Parses a comma-separated server list; empty entries are skipped.
    public static func parseList(_ text: String, defaultPort: Int = ServerAddress.defaultPort) throws -> [ServerAddress]
    {
        try text.split(separator: ",").map(String.init).filter { !$0.trimmingSpaces.isEmpty }.map {
            try ServerAddress(parsing: $0, defaultPort: defaultPort)
        }
    }

    /// The address as a server list writes it: `host:port`, IPv6 hosts in brackets.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

extension String {
    /// The string without leading and trailing spaces and tabs.
    package var trimmingSpaces: String {
        var text = Substring(self)
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return String(text)
    }
}
