import Synchronization

/// The wake-up cycle of a `GearmanWorker` on one server connection, reconnecting when it drops.
final class ServerLoop: Sendable {
    /// What the reader thread passes to the loop.
    enum Signal: Sendable {
        case packet(Packet)
        case closed(GearmanError?)
        /// `stop()` asked the loop to look at the stopping flag.
        case interrupt
    }

    let server: ServerAddress
    private let setup: [Packet]
    private let worker: Unowned<GearmanWorker>
    private let channel = Mutex<PacketChannel?>(nil)
    private let inbox: AsyncStream<Signal>
    private let inboxContinuation: AsyncStream<Signal>.Continuation

    init(server: ServerAddress, setup: [Packet], worker: GearmanWorker) {
        self.server = server
        self.setup = setup
        self.worker = Unowned(worker)
        (inbox, inboxContinuation) = AsyncStream.makeStream(of: Signal.self)
    }

    /// Opens the connection and registers the functions.
    func connect() throws {
        let continuation = inboxContinuation
        let opened = try PacketChannel(
            server: server, connectTimeout: worker.value?.options.connectTimeout ?? 5000,
            onFrame: { frame in
                if case .packet(let packet) = frame { continuation.yield(.packet(packet)) }
            },
            onClose: { error in continuation.yield(.closed(error)) })
        try opened.send(setup)
        channel.withLock { $0 = opened }
    }

    func interrupt() {
        inboxContinuation.yield(.interrupt)
    }

    func close() {
        channel.withLock { $0 }?.close()
        inboxContinuation.yield(.interrupt)
    }

    func run() async {
        var iterator = inbox.makeAsyncIterator()
        var delay = worker.value?.options.reconnectDelay ?? 500
        while let worker = worker.value, !worker.isStopping {
            guard let current = channel.withLock({ $0 }), !current.isClosed else {
                try? await Task.sleep(for: .milliseconds(delay))
                if worker.isStopping { return }
                do {
                    try connect()
                    delay = worker.options.reconnectDelay
                } catch {
                    delay = min(delay * 2, 30_000)
                }
                continue
            }
            await worker.acquireSlot()
            if worker.isStopping {
                worker.releaseSlot()
                return
            }
            do {
                try current.send(Packet.request(.grabJobUnique))
            } catch {
                // The server is gone: drop the connection so the next turn waits and reconnects
                // instead of retrying the send at once.
                worker.releaseSlot()
                current.close()
                channel.withLock { $0 = nil }
                continue
            }
            switch await nextReply(&iterator) {
            case .packet(let packet) where packet.type == .jobAssignUnique || packet.type == .jobAssign:
                let isUnique = packet.type == .jobAssignUnique
                let job = Job(
                    handle: packet.stringArgument(0), function: packet.stringArgument(1),
                    unique: isUnique ? packet.stringArgument(2) : "",
                    workload: Array(isUnique ? packet.argument(3) : packet.argument(2)), channel: current)
                Task { await worker.perform(job) }
            case .packet(let packet) where packet.type == .noJob:
                worker.releaseSlot()
                try? current.send(Packet.request(.preSleep))
                await sleepUntilWoken(&iterator)
            case .closed, nil:
                worker.releaseSlot()
                channel.withLock { $0 = nil }
            default:
                worker.releaseSlot()
            }
        }
    }

    /// Waits for the reply to GRAB_JOB_UNIQ, skipping NOOPs and ERRORs for earlier results.
    private func nextReply(_ iterator: inout AsyncStream<Signal>.Iterator) async -> Signal? {
        while let signal = await iterator.next() {
            switch signal {
            case .packet(let packet) where packet.type == .noop || packet.type == .error:
                continue
            case .interrupt:
                continue
            default:
                return signal
            }
        }
        return nil
    }

    /// Waits for NOOP, a closed connection or a stop request.
    private func sleepUntilWoken(_ iterator: inout AsyncStream<Signal>.Iterator) async {
        while let signal = await iterator.next() {
            switch signal {
            case .packet(let packet) where packet.type == .noop:
                return
            case .closed:
                channel.withLock { $0 = nil }
                return
            case .interrupt:
                return
            default:
                continue
            }
        }
    }
}
