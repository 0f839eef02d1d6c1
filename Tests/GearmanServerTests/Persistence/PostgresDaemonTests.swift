import Foundation
import ProcessTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The built `gearmand --daemon -q Postgres` against a throwaway cluster. The other stores are
/// covered by the end-to-end daemon tests, which have no PostgreSQL cluster helper.
@Suite(
    .disabled(if: PostgresCluster.unavailableReason != nil, Comment(rawValue: PostgresCluster.unavailableReason ?? "")),
    .timeLimit(.minutes(1)))
struct PostgresDaemonTests {
    @Test func postgresDaemonStopsOnTerm() async throws {
        // A failed check leaves the cluster to PostgresCluster's deinit, which stops it.
        let cluster = try await PostgresCluster()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let log = directory.file("gearmand.log")
        let pidFile = directory.file("gearmand.pid")

        let daemon = try await DaemonLaunch.run(
            TestPaths.built("gearmand"),
            [
                "--daemon", "--listen", "127.0.0.1", "--port", "0", "--verbose", "INFO", "--log-file", log.path,
                "--pid-file", pidFile.path, "-q", "Postgres", "--libpq-conninfo", cluster.conninfo,
            ],
            in: directory.url, pidFile: pidFile)
        defer { daemon.stop() }

        #expect(daemon.result.termination == .exited(0), "\(daemon.result.transcript)\nlog:\n\(readText(log))")
        try #require(daemon.isRunning, "no running daemon; log:\n\(readText(log))")
        #expect(readText(log).contains("loaded 0 jobs from Postgres"), "log:\n\(readText(log))")

        daemon.signal(SIGTERM)
        let stopped = try await daemon.waitForExit()
        #expect(stopped, "the daemon still runs 10 s after SIGTERM; log:\n\(readText(log))")
        #expect(readText(log).contains("gearmand stopped"), "log:\n\(readText(log))")
        await cluster.stop()
    }
}
