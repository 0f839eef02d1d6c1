import CGearmanSystem
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The second half of a split commit: a thread that makes written batches durable with one
/// `QueueStore.sync()` for everything written meanwhile, then hands each batch on in order.
///
/// While it syncs, the committer thread already writes the next batch, so a store whose sync is
/// an fsync spends the fsync's wait on useful work.
final class StoreSyncer: Sendable {
    /// A batch that was written, or failed to write, and waits for the sync.
    struct Written: Sendable {
        let acknowledgements: [StoreCommitter.Acknowledgement]
        let addedJobs: [UInt64]
        /// The reason the write failed, or nil when it succeeded.
        let writeFailure: String?
        /// `StoreCommitter.Batch.lastSequence` of the batch.
        let lastSequence: UInt64

        /// True when a reply or a new job depends on this batch being durable.
        var isWaitedFor: Bool { !acknowledgements.isEmpty || !addedJobs.isEmpty }
    }

    private struct Queue {
        var batches: [Written] = []
        var isStopping = false
    }

    private let store: any QueueStore
    private let queue = Mutex(Queue())
    private let wakeFD: Int32
    private let finished = Atomic<Bool>(false)
    /// Called on the syncer thread for each batch, in order, with the reason when the batch
    /// is not durable.
    private let handOn: @Sendable (Written, _ failure: String?) -> Void

    init(store: any QueueStore, handOn: @escaping @Sendable (Written, String?) -> Void) {
        self.store = store
        self.handOn = handOn
        wakeFD = eventfd(0, Int32(EFD_CLOEXEC))
    }

    deinit {
        close(wakeFD)
    }

    /// Queues a written batch for the next sync.
    func submit(_ batch: Written) {
        queue.withLock { $0.batches.append(batch) }
        signal()
    }

    /// Starts the syncer thread.
    func start() {
        // NOTE: a failure to start the thread is ignored, and stored jobs would then wait for ever.
        _ = PosixThread.startDetached { self.run() }
    }

    /// Syncs and hands on what is queued, then ends the thread; blocks until done.
    func stop() {
        queue.withLock { $0.isStopping = true }
        signal()
        while !finished.load(ordering: .acquiring) {
            usleep(1000)
        }
    }

    private func signal() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    private func run() {
        while true {
            var value: UInt64 = 0
            _ = read(wakeFD, &value, 8)
            let (batches, isStopping) = queue.withLock { queue in
                let taken = queue.batches
                queue.batches.removeAll(keepingCapacity: true)
                return (taken, queue.isStopping)
            }
            if !batches.isEmpty {
                var syncFailure: String? = nil
                // Removals need no sync, because one lost in a crash only runs its job again. So a
                // sync is made only for batches that something waits for.
                if batches.contains(where: { $0.writeFailure == nil && $0.isWaitedFor }) {
                    do {
                        try store.sync()
                    } catch {
                        syncFailure = "\(error)"
                    }
                }
                for batch in batches {
                    handOn(batch, batch.writeFailure ?? syncFailure)
                }
            }
            if isStopping && queue.withLock({ $0.batches.isEmpty }) {
                finished.store(true, ordering: .releasing)
                return
            }
        }
    }
}
