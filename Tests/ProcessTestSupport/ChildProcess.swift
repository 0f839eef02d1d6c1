import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// How a child process ended.
public enum Termination: Sendable, Equatable, CustomStringConvertible {
    case running
    case exited(Int32)
    case signaled(Int32)
    /// The child was reaped by other code, so its status is lost.
    case unknown

    public var description: String {
        switch self {
        case .running: return "still running"
        case .exited(let status): return "exit status \(status)"
        case .signaled(let signal): return "killed by signal \(signal)"
        case .unknown: return "exit status unknown"
        }
    }
}

/// A failed system call while starting or talking to a child process.
public struct SystemCallError: Error, CustomStringConvertible {
    public let call: String
    public let code: Int32

    public var description: String { "\(call) failed: \(String(cString: strerror(code)))" }
}

/// A child process in its own process group, with its standard streams redirected to files.
///
/// The child is started with posix_spawn rather than Foundation's `Process` because it needs an
/// empty signal mask and default signal handlers. The threads that run test tasks block most
/// signals, and `Process` passes that mask on, so a child started with it ignores SIGTERM.
/// `Process` also did not report the end of `pg_ctl start` while the server it started kept
/// running.
///
/// Files instead of pipes mean a child never blocks on a full pipe. Call `stop()` on every
/// path, usually from a `defer`, so that no child outlives its test.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    public let standardOutput: URL
    /// The file of standard error, which may be the same file as `standardOutput`.
    public let standardError: URL
    private let lock = NSLock()
    private var exitState: Termination?
    /// Whether the zombie has been collected. Until then the pid, which is also the process
    /// group ID, cannot be reused, so signals to the group cannot reach a stranger.
    private var isReaped = false

    /// The environment children get by default: the test's own, without the variables that
    /// point the Gearman tools or gearmand at another server or port.
    public static var defaultEnvironment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["GEARMAN_SERVER"] = nil
        environment["GEARMAND_PORT"] = nil
        return environment
    }

    /// posix_spawn_file_actions_addclosefrom_np from glibc 2.34 or later, looked up at run time
    /// because Swift's Glibc module does not import the GNU extensions of spawn.h.
    private static let addCloseFrom:
        (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
            guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
            return unsafeBitCast(
                symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
        }()

    /// Starts `executable` (a path, not looked up on PATH); `standardInput` nil means /dev/null.
    ///
    /// When `standardError` has the same path as `standardOutput`, both streams share one open
    /// file description. Opening the path twice would give each stream its own file offset, and
    /// the two streams would overwrite each other's output.
    public init(
        executable: String, arguments: [String], environment: [String: String]? = nil,
        standardInput: URL? = nil, standardOutput: URL, standardError: URL
    ) throws {
        self.standardOutput = standardOutput
        self.standardError = standardError

        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        posix_spawn_file_actions_addopen(&fileActions, 0, standardInput?.path ?? "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fileActions, 1, standardOutput.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if standardError.path == standardOutput.path {
            posix_spawn_file_actions_adddup2(&fileActions, 1, 2)
        } else {
            posix_spawn_file_actions_addopen(
                &fileActions, 2, standardError.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        }
        // Descriptors of other tests (sockets, files) must not leak into the child.
        if let closeFrom = Self.addCloseFrom {
            _ = closeFrom(&fileActions, 3)
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptySet = sigset_t()
        sigemptyset(&emptySet)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &emptySet)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        // Process group 0 makes the child the leader of a new group, so `stop()` reaches the
        // processes it starts too, such as the workers of a shell script.
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = (environment ?? Self.defaultEnvironment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv + envp { free(pointer) }
        }
        var childPID: pid_t = 0
        let result = posix_spawn(&childPID, executable, &fileActions, &attributes, argv, envp)
        if result != 0 {
            throw SystemCallError(call: "posix_spawn \(executable)", code: result)
        }
        pid = childPID
    }

    deinit {
        stop()
    }

    public var isRunning: Bool { lock.withLock { pollExit() == nil } }

    public var termination: Termination { lock.withLock { pollExit() ?? .running } }

    /// Returns how the child ended, or nil while it runs, leaving the zombie for `reap()`.
    /// Callers hold `lock`.
    private func pollExit() -> Termination? {
        if let exitState { return exitState }
        var info = siginfo_t()
        if waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 {
            // ECHILD: someone else reaped the child.
            exitState = errno == ECHILD ? .unknown : nil
            return exitState
        }
        // The siginfo_t accessor macros (si_pid, si_status) are not imported into Swift.
        let child = info._sifields._sigchld
        if child.si_pid != pid { return nil }
        exitState = Int(info.si_code) == CLD_EXITED ? .exited(child.si_status) : .signaled(child.si_status)
        return exitState
    }

    /// Sends `number` to the child's process group, which may outlive the child itself.
    public func signal(_ number: Int32) {
        lock.withLock {
            if !isReaped { _ = kill(-pid, number) }
        }
    }

    /// Sends `number` to the child alone, not its group, while it runs.
    public func signalLeader(_ number: Int32) {
        lock.withLock {
            if pollExit() == nil { _ = kill(pid, number) }
        }
    }

    /// Waits without blocking a thread until the child exits or `timeout` passes.
    ///
    /// - Returns: the termination, `.running` after a timeout.
    public func waitForExit(timeout: Duration) async throws -> Termination {
        _ = try await waitUntil(timeout: timeout) { !isRunning }
        return termination
    }

    /// Sends `signal` (SIGTERM unless given) to the process group and waits up to `grace` for
    /// the child to exit, then sends SIGKILL to the group, and reaps the child.
    ///
    /// This blocks the calling thread, so that it can run from a `defer`.
    @discardableResult
    public func stop(signal first: Int32 = SIGTERM, grace: Duration = .seconds(5)) -> Termination {
        if isRunning {
            signal(first)
            if blockUntilExit(timeout: grace) == .running {
                signal(SIGKILL)
                _ = blockUntilExit(timeout: .seconds(10))
            }
        }
        // The rest of the group, such as a script's background workers, goes too. This fails
        // with ESRCH when the group is already empty, which is the normal case.
        signal(SIGKILL)
        lock.withLock {
            if !isReaped && pollExit() != nil {
                var status: Int32 = 0
                _ = waitpid(pid, &status, 0)
                isReaped = true
            }
        }
        return termination
    }

    /// Blocks the calling thread until the child exits or `timeout` passes, for callers that
    /// cannot await. The zombie stays until `stop()`, which `deinit` also calls, reaps it.
    ///
    /// - Returns: the termination, `.running` after a timeout.
    public func blockUntilExit(timeout: Duration) -> Termination {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while isRunning {
            if clock.now >= deadline { return .running }
            usleep(5_000)
        }
        return termination
    }

    public func standardOutputText() -> String { readText(standardOutput) }
    public func standardErrorText() -> String { readText(standardError) }
}
