import GearmanKit

/// A copy of what `GET /status` and `GET /metrics` report, taken under the core lock and
/// formatted after it is released.
struct ServerSnapshot: Sendable {
    /// One line of the admin `prioritystatus` and `status` commands.
    struct FunctionRow: Sendable, Equatable {
        let name: [UInt8]
        /// Queued and scheduled jobs per priority, indexed by `JobPriority.rawValue`.
        let queued: [Int]
        let running: Int
        /// CAN_DO registrations, the workers column of `status`.
        let workers: Int

        /// All jobs of the function, the jobs column of `status`.
        var jobs: Int { queued.reduce(0, +) + running }
    }

    /// A connection that registered at least one function.
    struct WorkerRow: Sendable, Equatable {
        let fd: Int32
        let address: String
        let clientID: [UInt8]
        /// Registered functions, most recently registered first, as `workers` lists them.
        let functions: [[UInt8]]
    }

    var version: String
    var uptimeSeconds: Double
    /// Open client, worker, admin and HTTP connections.
    var connections: Int
    /// Functions in the order `status` lists them.
    var functions: [FunctionRow]
    var workers: [WorkerRow]
    var counters: [[UInt8]: Metrics.FunctionCounters]
}

extension JobCore {
    /// Copies the function table, the workers and the metrics; call with the core lock held.
    func snapshot(uptimeSeconds: Double) -> ServerSnapshot {
        let functionRows = functionOrder.map { function in
            ServerSnapshot.FunctionRow(
                name: function.name, queued: JobPriority.allCases.map { function.waiting($0) },
                running: function.running,
                workers: function.registrations)
        }
        let workerRows = sessions.values.filter { !$0.abilities.isEmpty }.sorted { $0.fd < $1.fd }.map { session in
            ServerSnapshot.WorkerRow(
                fd: session.fd, address: session.peerAddress, clientID: session.clientID,
                functions: session.abilities.reversed().map(\.function.name))
        }
        return ServerSnapshot(
            version: configuration.version, uptimeSeconds: uptimeSeconds, connections: sessions.count,
            functions: functionRows, workers: workerRows, counters: metrics.functions)
    }
}
