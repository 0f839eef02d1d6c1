import GearmanKit
import Synchronization

/// What the event loops of one server share: the core under its lock, the listeners, the loops
/// themselves and the run state.
final class ServerRuntime: Sendable {
    static let running = 0
    /// Listeners are closed; the server stops once no job is left.
    static let draining = 1
    static let stopped = 2

    let configuration: ServerConfiguration
    let logger: Logger
    let listeners: [Listener]
    private let core: AdaptiveLock<JobCore>
    /// Set once while the server starts, before any loop thread runs, then only read.
    nonisolated(unsafe) var loops: [EventLoop] = []
    let state = Atomic<Int>(ServerRuntime.running)
    /// The core's next timer deadline in monotonic milliseconds, or Int64.max when none.
    let nextDeadline = Atomic<Int64>(Int64.max)
    private let connectionCounter = Atomic<Int>(0)
    /// Monotonic milliseconds when the server was created, for the uptime in `/status`.
    let startedAt = JobCore.readMonotonicClock()

    init(configuration: ServerConfiguration, logger: Logger, listeners: [Listener]) {
        self.configuration = configuration
        self.logger = logger
        self.listeners = listeners
        self.core = AdaptiveLock(JobCore(configuration: configuration, logger: logger))
    }

    func withCore<Result>(_ body: (JobCore) throws -> Result) rethrows -> Result {
        try core.withLock { core in
            defer { core.handStagedStoreBatch() }
            return try body(core)
        }
    }

    /// Hands output produced off the loop threads (by the store committer) to the owning loops.
    func post(_ items: [(connectionID: Int, loopIndex: Int, output: Outbox.Output)]) {
        wake(loops: enqueue(items))
    }

    /// Appends output to the mailboxes of the owning loops without waking them, and returns the
    /// indices of those loops for `wake(loops:)`.
    func enqueue(_ items: [(connectionID: Int, loopIndex: Int, output: Outbox.Output)]) -> [Int] {
        var byLoop: [Int: [(connectionID: Int, output: Outbox.Output)]] = [:]
        for item in items {
            byLoop[item.loopIndex, default: []].append((item.connectionID, item.output))
        }
        var indices: [Int] = []
        for (index, items) in byLoop where index < loops.count {
            loops[index].post(items)
            indices.append(index)
        }
        return indices
    }

    func wake(loops indices: [Int]) {
        for index in indices { loops[index].wake() }
    }

    func nextConnectionID() -> Int {
        connectionCounter.wrappingAdd(1, ordering: .relaxed).newValue
    }

    /// Copies the core's next deadline where loop 0 reads it; call with the core lock held.
    func publishDeadline(_ core: JobCore) {
        nextDeadline.store(core.nextDeadline ?? Int64.max, ordering: .releasing)
    }

    /// Closes the listening sockets once, when a graceful stop begins.
    func closeListeners() {
        if listenersClosed.exchange(true, ordering: .acquiringAndReleasing) { return }
        for listener in listeners { listener.close() }
    }

    private let listenersClosed = Atomic<Bool>(false)

    func requestStop(graceful: Bool) {
        if graceful {
            _ = state.compareExchange(
                expected: ServerRuntime.running, desired: ServerRuntime.draining, ordering: .acquiringAndReleasing)
            logger.notice("graceful shutdown requested: no new connections, stopping once no job is left")
        } else {
            state.store(ServerRuntime.stopped, ordering: .releasing)
            // A stopped server must refuse connections; an open listening socket would let the
            // kernel accept them into its backlog, where clients would wait for ever.
            closeListeners()
        }
        for loop in loops { loop.wake() }
    }

    /// Stops a draining server once its last job is gone.
    func checkDrained() {
        guard state.load(ordering: .acquiring) == ServerRuntime.draining else { return }
        let isEmpty = withCore { $0.jobs.isEmpty }
        if isEmpty {
            state.store(ServerRuntime.stopped, ordering: .releasing)
            closeListeners()
            for loop in loops { loop.wake() }
        }
    }
}
