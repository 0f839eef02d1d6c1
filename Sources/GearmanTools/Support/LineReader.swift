#if canImport(Glibc)
    import Glibc
#endif

/// Reader of a file descriptor that returns each line as soon as its newline has been read,
/// so a client can act on a line while the writer is still producing the next one.
public struct LineReader {
    private let fd: Int32
    private let chunkSize: Int
    private var buffer: [UInt8] = []
    /// Offset in `buffer` of the first byte not yet returned.
    private var start = 0
    /// Offset in `buffer` from which to look for the next newline; the bytes between `start`
    /// and it hold none.
    private var scanned = 0
    private var atEnd = false

    /// Reads `fd` with read(2) calls of up to `chunkSize` bytes; the caller keeps `fd` open.
    public init(fd: Int32, chunkSize: Int = 65536) {
        self.fd = fd
        self.chunkSize = chunkSize
    }

    /// Returns the next line with its newline, or the bytes after the last newline when the
    /// input ends without one, or nil at the end of the input. A line may be of any length.
    /// A read error other than EINTR counts as the end of the input.
    public mutating func nextLine() -> [UInt8]? {
        while true {
            if let newline = buffer[scanned...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[start...newline])
                start = newline + 1
                scanned = start
                return line
            }
            scanned = buffer.count
            if atEnd {
                guard start < buffer.count else { return nil }
                let line = Array(buffer[start...])
                start = buffer.count
                return line
            }
            readChunk()
        }
    }

    /// Appends the next chunk of input to `buffer`, first dropping the bytes already returned.
    private mutating func readChunk() {
        if start > 0 {
            buffer.removeFirst(start)
            scanned -= start
            start = 0
        }
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        while true {
            let count = read(fd, &chunk, chunkSize)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 {
                atEnd = true
            } else {
                buffer.append(contentsOf: chunk[0..<count])
            }
            return
        }
    }
}
