import CGearmanSystem
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Parses command lines with getopt_long(3), so clustering (`-bf fn`), `--opt=value`, unique
/// prefixes of long options and `--` behave as in every GNU tool.
public enum CommandLineParser {
    /// getopt_long keeps its position in globals, so parses are serialised process-wide.
    private static let lock = Mutex<Void>(())

    /// The result of a parse: options in the order given, then the operands.
    public struct Result: Sendable, Equatable {
        public var options: [ParsedOption]
        public var operands: [String]

        /// The value of the last occurrence of an option, or nil.
        public func value(_ name: String) -> String? {
            options.last(where: { $0.name == name })?.value
        }

        /// Whether the option appears at all.
        public func contains(_ name: String) -> Bool {
            options.contains { $0.name == name }
        }
    }

    /// Parses `arguments` (without the program name) against `specs`.
    ///
    /// - Parameter stopAtFirstOperand: stop at the first non-option, as `gearman -w` needs for
    ///   the command it runs; otherwise operands may appear between options.
    /// - Throws: `CommandLineError` naming the unknown option or the missing value.
    public static func parse(_ arguments: [String], specs: [OptionSpec], stopAtFirstOperand: Bool = false) throws
        -> Result
    {
        try lock.withLock { _ in
            try parseLocked(arguments, specs: specs, stopAtFirstOperand: stopAtFirstOperand)
        }
    }

    private static func parseLocked(_ arguments: [String], specs: [OptionSpec], stopAtFirstOperand: Bool) throws
        -> Result
    {
        // A leading ':' makes getopt report a missing value as ':' instead of '?'; '+' stops at
        // the first operand.
        var shortString = (stopAtFirstOperand ? "+" : "") + ":"
        for spec in specs {
            if let short = spec.short {
                shortString.append(short)
                if spec.takesValue { shortString += ":" }
            }
        }

        var cStrings: [UnsafeMutablePointer<CChar>?] = [strdup("program")]
        for argument in arguments { cStrings.append(strdup(argument)) }
        cStrings.append(nil)
        let longNames = specs.map { strdup($0.long) }
        defer {
            for pointer in cStrings { free(pointer) }
            for pointer in longNames { free(pointer) }
        }
        var longOptions: [option] = []
        for (index, spec) in specs.enumerated() {
            longOptions.append(
                option(name: longNames[index], has_arg: spec.takesValue ? 1 : 0, flag: nil, val: Int32(1000 + index)))
        }
        longOptions.append(option(name: nil, has_arg: 0, flag: nil, val: 0))

        cgs_getopt_reset()  // optind = 0 makes glibc reinitialise its state, including the permutation.
        var parsed: [ParsedOption] = []
        let argc = Int32(arguments.count + 1)
        while true {
            var longIndex: Int32 = -1
            let code = cStrings.withUnsafeMutableBufferPointer { argv in
                getopt_long(argc, argv.baseAddress!, shortString, longOptions, &longIndex)
            }
            if code == -1 { break }
            let current = Int(cgs_optind()) - 1
            let given = current >= 1 && current <= arguments.count ? arguments[current - 1] : ""
            switch code {
            case Int32(UInt8(ascii: "?")):
                // getopt_long sets optopt to a long option's value when `--name=value` gives a
                // value to an option that takes none.
                if cgs_optopt() >= 1000 {
                    let name = specs[Int(cgs_optopt()) - 1000].long
                    throw CommandLineError("option '--\(name)' does not take a value, but '\(given)' gives one")
                }
                if cgs_optopt() != 0 {
                    throw CommandLineError("unknown option '-\(Character(Unicode.Scalar(UInt8(cgs_optopt()))))'")
                }
                throw CommandLineError(
                    "unknown option '\(given.split(separator: "=").first.map(String.init) ?? given)'")
            case Int32(UInt8(ascii: ":")):
                if cgs_optopt() != 0 && cgs_optopt() < 1000 {
                    throw CommandLineError("option '-\(Character(Unicode.Scalar(UInt8(cgs_optopt()))))' needs a value")
                }
                throw CommandLineError("option '\(given)' needs a value")
            default:
                let spec: OptionSpec
                if code >= 1000 {
                    spec = specs[Int(code) - 1000]
                } else {
                    let letter = Character(Unicode.Scalar(UInt8(code)))
                    spec = specs.first(where: { $0.short == letter })!
                }
                let value = spec.takesValue ? cgs_optarg().map { String(cString: $0) } : nil
                parsed.append(ParsedOption(name: spec.long, value: value))
            }
        }
        // getopt_long permutes argv so that operands end up after optind.
        var operands: [String] = []
        var index = Int(cgs_optind())
        while index < Int(argc) {
            operands.append(String(cString: cStrings[index]!))
            index += 1
        }
        return Result(options: parsed, operands: operands)
    }

    /// Formats help text: a usage line, then each section's options with wrapped descriptions.
    /// Formats a command-line error for standard error: the message, the usage lines and a
    /// pointer to `--help`, in the form of GNU tools. The full option list would push the
    /// message off a terminal.
    public static func errorText(program: String, message: String, usage: String) -> String {
        "\(program): \(message)\nUsage: \(usage)\nTry '\(program) --help' for more information.\n"
    }

    public static func help(usage: String, specs: [OptionSpec], width: Int = 80) -> String {
        var text = "Usage: \(usage)\n"
        var sections: [String] = []
        for spec in specs where !spec.isHidden && !sections.contains(spec.section) {
            sections.append(spec.section)
        }
        let column = 30
        for section in sections {
            text += "\n\(section):\n"
            for spec in specs where spec.section == section && !spec.isHidden {
                var description = spec.help
                if let defaultValue = spec.defaultValue { description += " (default: \(defaultValue))" }
                let lines = wrap(description, width: width - column)
                let head = "  \(spec.synopsis)"
                if head.count + 2 <= column {
                    text += head.padding(to: column) + (lines.first ?? "") + "\n"
                } else {
                    text += head + "\n" + String(repeating: " ", count: column) + (lines.first ?? "") + "\n"
                }
                for line in lines.dropFirst() {
                    text += String(repeating: " ", count: column) + line + "\n"
                }
            }
        }
        return text
    }

    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        var current = ""
        for word in text.split(separator: " ") {
            if !current.isEmpty && current.count + 1 + word.count > width {
                lines.append(current)
                current = ""
            }
            current += current.isEmpty ? String(word) : " " + word
        }
        if !current.isEmpty { lines.append(current) }
        return lines
    }
}

extension String {
    fileprivate func padding(to length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }
}
