/// A synchronous client that submits batches of jobs on one connection and reports their events.
///
/// Jobs of a batch are pipelined: every SUBMIT_* goes out before the first reply is read, and
/// events are reported as they arrive. `openSession` runs several batches one after another on
/// one connection. With several servers the first one that accepts a connection is
/// used; a server that refuses is skipped and reported to `onServerFailure`.
public final class BlockingClient {
    public let servers: [ServerAddress]
    /// Milliseconds to wait for a connection and between replies; nil waits forever.
    public var timeout: Int?
    /// Ask the server for WORK_EXCEPTION packets instead of plain WORK_FAIL.
    public var wantsExceptions = true

    public init(servers: [ServerAddress], timeout: Int? = nil) {
        self.servers = servers
        self.timeout = timeout
    }

    /// Connects to the first reachable server; failures of earlier servers go to `onServerFailure`.
    public func connect(onServerFailure: (GearmanError) -> Void = { _ in }) throws -> GearmanConnection {
        guard !servers.isEmpty else { throw GearmanError.noServers }
        var lastError: Error = GearmanError.noServers
        for server in servers {
            do {
                return try GearmanConnection(to: server, timeout: timeout)
            } catch let error as GearmanError {
                lastError = error
                if server != servers.last { onServerFailure(error) }
            }
        }
        throw lastError
    }

    /// Connects to the first reachable server and returns a session that runs batches of jobs
    /// on that connection, one batch after another.
    public func openSession(onServerFailure: (GearmanError) -> Void = { _ in }) throws -> BlockingClientSession {
        BlockingClientSession(
            connection: try connect(onServerFailure: onServerFailure), timeout: timeout,
            wantsExceptions: wantsExceptions)
    }

    /// Submits `requests` at once and calls `handler` with each event until every foreground job
    /// has finished and every background job has been created.
    ///
    /// - Parameter handler: receives the index of the request in `requests` and the event.
    /// - Throws: `GearmanError` for connection failures, timeouts and ERROR replies; an ERROR
    ///   reply to a submission ends the whole batch.
    public func run(
        _ requests: [JobRequest], onServerFailure: (GearmanError) -> Void = { _ in },
        handler: (Int, JobEvent) -> Void
    ) throws {
        if requests.isEmpty { return }
        let session = try openSession(onServerFailure: onServerFailure)
        defer { session.close() }
        try session.run(requests, onRejection: { _, error in throw error }, handler: handler)
    }

    static func event(from packet: Packet) -> JobEvent {
        switch packet.type {
        case .workData: return .data(Array(packet.argument(1)))
        case .workWarning: return .warning(Array(packet.argument(1)))
        case .workStatus:
            return .status(
                numerator: UInt64(packet.stringArgument(1)) ?? 0, denominator: UInt64(packet.stringArgument(2)) ?? 0)
        case .workComplete: return .complete(Array(packet.argument(1)))
        case .workException: return .exception(Array(packet.argument(1)))
        default: return .failure
        }
    }
}
