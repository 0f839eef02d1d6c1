#if canImport(Glibc)
    import Glibc
#endif

/// A synchronous worker: registers functions on every server, sleeps until woken, and runs one
/// job at a time with a handler.
///
/// The worker follows the protocol's wake-up cycle: GRAB_JOB_UNIQ, then on NO_JOB a PRE_SLEEP
/// and a wait for NOOP on any server. A server that cannot be reached, at start or after it
/// dropped the connection, is tried again with back-off while the others keep working.
public final class BlockingWorker {
    /// Milliseconds before the first attempt to reach a server again after a failure.
    public static let initialRetryDelay: Int64 = 100
    /// Maximum milliseconds between attempts. The delay doubles after each failed one.
    public static let maximumRetryDelay: Int64 = 5000

    public let servers: [ServerAddress]
    /// The id `workers` shows for this connection, sent with SET_CLIENT_ID when not nil.
    public var clientID: String?
    private var functions: [(name: String, timeout: Int)] = []
    private var connections: [GearmanConnection?]
    /// When to try an unconnected server again, in `GearmanConnection.now()` milliseconds, or 0
    /// for a connected server.
    private var retryAt: [Int64]
    private var retryDelay: [Int64]
    /// Whether a failure of the server was reported and it has not replied since, so the
    /// failures of one outage are reported once.
    private var isDown: [Bool]
    private var sleeping: [Bool]

    public init(servers: [ServerAddress], clientID: String? = nil) {
        self.servers = servers
        self.clientID = clientID
        connections = Array(repeating: nil, count: servers.count)
        retryAt = Array(repeating: 0, count: servers.count)
        retryDelay = Array(repeating: Self.initialRetryDelay, count: servers.count)
        isDown = Array(repeating: false, count: servers.count)
        sleeping = Array(repeating: false, count: servers.count)
    }

    /// Registers a function; `timeout` in milliseconds becomes CAN_DO_TIMEOUT (0 for none).
    public func register(_ function: String, timeout: Int = 0) {
        functions.append((function, timeout))
    }

    /// Connects to every server. A server that cannot be reached is reported to
    /// `onServerFailure`, and `work` tries it again with back-off until it replies.
    ///
    /// - Throws: `GearmanError.noServers` when the list is empty, or `GearmanError.hostNotFound`
    ///   when a host name cannot be resolved. A name that does not resolve at start is most
    ///   likely misspelt, and the C gearman 1.1.20 exits at once in this case too.
    public func connect(onServerFailure: (GearmanError) -> Void = { _ in }) throws {
        guard !servers.isEmpty else { throw GearmanError.noServers }
        for index in servers.indices where connections[index] == nil {
            do {
                try open(index)
            } catch GearmanError.hostNotFound(let server, let reason) {
                close()
                throw GearmanError.hostNotFound(server, reason: reason)
            } catch let error as GearmanError {
                scheduleRetry(index, error, onServerFailure)
            }
        }
    }

    private func open(_ index: Int) throws {
        let connection = try GearmanConnection(to: servers[index], timeout: 5000)
        var packets: [Packet] = []
        if let clientID { packets.append(Packet.request(.setClientID, clientID)) }
        for function in functions {
            if function.timeout > 0 {
                packets.append(Packet.request(.canDoTimeout, function.name, String(function.timeout)))
            } else {
                packets.append(Packet.request(.canDo, function.name))
            }
        }
        try connection.send(packets)
        connections[index] = connection
        sleeping[index] = false
    }

    /// Waits for one job, runs `handler` on it and reports the result.
    ///
    /// - Parameters:
    ///   - onServerFailure: called with the first failure of a server. The worker tries it
    ///     again with back-off and goes on with the others, and reports no further failure
    ///     until the server has replied again.
    ///   - onServerRecovery: called when a server whose failure was reported replies again.
    /// - Throws: `GearmanError.noServers` when no server is left to reconnect to, or an error
    ///   thrown by `handler` after the job was reported as failed.
    public func work(
        onServerFailure: (GearmanError) -> Void = { _ in }, onServerRecovery: (ServerAddress) -> Void = { _ in },
        handler: (WorkerJob) throws -> WorkResult
    ) throws {
        while true {
            reconnectDue(onServerFailure: onServerFailure)
            // Ask every awake server for a job.
            for index in connections.indices {
                guard let connection = connections[index], !sleeping[index] else { continue }
                do {
                    let job = try grab(from: connection)
                    endOutage(index, onServerRecovery)
                    if let job {
                        try run(job, handler: handler)
                        return
                    }
                    try connection.send(Packet.request(.preSleep))
                    sleeping[index] = true
                } catch let error as GearmanError {
                    drop(index, error, onServerFailure)
                }
            }
            try waitForWakeUp(onServerFailure: onServerFailure)
        }
    }

    private func grab(from connection: GearmanConnection) throws -> WorkerJob? {
        try connection.send(Packet.request(.grabJobUnique))
        while true {
            let packet = try connection.receivePacket()
            switch packet.type {
            case .noJob:
                return nil
            case .noop:
                continue
            case .jobAssignUnique, .jobAssign:
                let unique = packet.type == .jobAssignUnique ? packet.stringArgument(2) : ""
                let workload = packet.type == .jobAssignUnique ? packet.argument(3) : packet.argument(2)
                return WorkerJob(
                    handle: packet.stringArgument(0), function: packet.stringArgument(1), unique: unique,
                    workload: Array(workload), connection: connection)
            case .error:
                throw GearmanError.serverError(
                    connection.server, code: packet.stringArgument(0), message: packet.stringArgument(1))
            default:
                throw GearmanError.unexpectedPacket(connection.server, packet.type)
            }
        }
    }

    private func run(_ job: WorkerJob, handler: (WorkerJob) throws -> WorkResult) throws {
        let result: WorkResult
        var handlerError: Error? = nil
        do {
            result = try handler(job)
        } catch {
            handlerError = error
            result = .failure
        }
        let handle = Array(job.handle.utf8)
        switch result {
        case .complete(let bytes):
            try job.connection.send(Packet(magic: .request, type: .workComplete, arguments: [handle, bytes]))
        case .failure:
            try job.connection.send(Packet(magic: .request, type: .workFail, arguments: [handle]))
        case .exception(let bytes):
            try job.connection.send(Packet(magic: .request, type: .workException, arguments: [handle, bytes]))
        }
        if let handlerError { throw handlerError }
    }

    private func waitForWakeUp(onServerFailure: (GearmanError) -> Void) throws {
        var descriptors: [pollfd] = []
        var indexes: [Int] = []
        for (index, connection) in connections.enumerated() {
            guard let connection else { continue }
            if connection.hasBufferedFrame {
                sleeping[index] = false
                return
            }
            descriptors.append(pollfd(fd: connection.fd, events: Int16(POLLIN), revents: 0))
            indexes.append(index)
        }
        if descriptors.isEmpty && retryAt.allSatisfy({ $0 == 0 }) {
            throw GearmanError.noServers
        }
        // Wake up for the earliest reconnection attempt, if any is due.
        var timeout: Int32 = -1
        if let nextRetry = retryAt.filter({ $0 > 0 }).min() {
            timeout = Int32(clamping: max(0, nextRetry - GearmanConnection.now()))
        }
        let ready = poll(&descriptors, nfds_t(descriptors.count), timeout)
        if ready <= 0 { return }
        for (position, descriptor) in descriptors.enumerated() where descriptor.revents != 0 {
            let index = indexes[position]
            guard let connection = connections[index] else { continue }
            do {
                let packet = try connection.receivePacket()
                if packet.type == .noop {
                    sleeping[index] = false
                } else if packet.type == .error {
                    throw GearmanError.serverError(
                        connection.server, code: packet.stringArgument(0), message: packet.stringArgument(1))
                }
            } catch let error as GearmanError {
                drop(index, error, onServerFailure)
            }
        }
    }

    private func drop(_ index: Int, _ error: GearmanError, _ onServerFailure: (GearmanError) -> Void) {
        connections[index]?.close()
        connections[index] = nil
        sleeping[index] = false
        scheduleRetry(index, error, onServerFailure)
    }

    /// Reports the first failure of an outage and sets the time of the next attempt, doubling
    /// the delay each time until the server replies again.
    private func scheduleRetry(_ index: Int, _ error: GearmanError?, _ onServerFailure: (GearmanError) -> Void) {
        retryAt[index] = GearmanConnection.now() + retryDelay[index]
        retryDelay[index] = min(retryDelay[index] * 2, Self.maximumRetryDelay)
        if !isDown[index], let error {
            isDown[index] = true
            onServerFailure(error)
        }
    }

    /// Ends an outage once the server has replied to a request, which a server that accepts
    /// connections and closes them at once never does.
    private func endOutage(_ index: Int, _ onServerRecovery: (ServerAddress) -> Void) {
        retryDelay[index] = Self.initialRetryDelay
        if isDown[index] {
            isDown[index] = false
            onServerRecovery(servers[index])
        }
    }

    private func reconnectDue(onServerFailure: (GearmanError) -> Void) {
        let now = GearmanConnection.now()
        for index in servers.indices where connections[index] == nil && retryAt[index] > 0 && retryAt[index] <= now {
            do {
                try open(index)
                retryAt[index] = 0
            } catch let error as GearmanError {
                scheduleRetry(index, error, onServerFailure)
            } catch {
                // `open` throws only GearmanError, but any other error is retried the same way.
                scheduleRetry(index, nil, onServerFailure)
            }
        }
    }

    /// Closes every connection.
    public func close() {
        for connection in connections { connection?.close() }
        connections = Array(repeating: nil, count: servers.count)
    }
}
