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
            session.heldOutputs += 1
            stagedStoreBatch.append(
                .add(stored), job: job.number,
                acknowledgement: acknowledgement(jobCreated(job), for: session, requiredJob: job.number))
            return
        }
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

    /// Queues the removal of a finished or cancelled job from the persistent queue.
    func unstore(_ job: Job) {
        guard let key = job.storedKey else { return }
        job.storedKey = nil
        if committer != nil { stagedStoreBatch.append(.remove(key)) }
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
    /// replies; call before releasing the core lock.
    func routeHeldOutputs(_ outbox: inout Outbox) {
        guard committer != nil else { return }
        outbox.removeAll { item in
            guard let session = sessions[item.connectionID], session.heldOutputs > 0 else { return false }
            hold(item.output, for: session, requiredJob: nil)
            return true
        }
    }

    /// Called after a batch was committed (or failed): releases the held-output counts and
    /// turns the replies of jobs that were not stored into QUEUE_ERROR, dropping those jobs.
    func acknowledged(
        _ acknowledgements: [StoreCommitter.Acknowledgement], failedJobs: Set<UInt64>, reason: String?,
        outbox: inout Outbox
    ) -> [(connectionID: Int, loopIndex: Int, output: Outbox.Output)] {
        for number in failedJobs {
            guard let job = jobs[number] else { continue }
            // The job was never acknowledged, so it may go; a foreground client that joined it
            // gets WORK_FAIL as after a cancel.
            job.storedKey = nil
            _ = cancel(handle: handle(of: job)[...], outbox: &outbox)
        }
        var deliveries: [(connectionID: Int, loopIndex: Int, output: Outbox.Output)] = []
        for acknowledgement in acknowledgements {
            if let session = sessions[acknowledgement.connectionID] {
                session.heldOutputs -= 1
            }
            var output = acknowledgement.output
            if let job = acknowledgement.requiredJob, failedJobs.contains(job) {
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

    /// Recreates the jobs of a persistent queue at start-up, before any connection is accepted.
    func restore(_ storedJobs: [StoredJob], outbox: inout Outbox) {
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
