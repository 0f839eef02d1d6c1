/// An incremental parser of HTTP/1.0 and HTTP/1.1 requests on one connection.
///
/// Bytes are appended as they are read and parsed only when `next()` is called, one request at a
/// time, so a connection can leave pipelined requests buffered while the job of an earlier one
/// runs. Bodies come with `Content-Length` or `Transfer-Encoding: chunked`. A `Content-Length`
/// body that arrives in later reads is appended to the receive buffer, which grows with the
/// bytes received, and is handed over without another copy when it fills that buffer.
///
/// Limits: the request line and header fields together may take `maximumHeadSize` bytes (414 or
/// 431 beyond), and a body `maximumBodySize` bytes (413 beyond, checked against
/// `Content-Length` before the body is read). After an error the parser is unusable, because the
/// rest of the stream cannot be framed reliably.
struct HTTPRequestParser: Sendable {
    struct Limits: Sendable, Equatable {
        var maximumHeadSize: Int
        var maximumBodySize: Int
        /// `--max-packet-size`: a job whose request packet (function, unique key and workload)
        /// would be longer gets 413, as a binary client's packet would be rejected.
        var maximumPacketSize = Int.max
    }

    /// An event that `next()` found in the buffered bytes.
    enum Event: Sendable, Equatable {
        /// The request sent `Expect: 100-continue` and its body has not fully arrived, so the
        /// caller should send `100 Continue`; returned at most once per request.
        case continueExpected
        case request(HTTPRequest)
    }

    private enum ChunkPhase: Sendable {
        case sizeLine
        case data(remaining: Int)
        case dataEnd
        /// The trailer section, with the bytes read of it so far.
        case trailers(size: Int)
    }

    private enum State: Sendable {
        case head
        case fixedBody(length: Int)
        case chunkedBody(ChunkPhase)
        case failed(HTTPRequestError)
    }

    /// The maximum length of a chunk-size line, extensions included.
    static let maximumChunkLineLength = 1024

    let limits: Limits
    private var state: State = .head
    private var buffer: [UInt8] = []
    /// The index in `buffer` of the first byte not consumed yet.
    private var start = 0
    /// How many bytes after `start` were searched for the end of the head without finding it.
    private var searched = 0
    /// The request whose body is being read.
    private var pending: HTTPRequest?
    /// The decoded chunks of a chunked body, kept apart from `pending` so that appending to it
    /// never copies the bytes already decoded.
    private var chunkedBody: [UInt8] = []
    private var expectsContinue = false
    private var continueReported = false

    init(limits: Limits) {
        self.limits = limits
    }

    /// The bytes received and not yet consumed by a request.
    var bufferedCount: Int { buffer.count - start }

    /// Whether part of a request has been received: buffered bytes or a body being read.
    var hasPartialRequest: Bool {
        if case .head = state { return bufferedCount > 0 }
        return true
    }

    /// Whether the parser waits for a request head, as opposed to a body or after a failure.
    var isReadingHead: Bool {
        if case .head = state { return true }
        return false
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        compact()
        reserve(forAppending: bytes.count)
        buffer.append(contentsOf: bytes)
    }

    mutating func append(_ bytes: [UInt8]) {
        compact()
        reserve(forAppending: bytes.count)
        buffer.append(contentsOf: bytes)
    }

    /// The capacity of the receive buffer, in bytes.
    var bufferCapacity: Int { buffer.capacity }

    /// Parses the next event from the buffered bytes, or returns nil until more bytes arrive.
    ///
    /// - Throws: `HTTPRequestError` for a malformed or oversized request, and again on every
    ///   later call.
    mutating func next() throws(HTTPRequestError) -> Event? {
        do {
            return try step()
        } catch {
            state = .failed(error)
            throw error
        }
    }

    private mutating func step() throws(HTTPRequestError) -> Event? {
        switch state {
        case .failed(let error):
            throw error
        case .head:
            guard let request = try parseHead() else { return nil }
            return try beginBody(of: request)
        case .fixedBody(let length):
            if bufferedCount < length { return continueIfExpected() }
            var request = pending!
            if start == 0 && buffer.count == length {
                request.body = buffer
                buffer = []
            } else {
                request.body = Array(buffer[start..<(start + length)])
                start += length
            }
            return finish(request)
        case .chunkedBody(let phase):
            return try readChunks(from: phase)
        }
    }

    // MARK: Head

    /// Finds and parses a complete head, or returns nil while it is incomplete.
    private mutating func parseHead() throws(HTTPRequestError) -> HTTPRequest? {
        // A server should ignore empty lines before the request line (RFC 9112, section 2.2).
        while start < buffer.count && searched == 0 {
            if buffer[start] == Self.lineFeed {
                start += 1
            } else if buffer[start] == Self.carriageReturn {
                if start + 1 >= buffer.count { return nil }
                if buffer[start + 1] != Self.lineFeed { break }
                start += 2
            } else {
                break
            }
        }
        guard let end = findEndOfHead() else {
            if bufferedCount > limits.maximumHeadSize { throw oversizedHead() }
            return nil
        }
        if end - start > limits.maximumHeadSize { throw oversizedHead() }
        let head = buffer[start..<end]
        start = end
        searched = 0
        return try Self.parse(head: head)
    }

    /// Returns the index after the blank line that ends the head, or nil when it has not arrived.
    private mutating func findEndOfHead() -> Int? {
        var index = start + searched
        while index < buffer.count {
            if buffer[index] == Self.lineFeed {
                let next = index + 1
                if next >= buffer.count { break }
                if buffer[next] == Self.lineFeed { return next + 1 }
                if buffer[next] == Self.carriageReturn {
                    if next + 1 >= buffer.count { break }
                    if buffer[next + 1] == Self.lineFeed { return next + 2 }
                }
            }
            index += 1
        }
        searched = index - start
        return nil
    }

    private func oversizedHead() -> HTTPRequestError {
        let limit = limits.maximumHeadSize
        if !buffer[start...].prefix(limit + 1).contains(Self.lineFeed) {
            return HTTPRequestError(status: .uriTooLong, message: "The request line is longer than \(limit) bytes.")
        }
        return HTTPRequestError(
            status: .headerFieldsTooLarge, message: "The request line and header fields exceed \(limit) bytes.")
    }

    /// Parses a head (request line, fields and the blank line) into a request without a body.
    ///
    /// Reads the lines in one pass without splitting the head into arrays, because every job
    /// request passes through here and the split showed up in profiles of HTTP submission.
    static func parse(head: ArraySlice<UInt8>) throws(HTTPRequestError) -> HTTPRequest {
        var request: HTTPRequest? = nil
        var index = head.startIndex
        while index < head.endIndex {
            guard let lineEnd = head[index...].firstIndex(of: lineFeed) else { break }
            let content = head[index..<(lineEnd > index && head[lineEnd - 1] == carriageReturn ? lineEnd - 1 : lineEnd)]
            index = lineEnd + 1
            // The head ends at its first empty line (see `findEndOfHead`).
            if content.isEmpty { break }
            if content.contains(carriageReturn) {
                throw .badRequest("A line of the request head contains a bare carriage return.")
            }
            if request == nil {
                request = try parse(requestLine: content)
            } else {
                request!.fields.append(try parse(fieldLine: content))
            }
        }
        guard let request else { throw .badRequest("The request line is missing.") }
        return request
    }

    static func parse(requestLine line: ArraySlice<UInt8>) throws(HTTPRequestError) -> HTTPRequest {
        // Exactly two spaces: METHOD SP TARGET SP VERSION.
        let firstSpace = line.firstIndex(of: space)
        let secondSpace = firstSpace.flatMap { line[($0 + 1)...].firstIndex(of: space) }
        guard let firstSpace, let secondSpace, !line[(secondSpace + 1)...].contains(space),
            firstSpace > line.startIndex, secondSpace > firstSpace + 1
        else {
            let text = String(decoding: line.prefix(200), as: UTF8.self)
            throw .badRequest("The request line '\(text)' is not METHOD TARGET HTTP/1.x.")
        }
        let methodBytes = line[line.startIndex..<firstSpace]
        let targetBytes = line[(firstSpace + 1)..<secondSpace]
        let versionBytes = line[(secondSpace + 1)...]
        guard methodBytes.allSatisfy(isTokenByte) else {
            throw .badRequest("The method is not a valid token.")
        }
        guard targetBytes.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw .badRequest("The request target contains spaces, control characters or non-ASCII bytes.")
        }
        let version: HTTPVersion
        if versionBytes.elementsEqual(http1_1Bytes) {
            version = .http1_1
        } else if versionBytes.elementsEqual(http1_0Bytes) {
            version = .http1_0
        } else {
            let versionText = String(decoding: versionBytes, as: UTF8.self)
            let bytes = Array(versionBytes)
            let isVersion =
                bytes.count == 8 && bytes.starts(with: Array("HTTP/".utf8)) && isDigit(bytes[5])
                && bytes[6] == UInt8(ascii: ".") && isDigit(bytes[7])
            if isVersion {
                throw HTTPRequestError(
                    status: .versionNotSupported, message: "\(versionText) is not supported; use HTTP/1.1 or HTTP/1.0.")
            }
            throw .badRequest("The protocol version '\(String(versionText.prefix(20)))' is not HTTP/1.x.")
        }
        return HTTPRequest(
            method: knownText(methodBytes, among: knownMethods) ?? String(decoding: methodBytes, as: UTF8.self),
            target: String(decoding: targetBytes, as: UTF8.self), version: version, fields: [], body: [])
    }

    static func parse(fieldLine line: ArraySlice<UInt8>) throws(HTTPRequestError) -> HTTPField {
        if line.first == space || line.first == tab {
            throw .badRequest("Header field lines folded onto several lines are not accepted.")
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
            throw .badRequest("A header field line has no colon.")
        }
        let name = line[line.startIndex..<colon]
        guard !name.isEmpty, name.allSatisfy(isTokenByte) else {
            throw .badRequest(
                "The header field name '\(String(decoding: name.prefix(100), as: UTF8.self))' is not a valid token.")
        }
        var value = line[(colon + 1)...]
        while let first = value.first, first == space || first == tab { value = value.dropFirst() }
        while let last = value.last, last == space || last == tab { value = value.dropLast() }
        if value.contains(where: { ($0 < 0x20 && $0 != tab) || $0 == 0x7f }) {
            throw .badRequest(
                "The value of header field '\(String(decoding: name, as: UTF8.self))' contains control characters.")
        }
        let lowercasedName =
            knownText(name, among: knownFieldNames, ignoringCase: true) ?? String(asciiLowercasing: name)
        return HTTPField(lowercasedName: lowercasedName, value: Array(value))
    }

    private static let http1_1Bytes = Array("HTTP/1.1".utf8)
    private static let http1_0Bytes = Array("HTTP/1.0".utf8)

    /// Methods and field names that most requests use. A match returns a constant string, so it
    /// costs no allocation. Otherwise a field name longer than 15 bytes needs one.
    private static let knownMethods = ["GET", "POST", "PUT", "HEAD"].map { (bytes: Array($0.utf8), text: $0) }
    private static let knownFieldNames = [
        "host", "content-length", "content-type", "x-gearman-unique", "x-gearman-background", "x-gearman-priority",
        "connection", "transfer-encoding", "expect", "user-agent", "accept", "accept-encoding",
    ].map { (bytes: Array($0.utf8), text: $0) }

    /// Returns the text of the entry in `table` whose bytes equal `bytes`, or nil. With
    /// `ignoringCase`, upper-case ASCII letters in `bytes` match the lower-case table entries.
    private static func knownText(
        _ bytes: ArraySlice<UInt8>, among table: [(bytes: [UInt8], text: String)], ignoringCase: Bool = false
    ) -> String? {
        for entry in table where entry.bytes.count == bytes.count {
            let matches =
                ignoringCase
                ? zip(entry.bytes, bytes).allSatisfy { $0 == $1.asciiLowercased }
                : entry.bytes.elementsEqual(bytes)
            if matches { return entry.text }
        }
        return nil
    }

    // MARK: Body

    /// Decides how the body of `request` is framed and returns the request when it has none.
    private mutating func beginBody(of request: HTTPRequest) throws(HTTPRequestError) -> Event? {
        expectsContinue = false
        continueReported = false
        if let expectation = request.stringValue("expect"), request.version == .http1_1 {
            guard expectation.asciiLowercased() == "100-continue" else {
                throw HTTPRequestError(
                    status: .expectationFailed, message: "The expectation '\(expectation)' is not supported.")
            }
            expectsContinue = true
        }
        var codings: [String] = []
        var lengthFields: [HTTPField] = []
        for field in request.fields {
            if field.name == "content-length" {
                lengthFields.append(field)
            } else if field.name == "transfer-encoding" {
                for coding in String(decoding: field.value, as: UTF8.self).split(separator: ",") {
                    codings.append(coding.trimmingBlanks().asciiLowercased())
                }
            }
        }

        if !codings.isEmpty {
            if !lengthFields.isEmpty {
                throw .badRequest("The request has both Content-Length and Transfer-Encoding.")
            }
            if request.version == .http1_0 {
                throw .badRequest("Transfer-Encoding is not defined for HTTP/1.0 requests.")
            }
            guard codings.last == "chunked" else {
                throw .badRequest("The last transfer coding is not chunked, so the body length is unknown.")
            }
            guard codings.count == 1 else {
                throw HTTPRequestError(
                    status: .notImplemented,
                    message:
                        "The transfer coding '\(codings.dropLast().joined(separator: ", "))' is not supported; send the body unencoded."
                )
            }
            pending = request
            chunkedBody = []
            state = .chunkedBody(.sizeLine)
            return try readChunks(from: .sizeLine)
        }
        guard !lengthFields.isEmpty else {
            return finish(request)
        }
        let length = try Self.contentLength(of: lengthFields, maximum: limits.maximumBodySize)
        if length == 0 {
            return finish(request)
        }
        pending = request
        state = .fixedBody(length: length)
        // Moving the body's first bytes to the front lets a body that fills the buffer exactly
        // become the request body without a copy.
        buffer.removeSubrange(0..<start)
        start = 0
        return try step()
    }

    /// Parses the Content-Length fields: all values, including comma-separated lists, must be
    /// the same decimal number.
    static func contentLength(of fields: [HTTPField], maximum: Int) throws(HTTPRequestError) -> Int {
        // The usual case, one field of plain digits, is read without decoding text.
        var length = fields.count == 1 ? plainDecimal(fields[0].value) : nil
        let isPlain = length != nil
        for field in fields where !isPlain {
            for piece in String(decoding: field.value, as: UTF8.self).split(
                separator: ",", omittingEmptySubsequences: false)
            {
                let text = piece.trimmingBlanks()
                guard !text.isEmpty, text.utf8.allSatisfy(isDigit) else {
                    throw .badRequest(
                        "Content-Length '\(String(decoding: field.value.prefix(40), as: UTF8.self))' is not a number.")
                }
                // More than 18 digits can overflow Int; such a length is over any limit anyway.
                let value = text.count > 18 ? Int.max : Int(text)!
                if let length, length != value {
                    throw .badRequest("The request has conflicting Content-Length values.")
                }
                length = value
            }
        }
        let result = length ?? 0
        if result > maximum {
            throw HTTPRequestError(
                status: .contentTooLarge, message: "The body is longer than the limit of \(maximum) bytes.")
        }
        return result
    }

    /// Returns the value of 1 to 18 decimal digits, or nil for any other bytes.
    private static func plainDecimal(_ bytes: [UInt8]) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 18, bytes.allSatisfy(isDigit) else { return nil }
        return bytes.reduce(0) { $0 * 10 + Int($1 - 48) }
    }

    private mutating func readChunks(from initial: ChunkPhase) throws(HTTPRequestError) -> Event? {
        var phase = initial
        while true {
            switch phase {
            case .sizeLine:
                guard let lineEnd = buffer[start...].firstIndex(of: Self.lineFeed) else {
                    if bufferedCount > Self.maximumChunkLineLength {
                        throw .badRequest("A chunk-size line is too long.")
                    }
                    state = .chunkedBody(phase)
                    return continueIfExpected()
                }
                let size = try Self.chunkSize(buffer[start..<lineEnd])
                start = lineEnd + 1
                if size == 0 {
                    phase = .trailers(size: 0)
                } else {
                    if size > limits.maximumBodySize - chunkedBody.count {
                        throw HTTPRequestError(
                            status: .contentTooLarge,
                            message: "The body is longer than the limit of \(limits.maximumBodySize) bytes.")
                    }
                    phase = .data(remaining: size)
                }
            case .data(let remaining):
                let available = min(remaining, bufferedCount)
                chunkedBody.append(contentsOf: buffer[start..<(start + available)])
                start += available
                if available < remaining {
                    state = .chunkedBody(.data(remaining: remaining - available))
                    return nil
                }
                phase = .dataEnd
            case .dataEnd:
                guard bufferedCount >= 1, buffer[start] == Self.lineFeed || bufferedCount >= 2 else {
                    state = .chunkedBody(phase)
                    return nil
                }
                if buffer[start] == Self.lineFeed {
                    start += 1
                } else if buffer[start] == Self.carriageReturn && buffer[start + 1] == Self.lineFeed {
                    start += 2
                } else {
                    throw .badRequest("A chunk is longer than its declared size.")
                }
                phase = .sizeLine
            case .trailers(let size):
                guard let lineEnd = buffer[start...].firstIndex(of: Self.lineFeed) else {
                    if size + bufferedCount > limits.maximumHeadSize {
                        throw HTTPRequestError(
                            status: .headerFieldsTooLarge,
                            message: "The trailer fields exceed \(limits.maximumHeadSize) bytes.")
                    }
                    state = .chunkedBody(phase)
                    return nil
                }
                let line = buffer[start..<lineEnd]
                start = lineEnd + 1
                if line.isEmpty || (line.count == 1 && line.first == Self.carriageReturn) {
                    var request = pending!
                    request.body = chunkedBody
                    chunkedBody = []
                    return finish(request)
                }
                // Trailer fields are read and dropped: no field of a job request may come late.
                phase = .trailers(size: size + line.count + 1)
            }
        }
    }

    /// Parses a chunk-size line: hexadecimal digits, optionally followed by `;` and extensions.
    static func chunkSize(_ line: ArraySlice<UInt8>) throws(HTTPRequestError) -> Int {
        var digits = line.last == carriageReturn ? line.dropLast() : line
        if let semicolon = digits.firstIndex(of: UInt8(ascii: ";")) {
            digits = digits[digits.startIndex..<semicolon]
        }
        while let last = digits.last, last == space || last == tab { digits = digits.dropLast() }
        guard !digits.isEmpty, digits.count <= 15 else { throw .badRequest("A chunk size is missing or too long.") }
        var size = 0
        for digit in digits {
            guard let value = hexValue(digit) else { throw .badRequest("A chunk size is not hexadecimal.") }
            size = size * 16 + value
        }
        return size
    }

    // MARK: Helpers

    private mutating func continueIfExpected() -> Event? {
        if expectsContinue && !continueReported {
            continueReported = true
            return .continueExpected
        }
        return nil
    }

    private mutating func finish(_ request: HTTPRequest) -> Event {
        state = .head
        pending = nil
        expectsContinue = false
        continueReported = false
        return .request(request)
    }

    /// Grows the buffer for `count` more bytes while a Content-Length body arrives.
    ///
    /// The capacity at most doubles and stops at the end of the body, so a body that fills the
    /// buffer exactly is handed over without unused capacity. It grows with the bytes received and
    /// not with the declared length, because a client can declare a body of up to
    /// `maximumBodySize` bytes and then send nothing. Bytes past the end of the body, and bytes
    /// outside a body, grow the buffer as any array grows.
    private mutating func reserve(forAppending count: Int) {
        let needed = buffer.count + count
        guard needed > buffer.capacity, case .fixedBody(let length) = state, needed <= start + length else { return }
        buffer.reserveCapacity(min(start + length, max(needed, 2 * buffer.capacity)))
    }

    /// Drops consumed bytes before new ones are appended, so the buffer does not grow with every
    /// request of a long-lived connection.
    private mutating func compact() {
        if start == 0 { return }
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 64 * 1024)
            start = 0
        } else if start >= 64 * 1024 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
    }

    static let lineFeed = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")

    static func isDigit(_ byte: UInt8) -> Bool { byte >= 48 && byte <= 57 }

    static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case 48...57: return Int(byte - 48)
        case 65...70: return Int(byte - 55)
        case 97...102: return Int(byte - 87)
        default: return nil
        }
    }

    /// Whether `byte` may appear in a token (RFC 9110, section 5.6.2): a method or field name.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 48...57, 65...90, 97...122: return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default: return false
        }
    }
}
