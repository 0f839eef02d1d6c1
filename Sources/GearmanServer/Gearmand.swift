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
        let logger: Logger
        do {
            logger = try makeLogger(options)
        } catch {
            printError("gearmand: cannot open log file: \(error)\n")
            return 1
        }
        applyResourceLimits(options, logger: logger)

        let server: GearmanServer
        do {
            server = try GearmanServer(configuration: options.server, logger: logger)
        } catch {
            logger.log(.fatal, "\(error)")
            printError("gearmand: \(error)\n")
            return 1
        }
        if options.daemon {
            if let failure = daemonize() {
                printError("gearmand: \(failure)\n")
                return 1
            }
        }
        if let path = options.pidFile {
            writePidFile(path, logger: logger)
        }
        if let user = options.user {
            if let failure = switchUser(user) {
                logger.log(.fatal, failure)
                printError("gearmand: \(failure)\n")
                return 1
            }
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
            logger.log(.fatal, "\(error)")
            printError("gearmand: \(error)\n")
            return 1
        }
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
                guard path == GearmandOptions.defaultLogFile else { throw error }
                // The default path is often not writable for a normal user; the terminal still works.
                let logger = try Logger(level: options.logLevel, destination: .standardError)
                let reason = error.description
                logger.warning(
                    "cannot open \(path) (\(reason)); logging to stderr instead, choose a file with --log-file")
                return logger
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

    /// Forks into the background: the parent exits, the child starts a new session with its
    /// standard streams on /dev/null. Must run before any thread starts.
    static func daemonize() -> String? {
        let pid = cgs_fork()
        if pid < 0 { return "cannot fork: \(SystemError.current("fork").message)" }
        if pid > 0 { exit(0) }
        setsid()
        _ = chdir("/")
        let null = open("/dev/null", O_RDWR)
        if null >= 0 {
            dup2(null, 0)
            dup2(null, 1)
            dup2(null, 2)
            if null > 2 { close(null) }
        }
        return nil
    }

    static func writePidFile(_ path: String, logger: Logger) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 {
            logger.error("cannot write pid file \(path): \(SystemError.current("open").message)")
            return
        }
        let text = "\(getpid())\n"
        _ = text.withCString { write(fd, $0, strlen($0)) }
        close(fd)
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
                    printError("gearmand: cannot reopen log file: \(error)\n")
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
