import GearmanKit

/// The parsed command line of `gearman`, in client or worker mode.
public struct GearmanOptions: Sendable, Equatable {
    public var worker = false
    public var functions: [String] = []
    public var host = "localhost"
    public var port = ServerAddress.defaultPort
    /// The GEARMAN_SERVER list, which takes precedence over -h and -p as in the C tool.
    public var serverList: String? = nil
    public var background = false
    public var priority: JobPriority = .normal
    public var unique: String? = nil
    /// `-s`: send an empty workload without reading standard input.
    public var noInput = false
    /// `-n`: one job per input line in client mode, one WORK_DATA per output line in worker mode.
    public var lines = false
    /// `-N`: like `lines`, with the newline removed.
    public var stripNewline = false
    /// `-P`: prefix each output chunk with `<function>: `.
    public var prefix = false
    /// `-t`: milliseconds to wait for the server, or nil (from a negative value) to wait forever.
    public var timeout: Int? = nil
    /// `-c`: jobs a worker runs before it exits; 0 runs forever.
    public var count = 0
    /// `-j`: jobs a worker runs at once.
    public var parallel = 1
    public var verbose = false
    public var pidFile: String? = nil
    public var daemon = false
    public var help = false
    /// Client mode: workloads given as arguments. Worker mode: the command and its arguments.
    public var operands: [String] = []

    public init() {}

    /// The servers to use: GEARMAN_SERVER when set, else `-h` and `-p`.
    public func servers() throws -> [ServerAddress] {
        if let serverList, !serverList.isEmpty {
            return try ServerAddress.parseList(serverList)
        }
        return [
            try ServerAddress(
                parsing: host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host, defaultPort: port)
        ]
    }

    public static let usage = "gearman [OPTIONS] [DATA ...]\n       gearman -w [OPTIONS] [-- COMMAND [ARGUMENTS ...]]"

    public static var helpText: String {
        CommandLineParser.help(usage: usage, specs: specs)
    }

    public static let specs: [OptionSpec] = {
        let common = "Options of both modes"
        let client = "Client mode"
        let worker = "Worker mode"
        return [
            OptionSpec(
                "function", short: "f", argument: .required("FUNCTION"),
                help: "Function to run jobs for; repeat for several. A client sends every workload to each.",
                section: common),
            OptionSpec(
                "host", short: "h", argument: .required("HOST"), help: "Job server host.", default: "localhost",
                section: common),
            OptionSpec(
                "port", short: "p", argument: .required("PORT"), help: "Job server port.", default: "4730",
                section: common),
            OptionSpec(
                "timeout", short: "t", argument: .required("MILLISECONDS"),
                help: "Fail when the server does not respond within this time. -1 waits forever.", section: common),
            OptionSpec(
                "pid-file", short: "i", argument: .required("FILE"), help: "Write the process ID to this file.",
                section: common),
            OptionSpec(
                "verbose", short: "v", help: "Client: print 'Task created: HANDLE' for every job.", section: common),
            OptionSpec("ssl", short: "S", help: "Use TLS (not available yet).", section: common),
            OptionSpec("help", short: "H", help: "Print this help and exit.", section: common),
            OptionSpec("daemon", short: "d", help: "Detach and run in the background.", section: common),
            OptionSpec("background", short: "b", help: "Submit background jobs and print nothing.", section: client),
            OptionSpec("high", short: "I", help: "Submit at high priority.", section: client),
            OptionSpec("low", short: "L", help: "Submit at low priority.", section: client),
            OptionSpec(
                "lines", short: "n",
                help: "Client: one job per input line. Worker: send each output line as it arrives.", section: client),
            OptionSpec("strip-newline", short: "N", help: "Like -n, with the newline removed.", section: client),
            OptionSpec("prefix", short: "P", help: "Prefix each piece of output with 'FUNCTION: '.", section: client),
            OptionSpec(
                "no-input", short: "s", help: "Send one empty workload without reading standard input.",
                section: client),
            OptionSpec(
                "unique", short: "u", argument: .required("KEY"),
                help: "Unique key of the jobs; jobs with the same key and function run once.", section: client),
            OptionSpec("worker", short: "w", help: "Run as a worker.", section: worker),
            OptionSpec(
                "count", short: "c", argument: .required("N"), help: "Exit after N jobs; 0 runs forever.",
                default: "0", section: worker),
            OptionSpec(
                "jobs", short: "j", argument: .required("N"), help: "Run up to N jobs at once.", default: "1",
                section: worker),
        ]
    }()

    /// Parses a command line (without the program name).
    public static func parse(_ arguments: [String], environment: [String: String] = [:]) throws -> GearmanOptions {
        let result = try CommandLineParser.parse(arguments, specs: specs, stopAtFirstOperand: false)
        var options = GearmanOptions()
        options.serverList = environment["GEARMAN_SERVER"]
        options.operands = result.operands
        for option in result.options {
            let value = option.value ?? ""
            switch option.name {
            case "function": options.functions.append(value)
            case "host": options.host = value
            case "port":
                guard let port = Int(value), (1...65535).contains(port) else {
                    throw CommandLineError("invalid port '\(value)' for -p: expected 1 to 65535")
                }
                options.port = port
            case "timeout":
                guard let timeout = Int(value) else {
                    throw CommandLineError("invalid timeout '\(value)' for -t: expected milliseconds, or -1 for none")
                }
                // As in the C tool 1.1.20 (observed with -1, -2 and -100), any negative value waits forever.
                options.timeout = timeout < 0 ? nil : timeout
            case "pid-file": options.pidFile = value
            case "verbose": options.verbose = true
            case "ssl": throw CommandLineError("-S: TLS is not available in this version")
            case "help": options.help = true
            case "daemon": options.daemon = true
            case "background": options.background = true
            case "high": options.priority = .high
            case "low": options.priority = .low
            case "lines": options.lines = true
            case "strip-newline":
                options.lines = true
                options.stripNewline = true
            case "prefix": options.prefix = true
            case "no-input": options.noInput = true
            case "unique": options.unique = value
            case "worker": options.worker = true
            case "count":
                guard let count = Int(value), count >= 0 else {
                    throw CommandLineError("invalid count '\(value)' for -c: expected 0 or more")
                }
                options.count = count
            case "jobs":
                guard let jobs = Int(value), jobs >= 1 else {
                    throw CommandLineError("invalid value '\(value)' for -j: expected 1 or more")
                }
                options.parallel = jobs
            default:
                throw CommandLineError("unknown option '--\(option.name)'")
            }
        }
        if !options.help && options.functions.isEmpty {
            throw CommandLineError("no function given: use -f FUNCTION")
        }
        return options
    }
}
