import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// How a child process ended.
enum Termination: Sendable, Equatable, CustomStringConvertible {
    case running
    case exited(Int32)
    case signaled(Int32)
    /// The child was reaped by some other code, so its status is lost.
    case unknown

    var description: String {
        switch self {
        case .running: return "still running"
        case .exited(let status): return "exit status \(status)"
        case .signaled(let signal): return "killed by signal \(signal)"
        case .unknown: return "exit status unknown"
        }
    }
}

/// A child process in its own process group, with its standard streams redirected to files.
///
/// The child is started with posix_spawn rather than Foundation's `Process` because it needs
/// an empty signal mask and default signal handlers. The libdispatch threads that run test
/// tasks block most signals, and `Process` passes that mask on: a `gearman` worker then
/// ignored SIGTERM, and admin-scenario.sh could not stop its python helper.
///
/// Files instead of pipes mean a child never blocks on a full pipe, however much it writes.
/// Call `stop()` on every path, usually from a `defer`, so no child outlives its test.
final class ChildProcess {
    let pid: pid_t
    let standardOutput: URL
    let standardError: URL
    /// How the child ended, once it has.
    private var exitState: Termination?
    /// Whether the zombie has been collected. Until then the pid, which is also the process
    /// group ID, cannot be reused, so signals to the group cannot reach a stranger.
    private var isReaped = false

    /// The environment children get by default: the test's own, without the variables that
    /// would point the Gearman tools or gearmand at another server or port.
    static var defaultEnvironment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["GEARMAN_SERVER"] = nil
        environment["GEARMAND_PORT"] = nil
        return environment
    }

    /// posix_spawn_file_actions_addclosefrom_np from glibc 2.34 or later, looked up at run time
    /// because Swift's Glibc module does not import GNU extensions of spawn.h.
    private static let addCloseFrom:
        (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
            guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
            return unsafeBitCast(
                symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
        }()

    /// Starts `executable`; `standardInput` nil means /dev/null.
    init(
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
        posix_spawn_file_actions_addopen(&fileActions, 2, standardError.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
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
        // Process group 0 makes the child the leader of a new group, so `stop()` reaches its children too.
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = (environment ?? Self.defaultEnvironment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var childPID: pid_t = 0
        let result = posix_spawn(&childPID, executable, &fileActions, &attributes, argv, envp)
        if result != 0 {
            throw RawConnectionError.systemCall("posix_spawn \(executable)", result)
        }
        pid = childPID
    }

    deinit {
        if !isReaped {
            stop()
        }
    }

    var isRunning: Bool { pollExit() == nil }

    var termination: Termination { pollExit() ?? .running }

    /// Returns how the child ended, or nil while it runs, leaving a zombie for `reap()`.
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

    private func reap() {
        if isReaped || pollExit() == nil { return }
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
        isReaped = true
    }

    /// Sends `number` to the child's process group, which may outlive the child itself.
    func signal(_ number: Int32) {
        if !isReaped {
            kill(-pid, number)
        }
    }

    /// Sends `number` to the child alone, not its group, while it runs.
    func signalLeader(_ number: Int32) {
        if isRunning {
            kill(pid, number)
        }
    }

    /// Waits without blocking a thread until the process exits or `timeout` passes.
    ///
    /// - Returns: the termination, `.running` after a timeout.
    func waitForExit(timeout: Duration) async throws -> Termination {
        _ = try await waitUntil(timeout: timeout) { !isRunning }
        return termination
    }

    /// Sends SIGTERM to the process group and waits up to `grace` for the child to exit, then
    /// sends SIGKILL. Whatever is left of the group afterwards also gets SIGKILL, and the child
    /// is reaped.
    ///
    /// This blocks the calling thread so that it can run from a `defer`. A child that handles
    /// SIGTERM normally exits in well under a second.
    @discardableResult
    func stop(grace: Duration = .seconds(5)) -> Termination {
        if isRunning {
            signal(SIGTERM)
            if !blockUntilExit(timeout: grace) {
                signal(SIGKILL)
                _ = blockUntilExit(timeout: .seconds(10))
            }
        }
        // Fails with ESRCH when the group is already empty, which is the normal case.
        signal(SIGKILL)
        reap()
        return termination
    }

    private func blockUntilExit(timeout: Duration) -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while isRunning {
            if clock.now >= deadline { return false }
            usleep(5_000)
        }
        return true
    }

    func standardOutputText() -> String { readText(standardOutput) }
    func standardErrorText() -> String { readText(standardError) }
}

/// What a finished command wrote and how it ended.
struct ToolResult: Sendable {
    var standardOutput: [UInt8]
    var standardError: [UInt8]
    var termination: Termination
    var timedOut: Bool

    var outputText: String { String(decoding: standardOutput, as: UTF8.self) }
    var errorText: String { String(decoding: standardError, as: UTF8.self) }
}

/// Runs commands to completion with given standard input and a time limit.
enum ToolRunner {
    /// Runs `executable` with `input` on its standard input and returns its output and status.
    ///
    /// A command still running after `timeout` gets SIGTERM, then SIGKILL 5 s later, and the
    /// result has `timedOut` set, so a hung tool fails its test instead of hanging the run.
    /// SIGTERM first lets a shell script run its cleanup trap.
    static func run(
        _ executable: String, _ arguments: [String], input: [UInt8] = [],
        environment: [String: String]? = nil, timeout: Duration = .seconds(30)
    ) async throws -> ToolResult {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let inputFile = directory.file("stdin")
        try Data(input).write(to: inputFile)

        let child = try ChildProcess(
            executable: executable, arguments: arguments, environment: environment,
            standardInput: inputFile, standardOutput: directory.file("stdout"), standardError: directory.file("stderr"))
        var termination = try await child.waitForExit(timeout: timeout)
        let timedOut = termination == .running
        if timedOut {
            termination = child.stop()
        }
        let output = FileManager.default.contents(atPath: child.standardOutput.path) ?? Data()
        let errors = FileManager.default.contents(atPath: child.standardError.path) ?? Data()
        return ToolResult(
            standardOutput: Array(output), standardError: Array(errors), termination: termination, timedOut: timedOut)
    }
}
