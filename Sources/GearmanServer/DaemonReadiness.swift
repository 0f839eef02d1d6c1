import GearmanKit

#if canImport(Glibc)
    import Glibc
#endif

/// The daemon child's end of the pipe to the waiting parent, on which it reports once that it
/// is ready or why it failed.
///
/// A report is one byte, 0 for ready or 1 for failed, followed by the error message on
/// failure. The child closes the pipe after reporting, so the parent reads until end of file.
/// A pipe that closes without a report means the child died first.
final class DaemonReadiness {
    /// A report from the child.
    enum Report: Equatable {
        case ready
        case failed(String)

        /// Decodes a complete report, or returns nil when `bytes` contains none.
        init?(bytes: [UInt8]) {
            guard let kind = bytes.first else { return nil }
            switch kind {
            case 0: self = .ready
            case 1: self = .failed(String(decoding: bytes.dropFirst(), as: UTF8.self))
            default: return nil
            }
        }

        var bytes: [UInt8] {
            switch self {
            case .ready: return [0]
            case .failed(let message): return [1] + Array(message.utf8)
            }
        }
    }

    private var fd: Int32

    init(fd: Int32) {
        self.fd = fd
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    /// Points the standard streams at /dev/null, then reports to the parent that the server runs.
    ///
    /// The streams are redirected first, so a caller that reads the parent's output through a
    /// pipe reaches its end when the parent exits, not when the daemon does.
    func reportReady() {
        FileDescriptors.redirectStandardStreamsToNull()
        send(.ready)
    }

    /// Sends `message` to the parent, which prints it and exits with status 1.
    func reportFailure(_ message: String) {
        send(.failed(message))
    }

    private func send(_ report: Report) {
        guard fd >= 0 else { return }
        let bytes = report.bytes
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { break }
            offset += written
        }
        close(fd)
        fd = -1
    }
}
