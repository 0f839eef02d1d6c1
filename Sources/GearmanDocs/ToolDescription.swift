import GearadminTools
import GearmanKit
import GearmanServer
import GearmanTools

/// One program's option declarations with what the generated completions need to know.
public struct ToolDescription: Sendable {
    public var name: String
    public var specs: [OptionSpec]
    /// Long names of options whose value is a function name, completed from a running server.
    public var functionOptions: Set<String>
    /// Long names of options whose value is a file path.
    public var fileOptions: Set<String>
    /// Values offered for options with a fixed set of choices.
    public var choices: [String: [String]]

    /// The three programs of this package.
    public static let all: [ToolDescription] = [
        ToolDescription(
            name: "gearmand", specs: GearmandOptions.specs, functionOptions: [],
            fileOptions: ["log-file", "pid-file", "config-file"],
            choices: [
                "verbose": LogLevel.allCases.map(\.name), "queue-type": ["builtin"],
            ]),
        ToolDescription(
            name: "gearman", specs: GearmanOptions.specs, functionOptions: ["function"], fileOptions: ["pid-file"],
            choices: [:]),
        ToolDescription(
            name: "gearadmin", specs: GearadminOptions.specs,
            functionOptions: ["create-function", "drop-function", "function"],
            fileOptions: [], choices: [:]),
    ]

    /// The options shown in help, which completions and man pages list too.
    var visibleSpecs: [OptionSpec] { specs.filter { !$0.isHidden } }
}
