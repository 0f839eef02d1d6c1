import GearmanKit

/// Generates the OPTIONS block of a man page from option declarations.
///
/// A man page keeps its prose by hand and marks the generated block with the two marker lines;
/// `replacingOptions(in:)` swaps in a freshly generated block.
public enum ManPageOptions {
    public static let beginMarker =
        ".\\\" BEGIN GENERATED OPTIONS: edit the option declarations, then run swift run gearmankit-docs"
    public static let endMarker = ".\\\" END GENERATED OPTIONS"

    /// Returns the roff text for every visible option, grouped by help section.
    public static func roff(for tool: ToolDescription) -> String {
        var text = ""
        var sections: [String] = []
        for spec in tool.visibleSpecs where !sections.contains(spec.section) {
            sections.append(spec.section)
        }
        for section in sections {
            if sections.count > 1 {
                text += ".SS \(escape(section))\n"
            }
            for spec in tool.visibleSpecs where spec.section == section {
                text += ".TP\n"
                var head = ""
                if let short = spec.short {
                    head += "\\fB\\-\(escape(String(short)))\\fR, "
                }
                head += "\\fB\\-\\-\(escape(spec.long))\\fR"
                if case .required(let placeholder) = spec.argument {
                    head += "=\\fI\(escape(placeholder))\\fR"
                }
                text += head + "\n"
                var help = escape(spec.help)
                if let defaultValue = spec.defaultValue {
                    help += " Default: \(escape(defaultValue))."
                }
                text += help + "\n"
            }
        }
        return text
    }

    /// Replaces the block between the markers in `page` with freshly generated options.
    ///
    /// - Throws: `CommandLineError` when the page lacks the markers.
    public static func replacingOptions(in page: String, tool: ToolDescription) throws -> String {
        let lines = page.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let begin = lines.firstIndex(of: beginMarker), let end = lines.firstIndex(of: endMarker), begin < end
        else {
            throw CommandLineError("the man page of \(tool.name) lacks the generated-options markers")
        }
        let generated = roff(for: tool).split(separator: "\n").map(String.init)
        return (Array(lines[...begin]) + generated + Array(lines[end...])).joined(separator: "\n")
    }

    /// Escapes text for roff: backslashes, hyphens, and a leading dot or quote.
    static func escape(_ text: String) -> String {
        var escaped = text.replacingAll("\\", with: "\\e").replacingAll("-", with: "\\-")
        if escaped.hasPrefix(".") || escaped.hasPrefix("'") { escaped = "\\&" + escaped }
        return escaped
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
