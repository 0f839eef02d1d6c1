import Synchronization

/// An asynchronous client for the admin text protocol of one job server, with typed results.
///
/// ```swift
/// let admin = try await GearmanAdmin.connect(server: "localhost")
/// for function in try await admin.status() { print(function.name, function.total) }
/// ```
public final class GearmanAdmin: Sendable {
    private struct Pending: Sendable {
        let expectsList: Bool
        let continuation: CheckedContinuation<AdminReply, Error>
        var lines: [String] = []
    }

    public let server: ServerAddress
    private let channel: PacketChannel
    private let pending: Mutex<[Pending]>
    private let sendLock = Mutex<Void>(())

    /// Connects to one server, given as `host[:port]`, blocking the calling thread until the
    /// connect succeeds or times out; async code should use `connect(server:connectTimeout:)`.
    public init(server: String = "localhost:4730", connectTimeout: Int = 5000) throws {
        let address = try ServerAddress(parsing: server)
        let pending = Mutex<[Pending]>([])
        self.server = address
        self.pending = pending
        let box = Unowned<GearmanAdmin>(nil)
        channel = try PacketChannel(
            server: address, connectTimeout: connectTimeout,
            onFrame: { frame in box.value?.received(frame) },
            onClose: { error in box.value?.failAll(error ?? GearmanError.connectionClosed(address)) })
        box.value = self
    }

    /// Connects to one server, given as `host[:port]`, on a thread of its own, so that the
    /// wait for the connect timeout does not hold a thread of Swift's cooperative pool.
    public static func connect(server: String = "localhost:4730", connectTimeout: Int = 5000) async throws
        -> GearmanAdmin
    {
        try await runOnNewThread { try GearmanAdmin(server: server, connectTimeout: connectTimeout) }
    }

    deinit {
        channel.close()
    }

    public func close() {
        channel.close()
    }

    /// Sends any admin command line and returns the reply.
    public func send(_ command: String) async throws -> AdminReply {
        try await withCheckedThrowingContinuation { continuation in
            do {
                try sendLock.withLock { _ in
                    pending.withLock {
                        $0.append(
                            Pending(expectsList: AdminClient.repliesWithList(command), continuation: continuation))
                    }
                    try channel.send(bytes: Array((command + "\r\n").utf8))
                }
            } catch {
                let removed = pending.withLock { $0.isEmpty ? nil : $0.removeLast() }
                removed?.continuation.resume(throwing: error)
            }
        }
    }

    /// `status`: every function with its jobs, running jobs and workers.
    public func status() async throws -> [FunctionStatus] {
        try await lines("status").compactMap(FunctionStatus.init(line:))
    }

    /// `prioritystatus`: every function with its queued jobs per priority.
    public func priorityStatus() async throws -> [FunctionPriorityStatus] {
        try await lines("prioritystatus").compactMap(FunctionPriorityStatus.init(line:))
    }

    /// `workers`: every connection.
    public func workers() async throws -> [WorkerInfo] {
        try await lines("workers").compactMap(WorkerInfo.init(line:))
    }

    /// `show jobs`: every job.
    public func jobs() async throws -> [JobInfo] {
        try await lines("show jobs").compactMap(JobInfo.init(line:))
    }

    /// `show unique jobs`: the unique key of every job.
    public func uniqueKeys() async throws -> [String] {
        try await lines("show unique jobs")
    }

    /// `maxqueue`: limits the jobs of a function, the same for every priority; nil removes the limit.
    ///
    /// A submission is rejected when the function's jobs of all priorities together, queued and
    /// running, reach the limit of the submitted priority. A function the server does not know
    /// yet is left alone (the server still replies OK), so create it first.
    public func setMaximumQueue(_ function: String, limit: Int?) async throws {
        try await expectOK(limit.map { "maxqueue \(function) \($0)" } ?? "maxqueue \(function)")
    }

    /// `maxqueue` with one limit for submissions of each priority; 0 means unlimited. Each limit
    /// is compared with the function's jobs of all priorities together, as in gearmand.
    public func setMaximumQueue(_ function: String, high: Int, normal: Int, low: Int) async throws {
        try await expectOK("maxqueue \(function) \(high) \(normal) \(low)")
    }

    /// `cancel job`: returns false when the server does not know the handle.
    public func cancelJob(_ handle: String) async throws -> Bool {
        switch try await send("cancel job \(handle)") {
        case .ok: return true
        case .error(let text) where text.hasPrefix("UNKNOWN_JOB"): return false
        case let other: throw GearmanError.serverError(server, code: "ERR", message: "\(other)")
        }
    }

    /// `create function`.
    public func createFunction(_ name: String) async throws {
        try await expectOK("create function \(name)")
    }

    /// `drop function`: fails with the server's reason while workers or jobs remain.
    public func dropFunction(_ name: String) async throws {
        try await expectOK("drop function \(name)")
    }

    /// `version`.
    public func version() async throws -> String {
        try await value("version")
    }

    /// `getpid`.
    public func processID() async throws -> Int {
        let reply = try await value("getpid")
        guard let pid = Int(reply) else { throw GearmanError.invalidReply(server, reply) }
        return pid
    }

    /// `verbose`: the server's log level name.
    public func logLevel() async throws -> String {
        try await value("verbose")
    }

    // MARK: Replies

    private func lines(_ command: String) async throws -> [String] {
        switch try await send(command) {
        case .lines(let lines): return lines
        case .error(let text): throw Self.error(server, text)
        case .ok(let value): return value.map { [$0] } ?? []
        }
    }

    private func value(_ command: String) async throws -> String {
        switch try await send(command) {
        case .ok(let value): return value ?? ""
        case .error(let text): throw Self.error(server, text)
        case .lines(let lines): return lines.first ?? ""
        }
    }

    private func expectOK(_ command: String) async throws {
        if case .error(let text) = try await send(command) { throw Self.error(server, text) }
    }

    private static func error(_ server: ServerAddress, _ text: String) -> GearmanError {
        let code = text.split(separator: " ", maxSplits: 1).first.map(String.init) ?? text
        let message = text.split(separator: " ", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
        return .serverError(server, code: code, message: message.isEmpty ? text : message)
    }

    private func received(_ frame: Frame) {
        guard case .adminLine(let bytes) = frame else { return }
        let line = String(decoding: bytes, as: UTF8.self)
        let finished = pending.withLock { pending -> (CheckedContinuation<AdminReply, Error>, AdminReply)? in
            guard !pending.isEmpty else { return nil }
            if line.hasPrefix("ERR") && !line.contains("\t") && pending[0].lines.isEmpty {
                let head = pending.removeFirst()
                return (
                    head.continuation,
                    .error(line.hasPrefix("ERR ") ? String(line.dropFirst(4)) : String(line.dropFirst(3)))
                )
            }
            if pending[0].expectsList {
                if line == "." {
                    let head = pending.removeFirst()
                    return (head.continuation, .lines(head.lines))
                }
                pending[0].lines.append(line)
                return nil
            }
            let head = pending.removeFirst()
            if line == "OK" { return (head.continuation, .ok(nil)) }
            if line.hasPrefix("OK ") { return (head.continuation, .ok(String(line.dropFirst(3)))) }
            return (head.continuation, .ok(line))
        }
        if let (continuation, reply) = finished { continuation.resume(returning: reply) }
    }

    private func failAll(_ error: GearmanError) {
        let waiting = pending.withLock { pending in
            let taken = pending
            pending = []
            return taken
        }
        for item in waiting { item.continuation.resume(throwing: error) }
    }
}
