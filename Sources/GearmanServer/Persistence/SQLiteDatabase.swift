import CSQLite

/// A failure reported by SQLite, with the text of `sqlite3_errmsg`.
struct SQLiteFailure: Error {
    var message: String
}

/// One open SQLite connection, used by one thread at a time.
final class SQLiteDatabase {
    private(set) var handle: OpaquePointer?

    /// Opens or creates the database file at `path`.
    init(path: String) throws(SQLiteFailure) {
        var opened: OpaquePointer?
        let status = sqlite3_open_v2(path, &opened, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nil)
        guard status == SQLITE_OK, let opened else {
            // sqlite3_open_v2 returns a handle even on failure, which carries the message and must be closed.
            let message = opened.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(status))
            sqlite3_close(opened)
            throw SQLiteFailure(message: message)
        }
        handle = opened
        sqlite3_extended_result_codes(opened, 1)
    }

    deinit {
        close()
    }

    /// The message of the last failed call on this connection.
    var errorMessage: String {
        guard let handle else { return "database is closed" }
        return String(cString: sqlite3_errmsg(handle))
    }

    /// Runs SQL that takes no parameters, such as a PRAGMA or a CREATE TABLE.
    func execute(_ sql: String) throws(SQLiteFailure) {
        let statement = try prepare(sql)
        defer { statement.finalize() }
        while try statement.step() {}
    }

    /// Compiles one SQL statement.
    func prepare(_ sql: String) throws(SQLiteFailure) -> SQLiteStatement {
        var compiled: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &compiled, nil) == SQLITE_OK, let compiled else {
            throw SQLiteFailure(message: errorMessage)
        }
        return SQLiteStatement(compiled, database: self)
    }

    /// Closes the connection; statements must be finalized first.
    func close() {
        guard let handle else { return }
        sqlite3_close_v2(handle)
        self.handle = nil
    }
}

/// A compiled statement with its parameters bound by position, starting at 1.
final class SQLiteStatement {
    private var handle: OpaquePointer?
    private unowned let database: SQLiteDatabase

    init(_ handle: OpaquePointer, database: SQLiteDatabase) {
        self.handle = handle
        self.database = database
    }

    deinit {
        finalize()
    }

    func bind(_ value: Int64, at index: Int32) throws(SQLiteFailure) {
        try check(sqlite3_bind_int64(handle, index, value))
    }

    /// Binds bytes as TEXT, the type the C gearmand gives unique keys and function names.
    func bindText(_ bytes: [UInt8], at index: Int32) throws(SQLiteFailure) {
        let length = try Self.length(of: bytes)
        let status = bytes.withUnsafeBytes { cgs_sqlite3_bind_text_bytes(handle, index, $0.baseAddress, length) }
        try check(status)
    }

    /// Binds bytes as a BLOB, the type of the data column.
    func bindBlob(_ bytes: [UInt8], at index: Int32) throws(SQLiteFailure) {
        let length = try Self.length(of: bytes)
        let status = bytes.withUnsafeBytes { cgs_sqlite3_bind_blob_bytes(handle, index, $0.baseAddress, length) }
        try check(status)
    }

    /// Runs the statement one step: returns true when a row is available, false when it is done.
    ///
    /// A failed step resets the statement, so it can be reused.
    func step() throws(SQLiteFailure) -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW:
            return true
        case SQLITE_DONE:
            return false
        default:
            let message = database.errorMessage
            sqlite3_reset(handle)
            throw SQLiteFailure(message: message)
        }
    }

    /// Runs a statement that returns no rows, then resets it and clears its bindings.
    func run() throws(SQLiteFailure) {
        defer { reset() }
        while try step() {}
    }

    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    /// Returns the bytes of a column of the current row, whatever its type, and no bytes for NULL.
    func bytes(at column: Int32) -> [UInt8] {
        // SQLite documents this order: the pointer first, then the size of what it points to.
        let base = sqlite3_column_blob(handle, column)
        let count = Int(sqlite3_column_bytes(handle, column))
        guard count > 0, let base else { return [] }
        return Array(UnsafeRawBufferPointer(start: base, count: count))
    }

    func int64(at column: Int32) -> Int64 {
        sqlite3_column_int64(handle, column)
    }

    func isNull(at column: Int32) -> Bool {
        sqlite3_column_type(handle, column) == SQLITE_NULL
    }

    func finalize() {
        guard let handle else { return }
        sqlite3_finalize(handle)
        self.handle = nil
    }

    private func check(_ status: Int32) throws(SQLiteFailure) {
        guard status == SQLITE_OK else { throw SQLiteFailure(message: database.errorMessage) }
    }

    private static func length(of bytes: [UInt8]) throws(SQLiteFailure) -> Int32 {
        guard let length = Int32(exactly: bytes.count) else {
            throw SQLiteFailure(message: "value of \(bytes.count) bytes is larger than SQLite can store")
        }
        return length
    }
}
