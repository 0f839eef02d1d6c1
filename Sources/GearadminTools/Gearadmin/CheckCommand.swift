import GearmanKit
import GearmanTools

#if canImport(Glibc)
    import Glibc
#endif

/// The status line that the SIGALRM handler writes. It is prepared before the alarm is set
/// because a signal handler may only call async-signal-safe functions such as write(2).
nonisolated(unsafe) private var alarmMessage: UnsafeMutableBufferPointer<UInt8>?

private func handleAlarm(_ signal: Int32) {
    if let message = alarmMessage {
        _ = write(1, message.baseAddress, message.count)
    }
    _exit(CheckStatus.critical.rawValue)
}

/// `gearadmin --check`: queries `status` once, evaluates it with `CheckEvaluation` and
/// prints the Nagios status line.
enum CheckCommand {
    /// Runs the check and returns the exit status (the Nagios status).
    static func run(_ options: CheckOptions, server: ServerAddress) -> Int32 {
        let evaluation = CheckEvaluation(thresholds: options.thresholds, functions: options.functions)
        let timeoutText = "no reply from \(server) within \(options.timeoutSeconds) s"

        // The timeouts of connect and of each reply line keep the usual cases exact. The alarm
        // also bounds name resolution and a server that sends its reply slowly, line by line.
        setAlarm(
            message: CheckResult(status: .critical, text: timeoutText).line + "\n", seconds: options.timeoutSeconds)
        let result: CheckResult
        do {
            let lines = try queryStatus(server: server, timeoutSeconds: options.timeoutSeconds)
            result = evaluation.evaluate(statusLines: lines)
        } catch GearmanError.timedOut {
            result = CheckResult(status: .critical, text: timeoutText)
        } catch {
            result = CheckResult(status: .critical, text: "\(error)")
        }
        alarm(0)

        Output.write(result.line + "\n")
        return result.status.rawValue
    }

    /// Prints the UNKNOWN status line for an invalid command line and returns its exit status.
    static func reportInvalidArguments(_ error: any Error) -> Int32 {
        let result = CheckResult(status: .unknown, text: "\(error) (see gearadmin --help)")
        Output.write(result.line + "\n")
        return result.status.rawValue
    }

    /// Sends `status` and returns the reply lines, within `timeoutSeconds` in all.
    static func queryStatus(server: ServerAddress, timeoutSeconds: Int) throws -> [String] {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(timeoutSeconds))
        let client = try AdminClient(server: server, timeout: timeoutSeconds * 1000)
        defer { client.close() }

        let remaining = clock.now.duration(to: deadline)
        client.timeout = max(Int((remaining / .milliseconds(1)).rounded(.up)), 1)
        switch try client.send("status") {
        case .lines(let lines):
            return lines
        case .error(let text):
            throw CheckQueryError(message: "\(server) rejected the status command: \(text)")
        case .ok(let value):
            throw CheckQueryError(
                message: "\(server) replied '\(value ?? "OK")' to the status command instead of a list")
        }
    }

    private static func setAlarm(message: String, seconds: Int) {
        let bytes = Array(message.utf8)
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: bytes.count)
        _ = buffer.initialize(from: bytes)
        // Left allocated: the process exits soon after, and the handler may run at any point.
        alarmMessage = buffer
        signal(SIGALRM, handleAlarm)
        alarm(UInt32(seconds))
    }
}

/// A `status` reply that is not a list.
struct CheckQueryError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
