import GearmanKit

extension JobCore {
    /// Queues a background job for storing and holds back its JOB_CREATED until it is durable.
    ///
    /// A job already stored needs no new `.add`; its acknowledgement still waits for the
    /// committer so that it cannot overtake earlier held replies.
    func persist(_ job: Job, acknowledging session: Session, outbox: inout Outbox) {
        guard committer != nil else {
            outbox.send(.jobCreated, [handle(of: job)[...]], to: session)
            return
        }
        if job.storedKey == nil {
            // The store's key must be unique per function; a job without a usable unique key
            // (empty, or `-` whose key is the payload) is stored under its handle instead.
            let isPayloadKey = job.unique.count == 1 && job.unique.first == UInt8(ascii: "-")
            let unique = job.unique.isEmpty || isPayloadKey ? handle(of: job) : Array(job.unique)
            let stored = StoredJob(
                function: job.function.name, unique: unique, priority: job.priority, data: Array(job.data),
                runAt: job.runAt)
            job.storedKey = stored.key
            if session.heldOutputs == 0 { outbox.markHoldStart(for: session.connectionID) }
            session.heldOutputs += 1
            stagedStoreBatch.append(
                .add(stored), job: job.number,
                acknowledgement: acknowledgement(jobCreated(job), for: session, requiredJob: job.number))
            if stagedStoreBatch.addedJobs.count >= Self.handOverAdds { handStagedStoreBatch() }
            return
        }
        if session.heldOutputs == 0 { outbox.markHoldStart(for: session.connectionID) }
        hold(jobCreated(job), for: session, requiredJob: job.number)
    }

    private func jobCreated(_ job: Job) -> Outbox.Output {
        .packet(Packet(magic: .response, type: .jobCreated, arguments: [handle(of: job)[...]]))
    }

    private func acknowledgement(_ output: Outbox.Output, for session: Session, requiredJob: UInt64?)
        -> StoreCommitter.Acknowledgement
    {
        StoreCommitter.Acknowledgement(
            connectionID: session.connectionID, loopIndex: session.loopIndex, output: output, requiredJob: requiredJob)
    }

    /// The number of staged new jobs at which the core hands them to the committer at once,
    /// instead of at the end of the event-loop pass. A client that sends hundreds of jobs in one
    /// write then has the first of them written to the store while the rest are still parsed.
    /// 32 is one multi-row INSERT of the SQLite store. In the bg benchmark with batches of 500,
    /// 16 and 32 gave the same rate within the noise, and 128 a few percent less.
    static let handOverAdds = 32

    /// Queues the removal of a finished or cancelled job from the persistent queue.
    func unstore(_ job: Job) {
        guard let key = job.storedKey else { return }
        job.storedKey = nil
        if committer != nil { stagedStoreBatch.append(.remove(key), job: job.number) }
    }

    private func hold(_ output: Outbox.Output, for session: Session, requiredJob: UInt64?) {
        session.heldOutputs += 1
        if committer != nil { stagedStoreBatch.append(acknowledgement(output, for: session, requiredJob: requiredJob)) }
    }

    /// Hands the store operations staged under the core lock to the committer; called by
    /// `ServerRuntime.withCore` before it releases the lock.
    func handStagedStoreBatch() {
        guard let committer, !stagedStoreBatch.isEmpty else { return }
        committer.enqueue(stagedStoreBatch)
        stagedStoreBatch = StoreCommitter.Batch()
    }

    /// Moves output for connections that have replies held in the committer behind those
    /// replies; call before releasing the core lock. Output that a connection's requests
    /// produced before its first held reply of this pass goes out at once, because it replies to
    /// earlier requests.
    func routeHeldOutputs(_ outbox: inout Outbox) {
        guard committer != nil else { return }
        let holdStarts = outbox.holdStarts
        outbox.removeAll { position, item in
            guard let session = sessions[item.connectionID], session.heldOutputs > 0 else { return false }
            if let start = holdStarts[item.connectionID], position < start { return false }
            hold(item.output, for: session, requiredJob: nil)
            return true
        }
    }

    /// Releases the held-output counts after a batch was committed or failed, and drops the jobs
    /// that were not stored. A foreground client that joined one of them gets WORK_FAIL, as after
    /// a cancel.
    ///
    /// `heldReleases` counts the batch's acknowledgements per connection. The replies themselves
    /// are built by `deliveries(of:failedJobs:reason:)` outside the core lock.
    func acknowledged(heldReleases: [Int: Int], failedJobs: Set<UInt64>, outbox: inout Outbox) {
        // A job the store rejected must not stay behind in `status` counts or keep a graceful
        // stop waiting, so it leaves its queue now instead of when a worker would take it.
        var queuedByFunction: [ObjectIdentifier: (function: FunctionQueue, numbers: Set<UInt64>)] = [:]
        for number in failedJobs {
            guard let job = jobs[number] else { continue }
            job.storedKey = nil
            _ = cancel(handle: handle(of: job)[...], outbox: &outbox)
            switch job.state {
            case .queued:
                queuedByFunction[ObjectIdentifier(job.function), default: (job.function, [])].numbers.insert(number)
            case .scheduled:
                discard(job)
            case .running, .finished:
                // A worker already took it: as after a cancel, its result is dropped.
                break
            }
        }
        for (function, numbers) in queuedByFunction.values {
            discardQueuedJobs(of: function) { numbers.contains($0.number) }
        }
        for (connectionID, count) in heldReleases {
            sessions[connectionID]?.heldOutputs -= count
        }
    }

    /// Counts the acknowledgements of each connection, for `acknowledged(heldReleases:...)`.
    static func heldReleases(of acknowledgements: [StoreCommitter.Acknowledgement]) -> [Int: Int] {
        var counts: [Int: Int] = [:]
        var last = -1
        var run = 0
        // A batch contains long runs for the same connection, so count runs before hashing.
        for acknowledgement in acknowledgements {
            if acknowledgement.connectionID == last {
                run += 1
            } else {
                if run > 0 { counts[last, default: 0] += run }
                last = acknowledgement.connectionID
                run = 1
            }
        }
        if run > 0 { counts[last, default: 0] += run }
        return counts
    }

    /// Returns the replies of a committed batch, in order. The reply of a job that was not
    /// stored becomes ERROR QUEUE_ERROR with the reason.
    static func deliveries(
        of acknowledgements: [StoreCommitter.Acknowledgement], failedJobs: Set<UInt64>, reason: String?
    ) -> [(connectionID: Int, loopIndex: Int, output: Outbox.Output)] {
        var deliveries: [(connectionID: Int, loopIndex: Int, output: Outbox.Output)] = []
        deliveries.reserveCapacity(acknowledgements.count)
        for acknowledgement in acknowledgements {
            var output = acknowledgement.output
            if !failedJobs.isEmpty, let job = acknowledgement.requiredJob, failedJobs.contains(job) {
                let message = "Job could not be stored in the persistent queue: \(reason ?? "unknown error")"
                output = .packet(
                    Packet(
                        magic: .response, type: .error,
                        arguments: [Array("QUEUE_ERROR".utf8)[...], Array(message.utf8)[...]]))
            }
            deliveries.append((acknowledgement.connectionID, acknowledgement.loopIndex, output))
        }
        return deliveries
    }

    /// Returns the job number of a stored unique key of the form `<handle prefix>:<number>`, or
    /// nil for other keys. This server stores a job without a usable unique key under its handle.
    func storedHandleNumber(of stored: StoredJob) -> UInt64? {
        let prefixLength = handlePrefix.count + 1
        guard stored.unique.count > prefixLength, stored.unique.starts(with: handlePrefix),
            stored.unique[handlePrefix.count] == UInt8(ascii: ":")
        else { return nil }
        let digits = stored.unique[prefixLength...]
        guard digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return UInt64(String(decoding: digits, as: UTF8.self))
    }

    /// Recreates the jobs of a persistent queue at start-up, before any connection is accepted.
    func restore(_ storedJobs: [StoredJob], outbox: inout Outbox) {
        // A job without a usable unique key is stored under its handle, and handle numbers start
        // again at 1 with every start. New jobs are numbered above every stored handle, so a new
        // job's key cannot replace a stored row, nor be removed with it.
        if let highest = storedJobs.compactMap({ storedHandleNumber(of: $0) }).max(), highest >= nextJobNumber {
            nextJobNumber = highest + 1
        }
        for stored in storedJobs {
            let function = self.function(named: stored.function[...])
            let unique = stored.unique[...]
            let key = unique.isEmpty ? nil : UniqueKey(function: function.name, key: unique)
            if let key, uniqueIndex[key] != nil { continue }
            let job = Job(
                number: nextJobNumber, function: function, unique: unique, data: stored.data[...], reducer: nil,
                priority: stored.priority, isBackground: true, runAt: stored.runAt, sequence: nextSequence)
            nextJobNumber += 1
            nextSequence += 1
            jobs[job.number] = job
            job.storedKey = stored.key
            if let key {
                job.uniqueKey = key
                uniqueIndex[key] = job
            }
            if stored.runAt > 0 && stored.runAt > wallClockSeconds() {
                schedule(job, outbox: &outbox)
            } else {
                enqueue(job, atHead: false, outbox: &outbox)
            }
        }
    }
}
