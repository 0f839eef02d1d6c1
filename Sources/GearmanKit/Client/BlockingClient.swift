/// A synchronous client that submits a batch of jobs on one connection and reports their events.
///
/// Jobs are pipelined: every SUBMIT_* goes out before the first reply is read, and events are
/// reported as they arrive. With several servers the first one that accepts a connection is
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

    /// Submits `requests` and calls `handler` with each event until every foreground job has
    /// finished and every background job has been created.
    ///
    /// - Parameter handler: receives the index of the request in `requests` and the event.
    /// - Throws: `GearmanError` for connection failures, timeouts and ERROR replies.
    public func run(
        _ requests: [JobRequest], onServerFailure: (GearmanError) -> Void = { _ in },
        handler: (Int, JobEvent) -> Void
    ) throws {
        if requests.isEmpty { return }
        let connection = try connect(onServerFailure: onServerFailure)
        defer { connection.close() }
        var packets: [Packet] = []
        if wantsExceptions {
            packets.append(Packet.request(.optionRequest, "exceptions"))
        }
        packets += requests.map(\.packet)
        try connection.send(packets)

        var awaitingOption = wantsExceptions
        var nextCreated = 0
        /// Indexes of unfinished foreground requests by handle; coalesced requests share a handle.
        var open: [String: [Int]] = [:]
        var unfinished = requests.count
        while unfinished > 0 {
            let packet = try connection.receivePacket(timeout: timeout)
            switch packet.type {
            case .optionResponse where awaitingOption:
                awaitingOption = false
            case .error where awaitingOption:
                awaitingOption = false  // A server without exceptions support still runs jobs.
            case .error:
                throw GearmanError.serverError(
                    connection.server, code: packet.stringArgument(0), message: packet.stringArgument(1))
            case .jobCreated:
                guard nextCreated < requests.count else {
                    throw GearmanError.unexpectedPacket(connection.server, .jobCreated)
                }
                let handle = packet.stringArgument(0)
                let index = nextCreated
                nextCreated += 1
                handler(index, .created(handle: handle))
                if requests[index].isBackground {
                    unfinished -= 1
                } else {
                    open[handle, default: []].append(index)
                }
            case .workData, .workWarning, .workStatus, .workComplete, .workFail, .workException:
                let handle = packet.handle
                guard let indexes = open[handle] else { continue }
                let event = Self.event(from: packet)
                for index in indexes { handler(index, event) }
                if event.isFinal {
                    open[handle] = nil
                    unfinished -= indexes.count
                }
            default:
                throw GearmanError.unexpectedPacket(connection.server, packet.type)
            }
        }
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
