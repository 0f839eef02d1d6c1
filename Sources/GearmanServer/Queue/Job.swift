import GearmanKit

/// One submitted job, from JOB_CREATED until its result or failure is relayed.
///
/// Owned by `JobCore` and read or changed only while its lock is held.
final class Job {
    /// The stage of a job's life.
    enum State {
        /// Waiting in its function's queue for a worker.
        case queued
        /// Waiting for its run time (SUBMIT_JOB_EPOCH) before it enters the queue.
        case scheduled
        /// Assigned to a worker that has not finished it.
        case running(Session)
        /// Completed, failed or cancelled; kept alive only by stale references.
        case finished
    }

    /// The counter that forms the handle `<prefix>:<number>`.
    let number: UInt64
    let function: FunctionQueue
    /// The unique key as the client sent it; empty when none was given.
    let unique: ArraySlice<UInt8>
    let data: ArraySlice<UInt8>
    /// The reducer function of a SUBMIT_REDUCE_JOB, or nil.
    let reducer: ArraySlice<UInt8>?
    let priority: JobPriority
    /// Whether a client submitted the job in the background, so it must run even when no
    /// client waits for it. It is also set when a background submission coalesces onto a foreground job.
    var isBackground: Bool
    /// The Unix time before which the job must not run, or 0.
    let runAt: Int64
    /// The order of submission, used to keep FIFO order across functions.
    let sequence: UInt64

    var state: State = .queued
    /// Foreground clients that receive the job's WORK_* packets.
    var listeners: [Session] = []
    /// How often a worker took the job and lost it (disconnect or timeout).
    var retries = 0
    /// Set when the job's last foreground client left or the job was cancelled; such a job is
    /// discarded when a worker would get it, and a result for it is dropped.
    var isIgnored = false
    /// Set by `cancel job`; a cancelled job never gets new listeners.
    var isCancelled = false
    var numerator: UInt32 = 0
    var denominator: UInt32 = 0
    /// Changes on every assignment, so a timeout armed for an earlier assignment is recognised as stale.
    var assignment: UInt64 = 0
    /// Monotonic nanoseconds when the job last entered its queue, or when its worker took it
    /// while it runs. `Metrics` sets it for the queue-wait and run-time histograms.
    var enteredStateAt: Int64 = 0
    /// The key under which the job is in the unique index, if it is there.
    var uniqueKey: UniqueKey?
    /// The key under which the job is in the persistent queue, once it was queued for storing.
    var storedKey: StoredJobKey?

    init(
        number: UInt64, function: FunctionQueue, unique: ArraySlice<UInt8>, data: ArraySlice<UInt8>,
        reducer: ArraySlice<UInt8>?, priority: JobPriority, isBackground: Bool, runAt: Int64, sequence: UInt64
    ) {
        self.number = number
        self.function = function
        self.unique = unique
        self.data = data
        self.reducer = reducer
        self.priority = priority
        self.isBackground = isBackground
        self.runAt = runAt
        self.sequence = sequence
    }

    var isRunning: Bool {
        if case .running = state { return true }
        return false
    }

    var worker: Session? {
        if case .running(let session) = state { return session }
        return nil
    }
}

/// The key under which jobs coalesce: the function name and the unique key (or, for the unique
/// key `-`, the workload).
struct UniqueKey: Hashable {
    let function: [UInt8]
    let key: ArraySlice<UInt8>
    /// Whether `key` is the workload of a job submitted with the unique key `-`; such keys never
    /// match an explicit unique key with the same bytes.
    let isPayload: Bool
    /// The hash of the three fields, computed once: a submission looks the key up in a sharded
    /// dictionary (two hashes), inserts it (two more) and removes it when the job ends.
    private let bytesHash: Int

    init(function: [UInt8], key: ArraySlice<UInt8>, isPayload: Bool = false) {
        self.function = function
        self.key = key
        self.isPayload = isPayload
        // Hashes the bytes as blocks, because the synthesized version goes byte by byte, which
        // showed up in profiles of bulk submission.
        var hasher = Hasher()
        hasher.combineBytes(of: function)
        hasher.combineBytes(of: key)
        hasher.combine(isPayload)
        bytesHash = hasher.finalize()
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(bytesHash)
    }

    static func == (left: UniqueKey, right: UniqueKey) -> Bool {
        left.bytesHash == right.bytesHash && left.isPayload == right.isPayload && bytesEqual(left.key, right.key)
            && bytesEqual(left.function, right.function)
    }
}
