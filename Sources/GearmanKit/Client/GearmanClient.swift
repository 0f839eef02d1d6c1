import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// An asynchronous Gearman client: submits jobs at any priority, in the foreground or the
/// background, follows their events, and asks for their status.
///
/// Many jobs may be in flight at once on one connection per server. With several servers, a
/// job with a unique key always goes to the same server while that server is up, jobs without
/// one are spread in turn, and a server that fails is skipped and retried with back-off. A
/// foreground job whose server fails before the job finished is submitted again on another.
///
/// ```swift
/// let client = try GearmanClient(servers: "10.0.0.1, 10.0.0.2:7003")
/// let reversed = try await client.run("reverse", workload: Array("Hello".utf8))
/// ```
public final class GearmanClient: Sendable {
    /// The listener of a request in flight, for the cancellation handler.
    private final class ListenerHolder: Sendable {
        let listener = Mutex<JobListener?>(nil)
    }

    /// Settings of a client.
    public struct Options: Sendable {
        /// Milliseconds to wait for a TCP connection.
        public var connectTimeout: Int = 5000
        /// Ask servers for WORK_EXCEPTION packets, which `run` reports as `JobFailure.exception`.
        public var exceptions = true
        /// The first back-off after a server failed, in milliseconds; it doubles up to `maximumBackoff`.
        public var initialBackoff: Int = 500
        public var maximumBackoff: Int = 30_000
        /// Microseconds a connection's reader thread keeps polling after the last packet sent
        /// or received before it sleeps; 0 sleeps at once.
        ///
        /// A reply that comes soon then finds the thread awake, which on a virtual machine
        /// saves a thread wake-up per job. The default is 100 with more than one processor
        /// core and 0 with one.
        public var busyPoll: Int = ProcessorCount.online > 1 ? 100 : 0

        public init() {}
    }

    public let servers: [ServerAddress]
    public let options: Options

    private struct ServerState {
        var connection: ClientConnection?
        var downUntil: Int64 = 0
        var backoff: Int = 0
    }

    private let state: Mutex<[ServerState]>
    private let nextServer = Atomic<Int>(0)
    /// Set by `close()`: no connection opens after it, and lost jobs are not sent again.
    private let isClosed = Atomic<Bool>(false)

    /// Creates a client for a server list written as the C library takes it:
    /// `"host[:port], host[:port]"`, IPv6 addresses in brackets; the default is localhost:4730.
    public init(servers: String = "localhost:4730", options: Options = Options()) throws {
        let parsed = try ServerAddress.parseList(servers)
        guard !parsed.isEmpty else { throw GearmanError.noServers }
        self.servers = parsed
        self.options = options
        state = Mutex(Array(repeating: ServerState(), count: parsed.count))
    }

    /// Creates a client for the given servers.
    public init(servers: [ServerAddress], options: Options = Options()) throws {
        guard !servers.isEmpty else { throw GearmanError.noServers }
        self.servers = servers
        self.options = options
        state = Mutex(Array(repeating: ServerState(), count: servers.count))
    }

    deinit {
        close()
    }

    /// Closes every connection; jobs still in flight fail with `connectionClosed`, and so do
    /// later calls.
    public func close() {
        isClosed.store(true, ordering: .releasing)
        let connections = state.withLock { servers in servers.compactMap(\.connection) }
        for connection in connections { connection.close() }
    }

    // MARK: Submitting

    /// Runs a job in the foreground and returns its result (the WORK_COMPLETE data).
    ///
    /// - Parameters:
    ///   - unique: the unique key; jobs with the same function and key run once and share the
    ///     result. Nil sends a random key, so the job never coalesces by accident.
    ///   - timeout: how long to wait for the result; nil waits as long as the job runs.
    /// - Throws: `JobFailure` when the worker fails the job, `GearmanError` for server and
    ///   connection errors and timeouts, and `CancellationError` when the task is cancelled
    ///   (the job itself keeps running on the server).
    public func run(
        _ function: String, workload: [UInt8], unique: String? = nil, priority: JobPriority = .normal,
        timeout: Duration? = nil
    ) async throws -> [UInt8] {
        let request = JobRequest(
            function: function, workload: workload, unique: unique ?? JobRequest.randomUnique(), priority: priority)
        return try await result(of: request, explicitUnique: unique != nil, timeout: timeout)
    }

    /// Submits a request and waits for the single value its job produces: the result of a
    /// foreground job, or the handle (as UTF-8) of a background job.
    private func result(of request: JobRequest, explicitUnique: Bool, timeout: Duration?) async throws -> [UInt8] {
        let holder = ListenerHolder()
        let start = serverIndex(for: request.unique, explicit: explicitUnique)
        await connectFirstUsable(startingAt: start)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let listener = makeListener(request, sink: .result(continuation), timeout: timeout)
                holder.listener.withLock { $0 = listener }
                if Task.isCancelled {
                    listener.fail(CancellationError())
                    return
                }
                if !send(listener, startingAt: start, avoiding: []) {
                    listener.fail(GearmanError.noServers)
                }
            }
        } onCancel: {
            if let listener = holder.listener.withLock({ $0 }) {
                listener.fail(CancellationError())
                listener.cancel()
            }
        }
    }

    /// Submits a background job and returns its handle once the server has queued it.
    public func submitBackground(
        _ function: String, workload: [UInt8], unique: String? = nil, priority: JobPriority = .normal
    ) async throws -> String {
        let request = JobRequest(
            function: function, workload: workload, unique: unique ?? JobRequest.randomUnique(), priority: priority,
            background: true)
        return String(
            decoding: try await result(of: request, explicitUnique: unique != nil, timeout: nil), as: UTF8.self)
    }

    /// Submits many background jobs in one write per server and returns their handles in order.
    ///
    /// - Throws: the error of the first job that was not created, once every job is answered.
    public func submitBackground(_ requests: [JobRequest]) async throws -> [String] {
        let background = requests.map { request in
            var copy = request
            copy.isBackground = true
            return copy
        }
        let outcomes = await submitBatch(background, timeout: nil)
        return try outcomes.map { String(decoding: try $0.get(), as: UTF8.self) }
    }

    /// Runs many foreground jobs at once and returns each job's outcome, in order: the result
    /// of WORK_COMPLETE, or the error that ended the job.
    ///
    /// The submissions go out in one write per server and the caller waits once, as with
    /// libgearman's `gearman_client_run_tasks`. For a few jobs, `run` in a task group does the
    /// same. Requests marked background run in the foreground here. Cancelling the task ends
    /// the jobs still open with `CancellationError` (they keep running on the server).
    public func runAll(_ requests: [JobRequest], timeout: Duration? = nil) async -> [Result<[UInt8], any Error>] {
        let foreground = requests.map { request in
            var copy = request
            copy.isBackground = false
            return copy
        }
        return await submitBatch(foreground, timeout: timeout)
    }

    /// Sends a batch of requests in one write per server and waits once for all outcomes: the
    /// handle (as UTF-8) of a background job, or the result of a foreground one.
    private func submitBatch(_ requests: [JobRequest], timeout: Duration?) async -> [Result<[UInt8], any Error>] {
        if requests.isEmpty { return [] }
        let collector = ResultCollector(count: requests.count)
        var byServer: [Int: [(Packet, JobListener)]] = [:]
        for (position, request) in requests.enumerated() {
            let listener = makeListener(request, sink: .batch(collector, index: position), timeout: timeout)
            byServer[serverIndex(for: request.unique, explicit: !request.unique.isEmpty), default: []].append(
                (request.packet, listener))
        }
        for (index, items) in byServer {
            do {
                let connection = try await openConnection(at: index)
                for item in items { item.1.sent(on: connection) }
                try connection.send(items.map(\.0), waiters: items.map { .submission($0.1) })
            } catch {
                for item in items { item.1.connectionLost(error as? GearmanError ?? .connectionClosed(servers[index])) }
            }
        }
        return await withTaskCancellationHandler {
            await collector.wait()
        } onCancel: {
            collector.cancel(CancellationError())
        }
    }

    /// Submits a job and returns the stream of its events: `.created`, then any `.data`,
    /// `.warning` and `.status`, and last `.complete`; a failure or exception ends the stream
    /// with a `JobFailure`. A background job's stream ends after `.created`.
    public func events(for request: JobRequest, timeout: Duration? = nil) -> AsyncThrowingStream<JobEvent, Error> {
        submit(request, preferredUnique: request.unique.isEmpty ? nil : request.unique, timeout: timeout)
    }

    private func submit(_ request: JobRequest, preferredUnique: String?, timeout: Duration?)
        -> AsyncThrowingStream<JobEvent, Error>
    {
        let (stream, listener) = makeStreamListener(request, timeout: timeout)
        let index = serverIndex(for: request.unique, explicit: preferredUnique != nil)
        if hasUsableConnection(startingAt: index) {
            if !send(listener, startingAt: index, avoiding: []) {
                listener.fail(GearmanError.noServers)
            }
        } else {
            // Connecting may take the whole connect timeout, so it happens on a thread of its own
            // and this method returns the stream at once.
            Task {
                await connectFirstUsable(startingAt: index)
                if !send(listener, startingAt: index, avoiding: []) {
                    listener.fail(GearmanError.noServers)
                }
            }
        }
        return stream
    }

    private func makeStreamListener(_ request: JobRequest, timeout: Duration?)
        -> (AsyncThrowingStream<JobEvent, Error>, JobListener)
    {
        let (stream, continuation) = AsyncThrowingStream<JobEvent, Error>.makeStream()
        let listener = makeListener(request, sink: .stream(continuation), timeout: timeout)
        continuation.onTermination = { termination in
            if case .cancelled = termination { listener.cancel() }
        }
        return (stream, listener)
    }

    private func makeListener(_ request: JobRequest, sink: JobListener.Sink, timeout: Duration?) -> JobListener {
        let listener = JobListener(request: request, sink: sink) { [weak self] listener, lost in
            guard let self, !self.isClosed.load(ordering: .acquiring) else { return false }
            let start = self.serverIndex(for: listener.request.unique, explicit: true)
            return self.send(listener, startingAt: start, avoiding: lost)
        }
        if let timeout {
            let fallback = servers[0]
            Task { [weak listener] in
                try? await Task.sleep(for: timeout)
                let milliseconds = Int(
                    timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
                // The error names the server the job went to; before it was sent, the first one.
                let server = listener?.server ?? fallback
                listener?.fail(GearmanError.timedOut(server, milliseconds: milliseconds))
                listener?.cancel()
            }
        }
        return listener
    }

    /// Sends a submission to the first usable server from `start`, skipping `avoiding`.
    private func send(_ listener: JobListener, startingAt start: Int, avoiding: [ServerAddress]) -> Bool {
        for offset in 0..<servers.count {
            let index = (start + offset) % servers.count
            if avoiding.contains(servers[index]) && avoiding.count < servers.count { continue }
            guard let connection = try? connection(at: index) else { continue }
            listener.sent(on: connection)
            do {
                try connection.send(listener.request.packet, waiter: .submission(listener))
                return true
            } catch {
                markDown(index, failed: connection)
            }
        }
        return false
    }

    // MARK: Status

    /// Asks the server that holds `handle` for its status (GET_STATUS).
    ///
    /// With several servers, each is asked until one knows the job.
    public func status(handle: String) async throws -> JobStatus {
        try await askEachServer(Packet.request(.getStatus, handle), key: handle)
    }

    /// Asks for the status of the job with a unique key (GET_STATUS_UNIQUE).
    public func status(unique: String) async throws -> JobStatus {
        let first = serverIndex(for: unique, explicit: true)
        return try await askEachServer(Packet.request(.getStatusUnique, unique), key: unique, startingAt: first)
    }

    /// Sends ECHO_REQ to the first usable server and returns the echoed bytes.
    public func echo(_ bytes: [UInt8]) async throws -> [UInt8] {
        var lastError: Error = GearmanError.noServers
        for index in servers.indices {
            do {
                let connection = try await openConnection(at: index)
                return try await withCheckedThrowingContinuation { continuation in
                    do {
                        try connection.send(
                            Packet(magic: .request, type: .echoRequest, arguments: [bytes]), waiter: .echo(continuation)
                        )
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    private func askEachServer(_ packet: Packet, key: String, startingAt start: Int = 0) async throws -> JobStatus {
        var lastError: Error? = nil
        var unknown: JobStatus? = nil
        for offset in servers.indices {
            let index = (start + offset) % servers.count
            do {
                let connection = try await openConnection(at: index)
                let status: JobStatus = try await withCheckedThrowingContinuation { continuation in
                    do {
                        try connection.send(packet, waiter: .status(continuation))
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
                if status.isKnown { return status }
                unknown = status
            } catch {
                lastError = error
            }
        }
        if let unknown { return unknown }
        throw lastError ?? GearmanError.noServers
    }

    // MARK: Servers

    /// The server a job goes to: by a hash of an explicit unique key, else in turn.
    func serverIndex(for unique: String, explicit: Bool) -> Int {
        if servers.count == 1 { return 0 }
        if explicit && !unique.isEmpty {
            // FNV-1a: stable across processes, unlike Hasher, so every client picks the same server.
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in unique.utf8 {
                hash ^= UInt64(byte)
                hash = hash &* 0x100_0000_01b3
            }
            return Int(hash % UInt64(servers.count))
        }
        return nextServer.wrappingAdd(1, ordering: .relaxed).oldValue % servers.count
    }

    /// Returns the open connection to a server like `connection(at:)`, but connects on a thread
    /// of its own, so the wait for the connect timeout does not hold a cooperative thread.
    func openConnection(at index: Int) async throws -> ClientConnection {
        if let existing = try usableConnection(at: index) { return existing }
        return try await runOnNewThread { try self.connection(at: index) }
    }

    /// Opens a connection to the first server from `start` that accepts one, as `send` would
    /// try them, unless one is open already. A server that fails is marked down, so `send`
    /// then skips it without waiting.
    private func connectFirstUsable(startingAt start: Int) async {
        if hasUsableConnection(startingAt: start) { return }
        for offset in 0..<servers.count {
            if (try? await openConnection(at: (start + offset) % servers.count)) != nil { return }
        }
    }

    /// Returns whether `send` would find an open connection before it had to connect: the
    /// first server from `start` that is not in back-off has one.
    private func hasUsableConnection(startingAt start: Int) -> Bool {
        for offset in 0..<servers.count {
            do {
                return try usableConnection(at: (start + offset) % servers.count) != nil
            } catch {
                continue
            }
        }
        return false
    }

    /// Returns the open connection to a server, nil when there is none, or throws while the
    /// server is in back-off. A connection that failed is forgotten here.
    private func usableConnection(at index: Int) throws -> ClientConnection? {
        let now = GearmanConnection.now()
        return try state.withLock { servers -> ClientConnection? in
            if let connection = servers[index].connection, connection.isUsable { return connection }
            if servers[index].downUntil > now { throw GearmanError.connectionClosed(self.servers[index]) }
            servers[index].connection = nil
            return nil
        }
    }

    /// Returns the open connection to a server, connecting when needed; a server in back-off fails at once.
    func connection(at index: Int) throws -> ClientConnection {
        if isClosed.load(ordering: .acquiring) { throw GearmanError.connectionClosed(servers[index]) }
        if let existing = try usableConnection(at: index) { return existing }
        do {
            let connection = try ClientConnection(
                server: servers[index], connectTimeout: options.connectTimeout, exceptions: options.exceptions,
                busyPoll: options.busyPoll
            ) { [weak self] failed, _ in
                self?.markDown(index, failed: failed)
            }
            let winner = state.withLock { servers -> ClientConnection in
                if let other = servers[index].connection, other.isUsable { return other }
                servers[index].connection = connection
                servers[index].backoff = 0
                return connection
            }
            if winner !== connection { connection.close() }
            // A close() that ran during the connect did not see this connection.
            if isClosed.load(ordering: .acquiring) {
                winner.close()
                throw GearmanError.connectionClosed(servers[index])
            }
            return winner
        } catch {
            markDown(index, failed: nil)
            throw error
        }
    }

    /// Puts a server in back-off after `failed`, its connection, ended (nil: a connect failed).
    ///
    /// A job lost with `failed` may already have been sent again on a new connection to the
    /// same server. That connection works, so it stays, and so does the server.
    private func markDown(_ index: Int, failed: ClientConnection?) {
        state.withLock { servers in
            if let current = servers[index].connection, current !== failed, current.isUsable { return }
            let backoff =
                servers[index].backoff == 0
                ? options.initialBackoff : min(servers[index].backoff * 2, options.maximumBackoff)
            servers[index].backoff = backoff
            servers[index].downUntil = GearmanConnection.now() + Int64(backoff)
            servers[index].connection = nil
        }
    }
}
