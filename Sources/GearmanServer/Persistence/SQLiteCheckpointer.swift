import CGearmanSystem
import CSQLite
import GearmanKit
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A background thread that copies a WAL-mode database's write-ahead log back into the
/// database file, so the thread that writes batches does not wait for checkpoints.
///
/// By default SQLite checkpoints in the connection that commits, once the log reaches 1000
/// pages. That checkpoint syncs the log, copies it and syncs the database file. In a benchmark
/// of 150 batches, the 8 batches that ran one took 2 to 9 ms against 0.6 to 0.8 ms for the rest.
/// This type installs a WAL hook on the writing connection instead. The hook requests a passive
/// checkpoint from a second connection on this type's thread, which copies what is committed
/// without blocking the writer.
///
/// When the log still reaches `hardLimitPages` because the checkpoints fall behind, the hook
/// checkpoints in the writing connection as SQLite would. So the log stays bounded.
final class SQLiteCheckpointer: Sendable {
    /// The log size, in pages, at which a checkpoint is requested. It is SQLite's default.
    static let requestPages: Int32 = 1000
    /// The log size, in pages, at which the writer checkpoints itself.
    static let hardLimitPages: Int32 = 16000

    private struct State {
        var database: SQLiteDatabase?
        var requested = false
        var isStopping = false
    }

    private let state: Mutex<State>
    private let wakeFD: Int32
    private let finished = Atomic<Bool>(false)
    /// The number of checkpoints this thread completed, for tests.
    let completedCheckpoints = Atomic<Int>(0)
    private let logger: Logger
    private let name: String

    /// Opens a second connection to the database at `path` for the checkpoints.
    init(path: String, name: String, logger: Logger) throws(SQLiteFailure) {
        let database = try SQLiteDatabase(path: path)
        sqlite3_busy_timeout(database.handle, 5_000)
        // A connection learns that the database is in WAL mode when it first reads it. Until
        // then a checkpoint request does nothing.
        try database.execute("PRAGMA journal_mode=WAL")
        let wakeFD = eventfd(0, Int32(EFD_CLOEXEC))
        guard wakeFD >= 0 else {
            database.close()
            throw SQLiteFailure(message: "failed to start the WAL checkpoint thread: \(SystemError.current("eventfd"))")
        }
        self.wakeFD = wakeFD
        state = Mutex(State(database: database))
        self.logger = logger
        self.name = name
    }

    deinit {
        close(wakeFD)
    }

    /// Starts the thread, then replaces the automatic checkpoint of `writer` with this
    /// checkpointer.
    func attach(to writer: SQLiteDatabase) throws(SQLiteFailure) {
        if case .failure(let error) = PosixThread.startDetached({ self.run() }) {
            state.withLock { state in
                state.database?.close()
                state.database = nil
            }
            finished.store(true, ordering: .releasing)
            throw SQLiteFailure(message: "failed to start the WAL checkpoint thread: \(error)")
        }
        let context = Unmanaged.passUnretained(self).toOpaque()
        sqlite3_wal_hook(
            writer.handle,
            { context, writer, _, pages in
                let checkpointer = Unmanaged<SQLiteCheckpointer>.fromOpaque(context!).takeUnretainedValue()
                checkpointer.logGrew(to: pages, writer: writer)
                return SQLITE_OK
            }, context)
    }

    /// Stops the thread and closes the second connection. Call it before closing the writer,
    /// after `detach(from:)` removed the hook.
    func stop() {
        state.withLock { $0.isStopping = true }
        signal()
        while !finished.load(ordering: .acquiring) {
            usleep(1000)
        }
    }

    /// Removes the WAL hook from `writer`, which then checkpoints as SQLite does by default.
    func detach(from writer: SQLiteDatabase) {
        sqlite3_wal_hook(writer.handle, nil, nil)
        sqlite3_wal_autocheckpoint(writer.handle, Self.requestPages)
    }

    /// Requests a checkpoint, or runs one in the writer once the log reached the hard limit.
    /// SQLite calls it in the writing thread after each commit, with the log's size in pages.
    private func logGrew(to pages: Int32, writer: OpaquePointer?) {
        if pages >= Self.hardLimitPages {
            // NOTE: no test reaches this branch: it needs 64 MiB of log written while the
            // background checkpoints fall behind.
            sqlite3_wal_checkpoint_v2(writer, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
        } else if pages >= Self.requestPages {
            let isNew = state.withLock { state in
                defer { state.requested = true }
                return !state.requested
            }
            if isNew { signal() }
        }
    }

    private func signal() {
        var increment: UInt64 = 1
        _ = write(wakeFD, &increment, 8)
    }

    private func run() {
        var failing = false
        while true {
            var value: UInt64 = 0
            _ = read(wakeFD, &value, 8)
            let (database, isStopping) = state.withLock { state in
                state.requested = false
                return (state.database, state.isStopping)
            }
            if isStopping {
                state.withLock { state in
                    state.database?.close()
                    state.database = nil
                }
                finished.store(true, ordering: .releasing)
                return
            }
            guard let database else { continue }
            let status = sqlite3_wal_checkpoint_v2(database.handle, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            // A failed checkpoint loses nothing, because the log keeps the pages for the next one.
            if status != SQLITE_OK && status != SQLITE_BUSY {
                if !failing {
                    logger.warning(
                        "\(name): WAL checkpoint failed: \(database.errorMessage). The -wal file grows until a checkpoint succeeds."
                    )
                }
                failing = true
            } else {
                failing = false
                if status == SQLITE_OK { completedCheckpoints.add(1, ordering: .relaxed) }
            }
        }
    }
}
