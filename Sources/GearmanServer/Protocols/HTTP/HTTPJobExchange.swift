import GearmanKit

/// The response to one job request, built from the packets the core sends to the session of
/// the HTTP connection.
///
/// A background job gets its response on JOB_CREATED. A foreground job gets it on its result:
/// 200 with the WORK_COMPLETE payload, 500 for WORK_FAIL, or 500 with the exception text for
/// WORK_EXCEPTION. The first WORK_DATA sends the head at once and streams the data, chunked for
/// HTTP/1.1 and until the connection closes for HTTP/1.0. The WORK_COMPLETE payload then
/// becomes the last chunk, followed by the trailer `X-Gearman-Command: WORK_COMPLETE`. A
/// failure after the head went out can no longer change the status, so the connection is
/// closed without ending the body, and the client sees an incomplete response. WORK_STATUS and
/// WORK_WARNING have no place in an HTTP response and are dropped.
struct HTTPJobExchange: Sendable {
    /// The bytes to send for one packet and what happens to the connection afterwards.
    struct Output: Sendable {
        var parts: [ArraySlice<UInt8>] = []
        /// Whether the response is complete, so the connection may read its next request.
        var isFinished = false
        /// Whether the connection must close once the parts are written.
        var closesConnection = false
    }

    private enum Phase: Sendable, Equatable {
        case awaitingCreated
        case running(handle: String)
        case streaming(handle: String)
        case finished
    }

    let isBackground: Bool
    let requestVersion: HTTPVersion
    let keepAlive: Bool
    let writer: HTTPResponseWriter
    private var phase = Phase.awaitingCreated

    init(isBackground: Bool, requestVersion: HTTPVersion, keepAlive: Bool, writer: HTTPResponseWriter) {
        self.isBackground = isBackground
        self.requestVersion = requestVersion
        self.keepAlive = keepAlive
        self.writer = writer
    }

    var isFinished: Bool { phase == .finished }

    /// Whether the head of a streamed response has been sent.
    var isStreaming: Bool {
        if case .streaming = phase { return true }
        return false
    }

    static let octetStream = (name: "Content-Type", value: "application/octet-stream")

    /// Turns one packet for the job's client into response bytes.
    mutating func receive(_ packet: Packet, date: String) -> Output {
        switch phase {
        case .finished:
            return Output()
        case .awaitingCreated:
            return receiveBeforeCreated(packet, date: date)
        case .running(let handle), .streaming(let handle):
            guard packet.type != .error else { return fail(with: packet, date: date) }
            guard packet.stringArgument(0) == handle else { return Output() }
            return receiveResult(packet, handle: handle, date: date)
        }
    }

    private mutating func receiveBeforeCreated(_ packet: Packet, date: String) -> Output {
        switch packet.type {
        case .jobCreated:
            let handle = packet.stringArgument(0)
            guard isBackground else {
                phase = .running(handle: handle)
                return Output()
            }
            return finish(
                writer.response(
                    .ok, fields: [("X-Gearman-Job-Handle", handle), ("X-Gearman-Command", "JOB_CREATED")], body: [],
                    keepAlive: keepAlive, requestVersion: requestVersion, date: date),
                closes: !keepAlive)
        case .error:
            return fail(with: packet, date: date)
        default:
            return Output()
        }
    }

    private mutating func receiveResult(_ packet: Packet, handle: String, date: String) -> Output {
        let handleField = (name: "X-Gearman-Job-Handle", value: handle)
        let data = packet.argument(1)
        switch packet.type {
        case .workData:
            if isStreaming {
                return Output(parts: streamed(data))
            }
            phase = .streaming(handle: handle)
            let isChunked = requestVersion == .http1_1
            var fields = [handleField, ("X-Gearman-Command", "WORK_DATA"), Self.octetStream]
            if isChunked { fields.append(("Trailer", "X-Gearman-Command")) }
            let head = writer.head(
                .ok, fields: fields, framing: isChunked ? .chunked : .untilClose, keepAlive: isChunked && keepAlive,
                requestVersion: requestVersion, date: date)
            return Output(parts: [head[...]] + streamed(data))
        case .workComplete where isStreaming:
            if requestVersion == .http1_0 {
                return finish(streamed(data), closes: true)
            }
            let end = writer.lastChunk(trailers: [("X-Gearman-Command", "WORK_COMPLETE")])
            return finish(streamed(data) + [end[...]], closes: !keepAlive)
        case .workComplete:
            let response = writer.response(
                .ok, fields: [handleField, ("X-Gearman-Command", "WORK_COMPLETE"), Self.octetStream], body: data,
                keepAlive: keepAlive, requestVersion: requestVersion, date: date)
            return finish(response, closes: !keepAlive)
        case .workFail, .workException:
            if isStreaming { return finish([], closes: true) }
            return finishFailure(packet, handle: handle, date: date)
        default:
            return Output()
        }
    }

    private mutating func finishFailure(_ packet: Packet, handle: String, date: String) -> Output {
        let handleField = (name: "X-Gearman-Job-Handle", value: handle)
        switch packet.type {
        case .workFail:
            let response = writer.response(
                .internalServerError, fields: [handleField, ("X-Gearman-Command", "WORK_FAIL")], body: [],
                keepAlive: keepAlive, requestVersion: requestVersion, date: date)
            return finish(response, closes: !keepAlive)
        default:
            let response = writer.response(
                .internalServerError, fields: [handleField, ("X-Gearman-Command", "WORK_EXCEPTION"), Self.octetStream],
                body: packet.argument(1), keepAlive: keepAlive, requestVersion: requestVersion, date: date)
            return finish(response, closes: !keepAlive)
        }
    }

    /// Responds to an ERROR packet from the core: 503 when the queue is full or the job could
    /// not be stored, 500 otherwise.
    private mutating func fail(with packet: Packet, date: String) -> Output {
        if isStreaming { return finish([], closes: true) }
        let code = packet.stringArgument(0)
        let status: HTTPStatus = code == "QUEUE_ERROR" ? .serviceUnavailable : .internalServerError
        let response = writer.textResponse(
            status, "\(code): \(packet.stringArgument(1))", fields: [("X-Gearman-Command", "ERROR")],
            keepAlive: keepAlive,
            requestVersion: requestVersion, date: date)
        return finish(response, closes: !keepAlive)
    }

    private func streamed(_ data: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        if requestVersion == .http1_0 { return data.isEmpty ? [] : [data] }
        return writer.chunk(data)
    }

    private mutating func finish(_ parts: [ArraySlice<UInt8>], closes: Bool) -> Output {
        phase = .finished
        return Output(parts: parts, isFinished: true, closesConnection: closes)
    }
}
