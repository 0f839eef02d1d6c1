/// A failure to configure, open, read or write a persistent queue.
public enum QueueStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A `-q` name that matches no store.
    case unknownQueueType(String)
    /// A store option that is missing or has an invalid value, with a message that includes the fix.
    case invalidOption(option: String, message: String)
    /// The store could not be opened or read, such as a database that refused the connection.
    case openFailed(store: String, message: String)
    /// A commit failed and none of its operations were stored.
    ///
    /// `operationIndex` is the position in the batch of the operation the database rejected,
    /// when the failure belongs to one operation, such as a value too long for its column. It
    /// is nil when the whole batch failed, as with a full disk or a lost connection.
    case commitFailed(store: String, message: String, operationIndex: Int?)
    /// A store was used after `close()`.
    case closed(store: String)

    public var description: String {
        switch self {
        case .unknownQueueType(let name):
            return "unknown queue type '\(name)': use builtin, libsqlite3, Postgres or logfile"
        case .invalidOption(let option, let message):
            return "--\(option): \(message)"
        case .openFailed(let store, let message):
            return "cannot open queue \(store): \(message)"
        case .commitFailed(let store, let message, let index):
            if let index {
                return "queue \(store) rejected operation \(index) of the batch: \(message)"
            }
            return "cannot write queue \(store): \(message)"
        case .closed(let store):
            return "queue \(store) is closed"
        }
    }
}
