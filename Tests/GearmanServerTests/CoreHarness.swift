import GearmanKit

@testable import GearmanServer

/// Drives a `JobCore` without sockets: each simulated connection is a `Session`, and the
/// packets the core sends are collected per connection.
final class CoreHarness {
    let core: JobCore
    var now: Int64 = 1_000_000
    var wallClock: Int64 = 1_700_000_000
    private var nextID = 0
    private(set) var received: [Int: [Outbox.Output]] = [:]
    private(set) var lastDisposition: JobCore.Disposition = .keepOpen

    init(_ configure: (inout ServerConfiguration) -> Void = { _ in }) {
        var configuration = ServerConfiguration()
        configuration.jobHandlePrefix = "H:test"
        configure(&configuration)
        core = JobCore(configuration: configuration, logger: .disabled)
        core.monotonicMilliseconds = { [unowned self] in self.now }
        core.wallClockSeconds = { [unowned self] in self.wallClock }
    }

    func connect() -> Session {
        nextID += 1
        return core.connect(connectionID: nextID, loopIndex: 0, fd: Int32(100 + nextID), peerAddress: "127.0.0.1")
    }

    @discardableResult
    func send(_ session: Session, _ type: PacketType, _ arguments: String...) -> [Packet] {
        send(session, Packet(magic: .request, type: type, arguments: arguments.map { Array($0.utf8)[...] }))
    }

    @discardableResult
    func send(_ session: Session, _ packet: Packet) -> [Packet] {
        var outbox = Outbox()
        lastDisposition = core.handle(packet, from: session, outbox: &outbox)
        collect(outbox)
        return take(session)
    }

    @discardableResult
    func admin(_ session: Session, _ line: String) -> String {
        var outbox = Outbox()
        lastDisposition = core.handleAdmin(Array(line.utf8), from: session, outbox: &outbox)
        collect(outbox)
        return takeText(session)
    }

    func disconnect(_ session: Session) {
        var outbox = Outbox()
        core.disconnect(session, outbox: &outbox)
        collect(outbox)
    }

    func advance(milliseconds: Int64) {
        now += milliseconds
        wallClock += milliseconds / 1000
        var outbox = Outbox()
        core.fireTimers(outbox: &outbox)
        collect(outbox)
    }

    /// Returns and forgets the packets sent to `session` so far.
    func take(_ session: Session) -> [Packet] {
        let outputs = received[session.connectionID] ?? []
        received[session.connectionID] = nil
        return outputs.compactMap {
            if case .packet(let packet) = $0 { return packet }
            return nil
        }
    }

    func takeText(_ session: Session) -> String {
        let outputs = received[session.connectionID] ?? []
        received[session.connectionID] = nil
        return outputs.map {
            if case .text(let bytes) = $0 { return String(decoding: bytes, as: UTF8.self) }
            return ""
        }.joined()
    }

    private func collect(_ outbox: Outbox) {
        for item in outbox.items {
            received[item.connectionID, default: []].append(item.output)
        }
    }

    // MARK: Conveniences

    /// Submits a job and returns its handle.
    @discardableResult
    func submit(
        _ session: Session, _ function: String, unique: String = "", data: String = "x", type: PacketType = .submitJob
    ) -> String {
        let replies = send(session, type, function, unique, data)
        guard let created = replies.first(where: { $0.type == .jobCreated }) else {
            return replies.first.map { "\($0.type.protocolName) \($0.stringArgument(0)) \($0.stringArgument(1))" }
                ?? "none"
        }
        return created.stringArgument(0)
    }

    /// Submits a foreground job and has a new worker for its function take it.
    func startRunningJob(_ function: String, unique: String) -> (client: Session, worker: Session, handle: String) {
        let client = connect()
        let handle = submit(client, function, unique: unique)
        let worker = connect()
        send(worker, .canDo, function)
        _ = grab(worker)
        return (client, worker, handle)
    }

    /// Makes a worker for the given functions that has sent PRE_SLEEP.
    func sleepingWorker(_ functions: String...) -> Session {
        let worker = connect()
        for function in functions { send(worker, .canDo, function) }
        send(worker, .preSleep)
        return worker
    }

    /// Sends GRAB_JOB_UNIQ and returns the assigned (handle, function, unique, data), or nil on NO_JOB.
    func grab(_ worker: Session) -> (handle: String, function: String, unique: String, data: String)? {
        let replies = send(worker, .grabJobUnique)
        guard let assign = replies.first(where: { $0.type == .jobAssignUnique }) else { return nil }
        return (assign.stringArgument(0), assign.stringArgument(1), assign.stringArgument(2), assign.stringArgument(3))
    }
}
