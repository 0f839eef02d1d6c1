import CGearmanSystem
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A thread-safe logger that writes one line per message to stderr, a file or syslog.
///
/// A message identical to the one before it is counted rather than written again, and the count
/// is written as one line when a different message arrives, so a fault that repeats per
/// connection cannot flood the log.
public final class Logger: Sendable {
    /// The destination of log lines.
    public enum Destination: Sendable, Equatable {
        /// Standard error.
        case standardError
        /// A file, opened for appending and reopened by `reopen()`.
        case file(String)
        /// The system log, through syslog(3).
        case syslog
        /// Nowhere.
        case none
    }

    private struct State {
        var level: LogLevel
        var destination: Destination
        var fd: Int32
        var lastMessage: String = ""
        var repeats = 0
    }

    private let state: Mutex<State>

    /// Creates a logger; a file destination that cannot be opened throws.
    public init(level: LogLevel, destination: Destination) throws(SystemError) {
        let fd = try Self.open(destination)
        state = Mutex(State(level: level, destination: destination, fd: fd))
        if destination == .syslog {
            openlog("gearmand", LOG_PID, LOG_DAEMON)
        }
    }

    /// A logger that discards everything, for tests and embedding.
    public static let disabled: Logger = try! Logger(level: .fatal, destination: .none)

    /// The maximum (most verbose) level that is written.
    /// The current destination of log lines.
    public var destination: Destination {
        state.withLock { $0.destination }
    }

    public var level: LogLevel {
        get { state.withLock { $0.level } }
        set { state.withLock { $0.level = newValue } }
    }

    /// Whether a message at `level` would be written.
    public func isEnabled(_ level: LogLevel) -> Bool {
        state.withLock { level <= $0.level && $0.destination != .none }
    }

    /// Writes `message` at `level`; the message is built only when the level is enabled.
    ///
    /// - Parameter force: write the message whatever the level, for start-up facts a user cannot
    ///   learn otherwise, such as the port picked for `--port 0`.
    public func log(_ level: LogLevel, _ message: @autoclosure () -> String, force: Bool = false) {
        guard isEnabled(force ? .fatal : level) else { return }
        let text = message()
        state.withLock { state in
            if text == state.lastMessage {
                state.repeats += 1
                return
            }
            if state.repeats > 0 {
                Self.write(&state, level, "previous message repeated \(state.repeats) more times")
            }
            state.lastMessage = text
            state.repeats = 0
            Self.write(&state, level, text)
        }
    }

    public func error(_ message: @autoclosure () -> String) { log(.error, message()) }
    public func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }
    public func notice(_ message: @autoclosure () -> String) { log(.notice, message()) }
    public func info(_ message: @autoclosure () -> String) { log(.info, message()) }
    public func debug(_ message: @autoclosure () -> String) { log(.debug, message()) }

    /// Closes and reopens a log file, for log rotation on SIGHUP.
    public func reopen() throws(SystemError) {
        let destination = state.withLock { $0.destination }
        guard case .file = destination else { return }
        let fd = try Self.open(destination)
        state.withLock { state in
            let old = state.fd
            state.fd = fd
            if old > 2 { close(old) }
        }
    }

    private static func open(_ destination: Destination) throws(SystemError) -> Int32 {
        switch destination {
        case .standardError: return 2
        case .syslog, .none: return -1
        case .file(let path):
            let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
            if fd < 0 { throw SystemError.current("open \(path)") }
            return fd
        }
    }

    private static func write(_ state: inout State, _ level: LogLevel, _ text: String) {
        switch state.destination {
        case .none:
            return
        case .syslog:
            cgs_syslog(level.syslogPriority, text)
        case .standardError, .file:
            var line = "\(timestamp()) \(level.name) \(text)\n"
            line.withUTF8 { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = Glibc.write(state.fd, bytes.baseAddress! + offset, bytes.count - offset)
                    if written <= 0 {
                        if written < 0 && errno == EINTR { continue }
                        return
                    }
                    offset += written
                }
            }
        }
    }

    /// Returns the current UTC time as `2026-12-04T21:30:01.123Z`.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + "\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
    }
}
