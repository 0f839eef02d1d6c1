import GearmanKit

/// The state a Nagios plugin reports. Its raw value is the exit status.
public enum CheckStatus: Int32, Sendable, Comparable {
    case ok = 0
    case warning = 1
    case critical = 2
    case unknown = 3

    /// The word of the status line: `OK`, `WARNING`, `CRITICAL` or `UNKNOWN`.
    public var name: String {
        switch self {
        case .ok: return "OK"
        case .warning: return "WARNING"
        case .critical: return "CRITICAL"
        case .unknown: return "UNKNOWN"
        }
    }

    public static func < (lhs: CheckStatus, rhs: CheckStatus) -> Bool {
        lhs.rawValue < rhs.rawValue
    }
}

/// One performance data value in the format of the Nagios plugin guidelines:
/// `'label'=value;warning;critical;minimum;maximum`, with empty fields for missing parts.
public struct PerformanceValue: Sendable, Equatable, CustomStringConvertible {
    public var label: String
    public var value: Int
    public var warning: NagiosRange?
    public var critical: NagiosRange?
    public var minimum: Int?
    public var maximum: Int?

    public init(
        label: String, value: Int, warning: NagiosRange? = nil, critical: NagiosRange? = nil, minimum: Int? = 0,
        maximum: Int? = nil
    ) {
        self.label = label
        self.value = value
        self.warning = warning
        self.critical = critical
        self.minimum = minimum
        self.maximum = maximum
    }

    /// The value as the status line carries it. The label is always quoted, and its `'`, `=`
    /// and control characters such as a newline become `_`, because the guidelines allow
    /// neither `'` nor `=` in a label and a newline would end the plugin's output line.
    public var description: String {
        let label = String(
            label.map {
                $0 == "'" || $0 == "=" || $0.unicodeScalars.contains { $0.properties.generalCategory == .control }
                    ? "_" : $0
            })
        let fields = [
            String(value), warning?.description ?? "", critical?.description ?? "",
            minimum.map(String.init) ?? "", maximum.map(String.init) ?? "",
        ]
        return "'\(label)'=" + fields.joined(separator: ";")
    }
}

/// The outcome of a check: the status, the text after it and the performance data.
public struct CheckResult: Sendable, Equatable {
    public var status: CheckStatus
    public var text: String
    public var performanceData: [PerformanceValue]

    public init(status: CheckStatus, text: String, performanceData: [PerformanceValue] = []) {
        self.status = status
        self.text = text
        self.performanceData = performanceData
    }

    /// The status line without its newline: `GEARMAN OK: text | 'label'=1;;;0; …`.
    ///
    /// A `|` in the text, which may come from a function name or a server reply, becomes `_`
    /// because the first `|` of the line starts the performance data.
    public var line: String {
        var line = "GEARMAN \(status.name): " + String(text.map { $0 == "|" ? "_" : $0 })
        if !performanceData.isEmpty {
            line += " | " + performanceData.map(\.description).joined(separator: " ")
        }
        return line
    }
}

/// The Nagios check of a job server's `status` reply against thresholds, without any I/O.
///
/// Each checked function has its queue (jobs waiting: total minus running), running jobs and
/// registered workers tested against the per-function ranges. Their sums are tested against
/// the total ranges. The worst result sets the status.
public struct CheckEvaluation: Sendable, Equatable {
    public var thresholds: CheckThresholds
    /// The functions to check, in output order. When empty, every function in the reply is
    /// checked, sorted by name. A listed function missing from the reply counts as zero jobs
    /// and zero workers, because gearmand lists only functions that a worker or a job has named.
    public var functions: [String]

    public init(thresholds: CheckThresholds = CheckThresholds(), functions: [String] = []) {
        self.thresholds = thresholds
        self.functions = functions
    }

    /// Parses the lines of a `status` reply (`name TAB total TAB running TAB workers`).
    ///
    /// The three counts are taken from the end of the line, so a function name that contains
    /// a tab stays whole.
    ///
    /// - Returns: the functions, or the lines left over at the end that are not a status line.
    ///
    /// The admin protocol sends a function name as it is, so a name that contains a newline
    /// arrives split over several lines. A line that does not parse is taken as the start of
    /// such a name and joined with the next line. Only a fragment left at the end is invalid.
    public static func parseStatus(_ lines: [String]) -> Result<[FunctionStatus], InvalidStatusLine> {
        var functions: [FunctionStatus] = []
        var fragment: String? = nil
        for part in lines {
            let line = fragment.map { $0 + "\n" + part } ?? part
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count >= 4, let total = Int(fields[fields.count - 3]),
                let running = Int(fields[fields.count - 2]), let workers = Int(fields[fields.count - 1])
            else {
                fragment = line
                continue
            }
            fragment = nil
            let name = fields.dropLast(3).joined(separator: "\t")
            functions.append(FunctionStatus(name: name, total: total, running: running, workers: workers))
        }
        if let fragment { return .failure(InvalidStatusLine(line: fragment)) }
        return .success(functions)
    }

    /// Evaluates the lines of a `status` reply. A line that does not parse makes the result
    /// CRITICAL, because a Gearman job server would not have sent it.
    public func evaluate(statusLines: [String]) -> CheckResult {
        switch Self.parseStatus(statusLines) {
        case .success(let functions):
            return evaluate(functions)
        case .failure(let error):
            return CheckResult(status: .critical, text: error.description)
        }
    }

    /// Evaluates parsed `status` lines.
    public func evaluate(_ status: [FunctionStatus]) -> CheckResult {
        let (checked, missing) = selectFunctions(from: status)
        var findings: [Finding] = []
        var performanceData: [PerformanceValue] = []

        let totalQueued = checked.reduce(0) { $0 + $1.queued }
        let totalRunning = checked.reduce(0) { $0 + $1.running }
        let totalWorkers = checked.reduce(0) { $0 + $1.workers }
        findings += Self.test(
            "total", queued: totalQueued, workers: totalWorkers, queueWarning: thresholds.totalQueueWarning,
            queueCritical: thresholds.totalQueueCritical, workersWarning: thresholds.totalWorkersWarning,
            workersCritical: thresholds.totalWorkersCritical)
        // The totals have bare labels, which no function label can equal because those end in
        // `_queued`, `_running` or `_workers`.
        performanceData += [
            PerformanceValue(
                label: "queued", value: totalQueued, warning: thresholds.totalQueueWarning,
                critical: thresholds.totalQueueCritical),
            PerformanceValue(label: "running", value: totalRunning),
            PerformanceValue(
                label: "workers", value: totalWorkers, warning: thresholds.totalWorkersWarning,
                critical: thresholds.totalWorkersCritical),
        ]

        for function in checked {
            findings += Self.test(
                function.name, queued: function.queued, workers: function.workers,
                queueWarning: thresholds.queueWarning, queueCritical: thresholds.queueCritical,
                workersWarning: thresholds.workersWarning, workersCritical: thresholds.workersCritical)
            // NOTE: Nagios cuts plugin output at a fixed buffer size that depends on its
            // version, so on a server with many functions the last values can be lost. Select
            // the functions that matter with --function there.
            performanceData += [
                PerformanceValue(
                    label: function.name + "_queued", value: function.queued, warning: thresholds.queueWarning,
                    critical: thresholds.queueCritical),
                PerformanceValue(label: function.name + "_running", value: function.running),
                PerformanceValue(
                    label: function.name + "_workers", value: function.workers, warning: thresholds.workersWarning,
                    critical: thresholds.workersCritical),
            ]
        }

        var summary =
            "\(Self.count(checked.count, "function")), \(totalQueued) queued, \(totalRunning) running, "
            + Self.count(totalWorkers, "worker")
        if !missing.isEmpty {
            summary += ", not known to the server: " + missing.joined(separator: ", ")
        }
        // Critical findings come first, so a truncated line still shows them.
        let ordered = findings.filter { $0.status == .critical } + findings.filter { $0.status == .warning }
        let status = ordered.first?.status ?? .ok
        let text = ordered.isEmpty ? summary : ordered.map(\.text).joined(separator: ", ") + "; " + summary
        return CheckResult(status: status, text: text, performanceData: performanceData)
    }

    /// One function's counts, or zeros for a function the server does not list.
    struct CheckedFunction {
        var name: String
        var queued: Int
        var running: Int
        var workers: Int
    }

    /// A threshold that a count crossed.
    struct Finding {
        var status: CheckStatus
        var text: String
    }

    private func selectFunctions(from status: [FunctionStatus]) -> (checked: [CheckedFunction], missing: [String]) {
        func checked(_ function: FunctionStatus) -> CheckedFunction {
            // The server counts a running job in the total too. A total below the running
            // count would be a server bug, not a negative queue.
            CheckedFunction(
                name: function.name, queued: max(function.total - function.running, 0), running: function.running,
                workers: function.workers)
        }
        if functions.isEmpty {
            return (status.sorted { $0.name < $1.name }.map(checked), [])
        }
        var byName: [String: FunctionStatus] = [:]
        for function in status where byName[function.name] == nil {
            byName[function.name] = function
        }
        var result: [CheckedFunction] = []
        var missing: [String] = []
        var seen = Set<String>()
        for name in functions where seen.insert(name).inserted {
            if let function = byName[name] {
                result.append(checked(function))
            } else {
                missing.append(name)
                result.append(CheckedFunction(name: name, queued: 0, running: 0, workers: 0))
            }
        }
        return (result, missing)
    }

    private static func test(
        _ name: String, queued: Int, workers: Int, queueWarning: NagiosRange?, queueCritical: NagiosRange?,
        workersWarning: NagiosRange?, workersCritical: NagiosRange?
    ) -> [Finding] {
        var findings: [Finding] = []
        if let finding = test(queued, warning: queueWarning, critical: queueCritical, what: "\(name) \(queued) queued")
        {
            findings.append(finding)
        }
        let workersText = "\(name) \(count(workers, "worker"))"
        if let finding = test(workers, warning: workersWarning, critical: workersCritical, what: workersText) {
            findings.append(finding)
        }
        return findings
    }

    /// Tests one count: CRITICAL when the critical range alerts, else WARNING when the warning
    /// range does, else nothing.
    private static func test(_ value: Int, warning: NagiosRange?, critical: NagiosRange?, what: String) -> Finding? {
        if let critical, critical.alerts(on: Double(value)) {
            return Finding(status: .critical, text: "\(what) (critical \(critical.alertDescription))")
        }
        if let warning, warning.alerts(on: Double(value)) {
            return Finding(status: .warning, text: "\(what) (warning \(warning.alertDescription))")
        }
        return nil
    }

    private static func count(_ value: Int, _ noun: String) -> String {
        "\(value) \(noun)\(value == 1 ? "" : "s")"
    }
}

/// A line of a `status` reply that is not `name TAB total TAB running TAB workers`.
public struct InvalidStatusLine: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: String

    public var description: String {
        "invalid status line from the server: '\(line)'. Expected name, total, running and workers separated by tabs"
    }
}
