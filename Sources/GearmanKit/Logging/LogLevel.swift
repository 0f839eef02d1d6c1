/// A log severity, named and ordered as gearmand's `--verbose` levels.
public enum LogLevel: Int, Sendable, Comparable, CaseIterable {
    case fatal = 0
    case alert
    case critical
    case error
    case warning
    case notice
    case info
    case debug

    /// The upper-case name gearmand prints and accepts, such as `ERROR`.
    public var name: String {
        switch self {
        case .fatal: return "FATAL"
        case .alert: return "ALERT"
        case .critical: return "CRITICAL"
        case .error: return "ERROR"
        case .warning: return "WARNING"
        case .notice: return "NOTICE"
        case .info: return "INFO"
        case .debug: return "DEBUG"
        }
    }

    /// Parses a level name, in any case.
    public init?(name: String) {
        guard let level = LogLevel.allCases.first(where: { $0.name == name.uppercased() }) else {
            return nil
        }
        self = level
    }

    /// The syslog(3) priority for the level.
    public var syslogPriority: Int32 {
        switch self {
        case .fatal: return 0  // LOG_EMERG
        case .alert: return 1  // LOG_ALERT
        case .critical: return 2  // LOG_CRIT
        case .error: return 3  // LOG_ERR
        case .warning: return 4  // LOG_WARNING
        case .notice: return 5  // LOG_NOTICE
        case .info: return 6  // LOG_INFO
        case .debug: return 7  // LOG_DEBUG
        }
    }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool {
        lhs.rawValue < rhs.rawValue
    }
}
