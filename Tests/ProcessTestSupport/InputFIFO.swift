import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A named pipe that a test writes to piece by piece while a child process reads it as its
/// standard input, to check what the child does before the rest of its input arrives.
///
/// Pass `url` as the child's `standardInput`. The test holds the pipe open for reading and
/// writing, so the child's open does not block, and the child reads the end of its input only
/// after `close()`.
public final class InputFIFO {
    public let url: URL
    private var fd: Int32

    /// Creates the pipe at `url`, which must not exist yet, and opens it.
    public init(at url: URL) throws {
        self.url = url
        if mkfifo(url.path, 0o600) != 0 {
            throw SystemCallError(call: "mkfifo \(url.path)", code: errno)
        }
        // On Linux, O_RDWR opens a FIFO without waiting for a reader.
        fd = open(url.path, O_RDWR | O_CLOEXEC)
        if fd < 0 {
            throw SystemCallError(call: "open \(url.path)", code: errno)
        }
    }

    deinit {
        close()
    }

    /// Writes all of `bytes`; blocks while the pipe's buffer (64 KiB on Linux) is full.
    public func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SystemCallError(call: "write \(url.path)", code: errno)
            }
            offset += count
        }
    }

    public func write(_ text: String) throws {
        try write(Array(text.utf8))
    }

    /// Closes the test's end, so the reader gets the end of input once it has read the rest.
    public func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }
}
