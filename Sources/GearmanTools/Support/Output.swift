import CGearmanSystem
import GearmanKit

#if canImport(Glibc)
    import Glibc
#endif

/// Writes to the standard streams with write(2), unbuffered and binary-safe.
public enum Output {
    public static func write(_ text: String) {
        write(Array(text.utf8), to: 1)
    }

    public static func error(_ text: String) {
        write(Array(text.utf8), to: 2)
    }

    public static func write(_ bytes: [UInt8], to fd: Int32) {
        var offset = 0
        bytes.withUnsafeBytes { raw in
            while offset < raw.count {
                let count = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if count < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += count
            }
        }
    }

    /// Reads a file descriptor to its end.
    public static func readAll(_ fd: Int32) -> [UInt8] {
        FileDescriptors.readAll(fd)
    }
}

/// Process set-up shared by the tools: daemon mode and pid files.
public enum Daemon {
    /// Forks into the background with standard streams on /dev/null; returns an error message on failure.
    public static func detach() -> String? {
        let pid = cgs_fork()
        if pid < 0 { return "cannot fork: \(SystemError.current("fork").message)" }
        if pid > 0 { exit(0) }
        setsid()
        FileDescriptors.redirectStandardStreamsToNull()
        return nil
    }

    public static func writePidFile(_ path: String) -> String? {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { return "cannot write pid file \(path): \(SystemError.current("open").message)" }
        Output.write(Array("\(getpid())\n".utf8), to: fd)
        close(fd)
        return nil
    }
}
