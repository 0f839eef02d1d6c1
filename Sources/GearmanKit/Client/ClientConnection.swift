import Synchronization

/// One client connection to one server: sends requests in order and matches each direct reply
/// (JOB_CREATED, STATUS_RES, OPTION_RES, ERROR …) to the request at the head of a FIFO, because
/// a server answers a connection's requests in the order it received them.
final class ClientConnection: Sendable {
    /// The reply a request waits for.
    enum Waiter: Sendable {
        /// A SUBMIT_*: receives the creation, then every WORK_* for the handle.
        case submission(JobListener)
        /// GET_STATUS or GET_STATUS_UNIQUE.
        case status(CheckedContinuation<JobStatus, Error>)
        /// OPTION_REQ.
        case option
        /// ECHO_REQ.
        case echo(CheckedContinuation<[UInt8], Error>)
    }

    private struct State {
        var waiters: [Waiter] = []
        var head = 0
        var listeners: [String: [JobListener]] = [:]
        var failure: GearmanError?
    }

    let server: ServerAddress
    private let state = Mutex(State())
    /// Held while a request is queued and written, so queue order equals wire order.
    private let sendLock = Mutex<Void>(())
    /// Set once in `init`, so reading it needs no lock.
    private let channel: PacketChannel

    /// Connects. When the connection fails, `onClose` is called with it after its requests were
    /// failed or sent again, so that the client can mark the server down.
    init(
        server: ServerAddress, connectTimeout: Int?, exceptions: Bool, busyPoll: Int = 0,
        onClose: @escaping @Sendable (ClientConnection?, GearmanError) -> Void
    )
        throws
    {
        self.server = server
        let weakSelf = Unowned<ClientConnection>(nil)
        channel = try PacketChannel(
            server: server, connectTimeout: connectTimeout, busyPoll: busyPoll,
            onFrame: { frame in weakSelf.value?.received(frame) },
            onClose: { error in
                let failure = error ?? GearmanError.connectionClosed(server)
                weakSelf.value?.failAll(failure)
                if error != nil { onClose(weakSelf.value, failure) }
            })
        weakSelf.value = self
        if exceptions {
            try send(Packet.request(.optionRequest, "exceptions"), waiter: .option)
        }
    }

    var isUsable: Bool {
        state.withLock { $0.failure == nil }
    }

    func close() {
        channel.close()
    }

    /// Queues `waiter` and writes `packet`, atomically with respect to other senders.
    func send(_ packet: Packet, waiter: Waiter) throws {
        try sendLock.withLock { _ in
            try state.withLock { state in
                if let failure = state.failure { throw failure }
                state.waiters.append(waiter)
            }
            try write([packet], queued: 1)
        }
    }

    /// Sends several submissions in one write.
    func send(_ packets: [Packet], waiters: [Waiter]) throws {
        try sendLock.withLock { _ in
            try state.withLock { state in
                if let failure = state.failure { throw failure }
                state.waiters.append(contentsOf: waiters)
            }
            try write(packets, queued: waiters.count)
        }
    }

    /// Writes packets whose waiters were just queued; on failure takes those waiters back, so
    /// the caller alone decides where the requests go next. Call with `sendLock` held.
    private func write(_ packets: [Packet], queued: Int) throws {
        do {
            try channel.send(packets)
        } catch {
            state.withLock { state in
                // failAll may have emptied the queue already; only what is still there is ours.
                let available = state.waiters.count - state.head
                state.waiters.removeLast(min(queued, available))
            }
            throw error
        }
    }

    /// Stops delivering events of `handle` to `listener` (its task was cancelled).
    func forget(_ listener: JobListener, handle: String) {
        state.withLock { state in
            state.listeners[handle]?.removeAll { $0 === listener }
            if state.listeners[handle]?.isEmpty == true { state.listeners[handle] = nil }
        }
    }

    // MARK: Reader thread

    private func received(_ frame: Frame) {
        guard case .packet(let packet) = frame else { return }
        switch packet.type {
        case .jobCreated, .statusResponse, .statusResponseUnique, .optionResponse, .echoResponse, .error:
            guard let waiter = popWaiter() else { return }
            answer(waiter, with: packet)
        case .workData, .workWarning, .workStatus, .workComplete, .workFail, .workException:
            let handle = packet.handle
            let event = BlockingClient.event(from: packet)
            let listeners = state.withLock { state -> [JobListener] in
                let found = state.listeners[handle] ?? []
                if event.isFinal { state.listeners[handle] = nil }
                return found
            }
            for listener in listeners { listener.deliver(event, handle: handle) }
        default:
            break
        }
    }

    private func popWaiter() -> Waiter? {
        state.withLock { state in
            guard state.head < state.waiters.count else { return nil }
            let waiter = state.waiters[state.head]
            state.head += 1
            if state.head > 1024 && state.head * 2 > state.waiters.count {
                state.waiters.removeFirst(state.head)
                state.head = 0
            }
            return waiter
        }
    }

    private func answer(_ waiter: Waiter, with packet: Packet) {
        let serverError = GearmanError.serverError(
            server, code: packet.stringArgument(0), message: packet.stringArgument(1))
        switch waiter {
        case .submission(let listener):
            if packet.type == .jobCreated {
                let handle = packet.stringArgument(0)
                if !listener.isBackground {
                    state.withLock { $0.listeners[handle, default: []].append(listener) }
                }
                listener.deliver(.created(handle: handle), handle: handle)
            } else {
                listener.fail(packet.type == .error ? serverError : GearmanError.unexpectedPacket(server, packet.type))
            }
        case .status(let continuation):
            if packet.type == .statusResponse || packet.type == .statusResponseUnique {
                continuation.resume(returning: JobStatus(packet: packet))
            } else {
                continuation.resume(
                    throwing: packet.type == .error ? serverError : GearmanError.unexpectedPacket(server, packet.type))
            }
        case .option:
            break  // A server that rejects the option still runs jobs; exceptions then arrive as WORK_FAIL.
        case .echo(let continuation):
            if packet.type == .echoResponse {
                continuation.resume(returning: Array(packet.argument(0)))
            } else {
                continuation.resume(throwing: serverError)
            }
        }
    }

    /// Fails every request still waiting, after the connection ended.
    private func failAll(_ error: GearmanError) {
        let (waiters, listeners) = state.withLock { state -> ([Waiter], [JobListener]) in
            state.failure = error
            let waiting = Array(state.waiters[state.head...])
            state.waiters = []
            state.head = 0
            let listening = state.listeners.values.flatMap { $0 }
            state.listeners = [:]
            return (waiting, listening)
        }
        for waiter in waiters {
            switch waiter {
            case .submission(let listener): listener.connectionLost(error, on: self)
            case .status(let continuation): continuation.resume(throwing: error)
            case .echo(let continuation): continuation.resume(throwing: error)
            case .option: break
            }
        }
        for listener in listeners { listener.connectionLost(error, on: self) }
    }
}
