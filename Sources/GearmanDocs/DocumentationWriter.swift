#if canImport(Glibc)
    import Glibc
#endif

/// Writes the generated documentation files of the package: completions for each shell and
/// the OPTIONS block of each man page.
public enum DocumentationWriter {
    /// The man page path of each tool, relative to the package root.
    public static func manPagePath(_ tool: String) -> String {
        tool == "gearmand" ? "man/gearmand.8" : "man/\(tool).1"
    }

    /// The completion script path of a tool for a shell, relative to the package root.
    public static func completionPath(shell: String, tool: String) -> String {
        "completions/\(shell)/\(CompletionScripts.fileName(shell: shell, tool: tool))"
    }

    /// Every generated file with its expected content, given the current man pages.
    public static func expectedFiles(readFile: (String) -> String?) throws -> [(path: String, content: String)] {
        var files: [(String, String)] = []
        for tool in ToolDescription.all {
            for shell in CompletionScripts.shells {
                files.append(
                    (completionPath(shell: shell, tool: tool.name), CompletionScripts.script(shell: shell, tool: tool)))
            }
            let manPath = manPagePath(tool.name)
            if let page = readFile(manPath) {
                files.append((manPath, try ManPageOptions.replacingOptions(in: page, tool: tool)))
            }
        }
        return files
    }

    /// Reads a whole file, or nil when it cannot be opened.
    public static func read(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            bytes += buffer[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes a file, creating its folder.
    public static func write(_ content: String, to path: String) throws {
        var folder = ""
        for component in path.split(separator: "/").dropLast() {
            folder += (folder.isEmpty && !path.hasPrefix("/") ? "" : "/") + component
            mkdir(folder, 0o755)
        }
        guard let file = fopen(path, "w") else {
            throw CommandLineErrorWrapper(message: "cannot write \(path)")
        }
        defer { fclose(file) }
        let bytes = Array(content.utf8)
        _ = fwrite(bytes, 1, bytes.count, file)
    }
}

/// A failure to write a generated file.
public struct CommandLineErrorWrapper: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
