/// The HTTP/1.x versions the server accepts.
enum HTTPVersion: Sendable, Equatable {
    case http1_0
    case http1_1

    var text: String {
        switch self {
        case .http1_0: return "HTTP/1.0"
        case .http1_1: return "HTTP/1.1"
        }
    }
}

/// One header field as received: the name in lower case and the value as raw bytes, because a
/// unique key may be any bytes.
struct HTTPField: Sendable, Equatable {
    let name: String
    let value: [UInt8]

    init(name: String, value: [UInt8]) {
        self.name = name.asciiLowercased()
        self.value = value
    }

    init(_ name: String, _ value: String) {
        self.init(name: name, value: Array(value.utf8))
    }

    /// Creates a field whose name is already in lower case, without converting it.
    init(lowercasedName: String, value: [UInt8]) {
        name = lowercasedName
        self.value = value
    }
}

/// A parsed request: request line, header fields and the decoded body.
struct HTTPRequest: Sendable, Equatable {
    var method: String
    /// The request target as sent, such as `/reverse?x=1`.
    var target: String
    var version: HTTPVersion
    var fields: [HTTPField]
    var body: [UInt8]

    /// The value of the first field named `name` (any case), or nil.
    func value(_ name: String) -> [UInt8]? {
        let lowercasedName = name.asciiLowercased()
        return fields.first(where: { $0.name == lowercasedName })?.value
    }

    /// The value of the first field named `name` decoded as UTF-8, or nil.
    func stringValue(_ name: String) -> String? {
        value(name).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The comma-separated tokens of every `Connection` field, in lower case.
    var connectionOptions: [String] {
        let wanted = "connection"
        var options: [String] = []
        for field in fields where field.name == wanted {
            for token in String(decoding: field.value, as: UTF8.self).split(separator: ",") {
                options.append(token.trimmingBlanks().asciiLowercased())
            }
        }
        return options
    }

    /// Whether the connection stays open after the response: HTTP/1.1 keeps it unless the client
    /// sent `Connection: close`, and HTTP/1.0 closes it unless the client sent
    /// `Connection: keep-alive`.
    var keepsAlive: Bool {
        let options = connectionOptions
        if options.contains("close") { return false }
        return version == .http1_1 || options.contains("keep-alive")
    }
}

extension String {
    /// Returns the text with A to Z in lower case and every other character unchanged.
    ///
    /// Header names and tokens are ASCII, and `lowercased()` costs a Unicode case mapping
    /// per call, which showed up in profiles of HTTP submission.
    func asciiLowercased() -> String {
        guard utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) else { return self }
        return String(decoding: utf8.map(\.asciiLowercased), as: UTF8.self)
    }
}

extension String {
    /// Creates the text of ASCII bytes with A to Z in lower case.
    init(asciiLowercasing bytes: ArraySlice<UInt8>) {
        self.init(unsafeUninitializedCapacity: bytes.count) { buffer in
            for (offset, byte) in bytes.enumerated() {
                buffer[offset] = byte.asciiLowercased
            }
            return bytes.count
        }
    }
}

extension UInt8 {
    /// The byte with A to Z mapped to a to z.
    var asciiLowercased: UInt8 { self >= 0x41 && self <= 0x5A ? self | 0x20 : self }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    func trimmingBlanks() -> String {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isBlank($0) }), let last = lastIndex(where: { !isBlank($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
