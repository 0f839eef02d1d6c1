import GearmanKit
import Synchronization

/// A queue stored in a PostgreSQL table, in the layout of the C gearmand's `Postgres` queue, so
/// either server can start on a queue the other left behind.
///
/// The table is created if it is missing, with the C gearmand 1.1.20's statement:
///
///     CREATE TABLE IF NOT EXISTS queue (unique_key VARCHAR(64), function_name VARCHAR(255),
///       priority INTEGER, data BYTEA, when_to_run INTEGER, UNIQUE (unique_key, function_name))
///
/// `priority` is 0 for high, 1 for normal and 2 for low, and `when_to_run` is the Unix time of a
/// scheduled job or 0. The column types limit what can be stored. The database rejects a unique
/// key of more than 64 characters, a function name of more than 255, and a key or name that is
/// not valid in the database's encoding. It also rejects a `runAt` after 2038-01-19, the maximum
/// of `integer`. Such a job fails the whole batch, and the error gives its index in the batch.
///
/// Each `commit` is one transaction, sent in libpq's pipeline mode. When the connection is lost
/// (the database restarted, say) a commit reconnects and sends the batch once more. Sending it
/// twice is harmless even if the first COMMIT reached the database, because an add deletes the
/// key before it inserts and a remove of a missing key does nothing.
public final class PostgresQueueStore: QueueStore {
    /// The table name when none is given, as in the C gearmand.
    public static let defaultTable = "queue"

    public let description: String
    private let conninfo: String
    private let table: String
    private let logger: Logger
    private let state: Mutex<PostgresConnection?>

    private static let insertStatement = "gearmankit_insert"
    private static let deleteStatement = "gearmankit_delete"

    /// Connects to the database and creates the table if it is missing.
    ///
    /// - Parameters:
    ///   - conninfo: a libpq connection string, as `--libpq-conninfo` takes; empty uses libpq's
    ///     defaults and the PG* environment variables. Add `connect_timeout=N` to bound how long
    ///     a connection attempt, and so a commit while the database is down, may block.
    ///   - table: the table name, checked against `^[A-Za-z_][A-Za-z0-9_]*$`.
    /// - Throws: `QueueStoreError.invalidOption` for an invalid table name and
    ///   `QueueStoreError.openFailed` with libpq's message when the connection or the table fails.
    public init(
        conninfo: String = "", table: String = PostgresQueueStore.defaultTable, logger: Logger = .disabled
    ) throws {
        self.table = try QueueTableName.validate(table, option: "libpq-table")
        self.conninfo = conninfo
        self.logger = logger
        do {
            let connection = try Self.connect(conninfo: conninfo, table: table)
            description = "Postgres table \(table) at \(connection.serverDescription)"
            state = Mutex(connection)
        } catch {
            throw QueueStoreError.openFailed(store: "Postgres table \(table)", message: error.message)
        }
    }

    deinit {
        close()
    }

    /// Returns the stored jobs in the table's physical order, as the C gearmand replays them.
    ///
    /// NOTE: the table has no column that records when a row was added, and adding one would
    /// change the C gearmand's layout. Physical order equals add order until PostgreSQL reuses
    /// the space of deleted rows, so after many removals the order within a priority can differ
    /// from the order of submission.
    public func load() throws -> [StoredJob] {
        try state.withLock { connection in
            let sql =
                "SELECT unique_key::text, function_name::text, priority::int8, data, when_to_run::int8 "
                + "FROM \(table) ORDER BY ctid"
            do throws(PostgresFailure) {
                let live = try reconnectIfNeeded(&connection)
                return try live.query(sql).map { row throws(PostgresFailure) in try Self.job(from: row) }
            } catch {
                if error.connectionLost { connection = nil }
                throw QueueStoreError.openFailed(store: description, message: error.message)
            }
        }
    }

    public func commit(_ operations: [StoreOperation]) throws {
        guard !operations.isEmpty else { return }
        let statements = batch(for: operations)
        try state.withLock { connection in
            var retried = false
            while true {
                do throws(PostgresFailure) {
                    let live = try reconnectIfNeeded(&connection)
                    try live.runPipelined(statements.list)
                    return
                } catch {
                    if error.statementIndex == nil {
                        // A connection in an unknown state is replaced before the next use.
                        connection = nil
                    }
                    if error.connectionLost && !retried {
                        retried = true
                        logger.warning(
                            "\(description): connection lost (\(error.message)); reconnecting to retry the batch")
                        continue
                    }
                    let index = error.statementIndex.flatMap { statements.operationIndex[$0] }
                    throw QueueStoreError.commitFailed(
                        store: description, message: error.message, operationIndex: index)
                }
            }
        }
    }

    public func close() {
        state.withLock { connection in
            connection?.close()
            connection = nil
        }
    }

    /// Returns the open connection, or a new one if there is none or it was lost.
    private func reconnectIfNeeded(
        _ connection: inout PostgresConnection?
    ) throws(PostgresFailure) -> PostgresConnection {
        if let connection, connection.isConnected {
            return connection
        }
        connection?.close()
        connection = nil
        let fresh = try Self.connect(conninfo: conninfo, table: table)
        logger.notice("\(description): connected to \(fresh.serverDescription)")
        connection = fresh
        return fresh
    }

    /// Returns the statements of one transaction, and for each statement the operation it belongs to.
    private func batch(for operations: [StoreOperation]) -> (list: [PostgresStatement], operationIndex: [Int?]) {
        var list: [PostgresStatement] = [.sql("BEGIN")]
        var operationIndex: [Int?] = [nil]
        for (index, operation) in operations.enumerated() {
            switch operation {
            case .add(let job):
                // Deleting first makes an add replace a stored job of the same key, as in the
                // other stores, without relying on the UNIQUE constraint that ON CONFLICT needs.
                list.append(.prepared(name: Self.deleteStatement, parameters: [job.unique, job.function]))
                list.append(
                    .prepared(
                        name: Self.insertStatement,
                        parameters: [
                            PostgresInt8.encode(Int64(job.priority.rawValue)), job.unique, job.function, job.data,
                            PostgresInt8.encode(job.runAt),
                        ]))
                operationIndex += [index, index]
            case .remove(let key):
                list.append(.prepared(name: Self.deleteStatement, parameters: [key.unique, key.function]))
                operationIndex.append(index)
            }
        }
        list.append(.sql("COMMIT"))
        operationIndex.append(nil)
        return (list, operationIndex)
    }

    private static func connect(conninfo: String, table: String) throws(PostgresFailure) -> PostgresConnection {
        let connection = try PostgresConnection(conninfo: conninfo)
        try connection.execute(
            "CREATE TABLE IF NOT EXISTS \(table) (unique_key VARCHAR(64), function_name VARCHAR(255), "
                + "priority INTEGER, data BYTEA, when_to_run INTEGER, UNIQUE (unique_key, function_name))")
        // The casts fix the parameter types, so integers travel as int8 and any integer column
        // type accepts them. A value out of the column's range fails with the server's message.
        try connection.prepare(
            name: insertStatement,
            sql: "INSERT INTO \(table) (priority, unique_key, function_name, data, when_to_run) "
                + "VALUES ($1::int8, $2::text, $3::text, $4::bytea, $5::int8)")
        try connection.prepare(
            name: deleteStatement,
            sql: "DELETE FROM \(table) WHERE unique_key = $1::text AND function_name = $2::text")
        return connection
    }

    private static func job(from row: [PostgresValue]) throws(PostgresFailure) -> StoredJob {
        let function = row[1] ?? []
        let rawPriority = row[2].flatMap(PostgresInt8.decode) ?? Int64(JobPriority.normal.rawValue)
        guard let priority = Int(exactly: rawPriority).flatMap(JobPriority.init(rawValue:)) else {
            throw PostgresFailure(
                message: "a job of function '\(String(decoding: function, as: UTF8.self))' has priority "
                    + "\(rawPriority); only 0 (high), 1 (normal) and 2 (low) are valid")
        }
        // The C gearmand stores an empty workload as NULL.
        return StoredJob(
            function: function, unique: row[0] ?? [], priority: priority, data: row[3] ?? [],
            runAt: row[4].flatMap(PostgresInt8.decode) ?? 0)
    }
}

extension Error {
    /// The message of a PostgreSQL failure, or the error's description.
    fileprivate var message: String {
        (self as? PostgresFailure)?.message ?? String(describing: self)
    }
}
