/// A job handed to a `GearmanWorker` handler, with the calls a worker makes while running it.
public struct Job: Sendable {
    public let handle: String
    public let function: String
    public let unique: String
    public let workload: [UInt8]
    let channel: PacketChannel

    /// Sends WORK_DATA: partial output relayed to the job's clients at once.
    public func sendData(_ bytes: [UInt8]) throws {
        try channel.send(Packet(magic: .request, type: .workData, arguments: [Array(handle.utf8), bytes]))
    }

    /// Sends WORK_WARNING.
    public func sendWarning(_ bytes: [UInt8]) throws {
        try channel.send(Packet(magic: .request, type: .workWarning, arguments: [Array(handle.utf8), bytes]))
    }

    /// Sends WORK_STATUS: progress as `numerator` of `denominator`.
    public func sendStatus(_ numerator: UInt64, of denominator: UInt64) throws {
        try channel.send(Packet.request(.workStatus, handle, String(numerator), String(denominator)))
    }
}

/// Thrown by a job handler to finish the job with a plain WORK_FAIL.
///
/// Any other error a handler throws finishes the job with WORK_EXCEPTION carrying the error's
/// description, which clients that asked for exceptions receive (the others get WORK_FAIL).
public struct WorkFailure: Error, Sendable {
    public init() {}
}
