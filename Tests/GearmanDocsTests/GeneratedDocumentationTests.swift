import Testing

@testable import GearmanDocs

@Suite("Generated documentation")
struct GeneratedDocumentationTests {
    /// The package root, two folders above this file.
    static let root: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }()

    @Test("completions and man page options match the declarations")
    func upToDate() throws {
        let files = try DocumentationWriter.expectedFiles { DocumentationWriter.read(Self.root + "/" + $0) }
        #expect(files.count >= 9)
        for file in files {
            let current = DocumentationWriter.read(Self.root + "/" + file.path)
            #expect(current == file.content, "\(file.path) is out of date: run swift run gearmankit-docs")
        }
    }

    @Test("every visible option appears in each completion script")
    func completionsListOptions() {
        for tool in ToolDescription.all {
            for shell in CompletionScripts.shells {
                let script = CompletionScripts.script(shell: shell, tool: tool)
                for spec in tool.visibleSpecs {
                    #expect(script.contains(spec.long), "\(tool.name) \(shell) lacks --\(spec.long)")
                }
            }
        }
    }

    @Test("roff escapes hyphens and leading dots")
    func roffEscaping() {
        #expect(ManPageOptions.escape("--port") == "\\-\\-port")
        #expect(ManPageOptions.escape(".hidden") == "\\&.hidden")
        #expect(ManPageOptions.escape("a\\b") == "a\\eb")
    }
}
