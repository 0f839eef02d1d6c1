import GearmanKit

#if canImport(Glibc)
    import Glibc
#endif

/// Job counters and timing histograms per function, kept by the core for `GET /metrics`.
///
/// The core calls one method at each step of a job's life. Gauges such as queued and running
/// jobs are not kept here: a snapshot reads them from the function queues, so they always
/// agree with the admin `status` command.
struct Metrics {
    /// A Prometheus histogram of durations in seconds.
    struct Histogram: Sendable, Equatable {
        /// Upper bounds of the buckets, from 100 µs to 5 minutes; the `+Inf` bucket is implicit.
        static let bounds: [Double] = [
            0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
        ]
        /// The `le` label of each bound, written out so that the text never depends on how a
        /// floating-point number is printed.
        static let boundLabels: [String] = [
            "0.0001", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5",
            "5", "10", "30", "60", "300",
        ]

        /// Observations per bucket, not cumulative; the last entry counts those above every bound.
        private(set) var bucketCounts = [UInt64](repeating: 0, count: Histogram.bounds.count + 1)
        private(set) var sum: Double = 0
        private(set) var count: UInt64 = 0

        mutating func observe(seconds: Double) {
            var index = 0
            while index < Self.bounds.count && seconds > Self.bounds[index] { index += 1 }
            bucketCounts[index] += 1
            sum += seconds
            count += 1
        }

        /// The count of observations at or below each bound, then the total for `+Inf`.
        var cumulativeCounts: [UInt64] {
            var running: UInt64 = 0
            return bucketCounts.map { count in
                running += count
                return running
            }
        }
    }

    /// Outcome counters and timing histograms of one function's jobs since the server started.
    struct FunctionCounters: Sendable, Equatable {
        /// New jobs; a submission that coalesced with a queued or running job is not counted.
        var submitted: UInt64 = 0
        var completed: UInt64 = 0
        /// WORK_FAIL from a worker, and jobs dropped after `--job-retries` attempts.
        var failed: UInt64 = 0
        var exceptions: UInt64 = 0
        /// Jobs taken back from a worker that disconnected or timed out.
        var retried: UInt64 = 0
        /// Time from entering the queue to being taken by a worker.
        var queueWait = Histogram()
        /// Time from being taken by a worker to its WORK_COMPLETE, WORK_FAIL or WORK_EXCEPTION.
        var runTime = Histogram()
    }

    /// Counters by function name; a function keeps its counters after `drop function`.
    private(set) var functions: [[UInt8]: FunctionCounters] = [:]
    /// Returns monotonic nanoseconds; tests replace it.
    var clock: () -> Int64 = Metrics.readMonotonicNanoseconds

    mutating func jobSubmitted(_ job: Job) {
        functions[job.function.name, default: FunctionCounters()].submitted += 1
    }

    /// Notes when a job enters its queue, at submission, on release of a scheduled job and on retry.
    func jobEnqueued(_ job: Job) {
        job.enteredStateAt = clock()
    }

    /// Records the queue wait of a job that a worker took.
    mutating func jobStarted(_ job: Job) {
        let now = clock()
        let waited = Self.seconds(from: job.enteredStateAt, to: now)
        job.enteredStateAt = now
        functions[job.function.name, default: FunctionCounters()].queueWait.observe(seconds: waited)
    }

    /// Records the outcome and run time of a job whose worker sent WORK_COMPLETE, WORK_FAIL or
    /// WORK_EXCEPTION; other packet types are ignored.
    mutating func jobReported(_ job: Job, result: PacketType) {
        let outcome: WritableKeyPath<FunctionCounters, UInt64>
        switch result {
        case .workComplete: outcome = \.completed
        case .workFail: outcome = \.failed
        case .workException: outcome = \.exceptions
        default: return
        }
        let ran = Self.seconds(from: job.enteredStateAt, to: clock())
        functions[job.function.name, default: FunctionCounters()][keyPath: outcome] += 1
        functions[job.function.name, default: FunctionCounters()].runTime.observe(seconds: ran)
    }

    /// Counts a job taken back from a worker that disconnected or timed out.
    mutating func jobReturned(_ job: Job) {
        functions[job.function.name, default: FunctionCounters()].retried += 1
    }

    /// Counts a job dropped after `--job-retries` attempts as failed.
    mutating func jobDropped(_ job: Job) {
        functions[job.function.name, default: FunctionCounters()].failed += 1
    }

    private static func seconds(from start: Int64, to end: Int64) -> Double {
        Double(max(0, end - start)) / 1_000_000_000
    }

    static func readMonotonicNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
