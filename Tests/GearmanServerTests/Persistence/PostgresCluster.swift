import Foundation
import ProcessTestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// A throwaway PostgreSQL cluster in a temporary folder, listening on 127.0.0.1 and a Unix
/// socket in that folder only, on a free port.
///
/// As root, the cluster runs as the `postgres` user through `runuser`, because PostgreSQL
/// refuses to run as root.
final class PostgresCluster: Sendable {
    let folder: String
    let port: Int
    private let binaries: String
    private let runAsPostgres: Bool

    /// The folder of `initdb` and `pg_ctl`, or nil when PostgreSQL's server is not installed.
    static let binaryFolder: String? = {
        var candidates: [String] = []
        if let versions = try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql") {
            for version in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) {
                candidates.append("/usr/lib/postgresql/\(version)/bin")
            }
        }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            candidates.append(String(directory))
        }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0 + "/initdb") }
    }()

    /// Why the tests cannot start a cluster here, or nil when they can.
    static let unavailableReason: String? = {
        guard binaryFolder != nil else {
            return "initdb not found in /usr/lib/postgresql/*/bin or PATH; install the postgresql package"
        }
        if geteuid() == 0 && getpwnam("postgres") == nil {
            return "running as root, and there is no postgres user to run the cluster as"
        }
        return nil
    }()

    /// The libpq connection string of the cluster's `postgres` database.
    var conninfo: String {
        "host=127.0.0.1 port=\(port) user=postgres dbname=postgres connect_timeout=30"
    }

    /// Creates the cluster with initdb and starts it; takes about two seconds.
    init() async throws {
        guard let binaries = Self.binaryFolder else { throw TestSetupError("initdb not found") }
        self.binaries = binaries
        runAsPostgres = geteuid() == 0
        folder = try Self.makeFolder()
        port = try freeLoopbackPort()
        if runAsPostgres, let user = getpwnam("postgres") {
            guard chown(folder, user.pointee.pw_uid, user.pointee.pw_gid) == 0 else {
                throw TestSetupError("chown \(folder) to postgres failed")
            }
        }
        try await run("initdb", ["-D", folder + "/data", "-A", "trust", "-U", "postgres", "--no-sync"])
        try await start()
    }

    /// Stops a server still running, as after a test that failed before `stop()`, and removes
    /// the folder. Both happen on a new thread, because the wait for the server's end would
    /// otherwise block a thread of the cooperative pool.
    deinit {
        let pid = serverPID()
        let folder = folder
        Thread.detachNewThread {
            if let pid { Self.shutDown(pid) }
            try? FileManager.default.removeItem(atPath: folder)
        }
    }

    func start() async throws {
        try await run(
            "pg_ctl",
            [
                "-D", folder + "/data", "-l", folder + "/server.log", "-w", "-t", "20", "-o",
                "-c listen_addresses=127.0.0.1 -p \(port) -k \(folder) -c fsync=off", "start",
            ])
    }

    /// Stops the server with a fast shutdown, waiting at most 10 s before it kills the process.
    func stop() async {
        guard let pid = serverPID() else { return }
        _ = try? await runOnDedicatedThread { Self.shutDown(pid) }
    }

    /// Restarts the server, which ends every open connection.
    func restart() async throws {
        await stop()
        try await start()
    }

    /// Returns the server's PID from postmaster.pid, or nil when the server is not running.
    private func serverPID() -> pid_t? {
        guard let contents = try? String(contentsOfFile: folder + "/data/postmaster.pid", encoding: .utf8),
            let firstLine = contents.split(separator: "\n").first
        else { return nil }
        return pid_t(firstLine)
    }

    /// Sends SIGINT, which requests a fast shutdown, and blocks until `pid` ends, or sends
    /// SIGKILL after 10 s.
    private static func shutDown(_ pid: pid_t) {
        kill(pid, SIGINT)
        for _ in 0..<200 {
            if kill(pid, 0) != 0 { return }
            usleep(50_000)
        }
        kill(pid, SIGKILL)
    }

    /// Runs a PostgreSQL program to its end, at most 30 s, with its standard output and error in
    /// one file of the folder.
    private func run(_ program: String, _ arguments: [String]) async throws {
        let output = URL(fileURLWithPath: folder + "/\(program).out")
        var executable = binaries + "/" + program
        var fullArguments = arguments
        if runAsPostgres {
            fullArguments = ["-u", "postgres", "--", executable] + arguments
            executable = "/usr/sbin/runuser"
        }
        let child = try ChildProcess(
            executable: executable, arguments: fullArguments, standardOutput: output, standardError: output)
        let termination = try await child.waitForExit(timeout: .seconds(30))
        guard termination != .running else {
            child.stop(signal: SIGKILL)
            throw TestSetupError("\(program) timed out after 30 s; see \(output.path)")
        }
        guard termination == .exited(0) else {
            throw TestSetupError("\(program) failed (\(termination)): \(readText(output))")
        }
    }

    private static func makeFolder() throws -> String {
        var template = Array("/tmp/gearmankit-pg-XXXXXX".utf8CString)
        guard let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw TestSetupError("mkdtemp failed")
        }
        return String(cString: created)
    }
}
