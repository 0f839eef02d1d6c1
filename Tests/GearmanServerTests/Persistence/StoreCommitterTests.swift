import GearmanKit
import Synchronization
import Testing

@testable import GearmanServer

#if canImport(Glibc)
    import Glibc
#endif

/// A store that keeps its jobs in a dictionary and records every commit it was given.
private final class RecordingStore: QueueStore, Sendable {
    let description = "recording"
    let commits = Mutex<[[StoreOperation]]>([])
    let stored = Mutex<[StoredJobKey: StoredJob]>([:])

    func load() throws -> [StoredJob] { Array(stored.withLock { $0.values }) }

    func commit(_ operations: [StoreOperation]) throws {
        commits.withLock { $0.append(operations) }
        stored.withLock { jobs in
            for operation in operations {
                switch operation {
                case .add(let job): jobs[job.key] = job
                case .remove(let key): jobs[key] = nil
                }
            }
        }
    }

    func close() {}
}

/// A store that writes and syncs in two steps. Its syncs wait while the gate is closed, and
/// the next `failingSyncs` of them fail.
private final class SplitStore: QueueStore, Sendable {
    let description = "split"
    let written = Mutex<Int>(0)
    let syncs = Mutex<Int>(0)
    let failingSyncs = Atomic<Int>(0)
    let isGateOpen = Atomic<Bool>(true)

    var splitsCommit: Bool { true }

    func load() throws -> [StoredJob] { [] }

    func commit(_ operations: [StoreOperation]) throws {
        try write(operations)
        try sync()
    }

    func write(_ operations: [StoreOperation]) throws {
        written.withLock { $0 += operations.count }
    }

    func sync() throws {
        while !isGateOpen.load(ordering: .acquiring) { usleep(1000) }
        syncs.withLock { $0 += 1 }
        if failingSyncs.load(ordering: .acquiring) > 0 {
            failingSyncs.subtract(1, ordering: .acquiringAndReleasing)
            throw QueueStoreError.commitFailed(store: description, message: "disk full", operationIndex: nil)
        }
    }

    func close() {}
}

/// Applies operations to an empty set of keys, as a store would.
/// Returns a random set of stored keys and a batch of up to 12 operations on `keys` that the
/// server could produce from it: a key is added while absent and removed while present. `jobs`
/// holds the job number of each operation, and the jobs of the initial keys come from earlier
/// batches.
private func randomBatch(
    of keys: [StoredJob], using generator: inout some RandomNumberGenerator
) -> (initial: Set<StoredJobKey>, operations: [StoreOperation], jobs: [UInt64]) {
    let initial = Set(keys.filter { _ in Bool.random(using: &generator) }.map(\.key))
    // The live job of each stored key.
    var liveJob: [StoredJobKey: UInt64] = [:]
    var nextJob: UInt64 = 1
    for key in initial {
        liveJob[key] = nextJob
        nextJob += 1
    }
    var operations: [StoreOperation] = []
    var jobs: [UInt64] = []
    for _ in 0..<Int.random(in: 0...12, using: &generator) {
        let job = keys.randomElement(using: &generator)!
        if let number = liveJob.removeValue(forKey: job.key) {
            operations.append(.remove(job.key))
            jobs.append(number)
        } else {
            operations.append(.add(job))
            jobs.append(nextJob)
            liveJob[job.key] = nextJob
            nextJob += 1
        }
    }
    return (initial, operations, jobs)
}

private func keysAfter(_ operations: [StoreOperation], startingWith initial: Set<StoredJobKey> = []) -> Set<
    StoredJobKey
> {
    var keys = initial
    for operation in operations {
        switch operation {
        case .add(let job): keys.insert(job.key)
        case .remove(let key): keys.remove(key)
        }
    }
    return keys
}

/// Polls `condition` every millisecond for up to `seconds`. It suspends between polls, so the
/// wait blocks no thread of the cooperative pool.
private func eventually(within seconds: Double, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if condition() { return true }
        do {
            try await Task.sleep(for: .milliseconds(1))
        } catch {
            break
        }
    }
    return condition()
}

@Suite("Store committer")
struct StoreCommitterTests {
    let a = SampleJobs.job("f", "a")
    let b = SampleJobs.job("f", "b")
    let c = SampleJobs.job("g", "a")

    @Test("a job added and removed in one batch never reaches the store")
    func finishedPairIsDropped() {
        let operations: [StoreOperation] = [.add(a), .add(b), .remove(a.key), .add(c)]
        #expect(StoreCommitter.withoutFinishedPairs(operations) == [.add(b), .add(c)])
    }

    @Test("a removal of a key stored before the batch is kept")
    func earlierRemovalIsKept() {
        let operations: [StoreOperation] = [.remove(a.key), .add(a), .remove(a.key)]
        #expect(StoreCommitter.withoutFinishedPairs(operations) == [.remove(a.key), .remove(a.key)])
    }

    @Test("pairs found by job number")
    func pairsByJobNumber() {
        // Job 1 is added and removed, job 2 only added, and job 3 was stored in an earlier batch.
        let operations: [StoreOperation] = [.add(a), .add(b), .remove(c.key), .remove(a.key)]
        #expect(StoreCommitter.withoutFinishedPairs(operations, jobs: [1, 2, 3, 1]) == [.add(b), .remove(c.key)])
        // No job is both added and removed, so the batch is returned as it is.
        let unrelated: [StoreOperation] = [.add(a), .remove(b.key)]
        #expect(StoreCommitter.withoutFinishedPairs(unrelated, jobs: [1, 2]) == unrelated)
        // A removal of an unknown job falls back to comparing keys.
        #expect(StoreCommitter.withoutFinishedPairs([.add(a), .remove(a.key)], jobs: [1, 0]) == [])
    }

    @Test("job-number pairs keep store contents")
    func droppingByJobNumberKeepsTheResult() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let batch = randomBatch(of: [a, b, c], using: &generator)
            let reduced = StoreCommitter.withoutFinishedPairs(batch.operations, jobs: batch.jobs)
            #expect(
                keysAfter(reduced, startingWith: batch.initial)
                    == keysAfter(batch.operations, startingWith: batch.initial))
        }
    }

    @Test("acknowledgements counted per connection")
    func heldReleasesPerConnection() {
        let connections = [4, 4, 4, 9, 9, 4, 2]
        let acknowledgements = connections.map {
            StoreCommitter.Acknowledgement(
                connectionID: $0, loopIndex: 0,
                output: .packet(Packet(magic: .response, type: .noop, arguments: [ArraySlice<UInt8>]())),
                requiredJob: nil)
        }
        #expect(JobCore.heldReleases(of: acknowledgements) == [4: 4, 9: 2, 2: 1])
        #expect(JobCore.heldReleases(of: []) == [:])
    }

    @Test("dropping pairs never changes what the store ends up holding")
    func droppingKeepsTheResult() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let batch = randomBatch(of: [a, b, c], using: &generator)
            let reduced = StoreCommitter.withoutFinishedPairs(batch.operations)
            #expect(
                keysAfter(reduced, startingWith: batch.initial)
                    == keysAfter(batch.operations, startingWith: batch.initial))
            #expect(reduced.count <= batch.operations.count)
        }
    }

    @Test("removals are committed in groups")
    func removalsWaitForCompany() async throws {
        let store = RecordingStore()
        let delivered = Mutex<Int>(0)
        let committer = StoreCommitter(store: store, logger: .disabled) {
            acknowledgements, _, _ in
            delivered.withLock { $0 += acknowledgements.count }
        }
        committer.start()
        defer { committer.stop() }

        let jobs = (0..<100).map { SampleJobs.job("f", "job-\($0)") }
        for (number, job) in jobs.enumerated() {
            committer.enqueue(.add(job), job: UInt64(number))
        }
        #expect(await eventually(within: 5) { store.stored.withLock { $0.count } == 100 })
        let commitsBefore = store.commits.withLock { $0.count }

        for job in jobs {
            committer.enqueue(.remove(job.key))
        }
        #expect(await eventually(within: 5) { store.stored.withLock { $0.isEmpty } })
        let removalCommits = store.commits.withLock { $0.count } - commitsBefore
        #expect(removalCommits <= 2, "100 removals took \(removalCommits) commits")

        // A waiting reply is committed at once, taking pending removals along.
        committer.enqueue(.remove(SampleJobs.job("f", "gone").key))
        let extra = SampleJobs.job("f", "extra")
        let acknowledgement = StoreCommitter.Acknowledgement(
            connectionID: 1, loopIndex: 0, output: .text(Array("OK\n".utf8)), requiredJob: 1000)
        committer.enqueue(.add(extra), job: 1000, acknowledgement: acknowledgement)
        #expect(await eventually(within: 5) { delivered.withLock { $0 } == 1 })
        #expect(store.stored.withLock { $0[extra.key] } == extra)
    }

    @Test("failed job rejected in later batches")
    func failedJobStaysRejected() async throws {
        let store = SplitStore()
        store.isGateOpen.store(false, ordering: .releasing)
        store.failingSyncs.store(1, ordering: .releasing)
        let outcomes = Mutex<[Set<UInt64>]>([])
        let committer = StoreCommitter(store: store, logger: .disabled) { _, failedJobs, _ in
            outcomes.withLock { $0.append(failedJobs) }
        }
        committer.start()
        defer { committer.stop() }

        func enqueue(add number: UInt64, acknowledging required: UInt64) {
            let acknowledgement = StoreCommitter.Acknowledgement(
                connectionID: 1, loopIndex: 0, output: .text(Array("OK\n".utf8)), requiredJob: required)
            committer.enqueue(.add(SampleJobs.job("f", "job-\(number)")), job: number, acknowledgement: acknowledgement)
        }

        // Job 1 is written and waits for its sync, which will fail. Two later batches, written
        // meanwhile, each contain a reply that coalesced onto job 1.
        enqueue(add: 1, acknowledging: 1)
        #expect(await eventually(within: 5) { store.written.withLock { $0 } == 1 })
        enqueue(add: 2, acknowledging: 1)
        #expect(await eventually(within: 5) { store.written.withLock { $0 } == 2 })
        enqueue(add: 3, acknowledging: 1)
        #expect(await eventually(within: 5) { store.written.withLock { $0 } == 3 })
        store.isGateOpen.store(true, ordering: .releasing)

        #expect(await eventually(within: 5) { outcomes.withLock { $0.count } == 3 })
        let failed = outcomes.withLock { $0 }
        #expect(failed[0] == [1])
        #expect(failed[1].contains(1))
        #expect(failed[2].contains(1))
    }

    @Test("a split store acknowledges after the sync and rejects on a failed sync")
    func splitCommitSyncs() async throws {
        let store = SplitStore()
        let outcomes = Mutex<[(acknowledged: Int, failed: Set<UInt64>)]>([])
        let committer = StoreCommitter(store: store, logger: .disabled) { acknowledgements, failedJobs, _ in
            outcomes.withLock { $0.append((acknowledgements.count, failedJobs)) }
        }
        committer.start()
        defer { committer.stop() }

        func submit(_ number: UInt64) {
            let acknowledgement = StoreCommitter.Acknowledgement(
                connectionID: 1, loopIndex: 0, output: .text(Array("OK\n".utf8)), requiredJob: number)
            committer.enqueue(.add(SampleJobs.job("f", "job-\(number)")), job: number, acknowledgement: acknowledgement)
        }

        submit(1)
        #expect(await eventually(within: 5) { outcomes.withLock { $0.count } == 1 })
        #expect(store.syncs.withLock { $0 } >= 1)
        #expect(outcomes.withLock { $0[0].failed }.isEmpty)

        store.failingSyncs.store(1, ordering: .releasing)
        submit(2)
        #expect(await eventually(within: 5) { outcomes.withLock { $0.count } == 2 })
        #expect(outcomes.withLock { $0[1].failed } == [2])
        #expect(store.written.withLock { $0 } == 2)
    }
}
