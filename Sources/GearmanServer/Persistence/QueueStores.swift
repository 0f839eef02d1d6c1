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
        switch type.lowercased() {
        case "builtin":
            return nil
        case "libsqlite3":
            guard let path = options["libsqlite3-db"], !path.isEmpty else {
                throw QueueStoreError.invalidOption(
                    option: "libsqlite3-db",
                    message: "missing; the libsqlite3 queue needs a database file, such as "
                        + "--libsqlite3-db=/var/lib/gearman/queue.db")
            }
            return try SQLiteQueueStore(
                path: path, table: options["libsqlite3-table"] ?? SQLiteQueueStore.defaultTable,
                storesQueueOnShutdown: try flag("store-queue-on-shutdown", in: options), logger: logger)
        case "postgres", "libpq":
            return try PostgresQueueStore(
                conninfo: options["libpq-conninfo"] ?? "",
                table: options["libpq-table"] ?? PostgresQueueStore.defaultTable,
                logger: logger)
        case "logfile":
            guard let path = options["logfile-path"], !path.isEmpty else {
                throw QueueStoreError.invalidOption(
                    option: "logfile-path",
                    message:
                        "missing; the logfile queue needs a file, such as --logfile-path=/var/lib/gearman/queue.log")
            }
            return try AppendLogQueueStore(
                path: path, fsyncPolicy: try fsyncPolicy(options["logfile-fsync"]), logger: logger)
        default:
            throw QueueStoreError.unknownQueueType(type)
        }
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
