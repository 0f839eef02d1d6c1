import Synchronization

/// An asynchronous Gearman worker: registers functions with async handlers, connects to every
/// server, and runs up to `maximumConcurrentJobs` jobs at once.
///
/// Each server connection follows the protocol's wake-up cycle (GRAB_JOB_UNIQ, NO_JOB,
/// PRE_SLEEP, NOOP). A lost server is reconnected with back-off while the others keep working.
///
/// ```swift
/// let worker = try GearmanWorker(servers: "localhost")
/// worker.register("reverse") { job in Array(job.workload.reversed()) }
/// try await worker.run()
/// ```
public final class GearmanWorker: Sendable {
    /// Settings of a worker.
    public struct Options: Sendable {
        /// The id `workers` shows for this worker's connections, if any.
        public var clientID: String? = nil
        /// Jobs run at once, across all servers.
        public var maximumConcurrentJobs = 1
        /// Milliseconds to wait for a TCP connection.
        public var connectTimeout = 5000
        /// Milliseconds between reconnection attempts to a lost server, doubling up to 30 s.
        public var reconnectDelay = 500

        public init() {}
    }

    /// A job handler: returns the result, throws `WorkFailure` for WORK_FAIL or any other error
    /// for WORK_EXCEPTION.
    public typealias Handler = @Sendable (Job) async throws -> [UInt8]

    private struct Registration: Sendable {
        let timeout: Duration?
        let handler: Handler
    }

    private struct State {
        var registrations: [String: Registration] = [:]
        var order: [String] = []
        var stopping = false
        var graceful = true
        var loops: [ServerLoop] = []
    }

    public let servers: [ServerAddress]
    public let options: Options
    private let state = Mutex(State())
    private let slots: AsyncSemaphore
    private let running = Atomic<Int>(0)

    public init(servers: String = "localhost:4730", options: Options = Options()) throws {
        let parsed = try ServerAddress.parseList(servers)
        guard !parsed.isEmpty else { throw GearmanError.noServers }
        self.servers = parsed
        self.options = options
        slots = AsyncSemaphore(permits: max(1, options.maximumConcurrentJobs))
    }

    /// Registers a function; `timeout` becomes CAN_DO_TIMEOUT, after which the server gives the
    /// job to another worker. Register before calling `run()`.
    public func register(_ function: String, timeout: Duration? = nil, handler: @escaping Handler) {
        state.withLock { state in
            if state.registrations[function] == nil { state.order.append(function) }
            state.registrations[function] = Registration(timeout: timeout, handler: handler)
        }
    }

    /// Connects to every server and works until `stop()`; returns once running jobs are done.
    ///
    /// - Throws: `GearmanError` when no function is registered or no server can be reached at start.
    public func run() async throws {
        let (functions, registrations) = state.withLock { ($0.order, $0.registrations) }
        guard !functions.isEmpty else {
            throw GearmanError.invalidServerAddress("", reason: "no function registered; call register() before run()")
        }
        var setup: [Packet] = []
        if let clientID = options.clientID { setup.append(Packet.request(.setClientID, clientID)) }
        for function in functions {
            if let timeout = registrations[function]?.timeout {
                let milliseconds = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
                setup.append(Packet.request(.canDoTimeout, function, String(milliseconds)))
            } else {
                setup.append(Packet.request(.canDo, function))
            }
        }
        let loops = servers.map { ServerLoop(server: $0, setup: setup, worker: self) }
        state.withLock { $0.loops = loops }
        var connected = 0
        var firstError: Error? = nil
        for loop in loops {
            do {
                try loop.connect()
                connected += 1
            } catch {
                firstError = firstError ?? error
            }
        }
        if connected == 0, let firstError { throw firstError }
        await withTaskGroup(of: Void.self) { group in
            for loop in loops {
                group.addTask { await loop.run() }
            }
        }
        // Wait for jobs still running after the loops ended.
        while running.load(ordering: .acquiring) > 0 {
            try? await Task.sleep(for: .milliseconds(10))
        }
        for loop in loops { loop.close() }
    }

    /// Stops the worker. Graceful: running jobs finish and no new ones are taken. Otherwise the
    /// connections close at once and the server hands their jobs to other workers.
    public func stop(graceful: Bool = true) {
        let loops = state.withLock { state -> [ServerLoop] in
            state.stopping = true
            state.graceful = graceful
            return state.loops
        }
        for loop in loops {
            if graceful { loop.interrupt() } else { loop.close() }
        }
    }

    var isStopping: Bool { state.withLock { $0.stopping } }

    func handler(for function: String) -> Handler? {
        state.withLock { $0.registrations[function]?.handler }
    }

    /// Runs one job's handler and reports its outcome; called in a child task.
    func perform(_ job: Job) async {
        running.wrappingAdd(1, ordering: .acquiringAndReleasing)
        defer {
            running.wrappingSubtract(1, ordering: .acquiringAndReleasing)
            slots.release()
        }
        let handle = Array(job.handle.utf8)
        let packet: Packet
        if let handler = handler(for: job.function) {
            do {
                let result = try await handler(job)
                packet = Packet(magic: .request, type: .workComplete, arguments: [handle, result])
            } catch is WorkFailure {
                packet = Packet(magic: .request, type: .workFail, arguments: [handle])
            } catch {
                packet = Packet(magic: .request, type: .workException, arguments: [handle, Array("\(error)".utf8)])
            }
        } else {
            packet = Packet(magic: .request, type: .workFail, arguments: [handle])
        }
        try? job.channel.send(packet)
    }

    func acquireSlot() async { await slots.acquire() }
    func releaseSlot() { slots.release() }
}
