import CSQLite
import GearmanKit
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A queue stored in an SQLite database, in the table layout of the C gearmand's `libsqlite3`
/// queue, so either server can start on a queue the other left behind.
///
/// The table is created if it is missing, with the C gearmand's statement:
///
///     CREATE TABLE gearman_queue ( unique_key TEXT, function_name TEXT, priority INTEGER,
///       data BLOB, when_to_run INTEGER, PRIMARY KEY (unique_key, function_name))
///
/// `priority` is 0 for high, 1 for normal and 2 for low, and `when_to_run` is the Unix time of a
/// scheduled job or 0. A table from a gearmand older than scheduled jobs gets the `when_to_run`
/// column added, as the C server does.
///
/// Each `commit` is one transaction followed by an fsync of the WAL, so it survives a power
/// loss. The database runs in WAL journal mode with `synchronous=NORMAL`, under which SQLite
/// syncs the WAL before a checkpoint and the database file after it, but not at a commit. So
/// the store does that fsync itself (`fdatasync` of the `-wal` file). Splitting the two lets the
/// server write the next batch while the previous one is synced (`write`, then `sync`).
/// Where WAL mode is not available, the store uses `synchronous=FULL` and does not split.
public final class SQLiteQueueStore: QueueStore {
    /// The table name when none is given, as in the C gearmand.
    public static let defaultTable = "gearman_queue"

    public let description: String
    private let table: String
    private let storesQueueOnShutdown: Bool
    private let logger: Logger
    private let state: Mutex<State>
    /// The `-wal` file, opened by the store to fsync it; -1 when the database is not in WAL mode.
    private let walFD: Int32
    /// The WAL checkpointer on its own thread, or nil when the database is not in WAL mode.
    private let checkpointer: SQLiteCheckpointer?
    /// The database file, opened by the store to hold its `StoreFileLock`.
    private let lockFD: Int32

    private struct State {
        var database: SQLiteDatabase?
        var statements: Statements?
        /// A copy of the server's queue, kept only when the queue is written at `close()`.
        var pendingJobs = StoredJobTable()
    }

    private struct Statements {
        var begin: SQLiteStatement
        var commit: SQLiteStatement
        var rollback: SQLiteStatement
        var insert: SQLiteStatement
        /// Inserts `insertRows` jobs in one statement.
        var insertMany: SQLiteStatement
        var delete: SQLiteStatement
        var deleteAll: SQLiteStatement
        var select: SQLiteStatement

        func finalize() {
            for statement in [begin, commit, rollback, insert, insertMany, delete, deleteAll, select] {
                statement.finalize()
            }
        }
    }

    /// Opens or creates the database file at `path` and creates the table if it is missing.
    ///
    /// - Parameters:
    ///   - table: the table name, checked against `^[A-Za-z_][A-Za-z0-9_]*$`.
    ///   - storesQueueOnShutdown: when true, `commit` changes only a copy of the queue in memory
    ///     and `close()` replaces the table's rows with it, as the C gearmand's
    ///     `--store-queue-on-shutdown` does. This trades durability for speed: after a crash the
    ///     server replays the queue as it was at the previous clean stop, so jobs submitted since
    ///     are lost and jobs finished since run again. The C gearmand 1.1.20 differs here: it
    ///     deletes the row of a finished job at once even in this mode, while this store defers
    ///     deletions too.
    /// - Throws: `QueueStoreError.invalidOption` for an invalid table name and
    ///   `QueueStoreError.openFailed` with SQLite's message when the database cannot be opened.
    public init(
        path: String, table: String = SQLiteQueueStore.defaultTable, storesQueueOnShutdown: Bool = false,
        logger: Logger = .disabled
    ) throws {
        self.table = try QueueTableName.validate(table, option: "libsqlite3-table")
        self.storesQueueOnShutdown = storesQueueOnShutdown
        self.logger = logger
        let name = "libsqlite3 \(path)"
        description = name

        var state = State()
        var walFD: Int32 = -1
        var lockFD: Int32 = -1
        var checkpointer: SQLiteCheckpointer?
        do {
            let database = try SQLiteDatabase(path: path)
            state.database = database
            lockFD = try Self.lock(path)
            try Self.configure(database)
            try Self.createTable(table, in: database)
            let statements = try Self.prepareStatements(table: table, in: database)
            state.statements = statements
            // Reading opens the WAL, so after this the -wal file exists in WAL mode.
            let jobs = try Self.selectAll(statements.select)
            if storesQueueOnShutdown {
                state.pendingJobs = StoredJobTable(jobs)
            }
            walFD = try Self.openWAL(of: database)
            if walFD >= 0 && !storesQueueOnShutdown {
                let background = try SQLiteCheckpointer(path: path, name: name, logger: logger)
                try background.attach(to: database)
                checkpointer = background
            }
        } catch {
            if walFD >= 0 { Glibc.close(walFD) }
            state.statements?.finalize()
            state.database?.close()
            if lockFD >= 0 { Glibc.close(lockFD) }
            throw QueueStoreError.openFailed(store: name, message: error.message)
        }
        self.lockFD = lockFD
        self.walFD = walFD
        self.checkpointer = checkpointer
        self.state = Mutex(state)
    }

    deinit {
        close()
    }

    public func load() throws -> [StoredJob] {
        try state.withLock { state in
            if storesQueueOnShutdown {
                return state.pendingJobs.jobs
            }
            guard let statements = state.statements else { throw QueueStoreError.closed(store: description) }
            do {
                return try Self.selectAll(statements.select)
            } catch {
                throw QueueStoreError.openFailed(store: description, message: error.message)
            }
        }
    }

    /// The number of checkpoints made by the background connection, for tests.
    var backgroundCheckpoints: Int { checkpointer?.completedCheckpoints.load(ordering: .relaxed) ?? 0 }

    public var splitsCommit: Bool { walFD >= 0 && !storesQueueOnShutdown }

    public func commit(_ operations: [StoreOperation]) throws {
        try write(operations)
        try sync()
    }

    public func sync() throws {
        guard walFD >= 0 && !storesQueueOnShutdown else { return }
        while fdatasync(walFD) != 0 {
            if errno == EINTR { continue }
            let error = SystemError.current("fdatasync")
            throw QueueStoreError.commitFailed(store: description, message: "\(error)", operationIndex: nil)
        }
    }

    public func write(_ operations: [StoreOperation]) throws {
        try state.withLock { state in
            guard let statements = state.statements else { throw QueueStoreError.closed(store: description) }
            if storesQueueOnShutdown {
                for operation in operations {
                    state.pendingJobs.apply(operation)
                }
                return
            }
            guard !operations.isEmpty else { return }
            try write(operations, with: statements, replacingAll: false)
        }
    }

    /// Writes the queue kept in memory when it is stored on shutdown, then closes the database.
    ///
    /// A failure to write is logged, since the server is stopping and cannot act on it.
    public func close() {
        state.withLock { state in
            guard let statements = state.statements, let database = state.database else { return }
            if let checkpointer {
                checkpointer.detach(from: database)
                checkpointer.stop()
            }
            if storesQueueOnShutdown {
                let jobs = state.pendingJobs.jobs
                do {
                    try write(jobs.map { .add($0) }, with: statements, replacingAll: true)
                    logger.info("\(description): stored \(jobs.count) queued jobs on shutdown")
                } catch {
                    logger.error("\(description): cannot store \(jobs.count) queued jobs on shutdown: \(error)")
                }
            }
            statements.finalize()
            database.close()
            state.statements = nil
            state.database = nil
            if walFD >= 0 { Glibc.close(walFD) }
            Glibc.close(lockFD)
        }
    }

    /// Applies `operations` in one transaction, after deleting every row if `replacingAll`.
    private func write(
        _ operations: [StoreOperation], with statements: Statements, replacingAll: Bool
    ) throws(QueueStoreError) {
        do {
            try statements.begin.run()
        } catch {
            throw QueueStoreError.commitFailed(store: description, message: error.message, operationIndex: nil)
        }
        var failedIndex: Int?
        do {
            if replacingAll {
                try statements.deleteAll.run()
            }
            var index = 0
            while index < operations.count {
                failedIndex = index
                // A run of adds goes in statements of `insertRows` rows; one statement per row
                // spent most of a batch's time on statement overhead.
                if let jobs = Self.adds(in: operations, from: index, count: Self.insertRows) {
                    try Self.insert(jobs, with: statements.insertMany)
                    index += Self.insertRows
                } else {
                    try Self.apply(operations[index], with: statements)
                    index += 1
                }
            }
            failedIndex = nil
            try statements.commit.run()
        } catch {
            // A failed COMMIT can leave the transaction open (SQLITE_BUSY), so roll back in every case.
            try? statements.rollback.run()
            throw QueueStoreError.commitFailed(store: description, message: error.message, operationIndex: failedIndex)
        }
    }

    /// The number of rows of the multi-row INSERT.
    static let insertRows = 32

    /// Returns the jobs of `count` adds in a row starting at `start`, or nil when there are fewer.
    private static func adds(in operations: [StoreOperation], from start: Int, count: Int) -> [StoredJob]? {
        guard operations.count - start >= count else { return nil }
        var jobs: [StoredJob] = []
        jobs.reserveCapacity(count)
        for operation in operations[start..<(start + count)] {
            guard case .add(let job) = operation else { return nil }
            jobs.append(job)
        }
        return jobs
    }

    /// Runs the multi-row INSERT for `jobs`. Rows apply in order, so a later job with the same
    /// key replaces an earlier one, as with one INSERT per job.
    private static func insert(_ jobs: [StoredJob], with insert: SQLiteStatement) throws(SQLiteFailure) {
        defer { insert.reset() }
        for (row, job) in jobs.enumerated() {
            let base = Int32(row * 5)
            try insert.bind(Int64(job.priority.rawValue), at: base + 1)
            try insert.bindText(job.unique, at: base + 2)
            try insert.bindText(job.function, at: base + 3)
            try insert.bindBlob(job.data, at: base + 4)
            try insert.bind(job.runAt, at: base + 5)
        }
        try insert.run()
    }

    private static func apply(_ operation: StoreOperation, with statements: Statements) throws(SQLiteFailure) {
        switch operation {
        case .add(let job):
            let insert = statements.insert
            defer { insert.reset() }
            try insert.bind(Int64(job.priority.rawValue), at: 1)
            try insert.bindText(job.unique, at: 2)
            try insert.bindText(job.function, at: 3)
            try insert.bindBlob(job.data, at: 4)
            try insert.bind(job.runAt, at: 5)
            try insert.run()
        case .remove(let key):
            let delete = statements.delete
            defer { delete.reset() }
            try delete.bindText(key.unique, at: 1)
            try delete.bindText(key.function, at: 2)
            try delete.run()
        }
    }

    /// Opens the database file, which SQLite has created, and takes its `StoreFileLock`.
    ///
    /// SQLite's own locks are POSIX record locks, which flock(2) does not conflict with on Linux.
    /// NOTE: on NFS, Linux emulates flock with POSIX locks, which SQLite can release.
    private static func lock(_ path: String) throws(SQLiteFailure) -> Int32 {
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw SQLiteFailure(message: SystemError.current("open \(path)").message) }
        guard StoreFileLock.acquire(fd) else {
            let message =
                errno == EWOULDBLOCK
                ? "the database is in use by another gearmand; stop the other server or use another file"
                : SystemError.current("flock").message
            Glibc.close(fd)
            throw SQLiteFailure(message: message)
        }
        return fd
    }

    /// Returns the jobs stored in a database without taking its lock, so a test can look at
    /// the file while a store has it open.
    static func storedJobs(atPath path: String, table: String = defaultTable) throws -> [StoredJob] {
        let database = try SQLiteDatabase(path: path)
        defer { database.close() }
        let statements = try prepareStatements(table: table, in: database)
        defer { statements.finalize() }
        return try selectAll(statements.select)
    }

    private static func selectAll(_ select: SQLiteStatement) throws(SQLiteFailure) -> [StoredJob] {
        defer { select.reset() }
        var jobs: [StoredJob] = []
        while try select.step() {
            let rawPriority = select.int64(at: 2)
            guard let priority = Int(exactly: rawPriority).flatMap(JobPriority.init(rawValue:)) else {
                let function = String(decoding: select.bytes(at: 1), as: UTF8.self)
                throw SQLiteFailure(
                    message: "a job of function '\(function)' has priority \(rawPriority); "
                        + "only 0 (high), 1 (normal) and 2 (low) are valid")
            }
            jobs.append(
                StoredJob(
                    function: select.bytes(at: 1), unique: select.bytes(at: 0), priority: priority,
                    data: select.bytes(at: 3), runAt: select.isNull(at: 4) ? 0 : select.int64(at: 4)))
        }
        return jobs
    }

    private static func configure(_ database: SQLiteDatabase) throws(SQLiteFailure) {
        // Another process holding the write lock (an sqlite3 shell, say) is waited for this long
        // before a commit fails with "database is locked".
        sqlite3_busy_timeout(database.handle, 5_000)
        try database.execute("PRAGMA journal_mode=WAL")
        try database.execute("PRAGMA synchronous=FULL")
    }

    /// Opens the database's `-wal` file for `sync()` and switches to `synchronous=NORMAL`, or
    /// returns -1 and keeps `synchronous=FULL` when the database is not in WAL mode.
    private static func openWAL(of database: SQLiteDatabase) throws(SQLiteFailure) -> Int32 {
        let mode = try database.prepare("PRAGMA journal_mode")
        defer { mode.finalize() }
        guard try mode.step(), String(decoding: mode.bytes(at: 0), as: UTF8.self).lowercased() == "wal" else {
            return -1
        }
        guard let main = sqlite3_db_filename(database.handle, "main") else { return -1 }
        let path = String(cString: main) + "-wal"
        let fd = open(path, O_RDWR | O_CLOEXEC)
        if fd < 0 { return -1 }
        try database.execute("PRAGMA synchronous=NORMAL")
        return fd
    }

    private static func createTable(_ table: String, in database: SQLiteDatabase) throws(SQLiteFailure) {
        // The C gearmand's statement, spacing included, so `.schema` shows the same table for both servers.
        try database.execute(
            "CREATE TABLE IF NOT EXISTS \(table) ( unique_key TEXT, function_name TEXT, priority INTEGER, "
                + "data BLOB, when_to_run INTEGER, PRIMARY KEY (unique_key, function_name))")

        let column = try database.prepare("SELECT 1 FROM pragma_table_info(?) WHERE name = 'when_to_run'")
        defer { column.finalize() }
        try column.bindText(Array(table.utf8), at: 1)
        if try !column.step() {
            try database.execute("ALTER TABLE \(table) ADD COLUMN when_to_run INTEGER")
        }
    }

    private static func prepareStatements(
        table: String, in database: SQLiteDatabase
    ) throws(SQLiteFailure) -> Statements {
        Statements(
            begin: try database.prepare("BEGIN IMMEDIATE"),
            commit: try database.prepare("COMMIT"),
            rollback: try database.prepare("ROLLBACK"),
            insert: try database.prepare(
                "INSERT OR REPLACE INTO \(table) (priority, unique_key, function_name, data, when_to_run) "
                    + "VALUES (?, ?, ?, ?, ?)"),
            insertMany: try database.prepare(
                "INSERT OR REPLACE INTO \(table) (priority, unique_key, function_name, data, when_to_run) VALUES "
                    + Array(repeating: "(?, ?, ?, ?, ?)", count: insertRows).joined(separator: ", ")),
            delete: try database.prepare("DELETE FROM \(table) WHERE unique_key = ? AND function_name = ?"),
            deleteAll: try database.prepare("DELETE FROM \(table)"),
            // rowid order is insertion order, and INSERT OR REPLACE gives a replaced job a new rowid.
            select: try database.prepare(
                "SELECT unique_key, function_name, priority, data, when_to_run FROM \(table) ORDER BY rowid"))
    }
}

extension Error {
    /// The message of an SQLite failure, or the error's description.
    fileprivate var message: String {
        (self as? SQLiteFailure)?.message ?? String(describing: self)
    }
}
