import GearmanKit

#if canImport(Glibc)
    import Glibc
#endif

/// The parsed command line of `gearmand`: the server configuration plus the process settings
/// (daemon mode, pid file, log destination, user) that only the executable uses.
public struct GearmandOptions: Sendable, Equatable {
    /// The action the command line requests besides running the server.
    public enum Action: Sendable, Equatable {
        case run
        case help
        case version
        /// `--check-args`: the options parsed; exit 0 without starting.
        case checkArguments
    }

    public var action: Action = .run
    public var server = ServerConfiguration()
    public var daemon = false
    /// The pid file path; nil writes none.
    public var pidFile: String? = GearmandOptions.defaultPidFile
    /// `stderr`, `none` or a file path, as `--log-file` takes it.
    public var logFile: String = GearmandOptions.defaultLogFile
    public var logLevel: LogLevel = .error
    public var syslog = false
    public var user: String? = nil
    public var fileDescriptors: Int? = nil
    public var coreDump = false
    /// Problems in config files that did not stop the parse, such as ignored words, for the
    /// program to print before it starts.
    public var warnings: [String] = []

    public static let defaultLogFile = "/var/log/gearmand.log"
    public static let defaultPidFile = "/var/gearmand.pid"
    public static let defaultConfigFile = "/etc/gearmand.conf"

    public init() {}

    /// The usage line shown at the top of the help text.
    public static let usage = "gearmand [OPTIONS]"

    /// The help text generated from `GearmandOptions.specs`.
    public static var helpText: String {
        CommandLineParser.help(usage: usage, specs: specs)
    }
}

extension GearmandOptions {
    /// Parses a command line (without the program name).
    ///
    /// Options come from the config file first (`/etc/gearmand.conf` when it exists, or the file
    /// named by `--config-file` or an `@FILE` argument), then from the command line, so the
    /// command line wins. An option on the command line replaces all of that option's
    /// occurrences in the files, as in gearmand 1.1.20, so a repeatable one such as `--listen`
    /// does not add to the file's values.
    ///
    /// - Throws: `CommandLineError` with a message naming the option and the problem, also for
    ///   a persistent queue option with an invalid value or a required one that is missing.
    public static func parse(_ arguments: [String], environment: [String: String] = [:]) throws -> GearmandOptions {
        var commandLine: [String] = []
        var configFiles: [String] = []
        for argument in arguments {
            if argument.hasPrefix("@") && argument.count > 1 {
                configFiles.append(String(argument.dropFirst()))
            } else {
                commandLine.append(argument)
            }
        }
        let first = try CommandLineParser.parse(commandLine, specs: specs)
        if let operand = first.operands.first {
            throw CommandLineError("unexpected argument '\(operand)'")
        }
        for option in first.options where option.name == "config-file" {
            configFiles.append(option.value ?? "")
        }
        var fileOptions: [ParsedOption] = []
        var warnings: [String] = []
        if configFiles.isEmpty {
            // A missing or unreadable default file is not an error, as with the C gearmand.
            if let words = try? readConfigFile(defaultConfigFile) {
                fileOptions = try parseConfigFile(defaultConfigFile, words: words, warnings: &warnings)
            }
        } else {
            for path in configFiles {
                fileOptions += try parseConfigFile(path, words: try readConfigFile(path), warnings: &warnings)
            }
        }
        let commandLineNames = Set(first.options.map(\.name))
        fileOptions.removeAll { commandLineNames.contains($0.name) }
        var result = first
        result.options = fileOptions + first.options
        var options = GearmandOptions()
        options.warnings = warnings
        if let port = environment["GEARMAND_PORT"], !port.isEmpty {
            options.server.port = try portNumber(port, option: "GEARMAND_PORT")
        }
        for option in result.options {
            try options.apply(option)
        }
        // The C gearmand refuses to start without a database path; a file in the working
        // directory lets `gearmand -q libsqlite3` work as it is.
        if options.server.queueType.lowercased() == "libsqlite3"
            && (options.server.queueOptions["libsqlite3-db"] ?? "").isEmpty
        {
            options.server.queueOptions["libsqlite3-db"] = QueueStores.defaultSQLitePath
        }
        // Checked here, not when the store opens, so --check-args rejects what would stop the start.
        do {
            try QueueStores.validate(type: options.server.queueType, options: options.server.queueOptions)
        } catch {
            throw CommandLineError(error.description)
        }
        return options
    }

    /// A word of a config file and the line it is on, for messages.
    struct ConfigFileWord: Equatable {
        let text: String
        let line: Int
    }

    /// Reads a config file of options separated by whitespace. A word that starts with `#`
    /// starts a comment, which runs to the end of its line.
    static func readConfigFile(_ path: String) throws -> [ConfigFileWord] {
        guard let file = fopen(path, "r") else {
            throw CommandLineError("cannot read config file '\(path)': \(SystemError.current("fopen").message)")
        }
        defer { fclose(file) }
        var text: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            text.append(contentsOf: buffer[0..<count])
        }
        return configFileWords(String(decoding: text, as: UTF8.self))
    }

    /// Splits config file text into words, without comments.
    static func configFileWords(_ text: String) -> [ConfigFileWord] {
        var words: [ConfigFileWord] = []
        // Character.isNewline also matches "\r\n", which Swift reads as a single Character, so
        // a file with Windows line ends splits into lines as well.
        for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            for word in line.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
                if word.hasPrefix("#") { break }
                words.append(ConfigFileWord(text: String(word), line: index + 1))
            }
        }
        return words
    }

    /// Parses the words of one config file. Words that are neither options nor option values
    /// are ignored with a warning, because the C gearmand 1.1.20 starts with such a file.
    ///
    /// - Throws: `CommandLineError` naming the file, for an unknown option or a bad value.
    static func parseConfigFile(
        _ path: String, words: [ConfigFileWord], warnings: inout [String]
    ) throws -> [ParsedOption] {
        let parsed: CommandLineParser.Result
        do {
            parsed = try CommandLineParser.parse(words.map(\.text), specs: specs)
        } catch let error as CommandLineError {
            throw CommandLineError("config file '\(path)': \(error.message)")
        }
        var searchFrom = 0
        for operand in parsed.operands {
            // Operands keep their order, so each is found after the previous one.
            let position = words[searchFrom...].firstIndex { $0.text == operand } ?? searchFrom
            searchFrom = min(position + 1, words.count)
            let line = position < words.count ? words[position].line : 0
            warnings.append(
                "config file '\(path)', line \(line): ignoring '\(operand)', which is not an option (options start with --)"
            )
        }
        return parsed.options
    }

    private mutating func apply(_ option: ParsedOption) throws {
        let value = option.value ?? ""
        let name = option.name
        switch name {
        case "help": action = .help
        case "version": action = .version
        case "check-args": if action == .run { action = .checkArguments }
        case "backlog": server.backlog = try Self.integer(value, option: name, minimum: 1)
        case "daemon": daemon = true
        case "exceptions": server.exceptions = true
        case "file-descriptors": fileDescriptors = try Self.integer(value, option: name, minimum: 1)
        case "job-retries": server.jobRetries = try Self.integer(value, option: name, minimum: 0)
        case "job-handle-prefix":
            guard !value.isEmpty, value.utf8.count <= 40 else {
                throw CommandLineError(
                    "invalid value '\(value)' for --job-handle-prefix: use 1 to 40 bytes, so handles stay under 64 bytes"
                )
            }
            server.jobHandlePrefix = value
        case "hashtable-buckets": _ = try Self.integer(value, option: name, minimum: 1)
        case "keepalive": server.keepalive = true
        case "keepalive-idle": server.keepaliveIdle = try Self.optionalSeconds(value, option: name)
        case "keepalive-interval": server.keepaliveInterval = try Self.optionalSeconds(value, option: name)
        case "keepalive-count": server.keepaliveCount = try Self.optionalSeconds(value, option: name)
        case "log-file": logFile = value
        case "listen": server.listenAddresses.append(value)
        case "pid-file": pidFile = value.isEmpty ? nil : value
        case "round-robin": server.roundRobin = true
        case "syslog": syslog = true
        case "coredump": coreDump = true
        case "threads":
            let threads = try Self.integer(value, option: name, minimum: 0)
            server.threads = threads == 0 ? ServerConfiguration.defaultThreads : threads
        case "user": user = value
        case "verbose":
            guard let level = LogLevel(name: value) else {
                let names = LogLevel.allCases.map(\.name).joined(separator: ", ")
                throw CommandLineError("invalid value '\(value)' for --verbose: use one of \(names)")
            }
            logLevel = level
        case "worker-wakeup": server.workerWakeup = try Self.integer(value, option: name, minimum: 0)
        case "port": server.port = try Self.portNumber(value, option: "--port")
        case "http-port": server.httpPort = try Self.portNumber(value, option: "--http-port")
        case "http-idle-timeout": server.httpIdleTimeout = try Self.integer(value, option: name, minimum: 0)
        case "http-max-body-size": server.httpMaximumBodySize = try Self.integer(value, option: name, minimum: 0)
        case "http-max-header-size": server.httpMaximumHeaderSize = try Self.integer(value, option: name, minimum: 1024)
        case "admin-shutdown": server.enableAdminShutdown = true
        case "max-packet-size": server.maximumPacketSize = try Self.integer(value, option: name, minimum: 1024)
        case "max-admin-line": server.maximumAdminLineLength = try Self.integer(value, option: name, minimum: 64)
        case "busy-poll": server.busyPollMicroseconds = try Self.integer(value, option: name, minimum: 0)
        case "config-file": break
        case "queue-type":
            let known = ["builtin", "libsqlite3", "postgres", "libpq", "logfile"]
            guard known.contains(value.lowercased()) else {
                throw CommandLineError(
                    "unknown queue type '\(value)' for -q: use builtin, libsqlite3, Postgres or logfile")
            }
            server.queueType = value
        case "protocol":
            guard value.lowercased() == "http" else {
                throw CommandLineError(
                    "unknown protocol '\(value)' for --protocol: the only module is http; the Gearman protocol is always on"
                )
            }
            server.isHTTPEnabled = true
        case "ssl", "ssl-ca-file", "ssl-certificate", "ssl-key":
            throw CommandLineError("--\(name): TLS is not available in this version")
        default:
            if Self.queueOptionNames.contains(name) {
                server.queueOptions[name] = option.value ?? ""
                return
            }
            if Self.unsupportedQueueOptionNames.contains(name) {
                throw CommandLineError(
                    "--\(name) belongs to a queue backend this server does not have; use -q libsqlite3, Postgres or logfile"
                )
            }
            throw CommandLineError("unknown option '--\(name)'")
        }
    }

    static func integer(_ text: String, option: String, minimum: Int) throws -> Int {
        guard let value = Int(text), value >= minimum else {
            throw CommandLineError(
                "invalid value '\(text)' for --\(option): expected a whole number of at least \(minimum)")
        }
        return value
    }

    /// Parses a keepalive setting, where -1 (gearmand's default) means the system default.
    static func optionalSeconds(_ text: String, option: String) throws -> Int? {
        if text == "-1" { return nil }
        return try integer(text, option: option, minimum: 1)
    }

    static func portNumber(_ text: String, option: String) throws -> Int {
        guard let value = Int(text), value >= 0, value <= 65535 else {
            throw CommandLineError("invalid port '\(text)' for \(option): expected 0 to 65535")
        }
        return value
    }
}
