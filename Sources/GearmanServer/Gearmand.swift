import CGearmanSystem
import GearmanKit

#if canImport(Glibc)
    import Glibc
#endif

/// The `gearmand` program: parses the command line, sets up the process and runs a
/// `GearmanServer` until a signal stops it.
public enum Gearmand {
    /// Runs gearmand with `arguments` (without the program name) and returns the exit status.
    public static func main(arguments: [String], environment: [String: String]) -> Int32 {
        let options: GearmandOptions
        do {
            options = try GearmandOptions.parse(arguments, environment: environment)
        } catch {
            printError(
                CommandLineParser.errorText(program: "gearmand", message: "\(error)", usage: GearmandOptions.usage))
            return 1
        }
        for warning in options.warnings {
            printError("gearmand: warning: \(warning)\n")
        }
        switch options.action {
        case .help:
            print(GearmandOptions.helpText, terminator: "")
            return 0
        case .version:
            print("gearmand \(GearmanServer.version) (GearmanKit, protocol-compatible with gearmand 1.1)")
            return 0
        case .checkArguments:
            return 0
        case .run:
            return run(options)
        }
    }

    static func run(_ options: GearmandOptions) -> Int32 {
        // The fork comes first, before any thread (store, event loops) starts, because fork(2)
        // copies only the calling thread.
        var readiness: DaemonReadiness?
        if options.daemon {
            switch Daemonizer.start() {
            case .parent(let exitStatus):
                return exitStatus
            case .failed(let message):
                printError("gearmand: \(message)\n")
                return 1
            case .child(let channel):
                readiness = channel
            }
        }
        // Until the server runs, a daemon child sends its error to the waiting parent, which
        // prints it on the terminal. A FATAL line that went to standard error already is not
        // repeated there.
        var hasLoggedToStandardError = false
        func fail(_ message: String) -> Int32 {
            if let readiness {
                readiness.reportFailure(message)
            } else if !hasLoggedToStandardError {
                printError("gearmand: \(message)\n")
            }
            return 1
        }

        let logger: Logger
        do {
            logger = try makeLogger(options)
        } catch {
            return fail("cannot open the log: \(error)")
        }
        applyResourceLimits(options, logger: logger)
        func logFatal(_ message: String) {
            logger.log(.fatal, message)
            hasLoggedToStandardError = logger.destination == .standardError && logger.isEnabled(.fatal)
        }

        let server: GearmanServer
        do {
            server = try GearmanServer(configuration: options.server, logger: logger)
        } catch {
            logFatal("\(error)")
            return fail("\(error)")
        }
        // Closes the store of a server that fails before it starts.
        func abandon(_ message: String, removingPidFile: Bool) -> Int32 {
            logFatal(message)
            if removingPidFile, let path = options.pidFile { unlink(path) }
            server.wait()
            return fail(message)
        }
        if let path = options.pidFile, let failure = writePidFile(path) {
            return abandon(failure, removingPidFile: false)
        }
        if let user = options.user, let failure = switchUser(user) {
            return abandon(failure, removingPidFile: true)
        }

        // Signals are taken synchronously by this thread, so they are blocked before the loop
        // threads start and inherit the mask.
        var handled = sigset_t()
        sigemptyset(&handled)
        for signal in [SIGTERM, SIGINT, SIGUSR1, SIGHUP] { sigaddset(&handled, signal) }
        pthread_sigmask(SIG_BLOCK, &handled, nil)

        do {
            try server.start()
        } catch {
            return abandon("\(error)", removingPidFile: true)
        }
        readiness?.reportReady()
        waitForSignals(handled, server: server, logger: logger)
        server.wait()
        if let path = options.pidFile {
            unlink(path)
        }
        return 0
    }

    static func makeLogger(_ options: GearmandOptions) throws -> Logger {
        if options.syslog {
            return try Logger(level: options.logLevel, destination: .syslog)
        }
        switch options.logFile {
        case "stderr": return try Logger(level: options.logLevel, destination: .standardError)
        case "none": return try Logger(level: options.logLevel, destination: .none)
        case let path:
            do {
                return try Logger(level: options.logLevel, destination: .file(path))
            } catch {
                // As gearmand 1.1.20 does, so an init script whose log directory is missing still
                // starts the server. The warning is written whatever the log level.
                printError(
                    "gearmand: cannot open log file \(path) (\(error.message)); logging to stderr instead, choose a file with --log-file\n"
                )
                return try Logger(level: options.logLevel, destination: .standardError)
            }
        }
    }

    static func applyResourceLimits(_ options: GearmandOptions, logger: Logger) {
        if let count = options.fileDescriptors {
            var limit = rlimit(rlim_cur: rlim_t(count), rlim_max: rlim_t(count))
            if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) != 0 {
                logger.error("cannot set the open-file limit to \(count): \(SystemError.current("setrlimit").message)")
            }
        }
        if options.coreDump {
            var limit = rlimit(rlim_cur: rlim_t.max, rlim_max: rlim_t.max)  // RLIM_INFINITY
            if setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &limit) != 0 {
                logger.warning("cannot enable core dumps: \(SystemError.current("setrlimit").message)")
            }
        }
    }

    /// Switches to `user`'s group and user ID; returns an error message on failure.
    static func switchUser(_ user: String) -> String? {
        guard let entry = getpwnam(user) else {
            return "user '\(user)' not found"
        }
        let uid = entry.pointee.pw_uid
        let gid = entry.pointee.pw_gid
        if initgroups(user, gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0 {
            return "cannot switch to user '\(user)': \(SystemError.current("setuid").message)"
        }
        return nil
    }

    /// Writes this process's ID to `path`, and returns an error message on failure.
    static func writePidFile(_ path: String) -> String? {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 {
            return "cannot open pid file \(path) for writing: \(SystemError.current("open").message)"
        }
        defer { close(fd) }
        let text = "\(getpid())\n"
        let written = text.withCString { write(fd, $0, strlen($0)) }
        if written != text.utf8.count {
            let reason = written < 0 ? SystemError.current("write").message : "short write"
            unlink(path)
            return "cannot write pid file \(path): \(reason)"
        }
        return nil
    }

    /// Handles SIGTERM and SIGINT (stop), SIGUSR1 (stop once no job is left) and SIGHUP
    /// (reopen the log file) until the server has stopped.
    static func waitForSignals(_ set: sigset_t, server: GearmanServer, logger: Logger) {
        var set = set
        var timeout = timespec(tv_sec: 0, tv_nsec: 200_000_000)
        while !server.isStopped {
            let signal = sigtimedwait(&set, nil, &timeout)
            switch signal {
            case SIGTERM, SIGINT:
                logger.notice("received signal \(signal), stopping")
                server.stop()
            case SIGUSR1:
                logger.notice("received SIGUSR1, stopping once no job is left")
                server.stop(graceful: true)
            case SIGHUP:
                do {
                    try logger.reopen()
                    logger.notice("log file reopened on SIGHUP")
                } catch {
                    // Standard error is /dev/null in a daemon, so the old log file is the one
                    // place where an administrator can see this.
                    logger.error("cannot reopen the log file on SIGHUP, so logging goes on to the old file: \(error)")
                }
            default:
                continue
            }
        }
    }

    static func printError(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            _ = write(2, bytes.baseAddress, bytes.count)
        }
    }
}
