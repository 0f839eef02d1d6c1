import CGearmanSystem
import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A task executor that runs jobs on the reader thread of one `PacketChannel`.
///
/// A worker's job handler that runs here needs no hand-off between threads: the reader thread
/// reads JOB_ASSIGN, runs the handler, and writes the result. Jobs enqueued from other threads
/// (a handler resuming after an `await`) wake the reader through an eventfd. After the
/// channel's reader thread ended, jobs still run on this executor, on a thread of Dispatch's
/// global queue.
///
/// The global concurrent executor is not used for them: it has one thread per core, and while
/// all of those are busy a job handed to it does not run at all.
final class ChannelExecutor: TaskExecutor, Sendable {
    private struct State {
        var jobs: [UnownedJob] = []
        /// Whether the eventfd was written since the reader last drained it.
        var isSignalled = false
        /// Set when the reader thread ended; jobs then run on Dispatch threads.
        var isForwarding = false
    }

    private let state = Mutex(State())
    /// Readable when jobs were enqueued from another thread.
    let wakeFD: Int32
    /// The reader thread, as `pthread_self()` reports it; 0 until the thread starts.
    private let readerThread = Atomic<UInt>(0)

    init() {
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
    }

    deinit {
        close(wakeFD)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unownedJob = UnownedJob(job)
        let onReader = pthread_self() == readerThread.load(ordering: .relaxed)
        let (forward, signal) = state.withLock { state -> (Bool, Bool) in
            if state.isForwarding { return (true, false) }
            state.jobs.append(unownedJob)
            // The reader runs the queue after each frame, so it needs no signal from itself.
            if onReader || state.isSignalled { return (false, false) }
            state.isSignalled = true
            return (false, true)
        }
        if forward {
            runElsewhere(unownedJob)
            return
        }
        if signal {
            var one: UInt64 = 1
            _ = write(wakeFD, &one, 8)
        }
    }

    func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }

    /// Marks the calling thread as the reader; call first thing on the reader thread.
    func attachReaderThread() {
        readerThread.store(pthread_self(), ordering: .relaxed)
    }

    /// Runs every queued job, including those the jobs enqueue meanwhile; reader thread only.
    func runQueued() {
        while true {
            let jobs = state.withLock { state -> [UnownedJob] in
                let taken = state.jobs
                state.jobs.removeAll(keepingCapacity: true)
                return taken
            }
            if jobs.isEmpty { return }
            for job in jobs {
                job.runSynchronously(on: asUnownedTaskExecutor())
            }
        }
    }

    /// Clears the wake-up signal after the reader saw the eventfd readable.
    func acknowledgeWake() {
        var value: UInt64 = 0
        _ = read(wakeFD, &value, 8)
        state.withLock { $0.isSignalled = false }
    }

    /// Called when the reader thread ends: the jobs still queued, and all later ones, run on
    /// Dispatch threads.
    func detachReaderThread() {
        let remaining = state.withLock { state -> [UnownedJob] in
            state.isForwarding = true
            let taken = state.jobs
            state.jobs = []
            return taken
        }
        readerThread.store(0, ordering: .relaxed)
        for job in remaining {
            runElsewhere(job)
        }
    }

    /// Runs a job as this executor's on a Dispatch thread, once the reader thread is gone.
    private func runElsewhere(_ job: UnownedJob) {
        DispatchQueue.global().async {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
