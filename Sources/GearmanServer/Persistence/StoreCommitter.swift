import CGearmanSystem
import GearmanKit
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The bridge between the job core and a `QueueStore`: collects store operations in core
/// order, commits everything that arrived meanwhile in one `commit` call on its own thread, and
/// only then sends the JOB_CREATED replies that depend on it.
///
/// Group commit is what keeps durability cheap: while one batch is being made durable, the
/// next one accumulates, so the cost is one transaction or fsync per batch, not per job.
final class StoreCommitter: Sendable {
    /// Output for a connection held back until the operations queued before it are durable.
    ///
    /// JOB_CREATED for a background job waits for its `.add`; every later packet for the same
    /// connection waits behind it, because clients match replies to requests by their order.
    struct Acknowledgement: Sendable {
        let connectionID: Int
        let loopIndex: Int
        let output: Outbox.Output
        /// The job whose `.add` must be stored for `output` to be sent; when it is not, the
        /// connection gets ERROR QUEUE_ERROR instead.
        let requiredJob: UInt64?
    }

    private struct Batch {
        var operations: [StoreOperation] = []
        /// For each `.add`, the job it stores; parallel to the adds in `operations`.
        var addedJobs: [UInt64] = []
        var acknowledgements: [Acknowledgement] = []
        var isStopping = false
    }

    let store: any QueueStore
    private let logger: Logger
    private let pending = Mutex(Batch())
    private let wakeFD: Int32
    private let started = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)
    /// Set while the store is failing, so the failure is logged once, not per batch.
    private let isFailing = Atomic<Bool>(false)

    /// Called on the committer thread with the acknowledgements of a batch and, when the batch
    /// failed, the jobs whose `.add` was not stored and the reason.
    private let deliver: @Sendable ([Acknowledgement], _ failedJobs: Set<UInt64>, _ reason: String?) -> Void

    init(
        store: any QueueStore, logger: Logger,
        deliver: @escaping @Sendable ([Acknowledgement], Set<UInt64>, String?) -> Void
    ) {
        self.store = store
        self.logger = logger
        self.deliver = deliver
        wakeFD = eventfd(0, Int32(EFD_CLOEXEC))
    }

    deinit {
        close(wakeFD)
    }

    /// Queues an operation, and the reply that waits for it, in one step; call with the core
    /// lock held so store order is core order.
    ///
    /// The two must enter the same batch: a reply taken into a later batch than its `.add`
    /// could not learn that the add failed, and would acknowledge a job that was not stored.
    func enqueue(_ operation: StoreOperation, job: UInt64? = nil, acknowledgement: Acknowledgement? = nil) {
        pending.withLock { batch in
            batch.operations.append(operation)
            if case .add = operation { batch.addedJobs.append(job ?? 0) }
            if let acknowledgement { batch.acknowledgements.append(acknowledgement) }
        }
        signal()
    }

    /// Queues a reply to send once everything queued before it is durable.
    func acknowledge(_ acknowledgement: Acknowledgement) {
        pending.withLock { $0.acknowledgements.append(acknowledgement) }
        signal()
    }

    private func signal() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    /// Starts the committer thread.
    func start() {
        if started.exchange(true, ordering: .acquiringAndReleasing) { return }
        let committer = UnsafeTransferBox(self)
        var thread = pthread_t()
        let box = Unmanaged.passRetained(committer).toOpaque()
        pthread_create(
            &thread, nil,
            { argument in
                let committer = Unmanaged<UnsafeTransferBox<StoreCommitter>>.fromOpaque(argument!).takeRetainedValue()
                committer.value.run()
                return nil
            }, box)
        pthread_detach(thread)
    }

    /// Commits what is queued, stops the thread and closes the store; blocks until done.
    func stop() {
        if stopped.exchange(true, ordering: .acquiringAndReleasing) { return }
        if started.load(ordering: .acquiring) {
            pending.withLock { $0.isStopping = true }
            signal()
            while !finished.load(ordering: .acquiring) {
                usleep(1000)
            }
        }
        store.close()
    }

    private func run() {
        while true {
            var value: UInt64 = 0
            _ = read(wakeFD, &value, 8)
            let batch = pending.withLock { batch in
                let taken = batch
                batch = Batch()
                batch.isStopping = taken.isStopping
                return taken
            }
            if !batch.operations.isEmpty || !batch.acknowledgements.isEmpty {
                commit(batch)
            }
            if batch.isStopping && pending.withLock({ $0.operations.isEmpty && $0.acknowledgements.isEmpty }) {
                finished.store(true, ordering: .releasing)
                return
            }
        }
    }

    /// Jobs whose `.add` failed in the previous batch. A background submission that coalesced
    /// onto such a job before the failure was handled has its reply in the next batch, and
    /// must get QUEUE_ERROR too. Touched only by the committer thread.
    private let previouslyFailed = Mutex<Set<UInt64>>([])

    private func commit(_ batch: Batch) {
        var failedJobs = Set<UInt64>()
        var reason: String? = nil
        if !batch.operations.isEmpty {
            do {
                try store.commit(batch.operations)
                if isFailing.exchange(false, ordering: .relaxed) {
                    logger.notice("queue store \(store.description) works again")
                }
            } catch {
                reason = "\(error)"
                failedJobs = Set(batch.addedJobs)
                if !isFailing.exchange(true, ordering: .relaxed) {
                    logger.error(
                        "queue store \(store.description) failed, background jobs are rejected until it works: \(error)"
                    )
                }
                // Removals of the failed batch are tried again with the next one, so a finished
                // job does not stay in the store; at worst it would run again after a restart.
                let removals = batch.operations.filter { if case .remove = $0 { return true } else { return false } }
                if !removals.isEmpty && !batch.isStopping {
                    pending.withLock { $0.operations.insert(contentsOf: removals, at: 0) }
                }
            }
        }
        let earlier = previouslyFailed.withLock { previous in
            let earlier = previous
            previous = failedJobs
            return earlier
        }
        deliver(batch.acknowledgements, failedJobs.union(earlier), reason)
    }
}

/// Carries a reference into a new thread.
final class UnsafeTransferBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
