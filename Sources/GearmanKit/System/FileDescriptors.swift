#if canImport(Glibc)
    import Glibc
#endif

/// Helpers for raw file descriptors that the programs and the server share.
public enum FileDescriptors {
    /// Reads `fd` to its end, retrying reads that a signal interrupted.
    public static func readAll(_ fd: Int32) -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            result.append(contentsOf: chunk[0..<count])
        }
        return result
    }

    /// Points standard input, output and error at /dev/null, as a daemon does once it runs.
    public static func redirectStandardStreamsToNull() {
        let null = open("/dev/null", O_RDWR)
        guard null >= 0 else { return }
        dup2(null, 0)
        dup2(null, 1)
        dup2(null, 2)
        if null > 2 { close(null) }
    }
}
