import GearmanKit
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A Gearman job server that runs inside the current process.
///
/// `init` binds the listening sockets, so a caller can drop privileges or read `port` before
/// any connection is accepted; `start()` launches the event-loop threads and `stop()` ends them.
/// `gearmand` is a thin command-line front end to this type.
public final class GearmanServer: Sendable {
    /// The version of this server, reported by the admin `version` command and `gearmand -V`.
    public static let version = "0.1.0"

    /// The configuration the server runs with.
    public let configuration: ServerConfiguration
    private let runtime: ServerRuntime
    private let threads = Mutex<[pthread_t]>([])
    /// Commits background jobs to the persistent queue, or nil with the in-memory queue.
    private let committer: StoreCommitter?

    /// Binds the listening sockets described by `configuration`.
    ///
    /// - Throws: `ServerError` when an address cannot be resolved or bound.
    public init(configuration: ServerConfiguration, logger: Logger = .disabled) throws {
        self.configuration = configuration
        var listeners = try Self.bindListeners(configuration, port: configuration.port, kind: .gear)
        if listeners.isEmpty { throw ServerError.noListeners }
        if configuration.isHTTPEnabled {
            listeners += try Self.bindListeners(configuration, port: configuration.httpPort, kind: .http)
        }
        runtime = ServerRuntime(configuration: configuration, logger: logger, listeners: listeners)
        committer = try Self.openQueue(configuration, runtime: runtime, logger: logger)
        for listener in listeners where listener.kind == .gear {
            logger.log(.notice, "listening on \(listener.description)", force: configuration.port == 0)
        }
        for listener in listeners where listener.kind == .http {
            logger.log(.notice, "listening on \(listener.description) (http)", force: configuration.httpPort == 0)
        }
    }

    /// Binds `port` on every listen address; an ephemeral port chosen for the first address is
    /// reused for the others.
    private static func bindListeners(_ configuration: ServerConfiguration, port: Int, kind: Listener.Kind) throws
        -> [Listener]
    {
        var listeners: [Listener] = []
        var port = port
        let hosts: [String?] = configuration.listenAddresses.isEmpty ? [nil] : configuration.listenAddresses
        for host in hosts {
            do {
                let bound = try Listener.bind(host: host, port: port, backlog: configuration.backlog, kind: kind)
                if port == 0, let first = bound.first { port = first.port }
                listeners += bound
            } catch let error as SystemError {
                throw ServerError.bindFailed(address: host ?? "*", port: port, error)
            }
        }
        return listeners
    }

    /// Opens the persistent queue, replays its jobs into the core and connects the committer.
    private static func openQueue(_ configuration: ServerConfiguration, runtime: ServerRuntime, logger: Logger) throws
        -> StoreCommitter?
    {
        let store: (any QueueStore)?
        let storedJobs: [StoredJob]
        do {
            store = try QueueStores.make(
                type: configuration.queueType, options: configuration.queueOptions, logger: logger)
            storedJobs = try store?.load() ?? []
        } catch {
            throw ServerError.queueFailed("\(error)")
        }
        guard let store else { return nil }
        let committer = StoreCommitter(store: store, logger: logger) { [runtime] acknowledgements, failedJobs, reason in
            var outbox = Outbox()
            // The replies are built outside the core lock, so a large batch does not hold up the
            // event loops. They are posted under it, so a loop that takes the lock next and reads
            // the released count also finds them in its mailbox, and sends them first.
            let heldReleases = JobCore.heldReleases(of: acknowledgements)
            var deliveries = JobCore.deliveries(of: acknowledgements, failedJobs: failedJobs, reason: reason)
            let woken = runtime.withCore { core in
                core.acknowledged(heldReleases: heldReleases, failedJobs: failedJobs, outbox: &outbox)
                core.routeHeldOutputs(&outbox)
                deliveries += outbox.items
                return runtime.enqueue(deliveries)
            }
            // Waking after the lock is released is safe, because the mailboxes fix the order.
            runtime.wake(loops: woken)
        }
        runtime.withCore { core in
            var outbox = Outbox()
            core.committer = committer
            core.restore(storedJobs, outbox: &outbox)
            runtime.publishDeadline(core)
        }
        logger.notice("loaded \(storedJobs.count) job\(storedJobs.count == 1 ? "" : "s") from \(store.description)")
        return committer
    }

    /// The TCP port the server listens on; with `port` 0 in the configuration, the ephemeral one.
    public var port: Int { runtime.listeners.first?.port ?? configuration.port }

    /// The TCP port of the HTTP module, or nil when it is not enabled.
    public var httpPort: Int? { runtime.listeners.first(where: { $0.kind == .http })?.port }

    /// The bound addresses of the Gearman protocol as `host:port`, IPv6 hosts in brackets.
    public var listeningAddresses: [String] { runtime.listeners.filter { $0.kind == .gear }.map(\.description) }

    /// Starts the event-loop threads; connections are accepted from then on.
    ///
    /// Ignores SIGPIPE for the whole process, because a peer that closes early must not kill the server.
    public func start() throws {
        signal(SIGPIPE, SIG_IGN)
        var loops: [EventLoop] = []
        do {
            for index in 0..<max(1, configuration.threads) {
                loops.append(try EventLoop(index: index, runtime: runtime))
            }
        } catch {
            throw ServerError.eventLoopFailed(error)
        }
        runtime.loops = loops
        committer?.start()
        var started: [pthread_t] = []
        for loop in loops {
            started.append(Self.spawn { loop.run() })
        }
        threads.withLock { $0 = started }
        runtime.logger.notice(
            "gearmand \(Self.version) started with \(loops.count) I/O thread\(loops.count == 1 ? "" : "s")")
    }

    /// Stops the server: at once, or with `graceful` after closing the listeners and waiting
    /// until no job is left.
    public func stop(graceful: Bool = false) {
        runtime.requestStop(graceful: graceful)
    }

    /// Blocks until every event loop has ended.
    public func wait() {
        let started = threads.withLock { threads in
            let taken = threads
            threads = []
            return taken
        }
        for thread in started {
            pthread_join(thread, nil)
        }
        // Commits what is still queued (removals of the last finished jobs) and closes the store.
        committer?.stop()
        if !started.isEmpty {
            runtime.logger.notice("gearmand stopped")
        }
    }

    /// Whether the server has been asked to stop at once or has finished draining.
    public var isStopped: Bool {
        runtime.state.load(ordering: .acquiring) == ServerRuntime.stopped
    }

    private static func spawn(_ body: @escaping @Sendable () -> Void) -> pthread_t {
        switch PosixThread.start(body) {
        case .success(let thread): return thread
        case .failure(let error): preconditionFailure("\(error)")
        }
    }
}
