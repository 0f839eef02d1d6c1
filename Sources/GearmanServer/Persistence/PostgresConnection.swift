import CPostgres

#if canImport(Glibc)
    import Glibc
#endif

/// A failure reported by libpq or the PostgreSQL server.
struct PostgresFailure: Error {
    /// The text of `PQerrorMessage` or `PQresultErrorMessage`, without the trailing newline.
    var message: String
    /// The position of the statement the server rejected, when one statement failed.
    var statementIndex: Int? = nil
    /// Whether the connection was lost, so that a new connection may succeed.
    var connectionLost = false
}

/// A parameter or column value in PostgreSQL's binary format; nil is SQL NULL.
typealias PostgresValue = [UInt8]?

/// One statement of a pipelined batch: a prepared statement with its parameters, or SQL without
/// parameters such as BEGIN.
enum PostgresStatement {
    case prepared(name: String, parameters: [PostgresValue])
    case sql(String)
}

/// One open libpq connection, used by one thread at a time.
final class PostgresConnection {
    /// Statements sent before the connection waits for their results, so that neither side's
    /// socket buffer fills while the other waits.
    private static let statementsPerSync = 256

    private var handle: OpaquePointer?

    /// Connects with a libpq connection string such as `host=127.0.0.1 dbname=gearman`; an empty
    /// string uses libpq's defaults and the PG* environment variables.
    init(conninfo: String) throws(PostgresFailure) {
        let connection = PQconnectdb(conninfo)
        guard let connection, PQstatus(connection) == CONNECTION_OK else {
            let message = connection.map { Self.trimmed(PQerrorMessage($0)) } ?? "out of memory"
            PQfinish(connection)
            throw PostgresFailure(message: message, connectionLost: true)
        }
        handle = connection
        // libpq prints notices (such as "relation already exists, skipping") to stderr by default,
        // which would bypass the server's log.
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
    }

    deinit {
        close()
    }

    var isConnected: Bool {
        handle.map { PQstatus($0) == CONNECTION_OK } ?? false
    }

    /// The server as `host:port/database`, for logs; the connection string may hold a password.
    var serverDescription: String {
        guard let handle else { return "closed connection" }
        let host = String(cString: PQhost(handle))
        let port = String(cString: PQport(handle))
        let database = String(cString: PQdb(handle))
        return "\(host):\(port)/\(database)"
    }

    func close() {
        PQfinish(handle)
        handle = nil
    }

    /// Runs SQL without parameters and ignores the rows it returns.
    func execute(_ sql: String) throws(PostgresFailure) {
        _ = try query(sql)
    }

    /// Runs a query and returns its rows with every column in binary format.
    func query(_ sql: String) throws(PostgresFailure) -> [[PostgresValue]] {
        let result = PQexecParams(handle, sql, 0, nil, nil, nil, nil, 1)
        defer { PQclear(result) }
        try check(result)
        var rows: [[PostgresValue]] = []
        let columnCount = PQnfields(result)
        for row in 0..<PQntuples(result) {
            var values: [PostgresValue] = []
            for column in 0..<columnCount {
                if PQgetisnull(result, row, column) == 1 {
                    values.append(nil)
                } else {
                    let length = Int(PQgetlength(result, row, column))
                    let start = UnsafeRawPointer(PQgetvalue(result, row, column))
                    values.append(Array(UnsafeRawBufferPointer(start: start, count: length)))
                }
            }
            rows.append(values)
        }
        return rows
    }

    /// Prepares a named statement whose parameter types come from casts in `sql`.
    func prepare(name: String, sql: String) throws(PostgresFailure) {
        let result = PQprepare(handle, name, sql, 0, nil)
        defer { PQclear(result) }
        try check(result)
    }

    /// Sends `statements` in pipeline mode and reads their results, so a batch costs about one
    /// network round trip per `statementsPerSync` statements rather than one per statement.
    ///
    /// Stops at the first statement that fails and throws with its index. The caller sends BEGIN
    /// first and COMMIT last, so a failure leaves nothing committed; this method rolls back a
    /// transaction that a failure left open.
    func runPipelined(_ statements: [PostgresStatement]) throws(PostgresFailure) {
        guard let handle, PQenterPipelineMode(handle) == 1 else { throw failure() }
        var firstFailure: PostgresFailure?
        do {
            firstFailure = try sendAndRead(statements, on: handle)
        } catch {
            firstFailure = error
        }
        guard var firstFailure else {
            PQexitPipelineMode(handle)
            return
        }
        // A server that shuts down reports a FATAL error for the statement it was running, so a
        // failure on a connection that is now gone is a lost connection, whatever the statement.
        if !isConnected {
            firstFailure.connectionLost = true
            firstFailure.statementIndex = nil
            throw firstFailure
        }
        PQexitPipelineMode(handle)
        if PQtransactionStatus(handle) != PQTRANS_IDLE {
            PQclear(PQexec(handle, "ROLLBACK"))
        }
        throw firstFailure
    }

    /// Sends the statements in groups of `statementsPerSync` and reads their results; returns
    /// the first statement's failure, and stops sending after it.
    private func sendAndRead(
        _ statements: [PostgresStatement], on handle: OpaquePointer
    ) throws(PostgresFailure) -> PostgresFailure? {
        var firstFailure: PostgresFailure?
        var start = 0
        while start < statements.count && firstFailure == nil {
            let end = min(start + Self.statementsPerSync, statements.count)
            for statement in statements[start..<end] {
                guard send(statement, on: handle) else { throw failure() }
            }
            guard PQpipelineSync(handle) == 1 else { throw failure() }
            for index in start..<end {
                if let error = try readResult(of: index), firstFailure == nil {
                    firstFailure = error
                }
            }
            try readSync()
            start = end
        }
        return firstFailure
    }

    private func send(_ statement: PostgresStatement, on handle: OpaquePointer) -> Bool {
        switch statement {
        case .sql(let sql):
            return PQsendQueryParams(handle, sql, 0, nil, nil, nil, nil, 1) == 1
        case .prepared(let name, let parameters):
            return Self.withParameters(parameters) { values, lengths, formats in
                PQsendQueryPrepared(handle, name, Int32(parameters.count), values, lengths, formats, 1) == 1
            }
        }
    }

    /// Reads the result of the statement at `index` and the NULL that ends it.
    ///
    /// Returns the statement's failure, or nil when it succeeded or was skipped after an earlier failure.
    private func readResult(of index: Int) throws(PostgresFailure) -> PostgresFailure? {
        guard let result = PQgetResult(handle) else { throw failure() }
        defer { PQclear(result) }
        var error: PostgresFailure?
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_PIPELINE_ABORTED:
            break
        default:
            error = PostgresFailure(message: Self.trimmed(PQresultErrorMessage(result)), statementIndex: index)
        }
        // Each statement's results end with a NULL; more results before it are not expected.
        while let extra = PQgetResult(handle) {
            PQclear(extra)
        }
        return error
    }

    private func readSync() throws(PostgresFailure) {
        guard let result = PQgetResult(handle) else { throw failure() }
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_PIPELINE_SYNC else {
            let message = Self.trimmed(PQresultErrorMessage(result))
            throw PostgresFailure(message: message.isEmpty ? "unexpected result at the end of a pipeline" : message)
        }
    }

    private func check(_ result: OpaquePointer?) throws(PostgresFailure) {
        guard let result else { throw failure() }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK:
            return
        default:
            throw PostgresFailure(message: Self.trimmed(PQresultErrorMessage(result)), connectionLost: !isConnected)
        }
    }

    /// Returns a failure with the connection's last error message.
    private func failure() -> PostgresFailure {
        let message = handle.map { Self.trimmed(PQerrorMessage($0)) } ?? "connection is closed"
        return PostgresFailure(message: message.isEmpty ? "unknown libpq error" : message, connectionLost: !isConnected)
    }

    static func trimmed(_ message: UnsafePointer<CChar>?) -> String {
        guard let message else { return "" }
        var text = String(cString: message)
        while text.last == "\n" {
            text.removeLast()
        }
        return text
    }

    /// Calls `body` with C arrays of the parameter values, their lengths and their formats
    /// (all binary), valid only during the call.
    private static func withParameters<Result>(
        _ parameters: [PostgresValue],
        _ body: (UnsafePointer<UnsafePointer<CChar>?>, UnsafePointer<Int32>, UnsafePointer<Int32>) -> Result
    ) -> Result {
        // A null pointer means SQL NULL to libpq, so an empty value gets a one-byte buffer.
        let buffers: [UnsafeMutablePointer<CChar>?] = parameters.map { value in
            guard let value else { return nil }
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, value.count))
            value.withUnsafeBytes { bytes in
                if let source = bytes.baseAddress {
                    UnsafeMutableRawPointer(buffer).copyMemory(from: source, byteCount: bytes.count)
                }
            }
            return buffer
        }
        defer {
            for buffer in buffers {
                buffer?.deallocate()
            }
        }
        let values = buffers.map { UnsafePointer($0) }
        let lengths = parameters.map { Int32($0?.count ?? 0) }
        let formats = [Int32](repeating: 1, count: parameters.count)
        return body(values, lengths, formats)
    }
}

/// Encoding and decoding of the binary format of PostgreSQL's `int8`: eight bytes, big-endian.
enum PostgresInt8 {
    static func encode(_ value: Int64) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }

    static func decode(_ bytes: [UInt8]) -> Int64? {
        guard bytes.count == 8 else { return nil }
        return Int64(bitPattern: bytes.reduce(UInt64(0)) { ($0 << 8) | UInt64($1) })
    }
}
