import GearmanKit
import GearmanTools

/// The parsed command line of `gearadmin`.
public struct GearadminOptions: Sendable, Equatable {
    public var host = "localhost"
    public var port = ServerAddress.defaultPort
    /// Admin commands to send, in the order their options were given.
    public var commands: [String] = []
    public var help = false
    /// The Nagios plugin mode and its thresholds.
    public var check = CheckOptions()

    public init() {}

    public var server: ServerAddress {
        get throws {
            try ServerAddress(
                parsing: host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host, defaultPort: port)
        }
    }

    public static let usage =
        "gearadmin [OPTIONS]\n       gearadmin            (a shell on a terminal, or commands read from standard input)"

    public static var helpText: String {
        CommandLineParser.help(usage: usage, specs: specs)
    }

    /// The admin command each action option sends; `%` stands for the option's value.
    static let actions: [String: String] = [
        "status": "status", "priority-status": "prioritystatus", "workers": "workers",
        "server-version": "version", "server-verbose": "verbose", "getpid": "getpid", "show-jobs": "show jobs",
        "show-unique-jobs": "show unique jobs", "cancel-job": "cancel job %", "create-function": "create function %",
        "drop-function": "drop function %",
    ]

    public static let specs: [OptionSpec] =
        [
            OptionSpec("help", help: "Print this help and exit."),
            OptionSpec("host", short: "h", argument: .required("HOST"), help: "Job server host.", default: "localhost"),
            OptionSpec("port", short: "p", argument: .required("PORT"), help: "Job server port.", default: "4730"),
            OptionSpec("server-version", help: "Print the server's version."),
            OptionSpec("server-verbose", help: "Print the server's log level."),
            OptionSpec("create-function", argument: .required("FUNCTION"), help: "Create a function with no jobs."),
            OptionSpec("cancel-job", argument: .required("HANDLE"), help: "Remove a queued job from the server."),
            OptionSpec(
                "drop-function", argument: .required("FUNCTION"),
                help: "Remove a function that has no workers and no jobs; cancelled jobs do not count."),
            OptionSpec("show-unique-jobs", help: "List the unique keys of all jobs."),
            OptionSpec("show-jobs", help: "List all jobs: handle, retries, ignored, persistent."),
            OptionSpec("getpid", help: "Print the server's process ID."),
            OptionSpec("status", help: "List functions: name, jobs, running, workers."),
            OptionSpec("priority-status", help: "List functions: name, queued high, normal and low, workers."),
            OptionSpec("workers", help: "List connections: fd, address, client ID and functions."),
            OptionSpec("ssl", short: "S", help: "Use TLS (not available yet)."),
        ] + CheckOptions.specs

    /// Parses a command line (without the program name).
    public static func parse(_ arguments: [String]) throws -> GearadminOptions {
        let result = try CommandLineParser.parse(arguments, specs: specs)
        if let operand = result.operands.first {
            throw CommandLineError("unexpected argument '\(operand)'")
        }
        var options = GearadminOptions()
        for option in result.options {
            if try options.check.apply(option) { continue }
            let value = option.value ?? ""
            switch option.name {
            case "help": options.help = true
            case "host": options.host = value
            case "port":
                guard let port = Int(value), (1...65535).contains(port) else {
                    throw CommandLineError("invalid port '\(value)' for --port: expected 1 to 65535")
                }
                options.port = port
            case "ssl": throw CommandLineError("--ssl: TLS is not available in this version")
            default:
                guard let template = actions[option.name] else {
                    throw CommandLineError("unknown option '--\(option.name)'")
                }
                options.commands.append(template.replacingPercent(with: value))
            }
        }
        try options.check.validate(commands: options.commands)
        return options
    }
}

extension String {
    fileprivate func replacingPercent(with value: String) -> String {
        split(separator: "%", omittingEmptySubsequences: false).joined(separator: value)
    }
}
