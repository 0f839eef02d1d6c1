#if canImport(Glibc)
    import Glibc
#endif

/// Bytes queued for one socket, written with `sendmsg(2)` (a `writev(2)` that never raises SIGPIPE).
///
/// Small packets are appended to the last chunk, so many packets go out in one system call.
/// A large payload is queued as its own chunk that refers to the caller's storage instead of
/// being copied again.
public struct OutboundBuffer: Sendable {
    /// Payloads at least this long are queued by reference instead of copied.
    public static let referenceThreshold = 16 * 1024

    private var chunks: [ArraySlice<UInt8>] = []
    /// Bytes of `chunks[0]` already written.
    private var writtenInFirst = 0
    /// Whether the last chunk is this buffer's own copy, which later small packets may extend.
    private var lastChunkIsOwned = false
    /// Total bytes not yet written.
    public private(set) var count = 0

    /// Creates an empty buffer.
    public init() {}

    /// Whether nothing is waiting to be written.
    public var isEmpty: Bool { count == 0 }

    /// Appends bytes by copying them into the last chunk.
    public mutating func append<C: Collection>(contentsOf bytes: C) where C.Element == UInt8 {
        if bytes.isEmpty { return }
        count += bytes.count
        if !lastChunkIsOwned || chunks[chunks.count - 1].count >= 64 * 1024 {
            var chunk: [UInt8] = []
            chunk.reserveCapacity(max(bytes.count, 512))
            chunk.append(contentsOf: bytes)
            chunks.append(chunk[...])
            lastChunkIsOwned = true
        } else {
            chunks[chunks.count - 1].append(contentsOf: bytes)
        }
    }

    /// Appends a payload, by reference when it is large.
    public mutating func appendPayload(_ payload: ArraySlice<UInt8>) {
        if payload.count >= Self.referenceThreshold {
            count += payload.count
            chunks.append(payload)
            lastChunkIsOwned = false
        } else {
            append(contentsOf: payload)
        }
    }

    /// Appends a packet in wire format, queueing a large last argument by reference.
    public mutating func append(_ packet: Packet) {
        var head: [UInt8] = []
        let arguments = packet.arguments
        let last = arguments.last ?? []
        let byReference = last.count >= Self.referenceThreshold
        head.reserveCapacity(PacketHeader.size + (byReference ? 64 : packet.bodyLength))
        PacketHeader(magic: packet.magic, type: packet.type, bodyLength: UInt32(packet.bodyLength)).encode(into: &head)
        for index in arguments.indices {
            if index > 0 { head.append(0) }
            if index == arguments.count - 1 && byReference { break }
            head.append(contentsOf: arguments[index])
        }
        append(contentsOf: head)
        if byReference {
            count += last.count
            chunks.append(last)
            lastChunkIsOwned = false
        }
    }

    /// The outcome of one attempt to write queued bytes.
    public enum WriteResult: Sendable, Equatable {
        /// Everything queued was written.
        case drained
        /// The socket's buffer is full; wait for it to become writable.
        case wouldBlock
    }

    /// Writes as much as the socket takes now.
    ///
    /// - Parameter nonBlocking: pass `MSG_DONTWAIT`, so that a blocking socket returns
    ///   `.wouldBlock` instead of waiting for room in its send buffer.
    /// - Throws: `SystemError` for any failure other than `EAGAIN` or `EINTR`.
    public mutating func write(to fd: Int32, nonBlocking: Bool = false) throws(SystemError) -> WriteResult {
        let flags = Int32(MSG_NOSIGNAL) | (nonBlocking ? Int32(MSG_DONTWAIT) : 0)
        while count > 0 {
            let written = writeOnce(fd, flags: flags)
            if written < 0 {
                let code = errno
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
                throw SystemError(code: code, call: "sendmsg")
            }
            consume(written)
        }
        return .drained
    }

    private func writeOnce(_ fd: Int32, flags: Int32) -> Int {
        let iovecCount = min(chunks.count, 64)
        return withUnsafeTemporaryAllocation(of: iovec.self, capacity: iovecCount) { iovecs -> Int in
            // Each chunk's storage stays alive while `chunks` is not mutated, which is true until
            // sendmsg returns, so the base pointers may escape the closures for that time.
            for index in 0..<iovecCount {
                let chunk = chunks[index]
                let skip = index == 0 ? writtenInFirst : 0
                chunk.withUnsafeBytes { raw in
                    iovecs[index] = iovec(
                        iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress!.advanced(by: skip)),
                        iov_len: raw.count - skip)
                }
            }
            // sendmsg with MSG_NOSIGNAL is writev for sockets, except that a peer that closed
            // early yields EPIPE instead of a SIGPIPE that would kill the whole process.
            var message = msghdr()
            message.msg_iov = iovecs.baseAddress
            message.msg_iovlen = iovecCount
            return sendmsg(fd, &message, flags)
        }
    }

    private mutating func consume(_ written: Int) {
        var remaining = written
        count -= written
        while remaining > 0 {
            let left = chunks[0].count - writtenInFirst
            if remaining >= left {
                remaining -= left
                chunks.removeFirst()
                writtenInFirst = 0
            } else {
                writtenInFirst += remaining
                remaining = 0
            }
        }
        if chunks.isEmpty {
            writtenInFirst = 0
            lastChunkIsOwned = false
        }
    }
}
