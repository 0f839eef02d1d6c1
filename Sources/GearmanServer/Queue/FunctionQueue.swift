import GearmanKit

/// A function name with its three priority queues, its workers and its counters.
///
/// Owned by `JobCore` and read or changed only while its lock is held.
final class FunctionQueue {
    let name: [UInt8]
    /// Queued jobs per priority, indexed by `JobPriority.rawValue`.
    var queues: [RingBuffer<Job>] = [RingBuffer(), RingBuffer(), RingBuffer()]
    /// Jobs waiting for their run time, per priority.
    var scheduled = [0, 0, 0]
    /// Jobs assigned to workers.
    var running = 0
    /// CAN_DO registrations; a worker that registers a name twice counts twice, as in gearmand.
    var registrations = 0
    /// Workers that can run this function, in registration order.
    var workers: [Session] = []
    /// Per-priority queue limits from `maxqueue`; 0 means unlimited.
    var maxQueue = [0, 0, 0]

    init(name: [UInt8]) {
        self.name = name
    }

    /// Queued and scheduled jobs of one priority.
    func waiting(_ priority: JobPriority) -> Int {
        queues[priority.rawValue].count + scheduled[priority.rawValue]
    }

    /// Every job of the function: queued, scheduled and running.
    var total: Int {
        waiting(.high) + waiting(.normal) + waiting(.low) + running
    }

    var nameString: String { String(decoding: name, as: UTF8.self) }
}
