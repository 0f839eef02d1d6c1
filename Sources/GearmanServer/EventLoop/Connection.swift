import GearmanKit

#if canImport(Glibc)
    import Glibc
#endif

/// The I/O side of one accepted socket: its parser and its queued output.
///
/// Owned by one `EventLoop` and touched only on that loop's thread; the job state of the same
/// connection lives in a `Session` inside the core.
final class Connection {
    let id: Int
    let fd: Int32
    let peer: String
    let session: Session
    var parser: FrameParser
    var outbound = OutboundBuffer()
    /// Whether EPOLLOUT is registered because the socket's send buffer filled up.
    var isWaitingForWritable = false
    /// Set when the connection must close once its queued output is written.
    var closeReason: String?
    /// Whether the core has released the session's jobs and listeners.
    var isReleased = false
    /// The request parser and job exchange of a connection accepted on the HTTP port; nil for
    /// a Gearman connection, which uses `parser` instead.
    var http: HTTPConnectionState?
    /// Whether EPOLLIN is off because an HTTP connection buffered enough pipelined requests.
    var isInputPaused = false
    /// Whether reading stopped because `outbound` contains more unsent bytes than
    /// `EventLoop.outputBacklogLimit` (HTTP) or `gearmanOutputBacklogLimit` allow.
    var isOutputBacklogged = false
    /// The epoll events registered for the socket, so that an unchanged set costs no system call.
    var registeredEvents: UInt32 = 0
    /// The monotonic time in milliseconds at which a closing connection is closed without its
    /// remaining output if the peer has taken none of it. Nil while the connection is not closing.
    var closeDeadline: Int64?
    /// The bytes of output not yet received by the peer, in user space and in the kernel's send
    /// queue, when `closeDeadline` was last set.
    var unsentAtCloseCheck = 0
    /// Whether closing reads and discards the peer's remaining input first, because a request
    /// was refused while its body may still be arriving.
    var lingersOnClose = false

    init(id: Int, fd: Int32, peer: String, session: Session, parser: FrameParser) {
        self.id = id
        self.fd = fd
        self.peer = peer
        self.session = session
        self.parser = parser
    }

    func deliver(_ output: Outbox.Output) {
        if http != nil {
            deliverHTTP(output)
            return
        }
        switch output {
        case .packet(let packet): outbound.append(packet)
        case .text(let bytes): outbound.append(contentsOf: bytes)
        }
    }
}
