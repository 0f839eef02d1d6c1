import GearmanKit

/// The HTTP side of one connection: its request parser, the job request in flight and whether
/// the connection stays open.
///
/// Requests are taken one at a time: while a job runs, later pipelined requests stay in the
/// parser, so responses go out in request order. The event loop calls `nextAction` to learn
/// what to do and passes the core's packets for the session to `receive`. Nothing here touches
/// a socket.
struct HTTPConnectionState: Sendable {
    enum Action: Sendable, Equatable {
        /// A response that needs no core. The connection closes after it when `closes` is set,
        /// and `note` describes a rejected request for the log.
        case write([ArraySlice<UInt8>], closes: Bool, note: String?)
        /// A job to submit for the session; the response follows from the packets the core sends.
        case submit(HTTPJobSubmission)
        /// An endpoint whose response needs a snapshot of the core.
        case endpoint(HTTPEndpoint, HTTPRequest, headOnly: Bool)
    }

    var parser: HTTPRequestParser
    let writer: HTTPResponseWriter
    private(set) var exchange: HTTPJobExchange?
    /// Monotonic milliseconds of the last read or completed response, for the idle timeout.
    var lastActivity: Int64
    /// Set once a response that ends the connection was produced; no request is parsed after it.
    private(set) var isClosing = false

    init(limits: HTTPRequestParser.Limits, writer: HTTPResponseWriter, now: Int64) {
        parser = HTTPRequestParser(limits: limits)
        self.writer = writer
        lastActivity = now
    }

    /// Whether a job request waits for its response.
    var isBusy: Bool { exchange != nil }

    /// Parses the next buffered request and decides how to respond to it. Returns nil while a
    /// job request is in flight, the connection is closing, or no complete request is buffered.
    mutating func nextAction(date: String) -> Action? {
        guard exchange == nil, !isClosing else { return nil }
        let event: HTTPRequestParser.Event?
        do {
            event = try parser.next()
        } catch {
            isClosing = true
            let response = writer.textResponse(
                error.status, error.message, keepAlive: false, requestVersion: .http1_1, date: date)
            return .write(response, closes: true, note: "HTTP \(error.status.code): \(error.message)")
        }
        switch event {
        case nil:
            return nil
        case .continueExpected:
            return .write([HTTPResponseWriter.continueResponse[...]], closes: false, note: nil)
        case .request(let request):
            return action(for: request, date: date)
        }
    }

    private mutating func action(for request: HTTPRequest, date: String) -> Action {
        let keepAlive = request.keepsAlive
        var route = HTTPRoute.resolve(request)
        if case .submit(let submission) = route, submission.packetBodyLength > parser.limits.maximumPacketSize {
            let limit = parser.limits.maximumPacketSize
            route = .reject(
                .contentTooLarge,
                message: "The job's request packet would be longer than the --max-packet-size limit of \(limit) bytes.",
                allow: nil)
        }
        switch route {
        case .submit(let submission):
            exchange = HTTPJobExchange(
                isBackground: submission.isBackground, requestVersion: request.version, keepAlive: keepAlive,
                writer: writer)
            return .submit(submission)
        case .endpoint(.healthz, let headOnly):
            let response = writer.textResponse(
                .ok, "ok", keepAlive: keepAlive, requestVersion: request.version, date: date, headOnly: headOnly)
            return respond(response, keepAlive: keepAlive, note: nil)
        case .endpoint(let endpoint, let headOnly):
            if !keepAlive { isClosing = true }
            return .endpoint(endpoint, request, headOnly: headOnly)
        case .reject(let status, let message, let allow):
            let fields = allow.map { [(name: "Allow", value: $0)] } ?? []
            let response = writer.textResponse(
                status, message, fields: fields, keepAlive: keepAlive, requestVersion: request.version, date: date,
                headOnly: request.method == "HEAD")
            let note = "HTTP \(status.code) for \(request.method) \(request.target.prefix(200)): \(message)"
            return respond(response, keepAlive: keepAlive, note: note)
        }
    }

    private mutating func respond(_ parts: [ArraySlice<UInt8>], keepAlive: Bool, note: String?) -> Action {
        if !keepAlive { isClosing = true }
        return .write(parts, closes: !keepAlive, note: note)
    }

    /// Turns a packet the core sent to the session into response bytes for the job in flight.
    mutating func receive(_ packet: Packet, date: String) -> HTTPJobExchange.Output {
        guard var current = exchange else { return HTTPJobExchange.Output() }
        let output = current.receive(packet, date: date)
        exchange = output.isFinished ? nil : current
        if output.closesConnection { isClosing = true }
        return output
    }

    /// Returns the 408 response to a request that was still arriving when the idle timeout expired.
    func timeoutResponse(date: String) -> [ArraySlice<UInt8>] {
        writer.textResponse(
            .requestTimeout, "The request did not arrive within the idle timeout.", keepAlive: false,
            requestVersion: .http1_1, date: date)
    }
}
