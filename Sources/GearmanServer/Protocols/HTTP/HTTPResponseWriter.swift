import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Encodes HTTP/1.1 responses: the status line and header fields, bodies with
/// `Content-Length`, and chunked bodies.
///
/// Every response carries `Server` and `Date`. `Connection: close` marks a response after which
/// the server closes the connection, and `Connection: keep-alive` one that keeps an HTTP/1.0
/// client's connection open. Bodies are returned as slices of the caller's storage, so a large
/// job result is not copied.
struct HTTPResponseWriter: Sendable {
    /// The framing that marks the end of a body.
    enum Framing: Sendable, Equatable {
        case contentLength(Int)
        /// `Transfer-Encoding: chunked`, for HTTP/1.1 clients only.
        case chunked
        /// The body ends when the connection closes, for streaming to HTTP/1.0 clients.
        case untilClose
    }

    /// The value of the `Server` field, such as `GearmanKit/0.1.0`.
    let serverName: String

    /// Encodes a status line and header fields, ending with the blank line.
    ///
    /// - Parameters:
    ///   - fields: fields besides `Server`, `Date`, the framing fields and `Connection`.
    ///   - keepAlive: whether the connection stays open after this response.
    ///   - requestVersion: the request's version; HTTP/1.0 clients need `Connection: keep-alive`
    ///     to keep the connection.
    func head(
        _ status: HTTPStatus, fields: [(name: String, value: String)], framing: Framing, keepAlive: Bool,
        requestVersion: HTTPVersion, date: String
    ) -> [UInt8] {
        // Builds the head as bytes, because string interpolation cost several reallocations per
        // response.
        var bytes: [UInt8] = []
        var capacity = 96 + serverName.utf8.count + status.reason.utf8.count
        for field in fields { capacity += field.name.utf8.count + field.value.utf8.count + 4 }
        bytes.reserveCapacity(capacity)
        bytes.append(contentsOf: "HTTP/1.1 ".utf8)
        Self.appendDecimal(status.code, to: &bytes)
        bytes.append(Self.space)
        bytes.append(contentsOf: status.reason.utf8)
        bytes.append(contentsOf: "\r\nServer: ".utf8)
        bytes.append(contentsOf: serverName.utf8)
        bytes.append(contentsOf: "\r\nDate: ".utf8)
        bytes.append(contentsOf: date.utf8)
        bytes.append(contentsOf: Self.lineEnd)
        for field in fields {
            bytes.append(contentsOf: field.name.utf8)
            bytes.append(contentsOf: ": ".utf8)
            bytes.append(contentsOf: field.value.utf8)
            bytes.append(contentsOf: Self.lineEnd)
        }
        switch framing {
        case .contentLength(let length):
            bytes.append(contentsOf: "Content-Length: ".utf8)
            Self.appendDecimal(length, to: &bytes)
            bytes.append(contentsOf: Self.lineEnd)
        case .chunked: bytes.append(contentsOf: "Transfer-Encoding: chunked\r\n".utf8)
        case .untilClose: break
        }
        if !keepAlive {
            bytes.append(contentsOf: "Connection: close\r\n".utf8)
        } else if requestVersion == .http1_0 {
            bytes.append(contentsOf: "Connection: keep-alive\r\n".utf8)
        }
        bytes.append(contentsOf: Self.lineEnd)
        return bytes
    }

    /// Appends the decimal digits of a non-negative number.
    private static func appendDecimal(_ value: Int, to bytes: inout [UInt8]) {
        if value >= 10 { appendDecimal(value / 10, to: &bytes) }
        bytes.append(UInt8(48 + value % 10))
    }

    private static let space = UInt8(ascii: " ")

    /// Encodes a complete response with a `Content-Length` body; `headOnly` leaves the body out,
    /// for HEAD requests.
    func response(
        _ status: HTTPStatus, fields: [(name: String, value: String)] = [], body: ArraySlice<UInt8>,
        keepAlive: Bool, requestVersion: HTTPVersion, date: String, headOnly: Bool = false
    ) -> [ArraySlice<UInt8>] {
        let head = self.head(
            status, fields: fields, framing: .contentLength(body.count), keepAlive: keepAlive,
            requestVersion: requestVersion, date: date)
        if headOnly || body.isEmpty { return [head[...]] }
        return [head[...], body]
    }

    /// Encodes a plain-text error or notice response.
    func textResponse(
        _ status: HTTPStatus, _ message: String, fields: [(name: String, value: String)] = [], keepAlive: Bool,
        requestVersion: HTTPVersion, date: String, headOnly: Bool = false
    ) -> [ArraySlice<UInt8>] {
        response(
            status, fields: [("Content-Type", "text/plain; charset=utf-8")] + fields,
            body: Array((message + "\n").utf8)[...],
            keepAlive: keepAlive, requestVersion: requestVersion, date: date, headOnly: headOnly)
    }

    /// Encodes one chunk of a chunked body; empty data gives nothing, because an empty chunk
    /// would end the body.
    func chunk(_ data: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        if data.isEmpty { return [] }
        return [Array((String(data.count, radix: 16) + "\r\n").utf8)[...], data, Self.lineEnd[...]]
    }

    /// Encodes the last chunk of a chunked body with its trailer fields.
    func lastChunk(trailers: [(name: String, value: String)]) -> [UInt8] {
        var text = "0\r\n"
        for field in trailers {
            text += "\(field.name): \(field.value)\r\n"
        }
        return Array((text + "\r\n").utf8)
    }

    /// The interim response to `Expect: 100-continue`.
    static let continueResponse: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    private static let lineEnd: [UInt8] = [13, 10]
}

/// The `Date` field value in the IMF-fixdate format of RFC 9110, such as
/// `Sun, 06 Nov 1994 08:49:37 GMT`.
enum HTTPDate {
    private static let cache = Mutex<(second: Int, text: String)>((-1, ""))

    /// Returns the current time, cached per second and shared by all threads.
    static func now() -> String {
        let second = Int(time(nil))
        if let text = cache.withLock({ $0.second == second ? $0.text : nil }) { return text }
        let text = format(secondsSinceEpoch: second)
        cache.withLock { $0 = (second, text) }
        return text
    }

    static func format(secondsSinceEpoch: Int) -> String {
        var seconds = time_t(secondsSinceEpoch)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func pad(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return
            "\(days[Int(parts.tm_wday)]), \(pad(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec)) GMT"
    }
}
