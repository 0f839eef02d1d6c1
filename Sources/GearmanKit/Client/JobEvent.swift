/// Something a job server reports about a submitted job.
public enum JobEvent: Sendable, Equatable {
    /// JOB_CREATED: the server queued the job under this handle.
    case created(handle: String)
    /// WORK_DATA: a piece of partial output.
    case data([UInt8])
    /// WORK_WARNING: a warning from the worker.
    case warning([UInt8])
    /// WORK_STATUS: progress as numerator and denominator.
    case status(numerator: UInt64, denominator: UInt64)
    /// WORK_COMPLETE: the job finished with this result.
    case complete([UInt8])
    /// WORK_FAIL: the job failed.
    case failure
    /// WORK_EXCEPTION: the job failed with this exception data.
    case exception([UInt8])

    /// Whether the event ends the job.
    public var isFinal: Bool {
        switch self {
        case .complete, .failure, .exception: return true
        default: return false
        }
    }
}

/// A job to submit: function, unique key, workload, priority and whether to run it in the background.
public struct JobRequest: Sendable, Equatable {
    public var function: String
    /// The unique key; empty never coalesces. `JobRequest.randomUnique()` gives a fresh one.
    public var unique: String
    public var workload: [UInt8]
    public var priority: JobPriority
    public var isBackground: Bool

    public init(
        function: String, workload: [UInt8], unique: String = JobRequest.randomUnique(),
        priority: JobPriority = .normal,
        background: Bool = false
    ) {
        self.function = function
        self.unique = unique
        self.workload = workload
        self.priority = priority
        self.isBackground = background
    }

    /// The SUBMIT_* packet for this request.
    public var packet: Packet {
        let type: PacketType
        switch (priority, isBackground) {
        case (.high, false): type = .submitJobHigh
        case (.normal, false): type = .submitJob
        case (.low, false): type = .submitJobLow
        case (.high, true): type = .submitJobHighBackground
        case (.normal, true): type = .submitJobBackground
        case (.low, true): type = .submitJobLowBackground
        }
        return Packet(magic: .request, type: type, arguments: [Array(function.utf8), Array(unique.utf8), workload])
    }

    /// Returns a random version-4 UUID in its 36-character text form, as libgearman sends when
    /// no unique key is given, so unrelated jobs never coalesce.
    public static func randomUnique() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = bytes.map { byte -> String in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }
        return [hex[0..<4], hex[4..<6], hex[6..<8], hex[8..<10], hex[10..<16]].map { $0.joined() }.joined(
            separator: "-")
    }
}
