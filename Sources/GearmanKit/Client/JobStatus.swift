/// The state of a job as GET_STATUS or GET_STATUS_UNIQUE reports it.
public struct JobStatus: Sendable, Equatable {
    /// The handle or unique key that was asked about.
    public var key: String
    /// Whether the server knows the job.
    public var isKnown: Bool
    /// Whether a worker is running it.
    public var isRunning: Bool
    /// The last WORK_STATUS numerator and denominator.
    public var numerator: UInt64
    public var denominator: UInt64
    /// Foreground clients waiting for it; only GET_STATUS_UNIQUE reports this.
    public var waitingClients: Int?

    public init(
        key: String, isKnown: Bool, isRunning: Bool, numerator: UInt64, denominator: UInt64, waitingClients: Int? = nil
    ) {
        self.key = key
        self.isKnown = isKnown
        self.isRunning = isRunning
        self.numerator = numerator
        self.denominator = denominator
        self.waitingClients = waitingClients
    }

    init(packet: Packet) {
        let fields = packet.arguments.map { String(decoding: $0, as: UTF8.self) }
        func number(_ index: Int) -> UInt64 { index < fields.count ? UInt64(fields[index]) ?? 0 : 0 }
        self.init(
            key: fields.first ?? "", isKnown: number(1) != 0, isRunning: number(2) != 0, numerator: number(3),
            denominator: number(4), waitingClients: packet.type == .statusResponseUnique ? Int(number(5)) : nil)
    }
}

/// Why a job did not complete.
public enum JobFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The worker sent WORK_FAIL (or the server gave up after `--job-retries`).
    case failed(handle: String)
    /// The worker sent WORK_EXCEPTION with this data.
    case exception(handle: String, data: [UInt8])

    public var description: String {
        switch self {
        case .failed(let handle): return "job \(handle) failed"
        case .exception(let handle, let data):
            return "job \(handle) failed with an exception: \(String(decoding: data.prefix(200), as: UTF8.self))"
        }
    }
}
