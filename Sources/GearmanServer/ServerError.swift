import GearmanKit

/// A failure to start or run the job server.
public enum ServerError: Error, Sendable, CustomStringConvertible {
    /// A `--listen` address could not be resolved.
    case invalidListenAddress(String, reason: String)
    /// A listening socket could not be opened on an address.
    case bindFailed(address: String, port: Int, SystemError)
    /// No address could be bound at all.
    case noListeners
    /// The persistent queue could not be opened or read.
    case queueFailed(String)
    /// An event loop could not be created.
    case eventLoopFailed(SystemError)

    public var description: String {
        switch self {
        case .invalidListenAddress(let address, let reason):
            return "invalid listen address '\(address)': \(reason)"
        case .bindFailed(let address, let port, let error):
            return "cannot listen on \(address) port \(port): \(error.message)"
        case .noListeners:
            return "no address to listen on"
        case .queueFailed(let reason):
            return "cannot open the persistent queue: \(reason)"
        case .eventLoopFailed(let error):
            return "cannot start an event loop: \(error)"
        }
    }
}
