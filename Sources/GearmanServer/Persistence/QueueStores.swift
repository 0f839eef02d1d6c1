import CPostgres
import GearmanKit

/// Creates the persistent queue that `gearmand -q NAME` and the queue options select.
public enum QueueStores {
    /// The database `gearmand -q libsqlite3` uses when `--libsqlite3-db` is not given.
    public static let defaultSQLitePath = "gearmand.db"

    /// The `-q` names and the option keys each store reads, as the C gearmand spells them where
    /// it has the store.
    public static let optionNames: [String: [String]] = [
        "libsqlite3": ["libsqlite3-db", "libsqlite3-table", "store-queue-on-shutdown"],
        "Postgres": ["libpq-conninfo", "libpq-table"],
        "logfile": ["logfile-path", "logfile-fsync"],
    ]

    /// Creates the store named by `type`, or returns nil for `builtin` (memory only).
    ///
    /// Names are matched without regard to case, as the C gearmand 1.1.20 does: `builtin`,
    /// `libsqlite3`, `Postgres` (also `libpq`, a name the C server rejects) and `logfile`, this
    /// server's append-only log. `options` maps option names without their dashes, such as
    /// `libsqlite3-db`, to values; keys of other stores are ignored. A flag such as
    /// `store-queue-on-shutdown` is on when present with an empty value or true, yes, on or 1.
    ///
    /// - Throws: `QueueStoreError.unknownQueueType`, `QueueStoreError.invalidOption` naming the
    ///   option and its fix, or `QueueStoreError.openFailed` when the store cannot be opened.
    public static func make(
        type: String, options: [String: String], logger: Logger = .disabled
    ) throws -> (any QueueStore)? {
        try validate(type: type, options: options)
        switch type.lowercased() {
        case "libsqlite3":
            return try SQLiteQueueStore(
                path: options["libsqlite3-db"] ?? "",
                table: options["libsqlite3-table"] ?? SQLiteQueueStore.defaultTable,
                storesQueueOnShutdown: try flag("store-queue-on-shutdown", in: options), logger: logger)
        case "postgres", "libpq":
            return try PostgresQueueStore(
                conninfo: options["libpq-conninfo"] ?? "",
                table: options["libpq-table"] ?? PostgresQueueStore.defaultTable,
                logger: logger)
        case "logfile":
            return try AppendLogQueueStore(
                path: options["logfile-path"] ?? "", fsyncPolicy: try fsyncPolicy(options["logfile-fsync"]),
                logger: logger)
        default:
            return nil
        }
    }

    /// Checks the queue type and the value of every store option given, without opening a file,
    /// a database or a connection, so `gearmand --check-args` finds what would stop the start.
    ///
    /// Every option in `options` is checked, also one that belongs to another store than `type`,
    /// because a bad value is a mistake in the configuration either way. A required option is
    /// required only by its own store.
    ///
    /// - Throws: `QueueStoreError.unknownQueueType`, or `QueueStoreError.invalidOption` naming
    ///   the option, its value and what is expected.
    public static func validate(type: String, options: [String: String]) throws(QueueStoreError) {
        let lowercasedType = type.lowercased()
        guard ["builtin", "libsqlite3", "postgres", "libpq", "logfile"].contains(lowercasedType) else {
            throw QueueStoreError.unknownQueueType(type)
        }
        if let table = options["libsqlite3-table"] {
            _ = try QueueTableName.validate(table, option: "libsqlite3-table")
        }
        _ = try flag("store-queue-on-shutdown", in: options)
        if let table = options["libpq-table"] {
            _ = try QueueTableName.validate(table, option: "libpq-table")
        }
        if let conninfo = options["libpq-conninfo"] {
            try validateConninfo(conninfo)
        }
        _ = try fsyncPolicy(options["logfile-fsync"])

        switch lowercasedType {
        case "libsqlite3":
            guard let path = options["libsqlite3-db"], !path.isEmpty else {
                throw QueueStoreError.invalidOption(
                    option: "libsqlite3-db",
                    message: "missing; the libsqlite3 queue needs a database file, such as "
                        + "--libsqlite3-db=/var/lib/gearman/queue.db")
            }
        case "logfile":
            guard let path = options["logfile-path"], !path.isEmpty else {
                throw QueueStoreError.invalidOption(
                    option: "logfile-path",
                    message:
                        "missing; the logfile queue needs a file, such as --logfile-path=/var/lib/gearman/queue.log")
            }
        default:
            break
        }
    }

    /// Checks the syntax of a libpq connection string with `PQconninfoParse`, which parses
    /// without connecting. An empty string is valid: libpq then uses its defaults and the
    /// PG environment variables.
    private static func validateConninfo(_ conninfo: String) throws(QueueStoreError) {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let parsed = PQconninfoParse(conninfo, &errorMessage)
        defer {
            PQconninfoFree(parsed)
            PQfreemem(errorMessage)
        }
        guard parsed == nil else { return }
        let reason = errorMessage.map { PostgresConnection.trimmed($0) } ?? "out of memory"
        throw QueueStoreError.invalidOption(
            option: "libpq-conninfo",
            // The string is left out because it may contain a password.
            message: "invalid connection string: \(reason); "
                + "use key=value pairs such as 'host=localhost dbname=gearman' or a postgresql:// URI")
    }

    /// Parses `logfile-fsync`: `always` (the default), `never`, or an interval in milliseconds.
    static func fsyncPolicy(_ value: String?) throws(QueueStoreError) -> AppendLogQueueStore.FsyncPolicy {
        guard let value else { return .always }
        switch value.lowercased() {
        case "always":
            return .always
        case "never":
            return .never
        default:
            guard let milliseconds = Int(value), milliseconds > 0 else {
                throw QueueStoreError.invalidOption(
                    option: "logfile-fsync",
                    message: "invalid value '\(value)': use always, never, or an interval in milliseconds "
                        + "greater than 0, such as 100")
            }
            return .interval(milliseconds: milliseconds)
        }
    }

    private static func flag(_ name: String, in options: [String: String]) throws(QueueStoreError) -> Bool {
        guard let value = options[name] else { return false }
        switch value.lowercased() {
        case "", "true", "yes", "on", "1":
            return true
        case "false", "no", "off", "0":
            return false
        default:
            throw QueueStoreError.invalidOption(
                option: name, message: "invalid value '\(value)': it is a flag, so give it without a value")
        }
    }
}
