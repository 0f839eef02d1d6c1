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
        ///
        /// With 1, the default, a handler runs on the thread that reads its server connection,
        /// which is fastest for short jobs. A handler that blocks that thread (a synchronous
        /// wait rather than `await`) delays only its own connection. With more, handlers run
        /// on the global concurrent executor.
        public var maximumConcurrentJobs = 1
        /// Milliseconds to wait for a TCP connection.
        public var connectTimeout = 5000
        /// Milliseconds between reconnection attempts to a lost server, doubling up to 30 s.
        public var reconnectDelay = 500
        /// Microseconds a connection's reader thread keeps polling after the last packet sent
        /// or received before it sleeps; 0 sleeps at once. As in `GearmanClient.Options`, the
        /// default is 100 with more than one processor core and 0 with one.
        public var busyPoll: Int = ProcessorCount.online > 1 ? 100 : 0

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
        /// The `run()` call waiting for `stop()`.
        var stopWaiter: CheckedContinuation<Void, Never>?
    }

    public let servers: [ServerAddress]
    public let options: Options
    private let state = Mutex(State())
    /// Job slots not in use, out of `maximumConcurrentJobs`.
    private let freeSlots: Atomic<Int>
    private let running = Atomic<Int>(0)

    public init(servers: String = "localhost:4730", options: Options = Options()) throws {
        let parsed = try ServerAddress.parseList(servers)
        guard !parsed.isEmpty else { throw GearmanError.noServers }
        self.servers = parsed
        self.options = options
        freeSlots = Atomic(max(1, options.maximumConcurrentJobs))
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
            throw GearmanError.noFunctionsRegistered
        }
        var setup: [Packet] = []
        if let clientID = options.clientID { setup.append(Packet.request(.setClientID, clientID)) }
        for function in functions {
            if let timeout = registrations[function]?.timeout {
                let milliseconds =
                    timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
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
                // A connect may wait for the whole connect timeout, so it runs on a thread of its own.
                try await runOnNewThread { try loop.connect() }
                connected += 1
            } catch {
                firstError = firstError ?? error
            }
        }
        if connected == 0, let firstError {
            for loop in loops { loop.close() }
            throw firstError
        }
        // Wait for stop(), then for the jobs still running.
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let stoppedAlready = state.withLock { state -> Bool in
                if state.stopping { return true }
                state.stopWaiter = continuation
                return false
            }
            if stoppedAlready { continuation.resume() }
        }
        // A cancelled run() stops waiting at once; Task.sleep would throw at once and spin.
        while running.load(ordering: .acquiring) > 0 && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(5))
        }
        for loop in loops { loop.close() }
    }

    /// Stops the worker. Graceful: running jobs finish and no new ones are taken. Otherwise the
    /// connections close at once and the server hands their jobs to other workers.
    public func stop(graceful: Bool = true) {
        let (loops, waiter) = state.withLock { state -> ([ServerLoop], CheckedContinuation<Void, Never>?) in
            state.stopping = true
            state.graceful = graceful
            let waiter = state.stopWaiter
            state.stopWaiter = nil
            return (state.loops, waiter)
        }
        if !graceful {
            for loop in loops { loop.close() }
        }
        waiter?.resume()
    }

    var isStopping: Bool { state.withLock { $0.stopping } }

    func handler(for function: String) -> Handler? {
        state.withLock { $0.registrations[function]?.handler }
    }

    // MARK: Job slots

    /// Takes a job slot if one is free.
    func tryAcquireSlot() -> Bool {
        var current = freeSlots.load(ordering: .acquiring)
        while current > 0 {
            let (exchanged, original) = freeSlots.compareExchange(
                expected: current, desired: current - 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Returns a job slot; with `notify`, idle server loops are asked to use it.
    func releaseSlot(notify: Bool) {
        freeSlots.wrappingAdd(1, ordering: .acquiringAndReleasing)
        if notify {
            for loop in state.withLock({ $0.loops }) { loop.grabIfPossible() }
        }
    }

    /// Runs a job's handler in a task and hands the result to its server loop.
    ///
    /// The task prefers the connection's executor when it has one, so the handler starts on
    /// the reader thread that received the job.
    func start(_ job: Job, loop: ServerLoop) {
        running.wrappingAdd(1, ordering: .acquiringAndReleasing)
        Task(executorPreference: job.channel.executor) {
            let packet = await self.perform(job)
            loop.finished(packet, channel: job.channel)
            self.running.wrappingSubtract(1, ordering: .acquiringAndReleasing)
        }
    }

    /// Runs one job's handler and returns the packet that reports its outcome.
    func perform(_ job: Job) async -> Packet {
        let handle = Array(job.handle.utf8)
        guard let handler = handler(for: job.function) else {
            return Packet(magic: .request, type: .workFail, arguments: [handle])
        }
        do {
            let result = try await handler(job)
            return Packet(magic: .request, type: .workComplete, arguments: [handle, result])
        } catch is WorkFailure {
            return Packet(magic: .request, type: .workFail, arguments: [handle])
        } catch {
            return Packet(magic: .request, type: .workException, arguments: [handle, Array("\(error)".utf8)])
        }
    }
}
