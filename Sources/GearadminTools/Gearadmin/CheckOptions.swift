import GearmanKit

/// The settings of `gearadmin --check`, the Nagios plugin mode.
public struct CheckOptions: Sendable, Equatable {
    public var isEnabled = false
    /// The functions to check, or empty for all of them.
    public var functions: [String] = []
    public var thresholds = CheckThresholds()
    /// Seconds the whole check may take, from connecting to reading the last reply line.
    public var timeoutSeconds = 10
    /// The check options found on the command line, to reject them without `--check`.
    var givenOptions: [String] = []

    public init() {}

    static let section = "Nagios check (with --check)"
    static let rangeHelp = "RANGE is a Nagios range: N, N:, ~:N, N:M or @N:M."

    public static let specs: [OptionSpec] = [
        OptionSpec(
            "check",
            help: "Run as a Nagios plugin: query status once, print one line with performance data and exit 0 "
                + "(OK), 1 (WARNING), 2 (CRITICAL) or 3 (UNKNOWN, invalid options). A server that refuses the "
                + "connection or does not reply in time is CRITICAL, as check_tcp reports a closed port, because "
                + "a job server that is down is an outage.",
            section: section),
        OptionSpec(
            "function", argument: .required("FUNCTION"),
            help: "Check only this function. Repeat the option for several. A function the server does not list "
                + "counts as zero jobs and zero workers. (default: every function)",
            section: section),
        OptionSpec(
            "queue-warning", argument: .required("RANGE"),
            help: "WARNING when a checked function's queued jobs (total minus running) fall in RANGE. A plain "
                + "number N means more than N. \(rangeHelp)",
            section: section),
        OptionSpec(
            "queue-critical", argument: .required("RANGE"),
            help: "CRITICAL when a checked function's queued jobs fall in RANGE. A plain number N means more "
                + "than N.",
            section: section),
        OptionSpec(
            "workers-warning", argument: .required("RANGE"),
            help: "WARNING when a checked function's worker count falls in RANGE. A plain number N means fewer "
                + "than N.",
            section: section),
        OptionSpec(
            "workers-critical", argument: .required("RANGE"),
            help: "CRITICAL when a checked function's worker count falls in RANGE. A plain number N means fewer "
                + "than N.",
            section: section),
        OptionSpec(
            "total-queue-warning", argument: .required("RANGE"),
            help: "WARNING when the queued jobs of all checked functions together fall in RANGE. A plain number N "
                + "means more than N.",
            section: section),
        OptionSpec(
            "total-queue-critical", argument: .required("RANGE"),
            help: "CRITICAL when the queued jobs of all checked functions together fall in RANGE. A plain number "
                + "N means more than N.",
            section: section),
        OptionSpec(
            "total-workers-warning", argument: .required("RANGE"),
            help: "WARNING when the workers of all checked functions together fall in RANGE. A plain number N "
                + "means fewer than N.",
            section: section),
        OptionSpec(
            "total-workers-critical", argument: .required("RANGE"),
            help: "CRITICAL when the workers of all checked functions together fall in RANGE. A plain number N "
                + "means fewer than N.",
            section: section),
        OptionSpec(
            "timeout", argument: .required("SECONDS"),
            help: "CRITICAL when connecting and reading the status reply take longer than this many seconds.",
            default: "10", section: section),
    ]

    static let optionNames = Set(specs.map(\.long))

    /// Whether `arguments` ask for check mode, so that even a command line that does not parse
    /// gets an UNKNOWN status line instead of gearadmin's usage text.
    ///
    /// getopt_long accepts unique prefixes of long options, and `--ch` is the shortest prefix
    /// that no other gearadmin option shares.
    public static func isRequested(in arguments: [String]) -> Bool {
        for argument in arguments {
            if argument == "--" { return false }
            let name = argument.split(separator: "=", maxSplits: 1).first.map(String.init) ?? argument
            if name.count >= 4 && "--check".hasPrefix(name) { return true }
        }
        return false
    }

    /// Applies one parsed option if it is a check option.
    ///
    /// - Returns: false when the option belongs to the rest of gearadmin.
    /// - Throws: `CommandLineError` for an invalid value.
    mutating func apply(_ option: ParsedOption) throws -> Bool {
        guard Self.optionNames.contains(option.name) else { return false }
        givenOptions.append(option.name)
        let value = option.value ?? ""
        do {
            switch option.name {
            case "check": isEnabled = true
            case "function":
                guard !value.isEmpty else { throw CommandLineError("the function name is empty") }
                functions.append(value)
            case "queue-warning": thresholds.queueWarning = try NagiosRange(parsing: value)
            case "queue-critical": thresholds.queueCritical = try NagiosRange(parsing: value)
            case "workers-warning": thresholds.workersWarning = try NagiosRange(parsingMinimum: value)
            case "workers-critical": thresholds.workersCritical = try NagiosRange(parsingMinimum: value)
            case "total-queue-warning": thresholds.totalQueueWarning = try NagiosRange(parsing: value)
            case "total-queue-critical": thresholds.totalQueueCritical = try NagiosRange(parsing: value)
            case "total-workers-warning": thresholds.totalWorkersWarning = try NagiosRange(parsingMinimum: value)
            case "total-workers-critical": thresholds.totalWorkersCritical = try NagiosRange(parsingMinimum: value)
            case "timeout":
                // alarm(2) takes whole seconds as an unsigned 32-bit number.
                guard let seconds = Int(value), seconds >= 1, seconds <= Int(UInt32.max) else {
                    throw CommandLineError("invalid value '\(value)': expected a whole number of seconds, 1 or more")
                }
                timeoutSeconds = seconds
            default:
                return false
            }
        } catch let error as CommandLineError {
            throw CommandLineError("--\(option.name): \(error.message)")
        }
        return true
    }

    /// Rejects check options without `--check`, and `--check` together with admin commands.
    func validate(commands: [String]) throws {
        if !isEnabled, let first = givenOptions.first {
            throw CommandLineError("--\(first) applies only with --check")
        }
        if isEnabled, let command = commands.first {
            throw CommandLineError(
                "--check cannot be combined with an option that sends an admin command ('\(command)'), "
                    + "because --check sends status itself")
        }
    }
}
