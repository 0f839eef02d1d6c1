import CGearmanSystem
import GearmanKit

#if canImport(Glibc)
    import Glibc
#endif

/// The fork into the background of `gearmand --daemon`.
///
/// The parent does not return at once: it waits on a pipe until the child reports that it
/// is ready (store open, ports bound, pid file written, user switched, threads started) or
/// reports why it failed. So the parent's exit status and standard error tell the caller
/// whether the server runs, and the pid file exists when the parent has returned.
/// The child keeps the working directory, as the C gearmand 1.1.20 does, so relative paths
/// mean the same before and after the fork.
enum Daemonizer {
    /// The side of the fork that `start()` returned on.
    enum Role {
        /// The parent after the child reported, with the status that the parent exits with.
        case parent(exitStatus: Int32)
        /// The child, which sets up the server and then reports through `readiness`.
        case child(readiness: DaemonReadiness)
        /// No fork happened, for this reason.
        case failed(String)
    }

    /// Forks. The parent waits for the child's report, and the child starts a new session.
    ///
    /// It refuses to fork while a second thread runs, because fork(2) copies only the calling
    /// thread, and the child would wait for ever on a thread it does not have.
    static func start() -> Role {
        let threads = threadCount()
        if threads > 1 {
            return .failed(
                "cannot start as a daemon: \(threads) threads run already, and fork(2) would copy only one of them")
        }
        var fds: [Int32] = [-1, -1]
        if cgs_pipe2(&fds, O_CLOEXEC) != 0 {
            return .failed("cannot start as a daemon: \(SystemError.current("pipe2"))")
        }
        let pid = cgs_fork()
        if pid < 0 {
            let error = SystemError.current("fork")
            close(fds[0])
            close(fds[1])
            return .failed("cannot start as a daemon: \(error)")
        }
        if pid > 0 {
            close(fds[1])
            let status = waitForReadiness(of: pid, reading: fds[0])
            close(fds[0])
            return .parent(exitStatus: status)
        }
        close(fds[0])
        // A new session detaches the child from the terminal, so a hangup or Ctrl-C there
        // does not reach it.
        setsid()
        return .child(readiness: DaemonReadiness(fd: fds[1]))
    }

    /// Returns the number of threads of this process, from /proc/self/status, or 0 when it
    /// cannot be read.
    static func threadCount() -> Int {
        guard let file = fopen("/proc/self/status", "r") else { return 0 }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if text.hasPrefix("Threads:") {
                return Int(String(text.dropFirst("Threads:".count).filter(\.isNumber))) ?? 0
            }
        }
        return 0
    }

    /// Reads the child's report from `fd` and returns the parent's exit status: 0 once the
    /// child is ready, 1 after printing its error, or 1 when it ended without a report.
    private static func waitForReadiness(of child: pid_t, reading fd: Int32) -> Int32 {
        switch DaemonReadiness.Report(bytes: FileDescriptors.readAll(fd)) {
        case .ready:
            return 0
        case .failed(let message):
            _ = reap(child)
            Gearmand.printError("gearmand: \(message)\n")
            return 1
        case nil:
            let ending = reap(child)
            Gearmand.printError("gearmand: the daemon process \(child) \(ending) before it was ready\n")
            return 1
        }
    }

    /// Waits for `child` to end and returns how it ended, in words.
    private static func reap(_ child: pid_t) -> String {
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 {
            if errno != EINTR { return "ended" }
        }
        // WIFEXITED, WEXITSTATUS and WTERMSIG are macros that Swift does not import.
        let signal = status & 0x7f
        if signal == 0 { return "exited with status \((status >> 8) & 0xff)" }
        return "was killed by signal \(signal)"
    }
}
