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

    /// Store operations and the replies that wait for them, in core order.
    ///
    /// The core collects one while it holds its lock and hands it over with `enqueue(_:)`
    /// before releasing the lock, so the committer's own lock is taken once per event-loop
    /// pass rather than once per job.
    struct Batch {
        private(set) var operations: [StoreOperation] = []
        /// The job of each operation, parallel to `operations`, or 0 where it is not known.
        private(set) var operationJobs: [UInt64] = []
        /// For each `.add`, the job it stores; parallel to the adds in `operations`.
        private(set) var addedJobs: [UInt64] = []
        var acknowledgements: [Acknowledgement] = []
        var isStopping = false
        /// The number of the last `enqueue` call merged into this batch, or 0 before the first.
        var lastSequence: UInt64 = 0

        var isEmpty: Bool { operations.isEmpty && acknowledgements.isEmpty }

        /// True when nothing in the batch is waited for: only removals of finished jobs.
        var holdsOnlyRemovals: Bool { addedJobs.isEmpty && acknowledgements.isEmpty && !isStopping }

        /// Adds an operation, and the reply that waits for it, in one step.
        ///
        /// The two must enter the same batch: a reply taken into a later batch than its `.add`
        /// could not learn that the add failed, and would acknowledge a job that was not stored.
        mutating func append(_ operation: StoreOperation, job: UInt64? = nil, acknowledgement: Acknowledgement? = nil) {
            operations.append(operation)
            operationJobs.append(job ?? 0)
            if case .add = operation { addedJobs.append(job ?? 0) }
            if let acknowledgement { acknowledgements.append(acknowledgement) }
        }

        /// Adds a reply to send once everything before it is durable.
        mutating func append(_ acknowledgement: Acknowledgement) {
            acknowledgements.append(acknowledgement)
        }

        /// Puts removals that failed to commit in front of the operations, so they are tried
        /// again first.
        mutating func prepend(removals: [StoreOperation]) {
            operations.insert(contentsOf: removals, at: 0)
            operationJobs.insert(contentsOf: repeatElement(0, count: removals.count), at: 0)
        }

        mutating func append(contentsOf other: Batch) {
            operations += other.operations
            operationJobs += other.operationJobs
            lastSequence = max(lastSequence, other.lastSequence)
            addedJobs += other.addedJobs
            acknowledgements += other.acknowledgements
        }
    }

    /// How long removals of finished jobs may wait for company before they are committed.
    ///
    /// No reply waits for a removal, and losing one in a crash only runs that job again (the
    /// promise is at least once). So a drain commits removals in groups instead of one
    /// transaction per finished job.
    static let removalDelayMilliseconds: Int32 = 10
    /// The number of waiting removals that is committed at once without waiting longer.
    static let removalBatchLimit = 2048

    let store: any QueueStore
    private let logger: Logger
    private let pending = Mutex(Batch())
    private let wakeFD: Int32
    private let started = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)
    /// A weak reference to the committer for the syncer's callback; set once in `init`.
    private final class WeakReference: @unchecked Sendable {
        weak var value: StoreCommitter?
    }

    /// Makes written batches durable on a second thread when the store splits its commits.
    private let syncer: StoreSyncer?
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
        if store.splitsCommit {
            let relay = WeakReference()
            syncer = StoreSyncer(store: store) { batch, failure in
                relay.value?.handOn(batch, failure: failure)
            }
            relay.value = self
        } else {
            syncer = nil
        }
    }

    deinit {
        close(wakeFD)
    }

    /// Queues a batch collected by the core; call with the core lock held so store order is
    /// core order.
    func enqueue(_ staged: Batch) {
        guard !staged.isEmpty else { return }
        let wake = pending.withLock { batch in
            let wasEmpty = batch.isEmpty
            batch.append(contentsOf: staged)
            batch.lastSequence = sequence.add(1, ordering: .acquiringAndReleasing).newValue
            // The committer is woken when work appears, when someone starts to wait, and when
            // enough removals piled up; further removals need no system call each.
            return wasEmpty || !staged.holdsOnlyRemovals || batch.operations.count >= Self.removalBatchLimit
        }
        if wake { signal() }
    }

    /// Queues one operation and the reply that waits for it; see `Batch.append`.
    func enqueue(_ operation: StoreOperation, job: UInt64? = nil, acknowledgement: Acknowledgement? = nil) {
        var staged = Batch()
        staged.append(operation, job: job, acknowledgement: acknowledgement)
        enqueue(staged)
    }

    private func signal() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    /// Starts the committer thread.
    func start() {
        if started.exchange(true, ordering: .acquiringAndReleasing) { return }
        syncer?.start()
        // NOTE: a failure to start the thread is ignored, and stored jobs would then wait for ever.
        _ = PosixThread.startDetached { self.run() }
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
            syncer?.stop()
        }
        store.close()
    }

    private func run() {
        while true {
            var value: UInt64 = 0
            _ = read(wakeFD, &value, 8)
            waitForCompanyOfRemovals()
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

    /// Waits while the pending batch holds only a few removals, until more arrive, something
    /// that is waited for arrives, or `removalDelayMilliseconds` passed.
    private func waitForCompanyOfRemovals() {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let deadlineMilliseconds =
            Int64(deadline.tv_sec) * 1000 + Int64(deadline.tv_nsec) / 1_000_000
            + Int64(Self.removalDelayMilliseconds)
        while pending.withLock({ !$0.isEmpty && $0.holdsOnlyRemovals && $0.operations.count < Self.removalBatchLimit })
        {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let remaining = deadlineMilliseconds - (Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000)
            if remaining <= 0 { return }
            var descriptor = pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, Int32(remaining)) > 0 {
                var value: UInt64 = 0
                _ = read(wakeFD, &value, 8)
            }
        }
    }

    /// Returns `withoutFinishedPairs(_:)` of a batch whose operations carry their jobs (`jobs`,
    /// 0 where unknown). Most batches contain no such pair, and comparing job numbers shows that
    /// without hashing a key. The keys are compared only when a pair may be present.
    static func withoutFinishedPairs(_ operations: [StoreOperation], jobs: [UInt64]) -> [StoreOperation] {
        guard jobs.count == operations.count else { return withoutFinishedPairs(operations) }
        var removedJobs = Set<UInt64>()
        var unknownRemoval = false
        for (index, operation) in operations.enumerated() {
            guard case .remove = operation else { continue }
            if jobs[index] == 0 { unknownRemoval = true } else { removedJobs.insert(jobs[index]) }
        }
        if unknownRemoval { return withoutFinishedPairs(operations) }
        guard !removedJobs.isEmpty else { return operations }
        for (index, operation) in operations.enumerated() {
            if case .add = operation, removedJobs.contains(jobs[index]) {
                return withoutFinishedPairs(operations)
            }
        }
        return operations
    }

    /// Drops each `.add` that a later `.remove` of the same key in the same batch undoes: the
    /// job finished before it was stored, so it need not reach the store.
    ///
    /// The removal is dropped too when the add was the first operation on its key in the batch.
    /// The key cannot be stored then, because a stored job's key is never added again while the
    /// job lives. Otherwise the removal stays, so whatever an earlier operation left is removed.
    static func withoutFinishedPairs(_ operations: [StoreOperation]) -> [StoreOperation] {
        let hasRemoval = operations.contains { if case .remove = $0 { return true } else { return false } }
        let hasAdd = operations.contains { if case .add = $0 { return true } else { return false } }
        guard hasRemoval && hasAdd else { return operations }
        var openAdd: [StoredJobKey: (index: Int, isFirst: Bool)] = [:]
        var touched = Set<StoredJobKey>()
        var dropped = [Bool](repeating: false, count: operations.count)
        var anyDropped = false
        for (index, operation) in operations.enumerated() {
            switch operation {
            case .add(let job):
                let isFirst = touched.insert(job.key).inserted
                openAdd[job.key] = (index, isFirst && openAdd[job.key] == nil)
            case .remove(let key):
                touched.insert(key)
                if let add = openAdd.removeValue(forKey: key) {
                    dropped[add.index] = true
                    dropped[index] = add.isFirst
                    anyDropped = true
                }
            }
        }
        guard anyDropped else { return operations }
        return operations.indices.compactMap { dropped[$0] ? nil : operations[$0] }
    }

    /// Counts `enqueue` calls. They are made with the core lock held, so a value read under
    /// that lock separates the batches enqueued before a moment from those enqueued after it.
    private let sequence = Atomic<UInt64>(0)

    /// Jobs whose `.add` failed, each with the `enqueue` count read after the core dropped the
    /// job. A background submission that coalesced onto such a job before it was dropped has its
    /// reply in a later batch, which must get QUEUE_ERROR too. Such a batch was enqueued by that
    /// count at the latest, so the entry is kept until a batch that recent was handed on.
    /// Touched only by the thread that hands batches on.
    private let rejectedJobs = Mutex<[UInt64: UInt64]>([:])

    private func commit(_ batch: Batch) {
        var reason: String? = nil
        if !batch.operations.isEmpty {
            do {
                let operations = Self.withoutFinishedPairs(batch.operations, jobs: batch.operationJobs)
                if !operations.isEmpty {
                    if syncer != nil {
                        try store.write(operations)
                    } else {
                        try store.commit(operations)
                    }
                }
            } catch {
                reason = "\(error)"
                // Removals of the failed batch are tried again with the next one, so a finished
                // job does not stay in the store; at worst it would run again after a restart.
                let removals = batch.operations.filter { if case .remove = $0 { return true } else { return false } }
                if !removals.isEmpty && !batch.isStopping {
                    pending.withLock { $0.prepend(removals: removals) }
                }
            }
        }
        let written = StoreSyncer.Written(
            acknowledgements: batch.acknowledgements, addedJobs: batch.addedJobs, writeFailure: reason,
            lastSequence: batch.lastSequence)
        if let syncer {
            syncer.submit(written)
        } else {
            handOn(written, failure: reason)
        }
    }

    /// Sends a batch's replies once it is durable, or QUEUE_ERROR for its new jobs when it is
    /// not. It runs on one thread only: the syncer's, or the committer's without a syncer.
    private func handOn(_ batch: StoreSyncer.Written, failure: String?) {
        // With a syncer, a batch of removals alone is handed on without a sync, so its success
        // does not show that the store works again.
        let showsRecovery = syncer == nil || batch.isWaitedFor
        var failedJobs = Set<UInt64>()
        if let failure {
            failedJobs = Set(batch.addedJobs)
            if !isFailing.exchange(true, ordering: .relaxed) {
                logger.error(
                    "queue store \(store.description) failed, background jobs are rejected until it works: \(failure)")
            }
        } else if showsRecovery && isFailing.exchange(false, ordering: .relaxed) {
            logger.notice("queue store \(store.description) works again")
        }
        let earlier = rejectedJobs.withLock { Set($0.keys) }
        deliver(batch.acknowledgements, failedJobs.union(earlier), failure)
        // Read after `deliver`, in which the core dropped the failed jobs under its lock.
        let bound = sequence.load(ordering: .acquiring)
        rejectedJobs.withLock { rejected in
            for job in failedJobs { rejected[job] = bound }
            if !rejected.isEmpty {
                rejected = rejected.filter { $0.value > batch.lastSequence }
            }
        }
    }
}
