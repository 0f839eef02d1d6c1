import GearmanKit
import Testing

@testable import GearmanServer

@Suite("HTTP response writer")
struct HTTPResponseWriterTests {
    static let writer = HTTPResponseWriter(serverName: "GearmanKit/test")
    static let date = "Sun, 06 Nov 1994 08:49:37 GMT"

    static func text(_ parts: [ArraySlice<UInt8>]) -> String {
        String(decoding: parts.flatMap { $0 }, as: UTF8.self)
    }

    @Test("response with Content-Length")
    func contentLength() {
        let parts = Self.writer.response(
            .ok, fields: [("X-A", "1")], body: Array("hi".utf8)[...], keepAlive: true, requestVersion: .http1_1,
            date: Self.date)
        #expect(
            Self.text(parts)
                == "HTTP/1.1 200 OK\r\nServer: GearmanKit/test\r\nDate: \(Self.date)\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nhi"
        )
    }

    @Test("multi-digit status and length")
    func numbers() {
        let parts = Self.writer.response(
            .contentTooLarge, body: Array(repeating: UInt8(ascii: "a"), count: 1205)[...], keepAlive: true,
            requestVersion: .http1_1, date: Self.date, headOnly: true)
        #expect(
            Self.text(parts)
                == "HTTP/1.1 413 Content Too Large\r\nServer: GearmanKit/test\r\nDate: \(Self.date)\r\nContent-Length: 1205\r\n\r\n"
        )
        let empty = Self.text(
            Self.writer.response(.ok, body: [], keepAlive: true, requestVersion: .http1_1, date: Self.date))
        #expect(empty.hasSuffix("\r\nContent-Length: 0\r\n\r\n"))
    }

    @Test("Connection field for close and HTTP/1.0 keep-alive")
    func connectionField() {
        let closing = Self.text(
            Self.writer.response(.notFound, body: [], keepAlive: false, requestVersion: .http1_1, date: Self.date))
        #expect(closing.contains("\r\nConnection: close\r\n"))
        let kept = Self.text(
            Self.writer.response(.ok, body: [], keepAlive: true, requestVersion: .http1_0, date: Self.date))
        #expect(kept.contains("\r\nConnection: keep-alive\r\n"))
        let plain = Self.text(
            Self.writer.response(.ok, body: [], keepAlive: true, requestVersion: .http1_1, date: Self.date))
        #expect(!plain.contains("Connection:"))
    }

    @Test("HEAD response keeps Content-Length and drops the body")
    func headOnly() {
        let parts = Self.writer.response(
            .ok, body: Array("hello".utf8)[...], keepAlive: true, requestVersion: .http1_1, date: Self.date,
            headOnly: true)
        let text = Self.text(parts)
        #expect(text.contains("Content-Length: 5\r\n"))
        #expect(text.hasSuffix("\r\n\r\n"))
    }

    @Test("chunks and the last chunk")
    func chunks() {
        #expect(
            Self.text(Self.writer.chunk(Array(repeating: UInt8(ascii: "a"), count: 26)[...])) == "1a\r\n"
                + String(repeating: "a", count: 26) + "\r\n")
        #expect(Self.writer.chunk([]).isEmpty)
        #expect(
            String(decoding: Self.writer.lastChunk(trailers: [("X-Gearman-Command", "WORK_COMPLETE")]), as: UTF8.self)
                == "0\r\nX-Gearman-Command: WORK_COMPLETE\r\n\r\n")
    }

    @Test("large body is not copied")
    func bodyByReference() {
        let body = [UInt8](repeating: 7, count: 100_000)
        let parts = Self.writer.response(
            .ok, body: body[...], keepAlive: true, requestVersion: .http1_1, date: Self.date)
        #expect(parts.count == 2)
        let shared =
            parts[1].withUnsafeBufferPointer { $0.baseAddress } == body.withUnsafeBufferPointer { $0.baseAddress }
        #expect(shared)
    }

    @Test("IMF-fixdate")
    func dateFormat() {
        #expect(HTTPDate.format(secondsSinceEpoch: 784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.format(secondsSinceEpoch: 0) == "Thu, 01 Jan 1970 00:00:00 GMT")
    }
}

@Suite("HTTP job exchange")
struct HTTPJobExchangeTests {
    static let date = HTTPResponseWriterTests.date

    static func exchange(background: Bool = false, version: HTTPVersion = .http1_1, keepAlive: Bool = true)
        -> HTTPJobExchange
    {
        HTTPJobExchange(
            isBackground: background, requestVersion: version, keepAlive: keepAlive,
            writer: HTTPResponseWriterTests.writer)
    }

    static func packet(_ type: PacketType, _ arguments: String...) -> Packet {
        Packet(magic: .response, type: type, arguments: arguments.map { Array($0.utf8)[...] })
    }

    /// Feeds packets and returns the concatenated output text with the last output's flags.
    static func run(_ exchange: inout HTTPJobExchange, _ packets: [Packet]) -> (
        text: String, finished: Bool, closes: Bool
    ) {
        var text = ""
        var last = HTTPJobExchange.Output()
        for packet in packets {
            last = exchange.receive(packet, date: date)
            text += HTTPResponseWriterTests.text(last.parts)
        }
        return (text, last.isFinished, last.closesConnection)
    }

    @Test("background job is answered on JOB_CREATED")
    func background() {
        var exchange = Self.exchange(background: true)
        let result = Self.run(&exchange, [Self.packet(.jobCreated, "H:x:1")])
        #expect(result.finished)
        #expect(!result.closes)
        #expect(result.text.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(result.text.contains("X-Gearman-Job-Handle: H:x:1\r\n"))
        #expect(result.text.contains("X-Gearman-Command: JOB_CREATED\r\n"))
        #expect(result.text.hasSuffix("Content-Length: 0\r\n\r\n"))
    }

    @Test("foreground job is answered on WORK_COMPLETE")
    func complete() {
        var exchange = Self.exchange()
        let created = Self.run(&exchange, [Self.packet(.jobCreated, "H:x:1")])
        #expect(created.text.isEmpty)
        #expect(!created.finished)
        let result = Self.run(
            &exchange,
            [
                Self.packet(.workStatus, "H:x:1", "1", "2"), Self.packet(.workWarning, "H:x:1", "careful"),
                Self.packet(.workComplete, "H:x:1", "olleh"),
            ])
        #expect(result.finished)
        #expect(result.text.contains("X-Gearman-Command: WORK_COMPLETE\r\n"))
        #expect(result.text.hasSuffix("Content-Length: 5\r\n\r\nolleh"))
        #expect(exchange.isFinished)
    }

    @Test("WORK_FAIL gives 500")
    func fail() {
        var exchange = Self.exchange(keepAlive: false)
        let result = Self.run(&exchange, [Self.packet(.jobCreated, "H:x:1"), Self.packet(.workFail, "H:x:1")])
        #expect(result.text.hasPrefix("HTTP/1.1 500 Internal Server Error\r\n"))
        #expect(result.text.contains("X-Gearman-Command: WORK_FAIL\r\n"))
        #expect(result.text.contains("X-Gearman-Job-Handle: H:x:1\r\n"))
        #expect(result.finished)
        #expect(result.closes)
    }

    @Test("WORK_EXCEPTION gives 500 with the text")
    func exception() {
        var exchange = Self.exchange()
        let result = Self.run(
            &exchange,
            [
                Self.packet(.jobCreated, "H:x:1"), Self.packet(.workException, "H:x:1", "division by zero"),
            ])
        #expect(result.text.hasPrefix("HTTP/1.1 500 Internal Server Error\r\n"))
        #expect(result.text.contains("X-Gearman-Command: WORK_EXCEPTION\r\n"))
        #expect(result.text.hasSuffix("\r\n\r\ndivision by zero"))
    }

    @Test("WORK_DATA streams chunks for HTTP/1.1")
    func streamedChunks() {
        var exchange = Self.exchange()
        let result = Self.run(
            &exchange,
            [
                Self.packet(.jobCreated, "H:x:1"), Self.packet(.workData, "H:x:1", "a\n"),
                Self.packet(.workData, "H:x:1", ""),
                Self.packet(.workData, "H:x:1", "b\n"), Self.packet(.workComplete, "H:x:1", "end"),
            ])
        let head =
            "HTTP/1.1 200 OK\r\nServer: GearmanKit/test\r\nDate: \(Self.date)\r\nX-Gearman-Job-Handle: H:x:1\r\n"
            + "X-Gearman-Command: WORK_DATA\r\nContent-Type: application/octet-stream\r\nTrailer: X-Gearman-Command\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n"
        #expect(
            result.text == head + "2\r\na\n\r\n2\r\nb\n\r\n3\r\nend\r\n0\r\nX-Gearman-Command: WORK_COMPLETE\r\n\r\n")
        #expect(result.finished)
        #expect(!result.closes)
    }

    @Test("WORK_DATA streams until close for HTTP/1.0")
    func streamedUntilClose() {
        var exchange = Self.exchange(version: .http1_0, keepAlive: true)
        let result = Self.run(
            &exchange,
            [
                Self.packet(.jobCreated, "H:x:1"), Self.packet(.workData, "H:x:1", "a"),
                Self.packet(.workComplete, "H:x:1", "b"),
            ])
        #expect(result.text.contains("Connection: close\r\n"))
        #expect(!result.text.contains("Content-Length"))
        #expect(!result.text.contains("chunked"))
        #expect(result.text.hasSuffix("\r\n\r\nab"))
        #expect(result.finished)
        #expect(result.closes)
    }

    @Test("failure after streaming closes without the last chunk", arguments: [PacketType.workFail, .workException])
    func failureAfterStreaming(type: PacketType) {
        var exchange = Self.exchange()
        _ = Self.run(&exchange, [Self.packet(.jobCreated, "H:x:1"), Self.packet(.workData, "H:x:1", "a")])
        let result = Self.run(&exchange, [Self.packet(type, "H:x:1", "oops")])
        #expect(result.text.isEmpty)
        #expect(result.finished)
        #expect(result.closes)
    }

    @Test("ERROR packets give 503 or 500", arguments: [("QUEUE_ERROR", 503), ("ARGUMENT_TOO_LARGE", 500)])
    func errors(code: String, status: Int) {
        var exchange = Self.exchange(background: true)
        let result = Self.run(&exchange, [Self.packet(.error, code, "Job queue is full")])
        #expect(result.text.hasPrefix("HTTP/1.1 \(status) "))
        #expect(result.text.hasSuffix("\(code): Job queue is full\n"))
        #expect(result.finished)
    }

    @Test("packets of other jobs are ignored")
    func otherHandles() {
        var exchange = Self.exchange()
        let result = Self.run(
            &exchange, [Self.packet(.jobCreated, "H:x:1"), Self.packet(.workComplete, "H:x:2", "no")])
        #expect(result.text.isEmpty)
        #expect(!exchange.isFinished)
    }
}

@Suite("HTTP connection state")
struct HTTPConnectionStateTests {
    static func state() -> HTTPConnectionState {
        HTTPConnectionState(
            limits: HTTPRequestParserTests.limits, writer: HTTPResponseWriterTests.writer, now: 0)
    }

    static func text(_ action: HTTPConnectionState.Action?) -> String? {
        if case .write(let parts, _, _) = action { return HTTPResponseWriterTests.text(parts) }
        return nil
    }

    @Test("pipelined requests wait for the running job")
    func pipelinedJobs() throws {
        var state = Self.state()
        state.parser.append(Array("POST /a HTTP/1.1\r\nContent-Length: 1\r\n\r\nxGET /healthz HTTP/1.1\r\n\r\n".utf8))
        let first = state.nextAction(date: "d")
        guard case .submit(let submission) = first else {
            Issue.record("expected a submission, got \(String(describing: first))")
            return
        }
        #expect(submission.function == Array("a".utf8))
        #expect(state.isBusy)
        #expect(state.nextAction(date: "d") == nil)

        _ = state.receive(HTTPJobExchangeTests.packet(.jobCreated, "H:x:1"), date: "d")
        let output = state.receive(HTTPJobExchangeTests.packet(.workComplete, "H:x:1", "done"), date: "d")
        #expect(output.isFinished)
        #expect(!state.isBusy)
        let second = Self.text(state.nextAction(date: "d"))
        #expect(second?.hasSuffix("\r\n\r\nok\n") == true)
        #expect(state.nextAction(date: "d") == nil)
    }

    @Test("a job whose packet would exceed --max-packet-size gets 413")
    func packetLimit() {
        var limits = HTTPRequestParserTests.limits
        limits.maximumPacketSize = 20
        var state = HTTPConnectionState(limits: limits, writer: HTTPResponseWriterTests.writer, now: 0)
        // 6 + 1 + 4 + 1 + 8 = 20 bytes fit; a body one byte longer does not.
        let fits = "POST /reduce HTTP/1.1\r\nX-Gearman-Unique: ukey\r\nContent-Length: 8\r\n\r\n12345678"
        state.parser.append(Array(fits.utf8))
        guard case .submit(let submission) = state.nextAction(date: "d") else {
            Issue.record("expected a submission")
            return
        }
        #expect(submission.packetBodyLength == submission.packet.bodyLength)

        var full = HTTPConnectionState(limits: limits, writer: HTTPResponseWriterTests.writer, now: 0)
        let tooLong = "POST /reduce HTTP/1.1\r\nX-Gearman-Unique: ukey\r\nContent-Length: 9\r\n\r\n123456789"
        full.parser.append(Array(tooLong.utf8))
        let response = Self.text(full.nextAction(date: "d"))
        #expect(response?.hasPrefix("HTTP/1.1 413 Content Too Large\r\n") == true)
        #expect(response?.contains("--max-packet-size limit of 20 bytes") == true)
        #expect(!full.isBusy)
    }

    @Test("HTTP/1.0 request closes after its response")
    func http10Closes() {
        var state = Self.state()
        state.parser.append(Array("GET /healthz HTTP/1.0\r\n\r\nGET /healthz HTTP/1.0\r\n\r\n".utf8))
        guard case .write(_, let closes, _) = state.nextAction(date: "d") else {
            Issue.record("expected a response")
            return
        }
        #expect(closes)
        #expect(state.isClosing)
        #expect(state.nextAction(date: "d") == nil)
    }

    @Test("malformed request closes with a note")
    func malformedCloses() {
        var state = Self.state()
        state.parser.append(Array("NOT HTTP\r\n\r\n".utf8))
        guard case .write(let parts, let closes, let note) = state.nextAction(date: "d") else {
            Issue.record("expected a response")
            return
        }
        #expect(HTTPResponseWriterTests.text(parts).hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(closes)
        #expect(note?.hasPrefix("HTTP 400") == true)
    }

    @Test("405 keeps the connection open")
    func rejectionKeepsConnection() {
        var state = Self.state()
        state.parser.append(Array("DELETE /f HTTP/1.1\r\n\r\n".utf8))
        guard case .write(let parts, let closes, let note) = state.nextAction(date: "d") else {
            Issue.record("expected a response")
            return
        }
        #expect(HTTPResponseWriterTests.text(parts).contains("Allow: GET, POST, PUT\r\n"))
        #expect(!closes)
        #expect(note != nil)
    }

    @Test("100 Continue before the body")
    func continueResponse() {
        var state = Self.state()
        state.parser.append(Array("POST /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n".utf8))
        #expect(Self.text(state.nextAction(date: "d")) == "HTTP/1.1 100 Continue\r\n\r\n")
        #expect(state.nextAction(date: "d") == nil)
    }

    @Test("status and metrics need a snapshot")
    func endpointsNeedCore() {
        var state = Self.state()
        state.parser.append(Array("HEAD /metrics HTTP/1.1\r\n\r\n".utf8))
        guard case .endpoint(.metrics, _, let headOnly) = state.nextAction(date: "d") else {
            Issue.record("expected the metrics endpoint")
            return
        }
        #expect(headOnly)
    }

    @Test("idle timeout response is 408")
    func timeout() {
        let text = HTTPResponseWriterTests.text(Self.state().timeoutResponse(date: "d"))
        #expect(text.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
        #expect(text.contains("Connection: close\r\n"))
    }
}
