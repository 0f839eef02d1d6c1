import GearmanKit

extension JobCore {
    // MARK: Abilities

    /// Handles CAN_DO and CAN_DO_TIMEOUT (`timeout` in milliseconds, 0 for none).
    func register(_ session: Session, for name: ArraySlice<UInt8>, timeout: Int) {
        let function = self.function(named: name)
        function.registrations += 1
        if !function.workers.contains(where: { $0 === session }) {
            function.workers.append(session)
        }
        session.abilities.append(Session.Ability(function: function, timeout: max(0, timeout)))
    }

    /// Handles CANT_DO: removes every registration of the name; unknown names are ignored.
    ///
    /// Jobs the worker already holds stay with it, so it can still report their results.
    func unregister(_ session: Session, from name: ArraySlice<UInt8>) {
        guard let function = functions[Array(name)] else { return }
        let before = session.abilities.count
        session.abilities.removeAll { $0.function === function }
        let removed = before - session.abilities.count
        guard removed > 0 else { return }
        function.registrations -= removed
        function.workers.removeAll { $0 === session }
    }

    /// Handles RESET_ABILITIES, and unregisters a worker whose connection closed.
    func resetAbilities(of session: Session) {
        for ability in session.abilities {
            ability.function.registrations -= 1
            ability.function.workers.removeAll { $0 === session }
        }
        session.abilities = []
    }

    // MARK: Sleeping and waking

    /// Handles PRE_SLEEP: answers NOOP at once when a job is waiting, else marks the worker asleep.
    func preSleep(_ session: Session, outbox: inout Outbox) {
        session.isSleeping = true
        if session.abilities.contains(where: { $0.function.hasRunnableJobs }) {
            session.wasWoken = true
            outbox.send(.noop, [], to: session)
        } else {
            session.wasWoken = false
        }
    }

    /// Sends NOOP to up to `count` sleeping workers of `function` that were not woken yet;
    /// a `count` of 0 wakes all of them.
    func wakeWorkers(of function: FunctionQueue, count: Int, outbox: inout Outbox) {
        var woken = 0
        for worker in function.workers where worker.isSleeping && !worker.wasWoken {
            worker.wasWoken = true
            outbox.send(.noop, [], to: worker)
            woken += 1
            if count > 0 && woken >= count { return }
        }
    }

    // MARK: Assignment

    /// Handles GRAB_JOB, GRAB_JOB_UNIQ and GRAB_JOB_ALL.
    func grab(for session: Session, reply type: PacketType, outbox: inout Outbox) {
        session.isSleeping = false
        session.wasWoken = false
        guard let job = takeNextJob(for: session) else {
            outbox.send(.noJob, [], to: session)
            return
        }
        nextAssignment += 1
        job.assignment = nextAssignment
        job.state = .running(session)
        job.numerator = 0
        job.denominator = 0
        job.function.running += 1
        metrics.jobStarted(job)
        session.heldJobs.append(job)

        let handle = self.handle(of: job)[...]
        let name = job.function.name[...]
        switch type {
        case .grabJob:
            outbox.send(.jobAssign, [handle, name, job.data], to: session)
        case .grabJobAll where !(job.reducer?.isEmpty ?? true):
            // As in gearmand 1.1.20, a reduce job with an empty reducer name is assigned as a
            // plain job, so a worker does not look for a reducer called "".
            outbox.send(.jobAssignAll, [handle, name, job.unique, job.reducer!, job.data], to: session)
        default:
            outbox.send(.jobAssignUnique, [handle, name, job.unique, job.data], to: session)
        }

        if let ability = session.abilities.last(where: { $0.function === job.function }), ability.timeout > 0 {
            armTimer(
                .timeout(job, assignment: job.assignment),
                at: monotonicMilliseconds() + min(Int64(ability.timeout), Self.maximumTimerDelay),
                outbox: &outbox)
        }
        // This worker is busy now; if jobs remain, make sure another sleeping worker hears of them.
        for ability in session.abilities where ability.function.hasRunnableJobs {
            wakeWorkers(of: ability.function, count: 1, outbox: &outbox)
        }
    }

    /// Removes and returns the job `session` should run next, discarding abandoned jobs on the way.
    ///
    /// Higher priorities come first across all of the worker's functions. Within a priority the
    /// oldest job wins, or with `--round-robin` the first function in the worker's rotating list.
    func takeNextJob(for session: Session) -> Job? {
        if session.abilities.isEmpty { return nil }
        for priority in JobPriority.allCases {
            let lane = priority.rawValue
            var best: Job? = nil
            var bestAbility = 0
            for position in session.abilities.indices.reversed() {
                let ability = session.abilities[position]
                let function = ability.function
                while let head = function.queues[lane].first, head.isIgnored {
                    _ = function.queues[lane].popFirst()
                    discard(head)
                }
                guard let head = function.queues[lane].first else { continue }
                if best == nil || (!configuration.roundRobin && head.sequence < best!.sequence) {
                    best = head
                    bestAbility = position
                    if configuration.roundRobin { break }
                }
            }
            if let best {
                _ = best.function.queues[lane].popFirst()
                if configuration.roundRobin {
                    // The chosen function moves to the end of the rotation, which is the front
                    // of the array because it is read newest first.
                    let ability = session.abilities.remove(at: bestAbility)
                    session.abilities.insert(ability, at: 0)
                }
                return best
            }
        }
        return nil
    }

    // MARK: Results

    /// Relays a WORK_* packet from the worker that holds the job to every listening client, and
    /// finishes the job on WORK_COMPLETE, WORK_FAIL and WORK_EXCEPTION.
    func workResult(_ packet: Packet, from session: Session, outbox: inout Outbox) {
        // WORK_FAIL has only the handle, which may end with a NUL as for gearmand 1.1.20.
        let handle = packet.type == .workFail ? Self.leadingField(packet.argument(0)) : packet.argument(0)
        guard let job = job(forHandle: handle), job.worker === session else {
            let message: String
            switch packet.type {
            case .workData, .workWarning: message = "Job does not exist on server"
            case .workException: message = "An exception was received for a job that does not exist"
            default: message = "Job given in work result not found"
            }
            reject(session, "JOB_NOT_FOUND", message, outbox: &outbox)
            return
        }
        metrics.jobReported(job, result: packet.type)
        var relayed = packet.type == .workFail ? Packet(magic: .request, type: .workFail, arguments: [handle]) : packet
        relayed.magic = .response
        switch packet.type {
        case .workStatus:
            job.numerator = UInt32(truncatingIfNeeded: Self.parseInteger(packet.argument(1)))
            job.denominator = UInt32(truncatingIfNeeded: Self.parseInteger(packet.argument(2)))
            relay(relayed, of: job, outbox: &outbox)
        case .workData, .workWarning:
            relay(relayed, of: job, outbox: &outbox)
        case .workComplete, .workFail:
            relay(relayed, of: job, outbox: &outbox)
            finish(job, outbox: &outbox)
        case .workException:
            for listener in job.listeners where !job.isIgnored {
                if listener.wantsExceptions {
                    outbox.send(relayed, to: listener)
                } else {
                    outbox.send(.workFail, [handle], to: listener)
                }
            }
            finish(job, outbox: &outbox)
        default:
            break
        }
    }

    private func relay(_ packet: Packet, of job: Job, outbox: inout Outbox) {
        if job.isIgnored { return }
        for listener in job.listeners {
            outbox.send(packet, to: listener)
        }
    }
}
