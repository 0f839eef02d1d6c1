import GearmanKit

extension GearmandOptions {
    /// Options of the persistent queues this server has.
    static let queueOptionNames: Set<String> = [
        "libsqlite3-db", "libsqlite3-table", "store-queue-on-shutdown", "libpq-conninfo", "libpq-table",
        "logfile-path", "logfile-fsync",
    ]

    /// Options of the C gearmand's other queue backends, rejected with a message that names them.
    static let unsupportedQueueOptionNames: Set<String> = [
        "libmemcached-servers", "libmemcached-prefix", "redis-server", "redis-port", "redis-password",
        "redis-prefix", "mysql-host", "mysql-port", "mysql-user", "mysql-password", "mysql-db", "mysql-table",
    ]

    /// Every option of `gearmand`, in help order; help text and the man page follow this list.
    public static let specs: [OptionSpec] = {
        let general = "General options"
        var specs: [OptionSpec] = [
            OptionSpec(
                "backlog", short: "b", argument: .required("N"),
                help: "Number of pending connections the listen queue holds.", default: "32", section: general),
            OptionSpec("daemon", short: "d", help: "Detach and run in the background.", section: general),
            OptionSpec(
                "exceptions", help: "Send WORK_EXCEPTION to every client, as if each had asked for it.",
                section: general),
            OptionSpec(
                "file-descriptors", short: "f", argument: .required("N"),
                help: "Number of open files to allow the process (RLIMIT_NOFILE); connections are a few less.",
                section: general),
            OptionSpec("help", short: "h", help: "Print this help and exit.", section: general),
            OptionSpec(
                "job-retries", short: "j", argument: .required("N"),
                help:
                    "Attempts after which a job whose workers keep dying is dropped and its clients get WORK_FAIL; 0 means no limit.",
                default: "0", section: general),
            OptionSpec(
                "job-handle-prefix", argument: .required("PREFIX"),
                help: "Prefix of job handles, which read PREFIX:N.", default: "H:<host name>", section: general),
            OptionSpec(
                "hashtable-buckets", argument: .required("N"),
                help: "Accepted for compatibility; the job tables grow as needed.", default: "991", section: general),
            OptionSpec(
                "keepalive",
                help: "Accepted for compatibility: SO_KEEPALIVE is always on, and --keepalive-* apply without it.",
                section: general),
            OptionSpec(
                "keepalive-idle", argument: .required("SECONDS"),
                help: "TCP_KEEPIDLE: idle time before the first probe; -1 keeps the system default.", default: "-1",
                section: general),
            OptionSpec(
                "keepalive-interval", argument: .required("SECONDS"),
                help: "TCP_KEEPINTVL: time between probes; -1 keeps the system default.", default: "-1",
                section: general),
            OptionSpec(
                "keepalive-count", argument: .required("N"),
                help: "TCP_KEEPCNT: unanswered probes before the connection is dropped; -1 keeps the system default.",
                default: "-1", section: general),
            OptionSpec(
                "log-file", short: "l", argument: .required("FILE"),
                help:
                    "Log file; 'stderr' logs to standard error and 'none' disables logging. SIGHUP reopens the file. A file that cannot be opened is replaced by standard error, with a warning.",
                default: defaultLogFile, section: general),
            OptionSpec(
                "listen", short: "L", argument: .required("ADDRESS"),
                help: "Address to listen on, IPv4 or IPv6; repeat for several. Default: every address.",
                section: general),
            OptionSpec(
                "pid-file", short: "P", argument: .required("FILE"), help: "File to write the process ID to.",
                default: defaultPidFile, section: general),
            OptionSpec(
                "protocol", short: "r", argument: .required("NAME"),
                help:
                    "Load a protocol module; 'http' runs jobs over HTTP and serves /status, /metrics and /healthz on --http-port.",
                section: general),
            OptionSpec(
                "round-robin", short: "R",
                help: "Rotate each worker's functions after every assignment instead of taking the oldest job first.",
                section: general),
            OptionSpec(
                "queue-type", short: "q", argument: .required("NAME"),
                help: "Persistent queue for background jobs: builtin (memory only), libsqlite3, Postgres or logfile.",
                default: "builtin", section: general),
            OptionSpec(
                "config-file", argument: .required("FILE"),
                help: "File of whitespace-separated long options, read before the command line; '@FILE' does the same.",
                default: defaultConfigFile, section: general),
            OptionSpec("syslog", help: "Log to syslog.", section: general),
            OptionSpec("coredump", help: "Allow a core dump when the process crashes.", section: general),
            OptionSpec(
                "threads", short: "t", argument: .required("N"),
                help: "Number of I/O threads; 0 uses one per processor core.", default: "one per core", section: general
            ),
            OptionSpec(
                "user", short: "u", argument: .required("USER"), help: "Switch to this user after binding the ports.",
                section: general),
            OptionSpec(
                "verbose", argument: .required("LEVEL"),
                help: "Log level: FATAL, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFO or DEBUG.", default: "ERROR",
                section: general),
            OptionSpec("version", short: "V", help: "Print the version and exit.", section: general),
            OptionSpec(
                "worker-wakeup", short: "w", argument: .required("N"),
                help: "Sleeping workers woken per new job; 0 wakes every sleeping worker of the function.",
                default: "1",
                section: general),
            OptionSpec(
                "admin-shutdown",
                help: "Accept the admin command 'shutdown [graceful]'; off because any client could stop the server.",
                section: general),
            OptionSpec(
                "max-packet-size", argument: .required("BYTES"),
                help: "Largest packet body accepted; a larger one closes the connection with an ERROR.",
                default: "268435456", section: general),
            OptionSpec(
                "max-admin-line", argument: .required("BYTES"), help: "Maximum length of an admin command line.",
                default: "8192", section: general),
            OptionSpec(
                "busy-poll", argument: .required("MICROSECONDS"),
                help:
                    "Keep polling this long after a loop's last event before sleeping, unless another thread "
                    + "needs the core; 0 always sleeps at once.",
                default: "50, or 0 with one core", section: general),
            OptionSpec(
                "check-args", help: "Parse the options and config file, then exit.", section: general, hidden: true),
            OptionSpec(
                "http-port", argument: .required("PORT"),
                help: "Port of the HTTP protocol module (-r http); 0 picks a free port and logs it.", default: "8080",
                section: "HTTP"),
            OptionSpec(
                "http-idle-timeout", argument: .required("SECONDS"),
                help:
                    "Close an HTTP connection that has no request in flight after this long, or whose request head is incomplete this long after its first byte; 0 never closes it.",
                default: "60", section: "HTTP"),
            OptionSpec(
                "http-max-body-size", argument: .required("BYTES"),
                help: "Largest HTTP request body accepted (413 beyond); --max-packet-size caps it.",
                default: "67108864",
                section: "HTTP"),
            OptionSpec(
                "http-max-header-size", argument: .required("BYTES"),
                help: "Longest HTTP request line and header fields accepted together (431 beyond).", default: "16384",
                section: "HTTP"),
            OptionSpec(
                "port", short: "p", argument: .required("PORT"),
                help: "Port of the Gearman protocol; GEARMAND_PORT sets the default; 0 picks a free port and logs it.",
                default: "4730", section: "Gear"),
            OptionSpec("ssl", help: "Enable TLS (not available yet).", section: "Gear"),
            OptionSpec(
                "ssl-ca-file", argument: .required("FILE"), help: "CA file (not available yet).", section: "Gear"),
            OptionSpec(
                "ssl-certificate", argument: .required("FILE"), help: "Certificate (not available yet).",
                section: "Gear"),
            OptionSpec(
                "ssl-key", argument: .required("FILE"), help: "Certificate key (not available yet).", section: "Gear"),
        ]
        let queues = "Persistent queues"
        specs += [
            OptionSpec(
                "libsqlite3-db", argument: .required("FILE"),
                help: "SQLite database file of the libsqlite3 queue.", default: "gearmand.db in the working directory",
                section: queues),
            OptionSpec(
                "libsqlite3-table", argument: .required("TABLE"), help: "Table of the libsqlite3 queue.",
                default: "gearman_queue", section: queues),
            OptionSpec(
                "store-queue-on-shutdown",
                help: "libsqlite3: write the queue only when the server stops, trading crash safety for speed.",
                section: queues),
            OptionSpec(
                "libpq-conninfo", argument: .required("CONNINFO"),
                help: "PostgreSQL connection string of the Postgres queue, such as 'host=127.0.0.1 dbname=gearman'.",
                section: queues),
            OptionSpec(
                "libpq-table", argument: .required("TABLE"), help: "Table of the Postgres queue.", default: "queue",
                section: queues),
            OptionSpec(
                "logfile-path", argument: .required("FILE"),
                help: "Append-only log file of the logfile queue; required with -q logfile.",
                section: queues),
            OptionSpec(
                "logfile-fsync", argument: .required("POLICY"),
                help:
                    "When the logfile queue calls fsync: always (once per batch), never, or at most every N milliseconds (N > 0).",
                default: "always", section: queues),
        ]
        for name in unsupportedQueueOptionNames.sorted() {
            specs.append(
                OptionSpec(
                    name, argument: .required("VALUE"), help: "A queue backend this server does not have.",
                    section: queues, hidden: true))
        }
        return specs
    }()
}
