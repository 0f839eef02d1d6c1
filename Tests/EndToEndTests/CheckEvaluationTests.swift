import GearadminTools
import GearmanKit
import Testing

/// Nagios ranges as the plugin guidelines define them.
@Suite struct NagiosRangeTests {
    struct RangeCase: Sendable, CustomTestStringConvertible {
        var text: String
        var value: Double
        var alerts: Bool
        var testDescription: String { "\(text) on \(value)" }
    }

    static let cases: [RangeCase] = [
        RangeCase(text: "10", value: 0, alerts: false),
        RangeCase(text: "10", value: 10, alerts: false),
        RangeCase(text: "10", value: 11, alerts: true),
        RangeCase(text: "10", value: -1, alerts: true),
        RangeCase(text: "10:", value: 9, alerts: true),
        RangeCase(text: "10:", value: 10, alerts: false),
        RangeCase(text: "10:", value: 1e9, alerts: false),
        RangeCase(text: "~:10", value: -1e9, alerts: false),
        RangeCase(text: "~:10", value: 11, alerts: true),
        RangeCase(text: "10:20", value: 9, alerts: true),
        RangeCase(text: "10:20", value: 15, alerts: false),
        RangeCase(text: "10:20", value: 21, alerts: true),
        RangeCase(text: "@10:20", value: 9, alerts: false),
        RangeCase(text: "@10:20", value: 10, alerts: true),
        RangeCase(text: "@10:20", value: 20, alerts: true),
        RangeCase(text: "@10:20", value: 21, alerts: false),
        RangeCase(text: "0.5", value: 1, alerts: true),
        RangeCase(text: ":5", value: 6, alerts: true),
    ]

    @Test(arguments: cases)
    func rangeAlerts(_ range: RangeCase) throws {
        let parsed = try NagiosRange(parsing: range.text)
        #expect(parsed.alerts(on: range.value) == range.alerts)
    }

    @Test(arguments: ["", "abc", "20:10", "1e3", "inf", "@", "10:x", "0x10", "--1", "1.", "~"])
    func invalidRangeThrows(_ text: String) throws {
        #expect(throws: CommandLineError.self) { try NagiosRange(parsing: text) }
    }

    @Test func descriptionRoundTrips() throws {
        for text in ["10", "10:", "~:10", "10:20", "@10:20", "0:", "1.5", "@0", "~:"] {
            #expect(try NagiosRange(parsing: text).description == text)
        }
        #expect(try NagiosRange(parsing: "0:10").description == "10")
    }

    @Test func plainMinimumAlertsBelow() throws {
        let minimum = try NagiosRange(parsingMinimum: "2")
        #expect(minimum.alerts(on: 1))
        #expect(!minimum.alerts(on: 2))
        #expect(!minimum.alerts(on: 100))
        #expect(minimum.description == "2:")
        #expect(minimum.alertDescription == "below 2")
    }

    @Test func minimumAcceptsFullRange() throws {
        let inside = try NagiosRange(parsingMinimum: "@0")
        #expect(inside.alerts(on: 0))
        #expect(!inside.alerts(on: 1))
        let between = try NagiosRange(parsingMinimum: "2:10")
        #expect(between.alerts(on: 11))
        #expect(!between.alerts(on: 5))
    }

    @Test func alertDescriptions() throws {
        #expect(try NagiosRange(parsing: "100").alertDescription == "above 100")
        #expect(try NagiosRange(parsing: "~:100").alertDescription == "above 100")
        #expect(try NagiosRange(parsing: "5:").alertDescription == "below 5")
        #expect(try NagiosRange(parsing: "5:10").alertDescription == "outside 5:10")
        #expect(try NagiosRange(parsing: "@5:10").alertDescription == "in range 5:10")
        #expect(try NagiosRange(parsing: "@10").alertDescription == "in range 0:10")
    }
}

/// The evaluation of `status` replies behind `gearadmin --check`.
@Suite struct CheckEvaluationTests {
    /// resize: 5 queued, 2 running, 2 workers. mail: 0 queued, 0 running, 1 worker.
    /// thumbnail: 7 queued, 2 running, 3 workers.
    static let status = [
        FunctionStatus(name: "thumbnail", total: 9, running: 2, workers: 3),
        FunctionStatus(name: "resize", total: 7, running: 2, workers: 2),
        FunctionStatus(name: "mail", total: 0, running: 0, workers: 1),
    ]

    static func range(_ text: String) throws -> NagiosRange {
        try NagiosRange(parsing: text)
    }

    static func minimum(_ text: String) throws -> NagiosRange {
        try NagiosRange(parsingMinimum: text)
    }

    @Test func noThresholdsIsOK() {
        let result = CheckEvaluation().evaluate(Self.status)
        #expect(result.status == .ok)
        #expect(
            result.line
                == "GEARMAN OK: 3 functions, 12 queued, 4 running, 6 workers | 'queued'=12;;;0; 'running'=4;;;0; "
                + "'workers'=6;;;0; 'mail_queued'=0;;;0; 'mail_running'=0;;;0; 'mail_workers'=1;;;0; "
                + "'resize_queued'=5;;;0; 'resize_running'=2;;;0; 'resize_workers'=2;;;0; "
                + "'thumbnail_queued'=7;;;0; 'thumbnail_running'=2;;;0; 'thumbnail_workers'=3;;;0;")
    }

    @Test func thresholdsNotCrossedIsOK() throws {
        let thresholds = try CheckThresholds(
            queueWarning: Self.range("7"), queueCritical: Self.range("100"), workersWarning: Self.minimum("1"),
            workersCritical: Self.minimum("1"))
        let result = CheckEvaluation(thresholds: thresholds).evaluate(Self.status)
        #expect(result.status == .ok)
        #expect(result.text == "3 functions, 12 queued, 4 running, 6 workers")
    }

    @Test func functionQueueAboveWarning() throws {
        let thresholds = try CheckThresholds(queueWarning: Self.range("6"), queueCritical: Self.range("100"))
        let result = CheckEvaluation(thresholds: thresholds).evaluate(Self.status)
        #expect(result.status == .warning)
        #expect(result.text == "thumbnail 7 queued (warning above 6); 3 functions, 12 queued, 4 running, 6 workers")
        #expect(result.line.hasPrefix("GEARMAN WARNING: thumbnail 7 queued"))
    }

    @Test func functionQueueAboveCritical() throws {
        let thresholds = try CheckThresholds(queueWarning: Self.range("4"), queueCritical: Self.range("6"))
        let result = CheckEvaluation(thresholds: thresholds).evaluate(Self.status)
        #expect(result.status == .critical)
        // Critical findings come before warnings, whatever the function order.
        #expect(
            result.text
                == "thumbnail 7 queued (critical above 6), resize 5 queued (warning above 4); "
                + "3 functions, 12 queued, 4 running, 6 workers")
    }

    @Test func functionWorkersBelowWarning() throws {
        let thresholds = try CheckThresholds(workersWarning: Self.minimum("2"), workersCritical: Self.minimum("1"))
        let result = CheckEvaluation(thresholds: thresholds).evaluate(Self.status)
        #expect(result.status == .warning)
        #expect(result.text == "mail 1 worker (warning below 2); 3 functions, 12 queued, 4 running, 6 workers")
    }

    @Test func functionWorkersBelowCritical() throws {
        let thresholds = try CheckThresholds(workersWarning: Self.minimum("3"), workersCritical: Self.minimum("2"))
        let result = CheckEvaluation(thresholds: thresholds).evaluate(Self.status)
        #expect(result.status == .critical)
        #expect(
            result.text
                == "mail 1 worker (critical below 2), resize 2 workers (warning below 3); "
                + "3 functions, 12 queued, 4 running, 6 workers")
    }

    @Test func totalQueueWarningAndCritical() throws {
        let warning = try CheckEvaluation(thresholds: CheckThresholds(totalQueueWarning: Self.range("11")))
        let warningResult = warning.evaluate(Self.status)
        #expect(warningResult.status == .warning)
        #expect(warningResult.text.hasPrefix("total 12 queued (warning above 11); "))

        let critical = try CheckEvaluation(
            thresholds: CheckThresholds(totalQueueWarning: Self.range("5"), totalQueueCritical: Self.range("11")))
        let criticalResult = critical.evaluate(Self.status)
        #expect(criticalResult.status == .critical)
        #expect(criticalResult.text.hasPrefix("total 12 queued (critical above 11); "))
    }

    @Test func totalWorkersWarningAndCritical() throws {
        let warning = try CheckEvaluation(thresholds: CheckThresholds(totalWorkersWarning: Self.minimum("7")))
        #expect(warning.evaluate(Self.status).status == .warning)
        #expect(warning.evaluate(Self.status).text.hasPrefix("total 6 workers (warning below 7); "))

        let critical = try CheckEvaluation(thresholds: CheckThresholds(totalWorkersCritical: Self.minimum("7")))
        #expect(critical.evaluate(Self.status).status == .critical)
    }

    @Test func functionRangesSkipTotals() throws {
        // 12 queued in all is above 6 too, but only the per-function range is set.
        let evaluation = try CheckEvaluation(thresholds: CheckThresholds(queueCritical: Self.range("6")))
        let result = evaluation.evaluate(Self.status)
        #expect(result.text == "thumbnail 7 queued (critical above 6); 3 functions, 12 queued, 4 running, 6 workers")
    }

    @Test func selectedFunctionsOnly() throws {
        let evaluation = try CheckEvaluation(
            thresholds: CheckThresholds(queueCritical: Self.range("6")), functions: ["resize", "mail", "resize"])
        let result = evaluation.evaluate(Self.status)
        // thumbnail has 7 queued but is not selected. The repeated resize counts once.
        #expect(result.status == .ok)
        #expect(
            result.line
                == "GEARMAN OK: 2 functions, 5 queued, 2 running, 3 workers | 'queued'=5;;;0; 'running'=2;;;0; "
                + "'workers'=3;;;0; 'resize_queued'=5;;6;0; 'resize_running'=2;;;0; 'resize_workers'=2;;;0; "
                + "'mail_queued'=0;;6;0; 'mail_running'=0;;;0; 'mail_workers'=1;;;0;")
    }

    @Test func unknownFunctionCountsAsZero() throws {
        let evaluation = try CheckEvaluation(
            thresholds: CheckThresholds(workersCritical: Self.minimum("1")), functions: ["missing"])
        let result = evaluation.evaluate(Self.status)
        #expect(result.status == .critical)
        #expect(
            result.line
                == "GEARMAN CRITICAL: missing 0 workers (critical below 1); 1 function, 0 queued, 0 running, "
                + "0 workers, not known to the server: missing | 'queued'=0;;;0; 'running'=0;;;0; 'workers'=0;;;0; "
                + "'missing_queued'=0;;;0; 'missing_running'=0;;;0; 'missing_workers'=0;;1:;0;")
    }

    @Test func emptyServerIsOK() throws {
        let result = CheckEvaluation().evaluate([])
        #expect(result.status == .ok)
        #expect(
            result.line
                == "GEARMAN OK: 0 functions, 0 queued, 0 running, 0 workers | 'queued'=0;;;0; 'running'=0;;;0; 'workers'=0;;;0;"
        )
    }

    @Test func performanceValueFormat() throws {
        let value = PerformanceValue(
            label: "it's a=b", value: 5, warning: try NagiosRange(parsing: "100"),
            critical: try NagiosRange(parsing: "@10:20"), minimum: 0, maximum: 50)
        #expect(value.description == "'it_s a_b'=5;100;@10:20;0;50")
        #expect(PerformanceValue(label: "x", value: 1, minimum: nil).description == "'x'=1;;;;")
    }

    @Test func pipeInTextIsReplaced() throws {
        let status = [FunctionStatus(name: "a|b", total: 1, running: 0, workers: 0)]
        let result = try CheckEvaluation(thresholds: CheckThresholds(workersWarning: Self.minimum("1"))).evaluate(
            status)
        let parts = result.line.split(separator: "|", maxSplits: 1)
        #expect(
            parts.first
                == "GEARMAN WARNING: a_b 0 workers (warning below 1); 1 function, 1 queued, 0 running, 0 workers ")
        // The performance data keeps the name, because only the first `|` separates.
        #expect(result.line.contains("'a|b_queued'=1;;;0;"))
    }

    @Test func runningAboveTotalIsNoNegativeQueue() {
        let status = [FunctionStatus(name: "odd", total: 1, running: 3, workers: 1)]
        let result = CheckEvaluation().evaluate(status)
        #expect(result.line.contains("'odd_queued'=0;;;0;"))
    }

    @Test func statusLinesParseFromTheEnd() throws {
        let parsed = try CheckEvaluation.parseStatus(["with\ttab\t3\t1\t2", "plain\t0\t0\t0"]).get()
        #expect(
            parsed == [
                FunctionStatus(name: "with\ttab", total: 3, running: 1, workers: 2),
                FunctionStatus(name: "plain", total: 0, running: 0, workers: 0),
            ])
    }

    /// A function name with a newline arrives over two lines; it must not turn every check
    /// of the server CRITICAL.
    @Test func functionNameWithNewlineParses() throws {
        let lines = ["nl", "fn\t1\t0\t0", "echo\t0\t0\t2"]
        let parsed = try CheckEvaluation.parseStatus(lines).get()
        #expect(
            parsed == [
                FunctionStatus(name: "nl\nfn", total: 1, running: 0, workers: 0),
                FunctionStatus(name: "echo", total: 0, running: 0, workers: 2),
            ])
        let selected = CheckEvaluation(
            thresholds: try CheckThresholds(workersCritical: Self.minimum("2")), functions: ["echo"])
        #expect(selected.evaluate(statusLines: lines).status == .ok)
        let overall = CheckEvaluation().evaluate(statusLines: lines)
        #expect(overall.status == .ok)
        #expect(overall.line.contains("'nl_fn_queued'=1;"))
        #expect(!overall.line.contains("\n"))
    }

    @Test func invalidStatusLineIsCritical() throws {
        let result = CheckEvaluation().evaluate(statusLines: ["resize\t1\t0\t1", "garbage"])
        #expect(result.status == .critical)
        #expect(result.performanceData.isEmpty)
        #expect(result.line.hasPrefix("GEARMAN CRITICAL: invalid status line from the server: 'garbage'"))
    }
}

/// The check options of gearadmin's command line.
@Suite struct CheckOptionsTests {
    @Test func thresholdsAndFunctionsParse() throws {
        let options = try GearadminOptions.parse([
            "--check", "--function", "resize", "--function=mail", "--queue-warning", "10", "--queue-critical", "@20:30",
            "--workers-warning", "2", "--workers-critical", "1:", "--total-queue-warning", "100",
            "--total-queue-critical", "200", "--total-workers-warning", "4", "--total-workers-critical", "3",
            "--timeout", "3",
        ])
        #expect(options.check.isEnabled)
        #expect(options.check.functions == ["resize", "mail"])
        #expect(options.check.timeoutSeconds == 3)
        #expect(options.commands.isEmpty)
        let thresholds = options.check.thresholds
        #expect(thresholds.queueWarning == NagiosRange(start: 0, end: 10))
        #expect(thresholds.queueCritical == NagiosRange(start: 20, end: 30, alertsInside: true))
        #expect(thresholds.workersWarning == NagiosRange(start: 2))
        #expect(thresholds.workersCritical == NagiosRange(start: 1))
        #expect(thresholds.totalQueueWarning == NagiosRange(start: 0, end: 100))
        #expect(thresholds.totalQueueCritical == NagiosRange(start: 0, end: 200))
        #expect(thresholds.totalWorkersWarning == NagiosRange(start: 4))
        #expect(thresholds.totalWorkersCritical == NagiosRange(start: 3))
    }

    @Test func defaultsWithCheckAlone() throws {
        let options = try GearadminOptions.parse(["--check"])
        #expect(options.check.timeoutSeconds == 10)
        #expect(options.check.functions.isEmpty)
        #expect(options.check.thresholds == CheckThresholds())
    }

    @Test(arguments: [
        ["--queue-warning", "5"],
        ["--timeout", "3"],
        ["--status", "--function", "resize"],
    ])
    func checkOptionWithoutCheckThrows(_ arguments: [String]) throws {
        #expect(throws: CommandLineError.self) { try GearadminOptions.parse(arguments) }
    }

    @Test(arguments: [
        ["--check", "--status"],
        ["--check", "--timeout", "0"],
        ["--check", "--timeout", "1.5"],
        ["--check", "--function", ""],
        ["--check", "--workers-critical", "x"],
    ])
    func invalidCheckLineThrows(_ arguments: [String]) throws {
        #expect(throws: CommandLineError.self) { try GearadminOptions.parse(arguments) }
    }

    @Test func checkRequestDetection() {
        #expect(CheckOptions.isRequested(in: ["--check"]))
        #expect(CheckOptions.isRequested(in: ["-p", "1", "--chec", "--bogus"]))
        #expect(CheckOptions.isRequested(in: ["--check=yes"]))
        #expect(!CheckOptions.isRequested(in: ["--c"]))
        #expect(!CheckOptions.isRequested(in: ["--status"]))
        #expect(!CheckOptions.isRequested(in: ["--", "--check"]))
    }
}
