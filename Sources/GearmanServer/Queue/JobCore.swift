import GearmanKit

#if canImport(Glibc)
    import Glibc
#endif

/// The job state of a server: functions and their queues, jobs by handle, the unique-key index,
/// sessions and timers.
///
/// Every method must be called with the server's core lock held; the I/O loops parse packets,
/// take the lock once per batch, call `handle`, and deliver the `Outbox` afterwards. Nothing
/// here touches a socket, so unit tests drive it directly.
final class JobCore: @unchecked Sendable {  // Sendable only because the core lock guards every access.
    /// The next step for the connection after a frame was handled.
    enum Disposition: Equatable {
        case keepOpen
        /// Close after the queued output is written; the reason is logged.
        case close(reason: String)
        /// Stop the whole server (admin `shutdown`); `graceful` waits for queued jobs.
        case shutdown(graceful: Bool)
    }

    /// A pending timer action.
    enum TimerAction {
        /// A SUBMIT_JOB_EPOCH job reaches its run time.
        case release(Job)
        /// A worker's CAN_DO_TIMEOUT for one assignment of a job expires.
        case timeout(Job, assignment: UInt64)
    }

    var configuration: ServerConfiguration
    let logger: Logger
    let handlePrefix: [UInt8]

    var functions: [[UInt8]: FunctionQueue] = [:]
    /// Function names in the order they were first seen, which `status` follows.
    var functionOrder: [FunctionQueue] = []
    var jobs = ShardedDictionary<UInt64, Job>()
    var uniqueIndex = ShardedDictionary<UniqueKey, Job>()
    var sessions: [Int: Session] = [:]
    var timers = DeadlineHeap<TimerAction>()
    /// Job counters and timing histograms for `GET /metrics` of the HTTP module.
    var metrics = Metrics()

    /// The persistent queue's committer, or nil with the in-memory queue.
    var committer: StoreCommitter?
    /// Store operations and held replies of the current locked section, for the committer.
    var stagedStoreBatch = StoreCommitter.Batch()

    var nextJobNumber: UInt64 = 1
    var nextSequence: UInt64 = 0
    var nextAssignment: UInt64 = 0

    /// Called by `status`-type queries and tests to read the current time; replaceable in tests.
    var monotonicMilliseconds: () -> Int64 = JobCore.readMonotonicClock
    var wallClockSeconds: () -> Int64 = { Int64(time(nil)) }

    init(configuration: ServerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.handlePrefix = Array((configuration.jobHandlePrefix ?? JobCore.defaultHandlePrefix()).utf8)
    }

    // MARK: Sessions

    func connect(connectionID: Int, loopIndex: Int, fd: Int32, peerAddress: String) -> Session {
        let session = Session(
            connectionID: connectionID, loopIndex: loopIndex, fd: fd, peerAddress: peerAddress,
            wantsExceptions: configuration.exceptions)
        sessions[connectionID] = session
        return session
    }

    /// Releases everything a closed connection held: its jobs go back to their queues and the
    /// foreground jobs it alone waited for are marked to be discarded.
    func disconnect(_ session: Session, outbox: inout Outbox) {
        sessions[session.connectionID] = nil
        for job in session.listenedJobs.values {
            job.listeners.removeAll { $0 === session }
            if job.listeners.isEmpty && !job.isBackground {
                ignore(job)
            }
        }
        session.listenedJobs = [:]
        let held = session.heldJobs
        session.heldJobs = []
        for job in held {
            returnToQueue(job, reason: "worker \(session.peerAddress) disconnected", outbox: &outbox)
        }
        let wasWoken = session.isSleeping && session.wasWoken
        let abilities = session.abilities
        resetAbilities(of: session)
        if wasWoken {
            // The NOOP sent to this worker will never turn into a GRAB, so hand it to another.
            for ability in abilities where ability.function.hasRunnableJobs {
                wakeWorkers(of: ability.function, count: 1, outbox: &outbox)
            }
        }
    }

    // MARK: Handles

    func handle(of job: Job) -> [UInt8] {
        var bytes = handlePrefix
        bytes.append(UInt8(ascii: ":"))
        bytes.append(contentsOf: String(job.number).utf8)
        return bytes
    }

    /// Finds the job a handle names, or nil when the handle is not one of this server's.
    func job(forHandle handle: ArraySlice<UInt8>) -> Job? {
        guard handle.count > handlePrefix.count + 1,
            handle.starts(with: handlePrefix),
            handle[handle.startIndex + handlePrefix.count] == UInt8(ascii: ":")
        else { return nil }
        let digits = handle.dropFirst(handlePrefix.count + 1)
        // Only the handle as issued names the job: "H:host:01" would reach job 1, and a result
        // sent for it would go to its client under a handle that client never saw.
        if digits.first == UInt8(ascii: "0") { return nil }
        var number: UInt64 = 0
        for byte in digits {
            guard byte >= 48 && byte <= 57 else { return nil }
            let (product, overflow1) = number.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = product.addingReportingOverflow(UInt64(byte - 48))
            if overflow1 || overflow2 { return nil }
            number = sum
        }
        return jobs[number]
    }

    // MARK: Functions

    func function(named name: ArraySlice<UInt8>) -> FunctionQueue {
        let key = Array(name)
        if let existing = functions[key] { return existing }
        let created = FunctionQueue(name: key)
        functions[key] = created
        functionOrder.append(created)
        return created
    }

    func removeFunction(_ function: FunctionQueue) {
        functions[function.name] = nil
        functionOrder.removeAll { $0 === function }
    }

    // MARK: Clock

    static func readMonotonicClock() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    static func defaultHandlePrefix() -> String {
        var name = utsname()
        uname(&name)
        let node = withUnsafeBytes(of: &name.nodename) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return "H:\(node)"
    }
}

extension FunctionQueue {
    /// Whether a job of this function is in a queue now (scheduled jobs excluded).
    var hasRunnableJobs: Bool {
        !queues[0].isEmpty || !queues[1].isEmpty || !queues[2].isEmpty
    }
}
