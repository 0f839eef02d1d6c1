import GearmanKit

/// A background job as a persistent queue stores it.
public struct StoredJob: Sendable, Equatable {
    /// The function name.
    public var function: [UInt8]
    /// The unique key; never empty in a store (the server substitutes the job handle for an
    /// empty key, so every stored job has a primary key).
    public var unique: [UInt8]
    public var priority: JobPriority
    public var data: [UInt8]
    /// The Unix time before which the job must not run, or 0.
    public var runAt: Int64

    public init(function: [UInt8], unique: [UInt8], priority: JobPriority, data: [UInt8], runAt: Int64 = 0) {
        self.function = function
        self.unique = unique
        self.priority = priority
        self.data = data
        self.runAt = runAt
    }

    /// The key that identifies the job in its store.
    public var key: StoredJobKey { StoredJobKey(function: function, unique: unique) }
}

/// The primary key of a stored job: function name and unique key.
public struct StoredJobKey: Sendable, Hashable {
    public var function: [UInt8]
    public var unique: [UInt8]

    public init(function: [UInt8], unique: [UInt8]) {
        self.function = function
        self.unique = unique
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combineBytes(of: function)
        hasher.combineBytes(of: unique)
    }

    public static func == (left: StoredJobKey, right: StoredJobKey) -> Bool {
        bytesEqual(left.unique, right.unique) && bytesEqual(left.function, right.function)
    }
}

/// One change to a persistent queue.
public enum StoreOperation: Sendable, Equatable {
    /// Store a job (replacing a stored job with the same key).
    case add(StoredJob)
    /// Remove a job that completed, failed or was cancelled; removing a missing key is no error.
    case remove(StoredJobKey)
}

/// A persistent queue of background jobs.
///
/// The server calls `commit` from one dedicated thread with every operation that arrived since
/// the previous call, so an implementation makes the whole batch durable at once (one
/// transaction or one fsync) and returns only then. The server acknowledges a background job
/// (JOB_CREATED) only after the `commit` that contains its `.add` returned.
public protocol QueueStore: AnyObject, Sendable {
    /// A short name for logs, such as `libsqlite3 /var/lib/gearman/queue.db`.
    var description: String { get }

    /// Returns every stored job, in the order they were added, for replay at start-up.
    func load() throws -> [StoredJob]

    /// Applies `operations` in order and makes them durable together.
    ///
    /// - Throws: an error whose description says what failed (disk full, database down); the
    ///   server then rejects the batch's new jobs with QUEUE_ERROR and keeps serving.
    func commit(_ operations: [StoreOperation]) throws

    /// Called once when the server stops, after the last commit.
    func close()

    /// Whether the store can write a batch and make it durable in two steps, `write` then
    /// `sync`, so the server can write the next batch while the previous one is being synced.
    var splitsCommit: Bool { get }

    /// Applies `operations` in order without waiting for them to be durable; `sync()` then
    /// makes them durable.
    func write(_ operations: [StoreOperation]) throws

    /// Makes every earlier `write` durable.
    func sync() throws
}

extension QueueStore {
    public var splitsCommit: Bool { false }

    public func write(_ operations: [StoreOperation]) throws {
        try commit(operations)
    }

    public func sync() throws {}
}
