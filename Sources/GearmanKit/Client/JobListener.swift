import Synchronization

/// Follows one submitted job: forwards its events to the caller's stream and, when its
/// connection is lost before the job finished, asks the client to submit it again elsewhere.
final class JobListener: Sendable {
    let request: JobRequest
    var isBackground: Bool { request.isBackground }

    private struct State {
        var handle: String?
        var connection: ClientConnection?
        var finished = false
        /// Servers this job was sent to and lost, so a retry goes elsewhere.
        var lostServers: [ServerAddress] = []
    }

    /// The destination of events: a stream for `events(for:)`, or one continuation for `run`'s result.
    enum Sink: Sendable {
        case stream(AsyncThrowingStream<JobEvent, Error>.Continuation)
        case result(CheckedContinuation<[UInt8], Error>)
        /// Job `index` of a batch: its handle when it is a background job, else its result.
        case batch(ResultCollector, index: Int)
    }

    private let state = Mutex(State())
    private let sink: Sink
    /// Submits the job again on another server; returns false when no server is left.
    private let retry: @Sendable (JobListener, [ServerAddress]) -> Bool

    init(request: JobRequest, sink: Sink, retry: @escaping @Sendable (JobListener, [ServerAddress]) -> Bool) {
        self.request = request
        self.sink = sink
        self.retry = retry
    }

    /// The server the job was last sent to, or nil before it was sent.
    var server: ServerAddress? {
        state.withLock { $0.connection?.server }
    }

    /// Records the connection the job was last sent on.
    func sent(on connection: ClientConnection) {
        state.withLock { $0.connection = connection }
    }

    func deliver(_ event: JobEvent, handle: String) {
        let isDone = state.withLock { state -> Bool in
            if state.finished { return true }
            if case .created = event { state.handle = handle }
            if event.isFinal || (isBackground && { if case .created = event { return true } else { return false } }()) {
                state.finished = true
            }
            return false
        }
        if isDone { return }
        switch sink {
        case .stream(let continuation):
            continuation.yield(event)
            switch event {
            case .complete:
                continuation.finish()
            case .failure:
                continuation.finish(throwing: JobFailure.failed(handle: handle))
            case .exception(let data):
                continuation.finish(throwing: JobFailure.exception(handle: handle, data: data))
            case .created where isBackground:
                continuation.finish()
            default:
                break
            }
        case .result(let continuation):
            switch event {
            case .complete(let data):
                continuation.resume(returning: data)
            case .failure:
                continuation.resume(throwing: JobFailure.failed(handle: handle))
            case .exception(let data):
                continuation.resume(throwing: JobFailure.exception(handle: handle, data: data))
            case .created where isBackground:
                continuation.resume(returning: Array(handle.utf8))
            default:
                break
            }
        case .batch(let collector, let index):
            switch event {
            case .created where isBackground:
                collector.finish(index, with: .success(Array(handle.utf8)))
            case .complete(let data):
                collector.finish(index, with: .success(data))
            case .failure:
                collector.finish(index, with: .failure(JobFailure.failed(handle: handle)))
            case .exception(let data):
                collector.finish(index, with: .failure(JobFailure.exception(handle: handle, data: data)))
            default:
                break
            }
        }
    }

    func fail(_ error: Error) {
        let wasFinished = state.withLock { state in
            let was = state.finished
            state.finished = true
            return was
        }
        guard !wasFinished else { return }
        switch sink {
        case .stream(let continuation): continuation.finish(throwing: error)
        case .result(let continuation): continuation.resume(throwing: error)
        case .batch(let collector, let index): collector.finish(index, with: .failure(error))
        }
    }

    /// Handles the loss of the job's connection before it finished: resubmits or fails.
    ///
    /// - Parameter connection: the connection that was lost, or nil when the job could not be
    ///   sent at all; a loss of a connection the job has already left is ignored.
    func connectionLost(_ error: GearmanError, on connection: ClientConnection? = nil) {
        let lost = state.withLock { state -> [ServerAddress]? in
            if state.finished { return nil }
            if let connection, state.connection !== connection { return nil }
            if let server = state.connection?.server { state.lostServers.append(server) }
            state.connection = nil
            return state.lostServers
        }
        guard let lost else { return }
        if !retry(self, lost) { fail(error) }
    }

    /// Stops following the job after the caller stopped listening.
    func cancel() {
        let (connection, handle) = state.withLock { state -> (ClientConnection?, String?) in
            state.finished = true
            return (state.connection, state.handle)
        }
        if let connection, let handle { connection.forget(self, handle: handle) }
    }
}
