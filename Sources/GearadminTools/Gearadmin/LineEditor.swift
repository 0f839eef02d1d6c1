import CReadline

#if canImport(Glibc)
    import Glibc
#endif

/// GNU readline with a history file and a completion callback, for the gearadmin shell.
///
/// readline keeps its state in globals and calls back through C function pointers, so only one
/// editor may exist in a process; `LineEditor.completer` is read by that callback.
final class LineEditor {
    /// Returns the completions of `word`, given the text of the line before it.
    nonisolated(unsafe) static var completer: (_ before: String, _ word: String) -> [String] = { _, _ in [] }

    let historyPath: String?

    init(historyPath: String?) {
        self.historyPath = historyPath
        cgs_rl_configure(UnsafePointer(strdup("gearadmin"))) { text, start, _ in
            cgs_rl_disable_default_completion()
            let word = text.map { String(cString: $0) } ?? ""
            let line = cgs_rl_line_buffer().map { String(cString: $0) } ?? ""
            let before = String(decoding: Array(line.utf8.prefix(Int(start))), as: UTF8.self)
            let matches = LineEditor.completer(before, word).filter { $0.hasPrefix(word) }
            return LineEditor.makeMatchArray(matches, word: word)
        }
        using_history()
        if let historyPath {
            read_history(historyPath)
        }
    }

    /// Reads one line with editing; nil at end of input (Ctrl-D).
    func readLine(prompt: String) -> String? {
        guard let raw = readline(prompt) else { return nil }
        defer { free(raw) }
        let line = String(cString: raw)
        let trimmed = line.trimmingSpaces
        if !trimmed.isEmpty {
            add_history(raw)
            if let historyPath {
                // Appending after each line keeps the history even when the shell is killed.
                if access(historyPath, F_OK) != 0 {
                    close(open(historyPath, O_CREAT | O_WRONLY, 0o600))
                }
                append_history(1, historyPath)
                history_truncate_file(historyPath, 1000)
            }
        }
        return line
    }

    /// Builds the NULL-terminated, malloc'ed array readline expects: the longest common prefix
    /// first, then every match.
    static func makeMatchArray(_ matches: [String], word: String) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
    {
        guard !matches.isEmpty else { return nil }
        var common = matches[0]
        for match in matches.dropFirst() {
            while !match.hasPrefix(common) { common.removeLast() }
        }
        // readline releases the array and each string with free(3), so both come from malloc.
        let size = MemoryLayout<UnsafeMutablePointer<CChar>?>.stride * (matches.count + 2)
        let array = malloc(size)!.bindMemory(to: UnsafeMutablePointer<CChar>?.self, capacity: matches.count + 2)
        array[0] = strdup(common)
        for (index, match) in matches.enumerated() {
            array[index + 1] = strdup(match)
        }
        array[matches.count + 1] = nil
        return array
    }
}
