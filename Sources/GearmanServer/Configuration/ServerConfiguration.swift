import GearmanKit

/// Everything that shapes how a `GearmanServer` listens and schedules jobs.
///
/// `gearmand` fills it from its command line; an application or a test that embeds the server
/// builds one directly.
public struct ServerConfiguration: Sendable, Equatable {
    /// The TCP port of the Gearman protocol; 0 binds an ephemeral port.
    public var port: Int = 4730
    /// Addresses to bind; empty means every IPv4 and IPv6 address.
    public var listenAddresses: [String] = []
    /// The number of I/O event loops.
    public var threads: Int = ServerConfiguration.defaultThreads
    /// The listen(2) backlog.
    public var backlog: Int = 32
    /// Attempts after which a job whose workers keep failing is dropped; 0 means unlimited.
    public var jobRetries: Int = 0
    /// Sleeping workers woken per new job; 0 wakes every sleeping worker of the function.
    public var workerWakeup: Int = 1
    /// Rotate a worker's functions after each assignment instead of taking the oldest job.
    public var roundRobin = false
    /// The part of job handles before `:<number>`; nil means `H:<host name>`.
    public var jobHandlePrefix: String? = nil
    /// Send WORK_EXCEPTION to every client, as if each had sent OPTION_REQ `exceptions`.
    public var exceptions = false
    /// Set by --keepalive, which changes nothing: SO_KEEPALIVE is always on, and the three
    /// keepalive settings apply whenever they are set, as in gearmand 1.1.20.
    public var keepalive = false
    /// TCP_KEEPIDLE in seconds, or nil for the system default.
    public var keepaliveIdle: Int? = nil
    /// TCP_KEEPINTVL in seconds, or nil for the system default.
    public var keepaliveInterval: Int? = nil
    /// TCP_KEEPCNT, or nil for the system default.
    public var keepaliveCount: Int? = nil
    /// The largest packet body accepted, in bytes.
    public var maximumPacketSize: Int = 256 << 20
    /// The longest admin command line accepted, in bytes.
    public var maximumAdminLineLength: Int = 8192
    /// The time in microseconds an event loop keeps polling without sleeping after its last
    /// event, or 0 to never poll.
    ///
    /// A loop that sleeps in the kernel between two packets of a busy connection pays a thread
    /// wake-up each time, which on virtual machines costs more than the work itself. Polling
    /// briefly after activity keeps request-reply chains (a worker taking one job after
    /// another) fast, and an idle server still sleeps. One processor core leaves nothing to
    /// poll on, so the default is 0 there. A loop also stops polling when a yield between two
    /// polls ran another thread, because the core is then needed elsewhere.
    public var busyPollMicroseconds: Int = ServerConfiguration.defaultBusyPoll
    /// Accept the admin `shutdown [graceful]` command.
    public var enableAdminShutdown = false
    /// The persistent queue (`-q`): `builtin` keeps jobs in memory only.
    public var queueType: String = "builtin"
    /// Settings of the persistent queue by option name without dashes, such as `libsqlite3-db`.
    public var queueOptions: [String: String] = [:]
    /// Serve the HTTP protocol module (`--protocol=http`): job submission and the `/status`,
    /// `/metrics` and `/healthz` endpoints on `httpPort`.
    public var isHTTPEnabled = false
    /// The TCP port of the HTTP module; 0 binds an ephemeral port.
    public var httpPort: Int = 8080
    /// Seconds after which an HTTP connection without a request in flight is closed; 0 keeps
    /// idle connections open.
    public var httpIdleTimeout: Int = 60
    /// The largest HTTP request body accepted, in bytes, before the `maximumPacketSize` cap.
    public var httpMaximumBodySize: Int = 64 << 20
    /// The longest HTTP request line and header fields accepted together, in bytes.
    public var httpMaximumHeaderSize: Int = 16 << 10
    /// The version reported by the admin `version` command.
    public var version: String = GearmanServer.version

    /// Creates a configuration with gearmand's defaults.
    public init() {}

    /// The HTTP body limit in force: `httpMaximumBodySize`, capped at `maximumPacketSize`, so an
    /// HTTP client cannot submit a workload that a Gearman client could not.
    public var effectiveHTTPBodyLimit: Int {
        min(httpMaximumBodySize, maximumPacketSize)
    }

    /// 50 microseconds with two or more processor cores, 0 with one.
    public static var defaultBusyPoll: Int {
        defaultThreads > 1 ? 50 : 0
    }

    /// The number of processor cores, the default for `threads`.
    public static var defaultThreads: Int {
        let cores = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        return cores > 0 ? cores : 1
    }
}

#if canImport(Glibc)
    import Glibc
#endif
