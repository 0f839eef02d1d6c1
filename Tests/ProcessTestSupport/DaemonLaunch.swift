import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A gearmand started with `--daemon`: the result of the launching process and the daemon
/// that it left behind.
///
/// The daemon starts a new session, so `ChildProcess.stop()` does not reach it. Call `stop()`
/// on every path, usually from a `defer`. It signals the PID that the pid file named when the
/// launcher returned.
public final class DaemonLaunch: Sendable {
    /// What the launching process wrote and how it ended.
    public let result: ToolResult
    /// The pid file given to gearmand.
    public let pidFile: URL
    /// The contents of the pid file right after the launching process ended, or nil when the
    /// file did not exist then.
    public let pidFileText: String?
    /// The daemon's PID from `pidFileText`, or nil when there was none.
    public let daemonPID: pid_t?

    /// `daemonPID`, or the PID in the pid file now when it was written late, so that `stop()`
    /// also ends a daemon whose launcher returned too early.
    private var currentPID: pid_t? {
        daemonPID
            ?? Self.parsePID(
                FileManager.default.contents(atPath: pidFile.path).map { String(decoding: $0, as: UTF8.self) })
    }

    private init(result: ToolResult, pidFile: URL, pidFileText: String?) {
        self.result = result
        self.pidFile = pidFile
        self.pidFileText = pidFileText
        daemonPID = Self.parsePID(pidFileText)
    }

    private static func parsePID(_ text: String?) -> pid_t? {
        text.flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Runs `executable` with `arguments` in `directory` and waits up to `timeout` for the
    /// launching process to end. `pidFile` must be the file that the arguments name.
    public static func run(
        _ executable: String, _ arguments: [String], in directory: URL, pidFile: URL,
        timeout: Duration = .seconds(20)
    ) async throws -> DaemonLaunch {
        // bash changes the directory, then replaces itself with gearmand, so the launcher's
        // PID and exit status are gearmand's.
        let result = try await ToolRunner.run(
            TestPaths.bash, ["-c", "cd \"$0\" && exec \"$@\"", directory.path, executable] + arguments,
            timeout: timeout)
        let text = FileManager.default.contents(atPath: pidFile.path).map { String(decoding: $0, as: UTF8.self) }
        return DaemonLaunch(result: result, pidFile: pidFile, pidFileText: text)
    }

    /// Whether the daemon still runs; a zombie counts as ended.
    public var isRunning: Bool {
        guard let pid = currentPID else { return false }
        return Self.isRunning(pid)
    }

    /// Returns whether process `pid` exists and has not ended, from /proc/PID/stat.
    public static func isRunning(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        // The state follows the command name, which is in brackets and may contain spaces.
        guard let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        return state != "Z" && state != "X"
    }

    /// The daemon's working directory, from /proc/PID/cwd.
    public var workingDirectory: String? {
        guard let daemonPID else { return nil }
        return try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(daemonPID)/cwd")
    }

    /// Sends `number` to the daemon, if it still runs gearmand.
    public func signal(_ number: Int32) {
        guard let pid = currentPID, Self.isRunning(pid), runsGearmand(pid) else { return }
        kill(pid, number)
    }

    /// Waits up to `timeout` for the daemon to end.
    ///
    /// - Returns: whether it ended in time.
    public func waitForExit(timeout: Duration = .seconds(10)) async throws -> Bool {
        try await waitUntil(timeout: timeout) { !isRunning }
    }

    /// Stops the daemon with SIGTERM, or SIGKILL when it still runs after 5 s.
    ///
    /// - Returns: whether SIGTERM was enough.
    @discardableResult
    public func stop() -> Bool {
        guard isRunning else { return true }
        signal(SIGTERM)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(5))
        while isRunning && clock.now < deadline {
            usleep(10_000)
        }
        guard isRunning else { return true }
        signal(SIGKILL)
        return false
    }

    /// Returns whether `pid` still runs a gearmand, so a PID reused by another program is not
    /// signaled.
    private func runsGearmand(_ pid: pid_t) -> Bool {
        guard let command = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        return String(decoding: command, as: UTF8.self).contains("gearmand")
    }
}
