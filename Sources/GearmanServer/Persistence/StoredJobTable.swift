import GearmanKit

/// The jobs of a queue kept in memory, by key, in the order they were added.
///
/// Adding a key that is present replaces its job and moves it to the end, as a database row
/// that is deleted and inserted again would.
struct StoredJobTable {
    private var entries: [StoredJobKey: (sequence: Int, job: StoredJob)] = [:]
    private var nextSequence = 0

    init(_ jobs: [StoredJob] = []) {
        for job in jobs {
            add(job)
        }
    }

    var count: Int { entries.count }

    mutating func add(_ job: StoredJob) {
        entries[job.key] = (nextSequence, job)
        nextSequence += 1
    }

    mutating func apply(_ operation: StoreOperation) {
        switch operation {
        case .add(let job):
            add(job)
        case .remove(let key):
            entries[key] = nil
        }
    }

    /// The jobs in the order they were added.
    var jobs: [StoredJob] {
        entries.values.sorted { $0.sequence < $1.sequence }.map(\.job)
    }
}
