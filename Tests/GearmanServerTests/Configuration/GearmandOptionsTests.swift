import GearmanKit
import Testing

@testable import GearmanServer

@Suite("gearmand options")
struct GearmandOptionsTests {
    @Test("queue options reach the server configuration")
    func queueOptions() throws {
        let options = try GearmandOptions.parse([
            "-q", "Postgres", "--libpq-conninfo", "host=127.0.0.1", "--libpq-table", "jobs",
        ])
        #expect(options.server.queueType == "Postgres")
        #expect(options.server.queueOptions == ["libpq-conninfo": "host=127.0.0.1", "libpq-table": "jobs"])
    }

    @Test("libsqlite3 without a database uses gearmand.db in the working directory")
    func sqliteDefaultPath() throws {
        let options = try GearmandOptions.parse(["-q", "libsqlite3"])
        #expect(options.server.queueOptions["libsqlite3-db"] == "gearmand.db")
    }

    @Test("unknown queue types and other backends' options are rejected")
    func unsupportedQueues() {
        #expect(throws: CommandLineError.self) { try GearmandOptions.parse(["-q", "redis"]) }
        #expect(throws: CommandLineError.self) { try GearmandOptions.parse(["--mysql-host", "localhost"]) }
    }

    @Test("clustered short options and --opt=value parse as in GNU tools")
    func gnuParsing() throws {
        let options = try GearmandOptions.parse(["-Rt2", "--port=0", "-j", "3", "--verbose=info"])
        #expect(options.server.roundRobin)
        #expect(options.server.threads == 2)
        #expect(options.server.port == 0)
        #expect(options.server.jobRetries == 3)
        #expect(options.logLevel == .info)
    }

    @Test("--busy-poll sets the polling time, and 0 turns polling off")
    func busyPoll() throws {
        #expect(try GearmandOptions.parse(["--busy-poll=200"]).server.busyPollMicroseconds == 200)
        #expect(try GearmandOptions.parse(["--busy-poll", "0"]).server.busyPollMicroseconds == 0)
        let expected = ServerConfiguration.defaultThreads > 1 ? 50 : 0
        #expect(try GearmandOptions.parse([]).server.busyPollMicroseconds == expected)
    }

    @Test(
        "bad values name the option",
        arguments: [["-t", "x"], ["--port", "70000"], ["--verbose", "LOUD"], ["--bogus"], ["--busy-poll", "-1"]])
    func badValues(arguments: [String]) {
        #expect(throws: CommandLineError.self) { try GearmandOptions.parse(arguments) }
    }
}
