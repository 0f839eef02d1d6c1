import GearmanKit

/// A threshold in the range syntax of the Nagios plugin development guidelines:
/// `[@][start:][end]`, where `~` as start means negative infinity and a missing end means
/// positive infinity.
///
/// A value outside `start...end` raises an alert, or a value inside it when the range starts
/// with `@`. So `10` alerts above 10, `10:` below 10, `10:20` outside 10 to 20 and `@10:20`
/// inside 10 to 20, bounds included.
public struct NagiosRange: Sendable, Equatable, CustomStringConvertible {
    public var start: Double
    public var end: Double
    /// Whether a value inside the range, rather than outside, raises the alert (`@`).
    public var alertsInside: Bool

    public init(start: Double = 0, end: Double = .infinity, alertsInside: Bool = false) {
        self.start = start
        self.end = end
        self.alertsInside = alertsInside
    }

    /// Parses a range such as `10`, `10:`, `~:10`, `10:20` or `@10:20`.
    ///
    /// - Throws: `CommandLineError` naming the text when it is not a range or when its start
    ///   is greater than its end.
    public init(parsing text: String) throws {
        var rest = Substring(text)
        alertsInside = rest.hasPrefix("@")
        if alertsInside { rest = rest.dropFirst() }

        if let colon = rest.firstIndex(of: ":") {
            let startText = rest[..<colon]
            let endText = rest[rest.index(after: colon)...]
            if startText == "~" {
                start = -.infinity
            } else if startText.isEmpty {
                start = 0
            } else {
                start = try Self.parseNumber(startText, in: text)
            }
            end = endText.isEmpty ? .infinity : try Self.parseNumber(endText, in: text)
        } else {
            start = 0
            end = try Self.parseNumber(rest, in: text)
        }
        if start > end {
            throw CommandLineError("invalid range '\(text)': the start is greater than the end")
        }
    }

    /// Parses a minimum, where a plain number N means `N:` (an alert below N). Any other text
    /// is parsed as a range, so `@0` or `2:10` still work.
    public init(parsingMinimum text: String) throws {
        if Self.isPlainNumber(Substring(text)) {
            self.init(start: try Self.parseNumber(Substring(text), in: text))
        } else {
            try self.init(parsing: text)
        }
    }

    /// Whether `value` raises an alert.
    public func alerts(on value: Double) -> Bool {
        let outside = value < start || value > end
        return alertsInside ? !outside : outside
    }

    /// The range in Nagios syntax, as performance data carries it.
    public var description: String {
        var text = alertsInside ? "@" : ""
        if start == 0 && end.isFinite {
            text += Self.format(end)
        } else {
            text += start == -.infinity ? "~:" : Self.format(start) + ":"
            if end.isFinite { text += Self.format(end) }
        }
        return text
    }

    /// The alert condition for a count, which is never negative, in words: `above 100`,
    /// `below 2`, `outside 2:10` or `in range 2:10`.
    public var alertDescription: String {
        if alertsInside {
            return "in range \(boundsText)"
        }
        let hasLowerBound = start > 0
        let hasUpperBound = end.isFinite
        switch (hasLowerBound, hasUpperBound) {
        case (true, true): return "outside \(boundsText)"
        case (true, false): return "below \(Self.format(start))"
        case (false, true): return "above \(Self.format(end))"
        case (false, false): return "never"
        }
    }

    /// The bounds as `start:end`, with the colon even when the start is 0.
    private var boundsText: String {
        (start == -.infinity ? "~" : Self.format(start)) + ":" + (end.isFinite ? Self.format(end) : "")
    }

    static func format(_ number: Double) -> String {
        if number == number.rounded() && abs(number) < 1e15 {
            return String(Int64(number))
        }
        return String(number)
    }

    /// Whether `text` is a decimal number: an optional sign, digits, and an optional fraction.
    static func isPlainNumber(_ text: Substring) -> Bool {
        var rest = text
        if rest.first == "-" || rest.first == "+" { rest = rest.dropFirst() }
        let parts = rest.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.allSatisfy(\.isASCIIDigit) else { return false }
        if parts.count == 2 {
            return !parts[1].isEmpty && parts[1].allSatisfy(\.isASCIIDigit)
        }
        return true
    }

    private static func parseNumber(_ text: Substring, in range: String) throws -> Double {
        guard isPlainNumber(text), let number = Double(text) else {
            throw CommandLineError(
                "invalid range '\(range)': '\(text)' is not a number. Expected N, N:, ~:N, N:M or @N:M")
        }
        return number
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

/// The alert ranges of `gearadmin --check`. A nil range never alerts.
public struct CheckThresholds: Sendable, Equatable {
    /// Ranges for each checked function's queue: jobs waiting, that is total minus running.
    public var queueWarning: NagiosRange?
    public var queueCritical: NagiosRange?
    /// Ranges for each checked function's registered workers.
    public var workersWarning: NagiosRange?
    public var workersCritical: NagiosRange?
    /// Ranges for the sums over all checked functions.
    public var totalQueueWarning: NagiosRange?
    public var totalQueueCritical: NagiosRange?
    public var totalWorkersWarning: NagiosRange?
    public var totalWorkersCritical: NagiosRange?

    public init(
        queueWarning: NagiosRange? = nil, queueCritical: NagiosRange? = nil, workersWarning: NagiosRange? = nil,
        workersCritical: NagiosRange? = nil, totalQueueWarning: NagiosRange? = nil,
        totalQueueCritical: NagiosRange? = nil, totalWorkersWarning: NagiosRange? = nil,
        totalWorkersCritical: NagiosRange? = nil
    ) {
        self.queueWarning = queueWarning
        self.queueCritical = queueCritical
        self.workersWarning = workersWarning
        self.workersCritical = workersCritical
        self.totalQueueWarning = totalQueueWarning
        self.totalQueueCritical = totalQueueCritical
        self.totalWorkersWarning = totalWorkersWarning
        self.totalWorkersCritical = totalWorkersCritical
    }
}
