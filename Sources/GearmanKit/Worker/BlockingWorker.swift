#if canImport(Glibc)
    import Glibc
#endif

/// A synchronous worker: registers functions on every server, sleeps until woken, and runs one
/// job at a time with a handler.
///
/// The worker follows the protocol's wake-up cycle: GRAB_JOB_UNIQ, then on NO_JOB a PRE_SLEEP
/// and a wait for NOOP on any server. A server that drops the connection is reconnected with
/// back-off while the others keep working.
public final class BlockingWorker {
    public let servers: [ServerAddress]
    /// The id `workers` shows for this connection, sent with SET_CLIENT_ID when not nil.
    public var clientID: String?
    private var functions: [(name: String, timeout: Int)] = []
    private var connections: [GearmanConnection?]
    private var retryAt: [Int64]
    private var sleeping: [Bool]

    public init(servers: [ServerAddress], clientID: String? = nil) {
        self.servers = servers
        self.clientID = clientID
        connections = Array(repeating: nil, count: servers.count)
        retryAt = Array(repeating: 0, count: servers.count)
        sleeping = Array(repeating: false, count: servers.count)
    }

    /// Registers a function; `timeout` in milliseconds becomes CAN_DO_TIMEOUT (0 for none).
    public func register(_ function: String, timeout: Int = 0) {
        functions.append((function, timeout))
    }

    /// Connects to every server, reporting each failure to `onServerFailure`; throws only when
    /// none is reachable.
    public func connect(onServerFailure: (GearmanError) -> Void = { _ in }) throws {
        guard !servers.isEmpty else { throw GearmanError.noServers }
        var lastError: GearmanError = .noServers
        for index in servers.indices where connections[index] == nil {
            do {
                try open(index)
            } catch let error as GearmanError {
                lastError = error
                retryAt[index] = GearmanConnection.now() + 1000
                onServerFailure(error)
            }
        }
        if connections.allSatisfy({ $0 == nil }) { throw lastError }
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
    /// - Parameter onServerFailure: told when a server connection fails; the worker reconnects
    ///   to it later and goes on with the others.
    /// - Throws: `GearmanError.noServers` when no server is left to reconnect to, or an error
    ///   thrown by `handler` after the job was reported as failed.
    public func work(onServerFailure: (GearmanError) -> Void = { _ in }, handler: (WorkerJob) throws -> WorkResult)
        throws
    {
        while true {
            reconnectDue(onServerFailure: onServerFailure)
            // Ask every awake server for a job.
            for index in connections.indices {
                guard let connection = connections[index], !sleeping[index] else { continue }
                do {
                    if let job = try grab(from: connection) {
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
        let hasPendingReconnect = retryAt.contains { $0 > 0 }
        let ready = poll(&descriptors, nfds_t(descriptors.count), hasPendingReconnect ? 1000 : -1)
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
        retryAt[index] = GearmanConnection.now() + 1000
        onServerFailure(error)
    }

    private func reconnectDue(onServerFailure: (GearmanError) -> Void) {
        let now = GearmanConnection.now()
        for index in servers.indices where connections[index] == nil && retryAt[index] > 0 && retryAt[index] <= now {
            do {
                try open(index)
                retryAt[index] = 0
            } catch let error as GearmanError {
                retryAt[index] = now + 5000
                onServerFailure(error)
            } catch {
                retryAt[index] = now + 5000
            }
        }
    }

    /// Closes every connection.
    public func close() {
        for connection in connections { connection?.close() }
        connections = Array(repeating: nil, count: servers.count)
    }
}
