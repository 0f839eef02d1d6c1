/// One connection of a `BlockingClient` that runs batches of jobs one after another.
///
/// Each call to `run` submits its batch and returns when every foreground job of it has
/// finished and every background job has been created, so the next batch starts on a quiet
/// connection. Not safe to share between threads.
public final class BlockingClientSession {
    /// The connection the jobs go over.
    public let connection: GearmanConnection
    /// Milliseconds to wait for each reply; nil waits forever.
    public let timeout: Int?
    /// Whether OPTION_REQ `exceptions` still has to be sent, with the first batch.
    private var optionPending: Bool
    /// Whether the reply to OPTION_REQ has not arrived yet.
    private var awaitingOption = false

    /// Wraps an open connection; with `wantsExceptions`, the first batch is preceded by
    /// OPTION_REQ `exceptions`.
    public init(connection: GearmanConnection, timeout: Int?, wantsExceptions: Bool) {
        self.connection = connection
        self.timeout = timeout
        optionPending = wantsExceptions
    }

    public func close() {
        connection.close()
    }

    /// Submits `requests` in one write and reports their events until every foreground job
    /// has finished and every background job has been created or rejected.
    ///
    /// The server replies to submissions in order, with JOB_CREATED or ERROR, so an ERROR ends
    /// the request it replies to: `onRejection` gets its index and the error, and the other
    /// requests go on. An error thrown by a closure ends the batch and is rethrown, which
    /// leaves replies of the batch unread, so close the session after it.
    ///
    /// - Parameter handler: receives the index of the request in `requests` and the event.
    /// - Throws: `GearmanError` for connection failures, timeouts and packets that reply to no
    ///   request, or what a closure throws.
    public func run(
        _ requests: [JobRequest], onRejection: (Int, GearmanError) throws -> Void,
        handler: (Int, JobEvent) throws -> Void
    ) throws {
        if requests.isEmpty { return }
        var packets: [Packet] = []
        if optionPending {
            packets.append(Packet.request(.optionRequest, "exceptions"))
            optionPending = false
            awaitingOption = true
        }
        packets += requests.map(\.packet)
        try connection.send(packets)

        var nextReply = 0
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
                let error = GearmanError.serverError(
                    connection.server, code: packet.stringArgument(0), message: packet.stringArgument(1))
                guard nextReply < requests.count else { throw error }
                nextReply += 1
                unfinished -= 1
                try onRejection(nextReply - 1, error)
            case .jobCreated:
                guard nextReply < requests.count else {
                    throw GearmanError.unexpectedPacket(connection.server, .jobCreated)
                }
                let handle = packet.stringArgument(0)
                let index = nextReply
                nextReply += 1
                if requests[index].isBackground {
                    unfinished -= 1
                } else {
                    open[handle, default: []].append(index)
                }
                try handler(index, .created(handle: handle))
            case .workData, .workWarning, .workStatus, .workComplete, .workFail, .workException:
                let handle = packet.handle
                guard let indexes = open[handle] else { continue }
                let event = BlockingClient.event(from: packet)
                if event.isFinal {
                    open[handle] = nil
                    unfinished -= indexes.count
                }
                for index in indexes { try handler(index, event) }
            default:
                throw GearmanError.unexpectedPacket(connection.server, packet.type)
            }
        }
    }
}
