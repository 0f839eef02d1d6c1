import CGearmanSystem

#if canImport(Glibc)
    import Glibc
#endif

/// A socket whose response is written and whose write side is shut down, kept open for a while
/// to read and discard what the peer still sends.
struct LingeringSocket {
    let fd: Int32
    /// Monotonic milliseconds after which the socket is closed even if the peer keeps sending.
    let finalDeadline: Int64
    /// Monotonic milliseconds after which the socket is closed unless more input arrives; each
    /// read that returns data moves it.
    var idleDeadline: Int64
    var discarded = 0

    /// The earlier of the two deadlines.
    var deadline: Int64 { min(finalDeadline, idleDeadline) }
}

/// Lingering close for connections that the server closes while the peer may still be sending:
/// an HTTP request rejected with 413, 431 or 400 before its body arrived, or any connection
/// closed with input that the server stopped reading when it decided to close.
///
/// Closing a socket that has unread input makes the kernel send a reset, and a client that is
/// still writing its body then gets a send error and may never read the response that explains
/// the rejection. So the server shuts down its write side, which ends the response with a FIN,
/// and reads and discards input until the peer closes, no input arrives for
/// `lingerIdleMilliseconds`, `lingerMilliseconds` pass in all, or `lingerByteLimit` bytes were
/// discarded. The idle limit lets a slow client finish sending a large body. The total and byte
/// limits bound the cost of a client that never stops sending.
extension EventLoop {
    static let lingerIdleMilliseconds: Int64 = 2000
    static let lingerMilliseconds: Int64 = 30_000
    static let lingerByteLimit = 64 << 20

    /// Returns whether the socket's receive buffer contains input that was never read.
    static func hasUnreadInput(_ fd: Int32) -> Bool {
        var count: Int32 = 0
        return ioctl(fd, UInt(FIONREAD), &count) == 0 && count > 0
    }

    /// Shuts down the write side of a connection that was just taken out of `connections` and
    /// keeps reading from it. The caller must not close the descriptor.
    func linger(_ connection: Connection) {
        shutdown(connection.fd, Int32(SHUT_WR))
        let events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
        _ = cgs_epoll_ctl(epollFD, EPOLL_CTL_MOD, connection.fd, events, UInt64(connection.id))
        let now = JobCore.readMonotonicClock()
        http.lingering[connection.id] = LingeringSocket(
            fd: connection.fd, finalDeadline: now + Self.lingerMilliseconds,
            idleDeadline: now + Self.lingerIdleMilliseconds)
    }

    /// Reads and discards what a lingering socket received; closes it at end of input, on an
    /// error, or past the byte limit.
    func drainLingering(_ id: Int) {
        guard var socket = http.lingering[id] else { return }
        while true {
            let received = read(socket.fd, scratch.baseAddress, scratch.count)
            if received > 0 {
                socket.discarded += received
                socket.idleDeadline = JobCore.readMonotonicClock() + Self.lingerIdleMilliseconds
                if socket.discarded >= Self.lingerByteLimit { break }
                continue
            }
            if received < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                http.lingering[id] = socket
                return
            }
            break
        }
        closeLingering(id)
    }

    /// Closes lingering sockets whose time is up.
    func closeExpiredLingering() {
        guard !http.lingering.isEmpty else { return }
        let now = JobCore.readMonotonicClock()
        for (id, socket) in http.lingering where socket.deadline <= now {
            closeLingering(id)
        }
    }

    /// Milliseconds until the first lingering socket expires, or nil when there is none.
    func lingeringDelay() -> Int64? {
        guard let first = http.lingering.values.map(\.deadline).min() else { return nil }
        return max(0, first - JobCore.readMonotonicClock())
    }

    func closeLingering(_ id: Int) {
        guard let socket = http.lingering.removeValue(forKey: id) else { return }
        _ = cgs_epoll_ctl(epollFD, EPOLL_CTL_DEL, socket.fd, 0, 0)
        close(socket.fd)
    }
}
