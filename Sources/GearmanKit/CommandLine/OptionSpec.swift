/// The declaration of one command-line option; help text, man pages and completions are all
/// generated from these declarations.
public struct OptionSpec: Sendable, Equatable {
    /// Whether and how the option takes a value.
    public enum Argument: Sendable, Equatable {
        /// A flag without a value.
        case none
        /// A value that must follow, named by the placeholder shown in help (`PORT`).
        case required(String)
    }

    /// The long name without dashes, such as `port`.
    public var long: String
    /// The one-letter name, if any.
    public var short: Character?
    public var argument: Argument
    /// One or two sentences for the help text: what the option sets and in what unit.
    public var help: String
    /// The default shown in help, if any.
    public var defaultValue: String?
    /// The help section the option is listed under.
    public var section: String
    /// Whether the option is left out of help output.
    public var isHidden: Bool

    public init(
        _ long: String, short: Character? = nil, argument: Argument = .none, help: String,
        default defaultValue: String? = nil,
        section: String = "Options", hidden: Bool = false
    ) {
        self.long = long
        self.short = short
        self.argument = argument
        self.help = help
        self.defaultValue = defaultValue
        self.section = section
        self.isHidden = hidden
    }

    /// Whether the option needs a value.
    public var takesValue: Bool {
        if case .required = argument { return true }
        return false
    }

    /// The option as help prints it, such as `-p, --port=PORT`.
    public var synopsis: String {
        var text = short.map { "-\($0), " } ?? "    "
        text += "--\(long)"
        if case .required(let placeholder) = argument { text += "=\(placeholder)" }
        return text
    }
}

/// One option found on a command line, with its value when it takes one.
public struct ParsedOption: Sendable, Equatable {
    /// The long name of the option, identifying its declaration.
    public var name: String
    public var value: String?

    public init(name: String, value: String?) {
        self.name = name
        self.value = value
    }
}

/// A command line that does not match the declared options.
public struct CommandLineError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
