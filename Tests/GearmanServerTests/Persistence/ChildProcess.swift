import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A program started with posix_spawn, its standard input from /dev/null and its standard
/// output and error in a file.
///
/// posix_spawn and waitpid are used rather than Foundation's Process, whose end was not
/// noticed for `pg_ctl start` while the server it started kept running.
final class ChildProcess {
    let pid: pid_t
    private var exitStatus: Int32?

    init(executable: String, arguments: [String], output: String) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        // The test runner may block or ignore signals, which a child would inherit, and then a
        // server would not stop on SIGTERM.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        var allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let name = String(executable.split(separator: "/").last ?? "")
        let argv = ([name] + arguments).map { strdup($0) } + [nil]
        let environment = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv + environment { free(pointer) }
        }
        var pid = pid_t()
        let status = posix_spawn(&pid, executable, &actions, &attributes, argv, environment)
        guard status == 0 else {
            throw TestSetupError("posix_spawn \(executable) failed: \(String(cString: strerror(status)))")
        }
        self.pid = pid
    }

    deinit {
        if exitStatus == nil {
            kill()
        }
    }

    /// Waits at most `seconds` for the program to end.
    ///
    /// Returns the exit status, or 128 plus the signal that ended the program, or nil if it is still running.
    func wait(seconds: Double) -> Int32? {
        if let exitStatus { return exitStatus }
        let deadline = Date().addingTimeInterval(seconds)
        var status: Int32 = 0
        repeat {
            if waitpid(pid, &status, WNOHANG) == pid {
                // WIFEXITED, WEXITSTATUS and WTERMSIG are macros that Swift does not import.
                let signal = status & 0x7F
                exitStatus = signal == 0 ? (status >> 8) & 0xFF : 128 + signal
                return exitStatus
            }
            usleep(20_000)
        } while Date() < deadline
        return nil
    }

    /// Sends `signal` and waits for the program to end, with SIGKILL after 10 s.
    func stop(signal: Int32 = SIGTERM) {
        guard exitStatus == nil else { return }
        Glibc.kill(pid, signal)
        if wait(seconds: 10) == nil {
            kill()
        }
    }

    /// Kills the program and reaps it.
    func kill() {
        guard exitStatus == nil else { return }
        Glibc.kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        exitStatus = 128 + SIGKILL
    }
}
