import GearmanKit

#if canImport(Glibc)
    import Glibc
#endif

/// Limits on output that a peer does not read.
///
/// A connection stops reading while more than `outputBacklogLimit` (HTTP) or
/// `gearmanOutputBacklogLimit` bytes of its output wait in user space, and reads again once its
/// peer has taken enough of them. Without this a client that sends requests and never reads the
/// replies, such as pipelined `GET /` requests or ECHO_REQ packets, makes the server buffer
/// replies without bound. The bytes count only after the kernel's send buffer is full, so a
/// client that reads at a normal pace is never slowed.
///
/// A connection that is closing (after an ERROR packet, an end of input or a response with
/// `Connection: close`) reads nothing more and waits only for its output to be written. When
/// its peer takes none of that output for `closeStallMilliseconds`, it is closed without it.
extension EventLoop {
    /// The maximum output of an HTTP connection that waits in user space before it stops reading.
    /// 4 MiB bounds the memory that one client's unread responses take.
    static let outputBacklogLimit = 4 << 20

    /// The same limit for the Gearman port, larger because a client that writes a whole batch
    /// before it reads the first reply blocks for good once the batch's replies exceed this
    /// limit and the kernel's socket buffers together. gearmand 1.1 buffers without limit, so
    /// 32 MiB (over a million JOB_CREATED replies) keeps such clients working.
    static let gearmanOutputBacklogLimit = 32 << 20

    /// A peer that reads takes output within milliseconds, so 10 s also covers a client that is
    /// stopped for a while. The limit also bounds how long a closing worker keeps its jobs,
    /// because they go back to the queue only when the connection closes.
    static let closeStallMilliseconds: Int64 = 10_000

    /// Records whether the connection's unwritten output is above the limit. When it falls
    /// below, an HTTP connection resumes the pipelined requests it had stopped responding to.
    func updateBacklog(of connection: Connection) {
        let limit = connection.http == nil ? Self.gearmanOutputBacklogLimit : Self.outputBacklogLimit
        let isBacklogged = connection.outbound.count >= limit
        if isBacklogged == connection.isOutputBacklogged { return }
        connection.isOutputBacklogged = isBacklogged
        if !isBacklogged && connection.http != nil { http.resumable.append(connection) }
    }

    /// Starts the time limit of a closing connection whose output waits for its peer, or
    /// restarts it when the last write made progress.
    func startCloseDeadline(of connection: Connection, progressed: Bool) {
        if connection.closeDeadline != nil && !progressed { return }
        connection.closeDeadline = JobCore.readMonotonicClock() + Self.closeStallMilliseconds
        connection.unsentAtCloseCheck = unsentCount(of: connection)
        closingConnections[connection.id] = connection
    }

    /// Closes the closing connections whose peers took no output within the time limit.
    ///
    /// A peer that reads slowly empties the kernel's send queue without making the socket
    /// writable for a long time, so the check also compares the bytes in that queue.
    func closeStalledConnections() {
        guard !closingConnections.isEmpty else { return }
        let now = JobCore.readMonotonicClock()
        for connection in Array(closingConnections.values) {
            guard let deadline = connection.closeDeadline, deadline <= now else { continue }
            let unsent = unsentCount(of: connection)
            if unsent < connection.unsentAtCloseCheck {
                connection.unsentAtCloseCheck = unsent
                connection.closeDeadline = now + Self.closeStallMilliseconds
                continue
            }
            closingConnections[connection.id] = nil
            runtime.logger.warning(
                "closing connection \(connection.id) from \(connection.peer) with \(unsent) bytes of output "
                    + "unsent: the peer read nothing for \(Self.closeStallMilliseconds / 1000) s")
            finishClose(connection)
        }
    }

    /// Returns the bytes of output that the peer has not acknowledged: those still in `outbound`
    /// and those in the socket's send queue (SIOCOUTQ, which is TIOCOUTQ on Linux).
    private func unsentCount(of connection: Connection) -> Int {
        var queued: Int32 = 0
        if ioctl(connection.fd, UInt(TIOCOUTQ), &queued) != 0 { queued = 0 }
        return connection.outbound.count + Int(queued)
    }

    /// Milliseconds until the first closing connection reaches its time limit, or nil when
    /// there is none.
    func closeStallDelay() -> Int64? {
        guard let first = closingConnections.values.compactMap(\.closeDeadline).min() else { return nil }
        return max(0, first - JobCore.readMonotonicClock())
    }
}
