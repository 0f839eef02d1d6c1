import Foundation
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

    @Test(
        "invalid store options fail the parse",
        arguments: [
            (
                ["-q", "logfile", "--logfile-path=/tmp/z.log", "--logfile-fsync=abc"],
                "--logfile-fsync: invalid value 'abc'"
            ),
            (
                ["-q", "logfile", "--logfile-path=/tmp/z.log", "--logfile-fsync=-5"],
                "--logfile-fsync: invalid value '-5'"
            ),
            (
                ["-q", "logfile", "--logfile-path=/tmp/z.log", "--logfile-fsync=0"],
                "--logfile-fsync: invalid value '0'"
            ),
            (["-q", "logfile"], "--logfile-path: missing"),
            (["-q", "logfile", "--logfile-path="], "--logfile-path: missing"),
            (["-q", "libsqlite3", "--libsqlite3-table=bad-name"], "--libsqlite3-table: invalid table name 'bad-name'"),
            (
                ["-q", "libsqlite3", "--store-queue-on-shutdown=maybe"],
                "option '--store-queue-on-shutdown' does not take a value"
            ),
            (["-q", "Postgres", "--libpq-table=1jobs"], "--libpq-table: invalid table name '1jobs'"),
            (["-q", "Postgres", "--libpq-conninfo=host"], "--libpq-conninfo: invalid connection string"),
            // A bad value is a mistake even when another store is selected.
            (["--logfile-fsync=abc"], "--logfile-fsync: invalid value 'abc'"),
        ])
    func invalidStoreOptions(_ arguments: [String], expectedPrefix: String) {
        for extra in [[], ["--check-args"]] {
            let error = #expect(throws: CommandLineError.self) { try GearmandOptions.parse(arguments + extra) }
            let message = error?.message ?? ""
            #expect(message.hasPrefix(expectedPrefix), "\(arguments + extra): \(message)")
        }
    }

    @Test("valid store options pass --check-args without opening the store")
    func validStoreOptions() throws {
        let folder = TemporaryFolder()
        let path = folder.file("z.log")
        let options = try GearmandOptions.parse([
            "--check-args", "-q", "logfile", "--logfile-path=\(path)", "--logfile-fsync=100",
            "--libpq-conninfo=host=127.0.0.1 dbname=gearman", "--libpq-table=jobs",
        ])

        #expect(options.action == .checkArguments)
        #expect(!fileExists(path))
    }

    @Test("--check-args exits 1 for an invalid store option")
    func checkArgumentsExitStatus() {
        let status = Gearmand.main(
            arguments: ["--check-args", "-q", "logfile", "--logfile-path=/tmp/z.log", "--logfile-fsync=abc"],
            environment: [:])

        #expect(status == 1)
    }

    @Test("config comment anywhere on a line")
    func configFileComments() {
        let words = GearmandOptions.configFileWords("# first\n--port=1 --threads=2 # note --verbose=info\n\t-j 3\r\n")
        #expect(words.map(\.text) == ["--port=1", "--threads=2", "-j", "3"])
        #expect(words.map(\.line) == [2, 2, 3, 3])
    }

    @Test("config file with CR LF line ends")
    func configFileWindowsLineEnds() {
        let words = GearmandOptions.configFileWords("# queue settings\r\n--port=5\r\n--threads=2\r\n")
        #expect(words.map(\.text) == ["--port=5", "--threads=2"])
        #expect(words.map(\.line) == [2, 3])
    }

    @Test("stray config words give warnings")
    func configFileStrayWords() throws {
        let words = GearmandOptions.configFileWords("--port 4731 port=4732\n\nworkers --threads=3\n")
        var warnings: [String] = []
        let options = try GearmandOptions.parseConfigFile("/etc/g.conf", words: words, warnings: &warnings)
        #expect(options.map(\.name) == ["port", "threads"])
        #expect(options.map(\.value) == ["4731", "3"])
        #expect(
            warnings == [
                "config file '/etc/g.conf', line 1: ignoring 'port=4732', which is not an option (options start with --)",
                "config file '/etc/g.conf', line 3: ignoring 'workers', which is not an option (options start with --)",
            ])
    }

    @Test("command line replaces a config file's values")
    func commandLineReplacesConfigValues() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gearmand-\(getpid())-listen.conf")
            .path
        try "--listen=127.0.0.1\n--listen=127.0.0.2 --port=4731 --threads=3\n".write(
            toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }

        let replaced = try GearmandOptions.parse([
            "--config-file=\(path)", "--listen=::1", "-L", "localhost", "-t", "2",
        ])
        #expect(replaced.server.listenAddresses == ["::1", "localhost"])
        #expect(replaced.server.threads == 2)
        #expect(replaced.server.port == 4731)

        let fromFile = try GearmandOptions.parse(["--config-file=\(path)"])
        #expect(fromFile.server.listenAddresses == ["127.0.0.1", "127.0.0.2"])
        #expect(fromFile.server.threads == 3)
    }

    @Test("unknown config option names the file")
    func configFileUnknownOption() {
        var warnings: [String] = []
        #expect(throws: CommandLineError("config file 'g.conf': unknown option '--bogus'")) {
            try GearmandOptions.parseConfigFile(
                "g.conf", words: GearmandOptions.configFileWords("--bogus=1\n"), warnings: &warnings)
        }
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
