import CGearmanSystem
import GearmanKit

#if canImport(Glibc)
    import Glibc
#endif

/// The per-loop state of the HTTP connections that an event loop owns.
struct HTTPLoopState {
    /// HTTP connections that received output since they were last serviced; a finished
    /// response lets such a connection read its next pipelined request.
    var resumable: [Connection] = []
    var connectionCount = 0
    /// Monotonic milliseconds of the next check for idle connections.
    var nextIdleSweep: Int64 = 0
    /// Closed connections still read from until their peer stops sending, by connection ID.
    var lingering: [Int: LingeringSocket] = [:]

    mutating func takeResumable() -> [Connection] {
        let taken = resumable
        resumable.removeAll(keepingCapacity: true)
        return taken
    }
}

/// The HTTP protocol module on the event loop: reading requests, submitting their jobs to the
/// core as a client session would, serving the endpoints and closing idle connections.
///
/// An HTTP connection has a `Session` in the core like any client. Its requests become
/// SUBMIT_JOB packets, and the packets the core sends back become the HTTP response in
/// `Connection.deliverHTTP`.
extension EventLoop {
    /// Work for the core found in a connection's buffered requests.
    private enum CoreRequest {
        case submit(HTTPJobSubmission)
        case snapshot(HTTPEndpoint, HTTPRequest, headOnly: Bool)
    }

    /// A connection stops reading while a job runs once it has buffered this many bytes of
    /// pipelined requests, so a client cannot make the server buffer requests without bound.
    /// `outputBacklogLimit` bounds the responses in the same way.
    private var pipelineBufferLimit: Int {
        max(64 * 1024, runtime.configuration.httpMaximumHeaderSize)
    }

    func startHTTP(on connection: Connection) {
        let configuration = runtime.configuration
        let limits = HTTPRequestParser.Limits(
            maximumHeadSize: configuration.httpMaximumHeaderSize, maximumBodySize: configuration.effectiveHTTPBodyLimit,
            maximumPacketSize: configuration.maximumPacketSize)
        let writer = HTTPResponseWriter(serverName: "GearmanKit/\(configuration.version)")
        connection.http = HTTPConnectionState(limits: limits, writer: writer, now: JobCore.readMonotonicClock())
        http.connectionCount += 1
    }

    // MARK: Reading

    /// Reads from an HTTP connection into its request parser. A closed or failed socket is
    /// added to `closing`, which `process` releases; a connection with new bytes to `readable`.
    ///
    /// An end of stream closes the connection even while a job runs, as when the client
    /// gave up: the core then drops a foreground job that no other client waits for.
    func readHTTP(from connection: Connection, closing: inout [(Connection, [Frame])], readable: inout [Connection]) {
        if connection.closeReason != nil { return }
        let received = read(connection.fd, scratch.baseAddress, scratch.count)
        if received == 0 {
            connection.closeReason = ""
            closing.append((connection, []))
            return
        }
        if received < 0 {
            let code = errno
            if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return }
            connection.closeReason = code == ECONNRESET ? "" : "read failed: \(SystemError(code: code, call: "read"))"
            closing.append((connection, []))
            return
        }
        // The idle clock restarts on the first byte of a request and on every read of body bytes,
        // but not on later bytes of the same head. So the whole head must arrive within the idle
        // timeout, and a client that sends it one byte at a time cannot keep the connection open.
        let parser = connection.http!.parser
        if !parser.isReadingHead || !parser.hasPartialRequest {
            connection.http!.lastActivity = JobCore.readMonotonicClock()
        }
        connection.http!.parser.append(UnsafeRawBufferPointer(rebasing: scratch[0..<received]))
        readable.append(connection)
    }

    // MARK: Requests

    /// Responds to the buffered requests of `candidates` and of the connections whose responses
    /// finished. It works in rounds: each round responds to what needs no core, then takes the
    /// core lock once for the job submissions and endpoint snapshots of all connections.
    func serviceHTTP(_ candidates: [Connection]) {
        var pending = candidates + http.takeResumable()
        var serviced: [Connection] = []
        while !pending.isEmpty {
            var seen = Set<Int>()
            var work: [(connection: Connection, request: CoreRequest)] = []
            for connection in pending where seen.insert(connection.id).inserted {
                serviced.append(connection)
                if let request = answerUntilCoreRequest(connection) {
                    work.append((connection, request))
                }
            }
            if work.isEmpty { break }

            outbox.removeAll()
            var snapshots: [ServerSnapshot?] = []
            let uptime = Double(JobCore.readMonotonicClock() - runtime.startedAt) / 1000
            withCoreInOrder { core in
                for item in work {
                    switch item.request {
                    case .submit(let submission):
                        _ = core.handle(submission.packet, from: item.connection.session, outbox: &outbox)
                        snapshots.append(nil)
                    case .snapshot:
                        snapshots.append(core.snapshot(uptimeSeconds: uptime))
                    }
                }
                core.routeHeldOutputs(&outbox)
                runtime.publishDeadline(core)
            }
            pending = []
            for (item, snapshot) in zip(work, snapshots) {
                guard case .snapshot(let endpoint, let request, let headOnly) = item.request, let snapshot else {
                    continue
                }
                respond(to: request, endpoint: endpoint, headOnly: headOnly, snapshot: snapshot, on: item.connection)
                pending.append(item.connection)
            }
            // A background job without a persistent queue is acknowledged at once, so its
            // connection may go on with its next request in this round.
            deliver()
            pending += http.takeResumable()
        }
        for connection in serviced where connections[connection.id] === connection {
            updateInput(of: connection)
            if connection.closeReason != nil { dirty.append(connection) }
        }
    }

    /// Responds to the connection's buffered requests that need no core and returns the first
    /// one that does, or nil when none is complete, a job request is in flight or the output
    /// waiting for the peer reached `outputBacklogLimit`.
    private func answerUntilCoreRequest(_ connection: Connection) -> CoreRequest? {
        guard connections[connection.id] === connection, connection.closeReason == nil else { return nil }
        while true {
            if connection.outbound.count >= Self.outputBacklogLimit {
                // The rest of the requests wait in the parser. Once the peer has read enough,
                // updateBacklog puts the connection back in `http.resumable`.
                connection.isOutputBacklogged = true
                return nil
            }
            guard let action = connection.http!.nextAction(date: HTTPDate.now()) else { return nil }
            switch action {
            case .write(let parts, let closes, let note):
                write(parts, to: connection)
                if closes {
                    // A request that breaks the framing is logged as an error when the
                    // connection closes; a refused but well-formed one only at INFO. The peer
                    // may still be sending the refused body, so the socket lingers (see
                    // EventLoop+Lingering.swift).
                    connection.lingersOnClose = true
                    connection.closeReason = note ?? ""
                    return nil
                }
                if let note {
                    runtime.logger.info("\(note) (connection \(connection.id) from \(connection.peer))")
                }
            case .submit(let submission):
                return .submit(submission)
            case .endpoint(let endpoint, let request, let headOnly):
                return .snapshot(endpoint, request, headOnly: headOnly)
            }
        }
    }

    private func respond(
        to request: HTTPRequest, endpoint: HTTPEndpoint, headOnly: Bool, snapshot: ServerSnapshot,
        on connection: Connection
    ) {
        let body: [UInt8]
        let contentType: String
        var fields: [(String, String)] = []
        switch endpoint {
        case .status:
            body = Array(StatusDocument.json(snapshot).utf8)
            contentType = "application/json"
            // The dashboard of another server reads this document from that server's origin.
            fields.append(("Access-Control-Allow-Origin", "*"))
        case .metrics:
            body = Array(MetricsExposition.text(snapshot, process: .current()).utf8)
            contentType = MetricsExposition.contentType
        case .healthz:
            body = Array("ok\n".utf8)
            contentType = "text/plain; charset=utf-8"
        case .dashboard:
            body = Array(DashboardPage.html.utf8)
            contentType = "text/html; charset=utf-8"
        }
        let parts = connection.http!.writer.response(
            .ok, fields: [("Content-Type", contentType), ("Cache-Control", "no-store")] + fields, body: body[...],
            keepAlive: request.keepsAlive, requestVersion: request.version, date: HTTPDate.now(), headOnly: headOnly)
        write(parts, to: connection)
        if !request.keepsAlive { connection.closeReason = "" }
    }

    private func write(_ parts: [ArraySlice<UInt8>], to connection: Connection) {
        for part in parts {
            connection.outbound.appendPayload(part)
        }
        connection.http!.lastActivity = JobCore.readMonotonicClock()
        dirty.append(connection)
    }

    /// Stops reading from a connection whose pipelined requests wait behind a running job or
    /// behind responses its peer has not read, and reads again once they have responses.
    ///
    /// A parser that waits for a head with `pipelineBufferLimit` bytes buffered, more than
    /// the largest head, holds complete requests that were not answered yet.
    private func updateInput(of connection: Connection) {
        guard let state = connection.http else { return }
        let shouldPause = state.parser.isReadingHead && state.parser.bufferedCount >= pipelineBufferLimit
        if shouldPause != connection.isInputPaused {
            connection.isInputPaused = shouldPause
            updateInterest(connection)
        }
    }

    // MARK: Idle connections

    /// Milliseconds until the next idle check, or nil when this loop needs none.
    func idleSweepDelay() -> Int64? {
        guard http.connectionCount > 0, runtime.configuration.httpIdleTimeout > 0 else { return nil }
        return max(0, http.nextIdleSweep - JobCore.readMonotonicClock())
    }

    /// Closes HTTP connections that have had no request in flight and no output to write for
    /// `--http-idle-timeout` seconds, and those whose request head did not arrive complete within
    /// that time of its first byte (see readHTTP). One whose request was still arriving gets 408
    /// first.
    ///
    /// The check runs about once a second, so a connection closes up to a second late.
    func closeIdleHTTPConnections() {
        let timeout = runtime.configuration.httpIdleTimeout
        guard timeout > 0 else { return }
        let now = JobCore.readMonotonicClock()
        if now < http.nextIdleSweep { return }
        http.nextIdleSweep = now + min(1000, Int64(timeout) * 250)
        let limit = Int64(timeout) * 1000
        for connection in Array(connections.values) {
            guard let state = connection.http, connection.closeReason == nil, !state.isBusy,
                connection.outbound.isEmpty, now - state.lastActivity >= limit
            else { continue }
            let isPartial = state.parser.hasPartialRequest
            if isPartial {
                write(state.timeoutResponse(date: HTTPDate.now()), to: connection)
            }
            connection.closeReason = ""
            let cause = isPartial ? "request not complete after \(timeout) s" : "idle for \(timeout) s"
            runtime.logger.info("closing HTTP connection \(connection.id) from \(connection.peer): \(cause)")
            if connection.outbound.isEmpty {
                finishClose(connection)
            }
        }
    }
}

extension Connection {
    /// Turns a packet the core sent to an HTTP connection's session into response bytes.
    func deliverHTTP(_ output: Outbox.Output) {
        guard case .packet(let packet) = output else { return }
        let result = http!.receive(packet, date: HTTPDate.now())
        for part in result.parts {
            outbound.appendPayload(part)
        }
        if result.isFinished {
            http!.lastActivity = JobCore.readMonotonicClock()
        }
        if result.closesConnection && closeReason == nil {
            closeReason = ""
        }
    }
}
