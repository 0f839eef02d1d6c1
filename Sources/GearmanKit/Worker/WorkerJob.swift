/// A job assigned to a `BlockingWorker`, with the calls a worker makes while running it.
public final class WorkerJob {
    public let handle: String
    public let function: String
    public let unique: String
    public let workload: [UInt8]
    let connection: GearmanConnection

    init(handle: String, function: String, unique: String, workload: [UInt8], connection: GearmanConnection) {
        self.handle = handle
        self.function = function
        self.unique = unique
        self.workload = workload
        self.connection = connection
    }

    /// Sends WORK_DATA: partial output relayed to the job's clients.
    public func sendData(_ bytes: [UInt8]) throws {
        try connection.send(Packet(magic: .request, type: .workData, arguments: [Array(handle.utf8), bytes]))
    }

    /// Sends WORK_WARNING.
    public func sendWarning(_ bytes: [UInt8]) throws {
        try connection.send(Packet(magic: .request, type: .workWarning, arguments: [Array(handle.utf8), bytes]))
    }

    /// Sends WORK_STATUS: progress as `numerator` of `denominator`.
    public func sendStatus(_ numerator: UInt64, of denominator: UInt64) throws {
        try connection.send(Packet.request(.workStatus, handle, String(numerator), String(denominator)))
    }
}

/// How a job handler finished.
public enum WorkResult: Sendable, Equatable {
    /// WORK_COMPLETE with this result.
    case complete([UInt8])
    /// WORK_FAIL.
    case failure
    /// WORK_EXCEPTION with this data.
    case exception([UInt8])
}
