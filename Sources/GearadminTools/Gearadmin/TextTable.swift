/// Rows of text laid out in aligned columns under a header, for the gearadmin shell.
struct TextTable {
    var headers: [String]
    var rows: [[String]] = []
    /// Columns whose values are right-aligned (counts).
    var numericColumns: Set<Int> = []

    func render() -> String {
        var widths = headers.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            var text = ""
            for (index, width) in widths.enumerated() {
                let cell = index < cells.count ? cells[index] : ""
                let padding = String(repeating: " ", count: max(0, width - cell.count))
                let isLast = index == widths.count - 1
                if numericColumns.contains(index) {
                    text += padding + cell
                } else {
                    text += cell + (isLast ? "" : padding)
                }
                if !isLast { text += "  " }
            }
            return text + "\n"
        }
        var text = line(headers)
        text += line(widths.map { String(repeating: "-", count: $0) })
        for row in rows { text += line(row) }
        return text
    }

    /// Builds the table for a list reply of a known command, or nil for other commands.
    static func forReply(command: String, lines: [String]) -> TextTable? {
        let words = command.lowercased().split(separator: " ").map(String.init)
        switch words.first {
        case "status":
            var table = TextTable(headers: ["FUNCTION", "JOBS", "RUNNING", "WORKERS"], numericColumns: [1, 2, 3])
            table.rows = lines.map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
            table.rows.sort { $0.first ?? "" < $1.first ?? "" }
            return table
        case "prioritystatus":
            var table = TextTable(
                headers: ["FUNCTION", "HIGH", "NORMAL", "LOW", "WORKERS"], numericColumns: [1, 2, 3, 4])
            table.rows = lines.map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
            table.rows.sort { $0.first ?? "" < $1.first ?? "" }
            return table
        case "workers":
            var table = TextTable(headers: ["FD", "ADDRESS", "CLIENT ID", "FUNCTIONS"], numericColumns: [0])
            for line in lines {
                let halves = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                let head = halves[0].split(separator: " ").map(String.init)
                let functions = halves.count > 1 ? halves[1].trimmingCharacters(in: " ") : ""
                table.rows.append([
                    head.first ?? "", head.count > 1 ? head[1] : "",
                    head.count > 2 ? head[2...].joined(separator: " ") : "", functions,
                ])
            }
            return table
        case "show" where words.count == 2 && words[1] == "jobs":
            var table = TextTable(headers: ["HANDLE", "RETRIES", "IGNORED", "PERSISTENT"], numericColumns: [1, 2, 3])
            table.rows = lines.map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
            return table
        default:
            return nil
        }
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in character: Character) -> String {
        var text = self
        while text.first == character { text = text.dropFirst() }
        while text.last == character { text = text.dropLast() }
        return String(text)
    }
}
