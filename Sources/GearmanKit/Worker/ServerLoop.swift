import Synchronization

/// The wake-up cycle of a `GearmanWorker` on one server connection.
///
/// The cycle runs on the connection's reader thread: NO_JOB is answered with PRE_SLEEP, NOOP
/// and a freed job slot with GRAB_JOB_UNIQ, and a job's result goes out together with the next
/// GRAB in one write. Only the job handlers run as tasks, so a job costs one hand-off to the
/// task pool rather than one per packet. A lost connection is reconnected with back-off.
final class ServerLoop: Sendable {
    private struct State {
        var channel: PacketChannel?
        /// Whether a GRAB_JOB_UNIQ is waiting for its reply; at most one is sent at a time, so
        /// every NO_JOB or JOB_ASSIGN_UNIQ answers the one GRAB the loop knows of.
        var isGrabbing = false
        /// Whether PRE_SLEEP was sent and no NOOP has arrived since.
        var isSleeping = false
        var reconnectDelay: Int
        var isClosed = false

        /// Neither waiting for a GRAB reply nor asleep: free to ask for a job.
        var isIdle: Bool { !isGrabbing && !isSleeping }
    }

    let server: ServerAddress
    private let setup: [Packet]
    private let worker: Unowned<GearmanWorker>
    private let state: Mutex<State>

    init(server: ServerAddress, setup: [Packet], worker: GearmanWorker) {
        self.server = server
        self.setup = setup
        self.worker = Unowned(worker)
        state = Mutex(State(reconnectDelay: worker.options.reconnectDelay))
    }

    /// Opens the connection, registers the functions and asks for the first job.
    func connect() throws {
        let box = Unowned<ServerLoop>(self)
        // With one job at a time, handlers run on the connection's reader thread, which saves
        // two thread switches per job. With more, they run in parallel on the global executor.
        let runsInline = worker.value?.options.maximumConcurrentJobs ?? 1 <= 1
        let opened = try PacketChannel(
            server: server, connectTimeout: worker.value?.options.connectTimeout ?? 5000,
            executor: runsInline ? ChannelExecutor() : nil, busyPoll: worker.value?.options.busyPoll ?? 0,
            onFrame: { frame in
                if case .packet(let packet) = frame { box.value?.received(packet) }
            },
            onClose: { _ in box.value?.connectionLost() })
        let shouldGrab = state.withLock { state -> Bool in
            state.channel = opened
            state.reconnectDelay = worker.value?.options.reconnectDelay ?? 500
            return true
        }
        try opened.send(setup)
        if shouldGrab { grabIfPossible() }
    }

    /// Sends GRAB_JOB_UNIQ when the loop is idle and a job slot is free.
    func grabIfPossible() {
        guard let worker = worker.value, !worker.isStopping else { return }
        let channel = state.withLock { state -> PacketChannel? in
            guard state.isIdle, let channel = state.channel, !state.isClosed else { return nil }
            guard worker.tryAcquireSlot() else { return nil }
            state.isGrabbing = true
            return channel
        }
        guard let channel else { return }
        do {
            try channel.send(Packet.request(.grabJobUnique))
        } catch {
            worker.releaseSlot(notify: false)
            channel.close()
        }
    }

    /// Sends a job's result, and with it the next GRAB when the worker may take another job.
    func finished(_ result: Packet, channel: PacketChannel) {
        guard let worker = worker.value else { return }
        let sameConnection = state.withLock { $0.channel === channel }
        guard sameConnection else {
            // The job's connection is gone; the server has handed the job to another worker.
            worker.releaseSlot(notify: true)
            return
        }
        let grabNext = state.withLock { state -> Bool in
            // This job's slot passes straight to the next GRAB on the same connection.
            guard state.isIdle, !worker.isStopping else { return false }
            state.isGrabbing = true
            return true
        }
        if grabNext {
            try? channel.send([result, Packet.request(.grabJobUnique)])
        } else {
            try? channel.send(result)
            worker.releaseSlot(notify: true)
        }
    }

    /// Closes the connection for good.
    func close() {
        let channel = state.withLock { state -> PacketChannel? in
            state.isClosed = true
            return state.channel
        }
        channel?.close()
    }

    // MARK: Reader thread

    private func received(_ packet: Packet) {
        guard let worker = worker.value else { return }
        switch packet.type {
        case .jobAssignUnique, .jobAssign:
            let channel = state.withLock { state -> PacketChannel? in
                state.isGrabbing = false
                return state.channel
            }
            guard let channel else { return }
            let isUnique = packet.type == .jobAssignUnique
            let job = Job(
                handle: packet.stringArgument(0), function: packet.stringArgument(1),
                unique: isUnique ? packet.stringArgument(2) : "",
                workload: Array(isUnique ? packet.argument(3) : packet.argument(2)), channel: channel)
            worker.start(job, loop: self)
            // The slot taken by the GRAB belongs to the job now; ask for another one if free.
            grabIfPossible()
        case .noJob:
            let channel = state.withLock { state -> PacketChannel? in
                state.isGrabbing = false
                state.isSleeping = true
                return state.channel
            }
            worker.releaseSlot(notify: false)
            try? channel?.send(Packet.request(.preSleep))
        case .noop:
            state.withLock { $0.isSleeping = false }
            grabIfPossible()
        default:
            break  // ERROR for a result of a job the server took back; nothing to do.
        }
    }

    private func connectionLost() {
        let (wasGrabbing, closedForGood, delay) = state.withLock { state -> (Bool, Bool, Int) in
            let grabbing = state.isGrabbing
            state.isGrabbing = false
            state.isSleeping = false
            state.channel = nil
            let delay = state.reconnectDelay
            state.reconnectDelay = min(delay * 2, 30_000)
            return (grabbing, state.isClosed, delay)
        }
        if wasGrabbing { worker.value?.releaseSlot(notify: true) }
        guard !closedForGood, let worker = worker.value, !worker.isStopping else { return }
        Task { [self] in
            try? await Task.sleep(for: .milliseconds(delay))
            if self.state.withLock({ $0.isClosed }) { return }
            do {
                try await runOnNewThread { try self.connect() }
            } catch {
                self.connectionLost()
            }
        }
    }
}
