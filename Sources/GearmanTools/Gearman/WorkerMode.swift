import GearmanKit
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `gearman -w`: registers the functions and runs the command after `--` once per job, with
/// the workload on its standard input and its standard output as the result.
struct WorkerMode: Sendable {
    let options: GearmanOptions
    let servers: [ServerAddress]

    func run() -> Int32 {
        let quota = JobQuota(count: options.count)
        let outages = OutageLog()
        // A thread beyond the -c count would never get a job.
        let threadCount = options.count > 0 ? min(options.parallel, options.count) : options.parallel
        if threadCount == 1 {
            return loop(quota: quota, outages: outages)
        }
        let statuses = Mutex<[Int32]>([])
        var threads: [pthread_t] = []
        for _ in 0..<threadCount {
            let box = Unmanaged.passRetained(
                WorkerThread {
                    let status = self.loop(quota: quota, outages: outages)
                    statuses.withLock { $0.append(status) }
                }
            ).toOpaque()
            var thread = pthread_t()
            pthread_create(
                &thread, nil,
                { argument in
                    Unmanaged<WorkerThread>.fromOpaque(argument!).takeRetainedValue().body()
                    return nil
                }, box)
            threads.append(thread)
        }
        for thread in threads { pthread_join(thread, nil) }
        return statuses.withLock { $0.max() ?? 0 }
    }

    /// Takes jobs until the threads together have taken the `-c` count. Servers that cannot be
    /// reached are tried again until they reply, so the loop ends early only when a host name
    /// cannot be resolved at start.
    private func loop(quota: JobQuota, outages: OutageLog) -> Int32 {
        let worker = BlockingWorker(servers: servers)
        for function in options.functions { worker.register(function) }
        let reportFailure: (GearmanError) -> Void = { error in
            if outages.begin(error.server) { Output.error("gearman: \(error); trying again\n") }
        }
        let reportRecovery: (ServerAddress) -> Void = { server in
            if outages.end(server) { Output.error("gearman: connected to \(server)\n") }
        }
        do {
            try worker.connect(onServerFailure: reportFailure)
        } catch {
            Output.error("gearman: \(error)\n")
            return 1
        }
        defer { worker.close() }
        // The job is claimed before the thread requests it from the server, so with -j the
        // threads never take more jobs than the count between them.
        while quota.claim() {
            do {
                try worker.work(onServerFailure: reportFailure, onServerRecovery: reportRecovery) { job in
                    try perform(job)
                }
            } catch {
                Output.error("gearman: \(error)\n")
                return 1
            }
        }
        return 0
    }

    /// Runs the command for one job, or echoes the workload when there is no command.
    private func perform(_ job: WorkerJob) throws -> WorkResult {
        guard !options.operands.isEmpty else {
            Output.write(job.workload, to: 1)
            return .complete([])
        }
        var pending: [UInt8] = []
        var sendError: Error? = nil
        let outcome: ChildProcess.Outcome
        do {
            outcome = try ChildProcess.run(options.operands, input: job.workload) { chunk in
                guard options.lines, sendError == nil else { return }
                pending += chunk
                do {
                    try sendCompleteLines(&pending, job: job)
                } catch {
                    sendError = error
                }
            }
        } catch {
            Output.error("gearman: cannot run \(options.operands[0]): \(error)\n")
            return .failure
        }
        if let sendError { throw sendError }
        if options.lines {
            if !pending.isEmpty { try job.sendData(pending) }
            return outcome.status == 0 ? .complete([]) : .failure
        }
        if outcome.status != 0 {
            if !outcome.output.isEmpty { try job.sendData(outcome.output) }
            return .failure
        }
        return .complete(outcome.output)
    }

    /// Sends every complete line in `pending` as its own WORK_DATA and keeps the rest.
    private func sendCompleteLines(_ pending: inout [UInt8], job: WorkerJob) throws {
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            let end = options.stripNewline ? newline : newline + 1
            try job.sendData(Array(pending[0..<end]))
            pending.removeSubrange(0...newline)
        }
    }
}

/// The servers whose outage was reported, shared by the threads of `-j` so that each outage
/// is reported once rather than once per thread.
private final class OutageLog: Sendable {
    private let down = Mutex<Set<ServerAddress>>([])

    /// Returns true when `server` was not already reported down, so the caller reports it.
    func begin(_ server: ServerAddress?) -> Bool {
        guard let server else { return true }
        return down.withLock { $0.insert(server).inserted }
    }

    /// Returns true when `server` was reported down, so the caller reports its recovery.
    func end(_ server: ServerAddress) -> Bool {
        down.withLock { $0.remove(server) != nil }
    }
}

extension GearmanError {
    /// The server the error is about, or nil for an error about no server in particular.
    fileprivate var server: ServerAddress? {
        switch self {
        case .connectionFailed(let server, _), .hostNotFound(let server, _), .connectionClosed(let server),
            .ioFailed(let server, _), .timedOut(let server, _), .protocolViolation(let server, _),
            .serverError(let server, _, _), .unexpectedPacket(let server, _), .invalidReply(let server, _):
            return server
        case .invalidServerAddress, .noServers, .noFunctionsRegistered:
            return nil
        }
    }
}

/// The `-c` count shared by all worker threads.
private final class JobQuota: Sendable {
    /// Jobs the worker may take in total; 0 for no limit.
    let count: Int
    private let claimed = Atomic<Int>(0)

    init(count: Int) { self.count = count }

    /// Reserves one job of the count; returns false when the count is used up.
    func claim() -> Bool {
        count == 0 || claimed.wrappingAdd(1, ordering: .relaxed).newValue <= count
    }
}

private final class WorkerThread {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}
