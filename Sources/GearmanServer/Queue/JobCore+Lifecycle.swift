import GearmanKit

extension JobCore {
    /// Puts a job in its priority queue and wakes sleeping workers for it.
    func enqueue(_ job: Job, atHead: Bool, outbox: inout Outbox) {
        job.state = .queued
        metrics.jobEnqueued(job)
        let lane = job.priority.rawValue
        if atHead {
            job.function.queues[lane].prepend(job)
        } else {
            job.function.queues[lane].append(job)
        }
        wakeWorkers(of: job.function, count: configuration.workerWakeup, outbox: &outbox)
    }

    /// Holds a SUBMIT_JOB_EPOCH job until its run time.
    func schedule(_ job: Job, outbox: inout Outbox) {
        job.state = .scheduled
        job.function.scheduled[job.priority.rawValue] += 1
        // A run time up to Int64.max seconds is accepted (and stored), so the delay is capped
        // before it becomes milliseconds: the product would overflow and stop the server.
        let seconds = min(max(0, job.runAt - wallClockSeconds()), Self.maximumTimerDelay / 1000)
        armTimer(.release(job), at: monotonicMilliseconds() + seconds * 1000, outbox: &outbox)
    }

    /// The maximum delay of a timer, in milliseconds: about 100 years. Longer run times and
    /// CAN_DO_TIMEOUT values are cut to it, so that deadline arithmetic cannot overflow.
    static let maximumTimerDelay: Int64 = 100 * 365 * 24 * 3600 * 1000

    func armTimer(_ action: TimerAction, at deadline: Int64, outbox: inout Outbox) {
        if let earliest = timers.earliest, earliest <= deadline {
            timers.insert(action, deadline: deadline)
            return
        }
        timers.insert(action, deadline: deadline)
        outbox.deadlineChanged = true
    }

    /// The monotonic time in milliseconds of the next timer, if any.
    var nextDeadline: Int64? { timers.earliest }

    /// Runs every timer whose deadline has passed.
    func fireTimers(outbox: inout Outbox) {
        let now = monotonicMilliseconds()
        while let action = timers.popDue(now: now) {
            switch action {
            case .release(let job):
                guard case .scheduled = job.state else { continue }
                if job.isIgnored {
                    discard(job)
                } else {
                    job.function.scheduled[job.priority.rawValue] -= 1
                    enqueue(job, atHead: false, outbox: &outbox)
                }
            case .timeout(let job, let assignment):
                guard job.assignment == assignment, let worker = job.worker else { continue }
                worker.heldJobs.removeAll { $0 === job }
                let name = job.function.nameString
                returnToQueue(job, reason: "worker \(worker.peerAddress) timed out on \(name)", outbox: &outbox)
            }
        }
    }

    /// Takes a job back from a worker that lost it; after `--job-retries` attempts it fails instead.
    func returnToQueue(_ job: Job, reason: String, outbox: inout Outbox) {
        guard job.isRunning else { return }
        metrics.jobReturned(job)
        job.function.running -= 1
        job.state = .queued
        job.retries += 1
        job.numerator = 0
        job.denominator = 0
        let handleText = String(decoding: handle(of: job), as: UTF8.self)
        if job.isIgnored {
            discard(job)
            return
        }
        let limit = configuration.jobRetries
        if limit > 0 && job.retries >= limit {
            logger.notice("dropped job \(handleText) after \(job.retries) failed attempts: \(reason)")
            metrics.jobDropped(job)
            let handle = self.handle(of: job)[...]
            for listener in job.listeners {
                outbox.send(.workFail, [handle], to: listener)
            }
            discard(job)
            return
        }
        logger.info("requeued job \(handleText) (attempt \(job.retries)): \(reason)")
        enqueue(job, atHead: true, outbox: &outbox)
    }

    /// Finishes a job whose worker reported its outcome.
    func finish(_ job: Job, outbox: inout Outbox) {
        if let worker = job.worker {
            worker.heldJobs.removeAll { $0 === job }
            job.function.running -= 1
        }
        discard(job)
    }

    /// Marks a foreground job nobody waits for any more; it is dropped when a worker would get it.
    func ignore(_ job: Job) {
        job.isIgnored = true
    }

    /// Takes the queued jobs of `function` for which `shouldRemove` returns true out of its
    /// queues, keeping the others in order, and discards them.
    func discardQueuedJobs(of function: FunctionQueue, where shouldRemove: (Job) -> Bool) {
        for lane in function.queues.indices {
            for job in function.queues[lane].removeAll(where: shouldRemove) {
                discard(job)
            }
        }
    }

    /// Removes a job from every index. Its queue entry, if any, must already be gone.
    func discard(_ job: Job) {
        if case .scheduled = job.state {
            job.function.scheduled[job.priority.rawValue] -= 1
        }
        job.state = .finished
        unstore(job)
        jobs[job.number] = nil
        if let key = job.uniqueKey, uniqueIndex[key] === job {
            uniqueIndex[key] = nil
        }
        job.uniqueKey = nil
        for listener in job.listeners {
            listener.listenedJobs[job.number] = nil
        }
        job.listeners = []
    }

    /// Handles admin `cancel job`: foreground clients get WORK_FAIL and the job never runs again.
    /// Returns false when no such job exists.
    func cancel(handle: ArraySlice<UInt8>, outbox: inout Outbox) -> Bool {
        guard let job = job(forHandle: handle) else { return false }
        if job.isCancelled { return true }
        job.isCancelled = true
        job.isIgnored = true
        unstore(job)
        let handleBytes = self.handle(of: job)[...]
        for listener in job.listeners {
            outbox.send(.workFail, [handleBytes], to: listener)
            listener.listenedJobs[job.number] = nil
        }
        job.listeners = []
        if let key = job.uniqueKey, uniqueIndex[key] === job {
            uniqueIndex[key] = nil
        }
        job.uniqueKey = nil
        return true
    }
}
