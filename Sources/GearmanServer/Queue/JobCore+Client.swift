import GearmanKit

extension JobCore {
    /// The maximum unique key length accepted, in bytes.
    static let maximumUniqueLength = 64

    /// Handles every SUBMIT_* variant: coalesces on the unique key, enforces `maxqueue`, queues or
    /// schedules the job, replies JOB_CREATED and wakes sleeping workers.
    func submit(
        _ packet: Packet, priority: JobPriority, background: Bool, from session: Session, outbox: inout Outbox
    ) -> Disposition {
        let functionName = packet.argument(0)
        let unique = packet.argument(1)
        var runAt: Int64 = 0
        var reducer: ArraySlice<UInt8>? = nil
        let data: ArraySlice<UInt8>
        switch packet.type {
        case .submitJobEpoch:
            runAt = Int64(Self.parseInteger(packet.argument(2)))
            data = packet.argument(3)
        case .submitReduceJob, .submitReduceJobBackground:
            reducer = packet.argument(2)
            data = packet.argument(4)
        default:
            data = packet.argument(2)
        }
        if unique.count > Self.maximumUniqueLength {
            reject(session, "ARGUMENT_TOO_LARGE", "Unique value too large", outbox: &outbox)
            return .keepOpen
        }

        let function = self.function(named: functionName)
        var key: UniqueKey? = nil
        if !unique.isEmpty {
            let isPayloadKey = unique.count == 1 && unique.first == UInt8(ascii: "-")
            if !(isPayloadKey && data.isEmpty) {
                key = UniqueKey(function: function.name, key: isPayloadKey ? data : unique, isPayload: isPayloadKey)
            }
        }
        if let key, let existing = uniqueIndex[key] {
            attach(session, to: existing, background: background)
            if background {
                persist(existing, acknowledging: session, outbox: &outbox)
            } else {
                outbox.send(.jobCreated, [handle(of: existing)[...]], to: session)
            }
            return .keepOpen
        }

        let limit = function.maxQueue[priority.rawValue]
        if limit > 0 && function.total >= limit {
            reject(session, "QUEUE_ERROR", "Job queue is full", outbox: &outbox)
            return .keepOpen
        }

        let job = Job(
            number: nextJobNumber, function: function, unique: unique, data: data, reducer: reducer,
            priority: priority, isBackground: background, runAt: runAt, sequence: nextSequence)
        nextJobNumber += 1
        nextSequence += 1
        jobs[job.number] = job
        metrics.jobSubmitted(job)
        if let key {
            job.uniqueKey = key
            uniqueIndex[key] = job
        }
        attach(session, to: job, background: background)
        if background {
            persist(job, acknowledging: session, outbox: &outbox)
        } else {
            outbox.send(.jobCreated, [handle(of: job)[...]], to: session)
        }

        if runAt > 0 && runAt > wallClockSeconds() {
            schedule(job, outbox: &outbox)
        } else {
            enqueue(job, atHead: false, outbox: &outbox)
        }
        return .keepOpen
    }

    /// Adds a foreground submitter as a listener of `job`; a background submitter gets only the
    /// handle, and its acknowledgement makes the job run even if every foreground client leaves.
    func attach(_ session: Session, to job: Job, background: Bool) {
        if background {
            job.isBackground = true
            job.isIgnored = false
            return
        }
        job.isIgnored = false
        if !job.listeners.contains(where: { $0 === session }) {
            job.listeners.append(session)
            session.listenedJobs[job.number] = job
        }
    }

    /// Replies STATUS_RES for GET_STATUS.
    func sendStatus(handle: ArraySlice<UInt8>, to session: Session, outbox: inout Outbox) {
        let known = job(forHandle: handle)
        outbox.send(.statusResponse, statusFields(prefix: handle, job: known), to: session)
    }

    /// Replies STATUS_RES_UNIQUE for GET_STATUS_UNIQUE.
    ///
    /// The unique key alone does not name a function, so the first job with that key in any
    /// function is reported, as gearmand does.
    func sendUniqueStatus(unique: ArraySlice<UInt8>, to session: Session, outbox: inout Outbox) {
        var found: Job? = nil
        if !unique.isEmpty {
            found = firstJob(withUnique: unique)
        }
        var fields = statusFields(prefix: unique, job: found)
        fields.append(Array(String(found?.listeners.count ?? 0).utf8)[...])
        outbox.send(.statusResponseUnique, fields, to: session)
    }

    /// Returns the job with the explicit unique key `unique` in the function created first.
    ///
    /// Functions stay listed until `drop function`, so a client can make thousands with CAN_DO
    /// and leave. The search therefore walks the functions or the keyed jobs, whichever are
    /// fewer, as gearmand 1.1 walks its job table.
    private func firstJob(withUnique unique: ArraySlice<UInt8>) -> Job? {
        if functionOrder.count <= uniqueIndex.count {
            for function in functionOrder where function.total > 0 {
                if let job = uniqueIndex[UniqueKey(function: function.name, key: unique)] { return job }
            }
            return nil
        }
        let matches = uniqueIndex.values.filter { job in
            guard let key = job.uniqueKey else { return false }
            return !key.isPayload && key.key.elementsEqual(unique)
        }
        if matches.count <= 1 { return matches.first }
        return functionOrder.lazy.compactMap { function in matches.first { $0.function === function } }.first
    }

    private func statusFields(prefix: ArraySlice<UInt8>, job: Job?) -> [ArraySlice<UInt8>] {
        func field(_ value: some BinaryInteger) -> ArraySlice<UInt8> { Array(String(value).utf8)[...] }
        guard let job, !job.isCancelled else {
            return [prefix, field(0), field(0), field(0), field(0)]
        }
        return [prefix, field(1), field(job.isRunning ? 1 : 0), field(job.numerator), field(job.denominator)]
    }

    /// Handles OPTION_REQ; only `exceptions` is known.
    func setOption(_ body: ArraySlice<UInt8>, for session: Session, outbox: inout Outbox) {
        // As gearmand 1.1.20 does, the name ends at a NUL and the reply echoes the whole body.
        if String(decoding: Self.leadingField(body), as: UTF8.self).lowercased() == "exceptions" {
            session.wantsExceptions = true
            outbox.send(.optionResponse, [body], to: session)
        } else {
            reject(session, "UNKNOWN_OPTION", "Server does not recognize given option", outbox: &outbox)
        }
    }
}
