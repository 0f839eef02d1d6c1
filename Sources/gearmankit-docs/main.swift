import GearmanDocs

#if canImport(Glibc)
    import Glibc
#endif

// Run from the package root: rewrites completions/ and the OPTIONS blocks of man/.
do {
    for file in try DocumentationWriter.expectedFiles(readFile: DocumentationWriter.read) {
        try DocumentationWriter.write(file.content, to: file.path)
        print("wrote \(file.path)")
    }
} catch {
    print("gearmankit-docs: \(error)")
    exit(1)
}
