import Testing

@testable import GearmanServer

@Suite("HTTP request parser")
struct HTTPRequestParserTests {
    static let limits = HTTPRequestParser.Limits(maximumHeadSize: 1024, maximumBodySize: 4096)

    /// Feeds `text` to a new parser, in pieces of `pieceSize` bytes when given, and collects
    /// every event until the parser needs more bytes.
    static func events(
        _ text: String, pieceSize: Int? = nil, limits: HTTPRequestParser.Limits = limits
    ) throws(HTTPRequestError) -> [HTTPRequestParser.Event] {
        var parser = HTTPRequestParser(limits: limits)
        var events: [HTTPRequestParser.Event] = []
        let bytes = Array(text.utf8)
        let size = pieceSize ?? max(1, bytes.count)
        var offset = 0
        while offset < bytes.count {
            parser.append(Array(bytes[offset..<min(bytes.count, offset + size)]))
            offset += size
            while let event = try parser.next() { events.append(event) }
        }
        return events
    }

    static func requests(_ text: String, pieceSize: Int? = nil) throws(HTTPRequestError) -> [HTTPRequest] {
        try events(text, pieceSize: pieceSize).compactMap {
            if case .request(let request) = $0 { return request }
            return nil
        }
    }

    static func error(_ text: String, limits: HTTPRequestParser.Limits = limits) -> HTTPRequestError? {
        do {
            _ = try events(text, limits: limits)
            return nil
        } catch {
            return error
        }
    }

    @Test("GET with header fields")
    func simpleGet() throws {
        let requests = try Self.requests(
            "GET /reverse?x=1 HTTP/1.1\r\nHost: localhost\r\nX-Gearman-Unique:  abc \r\n\r\n")
        try #require(requests.count == 1)
        let request = requests[0]
        #expect(request.method == "GET")
        #expect(request.target == "/reverse?x=1")
        #expect(request.version == .http1_1)
        #expect(request.stringValue("host") == "localhost")
        #expect(request.stringValue("X-GEARMAN-UNIQUE") == "abc")
        #expect(request.body.isEmpty)
    }

    @Test("POST body split into single bytes")
    func bodyByteByByte() throws {
        let text = "POST /f HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world"
        let requests = try Self.requests(text, pieceSize: 1)
        #expect(requests.count == 1)
        #expect(requests.first?.body == Array("hello world".utf8))
    }

    @Test("body that fills the buffer exactly")
    func bodyFillsBuffer() throws {
        var parser = HTTPRequestParser(limits: Self.limits)
        parser.append(Array("PUT /f HTTP/1.1\r\nContent-Length: 6\r\n\r\n".utf8))
        #expect(try parser.next() == nil)
        parser.append(Array("abc".utf8))
        #expect(try parser.next() == nil)
        parser.append(Array("def".utf8))
        #expect(
            try parser.next()
                == .request(
                    HTTPRequest(
                        method: "PUT", target: "/f", version: .http1_1, fields: [HTTPField("Content-Length", "6")],
                        body: Array("abcdef".utf8))))
        #expect(parser.bufferedCount == 0)
        #expect(!parser.hasPartialRequest)
    }

    @Test("64 MiB Content-Length reserves no body")
    func hugeContentLengthReservesNothing() throws {
        let limits = HTTPRequestParser.Limits(maximumHeadSize: 1024, maximumBodySize: 64 << 20)
        var parser = HTTPRequestParser(limits: limits)
        let head = Array("POST /f HTTP/1.1\r\nContent-Length: \(64 << 20)\r\n\r\n".utf8)
        parser.append(head)
        #expect(try parser.next() == nil)
        #expect(parser.hasPartialRequest)
        #expect(parser.bufferCapacity < 4096, "capacity \(parser.bufferCapacity) with no body byte received")

        parser.append(Array("x".utf8))
        #expect(try parser.next() == nil)
        #expect(parser.bufferCapacity < 4096, "capacity \(parser.bufferCapacity) after one body byte")
    }

    @Test("4 MiB body grows piece by piece")
    func largeBodyInPieces() throws {
        let limits = HTTPRequestParser.Limits(maximumHeadSize: 1024, maximumBodySize: 64 << 20)
        var parser = HTTPRequestParser(limits: limits)
        let body = (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 16) }
        parser.append(Array("PUT /f HTTP/1.1\r\nContent-Length: \(body.count)\r\n\r\n".utf8))
        #expect(try parser.next() == nil)

        var offset = 0
        var requests: [HTTPRequest] = []
        while offset < body.count {
            let end = min(body.count, offset + 65536)
            parser.append(Array(body[offset..<end]))
            offset = end
            #expect(
                parser.bufferCapacity <= 2 * offset + 4096,
                "capacity \(parser.bufferCapacity) after \(offset) body bytes")
            while let event = try parser.next() {
                if case .request(let request) = event { requests.append(request) }
            }
        }
        try #require(requests.count == 1)
        #expect(requests[0].body == body)
        #expect(requests[0].body.capacity < body.count + 4096, "the body carries unused capacity")
        #expect(!parser.hasPartialRequest)
    }

    @Test("pipelined requests come one at a time")
    func pipelined() throws {
        let text = "POST /a HTTP/1.1\r\nContent-Length: 1\r\n\r\nxGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.0\r\n\r\n"
        let requests = try Self.requests(text)
        #expect(requests.map(\.target) == ["/a", "/b", "/c"])
        #expect(requests.first?.body == [UInt8(ascii: "x")])
        #expect(requests.last?.version == .http1_0)
    }

    @Test("bare LF line endings and leading empty lines")
    func lenientLineEndings() throws {
        let requests = try Self.requests("\r\n\nPOST /f HTTP/1.1\nContent-Length: 2\n\nok")
        #expect(requests.count == 1)
        #expect(requests.first?.body == Array("ok".utf8))
    }

    @Test("chunked body with extensions and trailers", arguments: [nil, 1, 3])
    func chunkedBody(pieceSize: Int?) throws {
        let text =
            "POST /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;name=value\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: dropped\r\n\r\n"
            + "GET /next HTTP/1.1\r\n\r\n"
        let requests = try Self.requests(text, pieceSize: pieceSize)
        #expect(requests.count == 2)
        #expect(requests.first.map { String(decoding: $0.body, as: UTF8.self) } == "hello 0123456789")
        #expect(requests.last?.target == "/next")
    }

    @Test("Expect 100-continue is reported once before the body")
    func expectContinue() throws {
        var parser = HTTPRequestParser(limits: Self.limits)
        parser.append(Array("POST /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n".utf8))
        #expect(try parser.next() == .continueExpected)
        #expect(try parser.next() == nil)
        parser.append(Array("abc".utf8))
        guard case .request(let request) = try parser.next() else {
            Issue.record("no request after the body arrived")
            return
        }
        #expect(request.body == Array("abc".utf8))
    }

    @Test("Expect 100-continue with the body already sent")
    func expectContinueWithBody() throws {
        let events = try Self.events("POST /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc")
        #expect(events.count == 1)
        #expect(events.first.map { if case .request = $0 { true } else { false } } == true)
    }

    @Test("keep-alive follows the version and Connection")
    func keepAlive() throws {
        let cases: [(String, Bool)] = [
            ("GET /f HTTP/1.1\r\n\r\n", true),
            ("GET /f HTTP/1.1\r\nConnection: close\r\n\r\n", false),
            ("GET /f HTTP/1.1\r\nConnection: TE, Close\r\n\r\n", false),
            ("GET /f HTTP/1.0\r\n\r\n", false),
            ("GET /f HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
        ]
        for (text, expected) in cases {
            let request = try #require(try Self.requests(text).first)
            #expect(request.keepsAlive == expected, "\(text.debugDescription)")
        }
    }

    @Test("field names stored in lower case")
    func fieldNameCase() throws {
        // Known names of equal length (connection, user-agent) must not be mixed up.
        let text =
            "POST /f HTTP/1.1\r\nX-GEARMAN-BACKGROUND: true\r\nx-Gearman-Unique: u1\r\n"
            + "X-Some-Rather-Long-Field-Name: v\r\nUser-Agent: wrk\r\nConnection: close\r\n"
            + "CONTENT-length: 0\r\n\r\n"
        let request = try #require(try Self.requests(text).first)
        #expect(
            request.fields.map(\.name) == [
                "x-gearman-background", "x-gearman-unique", "x-some-rather-long-field-name", "user-agent",
                "connection", "content-length",
            ])
        #expect(request.stringValue("x-gearman-unique") == "u1")
    }

    @Test("methods kept as sent", arguments: ["PATCH", "post", "GET", "HEAD"])
    func methodCase(method: String) throws {
        let request = try #require(try Self.requests("\(method) /f HTTP/1.1\r\n\r\n").first)
        #expect(request.method == method)
    }

    /// Malformed or oversized requests and the status each one gets.
    static let rejected: [(name: String, text: String, status: Int)] = [
        ("request line without target", "GET HTTP/1.1\r\n\r\n", 400),
        ("double space in request line", "GET  /f HTTP/1.1\r\n\r\n", 400),
        ("three spaces in request line", "GET /f HTTP/1.1 x\r\n\r\n", 400),
        ("request line starting with a space", " /f HTTP/1.1\r\n\r\n", 400),
        ("request line without version", "GET /f \r\n\r\n", 400),
        ("method with a slash", "GE/T /f HTTP/1.1\r\n\r\n", 400),
        ("target with a control byte", "GET /f\u{1}x HTTP/1.1\r\n\r\n", 400),
        ("version HTTP/2.0", "GET /f HTTP/2.0\r\n\r\n", 505),
        ("version garbage", "GET /f FOO/1.1\r\n\r\n", 400),
        ("folded field", "GET /f HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 400),
        ("field without colon", "GET /f HTTP/1.1\r\nNoColon\r\n\r\n", 400),
        ("space before colon", "GET /f HTTP/1.1\r\nHost : x\r\n\r\n", 400),
        ("NUL in a field value", "GET /f HTTP/1.1\r\nA: b\u{0}c\r\n\r\n", 400),
        ("bare carriage return", "GET /f HTTP/1.1\r\nA: b\rc\r\n\r\n", 400),
        (
            "Content-Length with Transfer-Encoding",
            "POST /f HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400
        ),
        ("conflicting Content-Length", "POST /f HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        ("negative Content-Length", "POST /f HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        ("Content-Length over the limit", "POST /f HTTP/1.1\r\nContent-Length: 4097\r\n\r\n", 413),
        ("huge Content-Length", "POST /f HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413),
        ("gzip transfer coding", "POST /f HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("chunked not last", "POST /f HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
        ("Transfer-Encoding in HTTP/1.0", "POST /f HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("chunk size not hexadecimal", "POST /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ("chunk longer than declared", "POST /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", 400),
        (
            "chunked body over the limit",
            "POST /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + String(repeating: "a", count: 2048)
                + "\r\n801\r\n", 413
        ),
        ("unknown expectation", "POST /f HTTP/1.1\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx", 417),
        (
            "header fields over the limit", "GET /f HTTP/1.1\r\nA: " + String(repeating: "a", count: 1100) + "\r\n\r\n",
            431
        ),
        (
            "unfinished header fields over the limit", "GET /f HTTP/1.1\r\nA: " + String(repeating: "a", count: 1100),
            431
        ),
        ("request line over the limit", "GET /" + String(repeating: "a", count: 1100), 414),
    ]

    @Test("rejected requests", arguments: rejected.indices)
    func rejectedRequest(index: Int) {
        let example = Self.rejected[index]
        let error = Self.error(example.text)
        #expect(error?.status.code == example.status, "\(example.name): \(String(describing: error))")
    }

    @Test("parser stays failed after an error")
    func failedParserThrowsAgain() {
        var parser = HTTPRequestParser(limits: Self.limits)
        parser.append(Array("BAD\r\n\r\nGET /f HTTP/1.1\r\n\r\n".utf8))
        #expect(throws: HTTPRequestError.self) { try parser.next() }
        #expect(throws: HTTPRequestError.self) { try parser.next() }
    }

    @Test("partial request is reported")
    func partialRequest() throws {
        var parser = HTTPRequestParser(limits: Self.limits)
        #expect(!parser.hasPartialRequest)
        parser.append(Array("GET /f HT".utf8))
        #expect(try parser.next() == nil)
        #expect(parser.hasPartialRequest)
    }

    @Test("ASCII lower-casing leaves other characters alone")
    func asciiLowercasing() {
        #expect("X-Gearman-Unique".asciiLowercased() == "x-gearman-unique")
        #expect("already-lower".asciiLowercased() == "already-lower")
        #expect("ÄB-ß".asciiLowercased() == "Äb-ß")
        #expect(HTTPField(name: "Content-LENGTH", value: []).name == "content-length")
    }
}
