import CGearmanSystem
import GearmanKit
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One I/O thread: an epoll set with the listening sockets, an eventfd for wake-ups, and the
/// connections this loop accepted.
///
/// Ownership: `connections`, `scratch` and every `Connection` are touched only by this loop's
/// thread. Other threads reach the loop only through `mailbox` (guarded by its mutex) followed
/// by a write to `wakeFD`.
final class EventLoop: @unchecked Sendable {
    /// epoll user data of the eventfd.
    private static let wakeToken: UInt64 = 1 << 62
    /// epoll user data of listener `i` is `listenerTokenBase | i`.
    private static let listenerTokenBase: UInt64 = 1 << 63

    let index: Int
    let runtime: ServerRuntime
    let epollFD: Int32
    private let wakeFD: Int32
    var connections: [Int: Connection] = [:]
    private let mailbox = Mutex<[(connectionID: Int, output: Outbox.Output)]>([])
    let scratch: UnsafeMutableRawBufferPointer
    var outbox = Outbox()
    /// Connections that received output during the current iteration.
    var dirty: [Connection] = []
    private var listenersRegistered = true
    /// The state of this loop's HTTP connections.
    var http = HTTPLoopState()
    /// Closing connections that wait for their peer to take the rest of their output, by
    /// connection ID (see EventLoop+Backpressure.swift).
    var closingConnections: [Int: Connection] = [:]

    init(index: Int, runtime: ServerRuntime) throws(SystemError) {
        self.index = index
        self.runtime = runtime
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        if epollFD < 0 { throw SystemError.current("epoll_create1") }
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        if wakeFD < 0 { throw SystemError.current("eventfd") }
        scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
        if cgs_epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, EPOLLIN.rawValue, Self.wakeToken) != 0 {
            throw SystemError.current("epoll_ctl")
        }
        for (position, listener) in runtime.listeners.enumerated() {
            // EPOLLEXCLUSIVE wakes one loop per incoming connection instead of all of them.
            let events = EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue
            if cgs_epoll_ctl(epollFD, EPOLL_CTL_ADD, listener.fd, events, Self.listenerTokenBase | UInt64(position))
                != 0
            {
                throw SystemError.current("epoll_ctl")
            }
        }
    }

    deinit {
        scratch.deallocate()
        close(epollFD)
        close(wakeFD)
    }

    /// Wakes the loop from another thread.
    func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    /// Queues output for a connection of this loop from another thread; call `wake()` afterwards.
    func post(_ items: [(connectionID: Int, output: Outbox.Output)]) {
        mailbox.withLock { $0.append(contentsOf: items) }
    }

    // MARK: Running

    /// Runs until the server stops; called on the loop's own thread.
    func run() {
        let capacity = 256
        var datas = [UInt64](repeating: 0, count: capacity)
        var events = [UInt32](repeating: 0, count: capacity)
        var ready: [(Connection, [Frame])] = []
        var httpReady: [Connection] = []
        while runtime.state.load(ordering: .acquiring) != ServerRuntime.stopped {
            if runtime.state.load(ordering: .acquiring) == ServerRuntime.draining && listenersRegistered {
                removeListeners()
            }
            var timeout = waitTimeout()
            // Busy polling: shortly after activity, look again without sleeping (see
            // ServerConfiguration.busyPollMicroseconds). Between two looks the thread yields,
            // so a process waiting for this core runs instead of the poll.
            var isSpinning = false
            if timeout != 0 && busyPollNanoseconds > 0 && monotonicNanoseconds() - lastEventTime < busyPollNanoseconds {
                timeout = 0
                isSpinning = true
            }
            let count = cgs_epoll_wait(epollFD, &datas, &events, Int32(capacity), timeout)
            if isSpinning && count == 0 {
                let beforeYield = monotonicNanoseconds()
                sched_yield()
                // A yield that took long let another thread run, so the core is in demand and
                // polling would take time from that thread. The loop sleeps until its next event.
                if monotonicNanoseconds() - beforeYield > Self.contendedYieldNanoseconds { lastEventTime = 0 }
            }
            if count > 0 && busyPollNanoseconds > 0 { lastEventTime = monotonicNanoseconds() }
            if count < 0 {
                if errno == EINTR { continue }
                runtime.logger.error("epoll_wait failed on loop \(index): \(SystemError.current("epoll_wait"))")
                break
            }
            ready.removeAll(keepingCapacity: true)
            httpReady.removeAll(keepingCapacity: true)
            var mailboxReady = false
            for position in 0..<Int(count) {
                let token = datas[position]
                if token == Self.wakeToken {
                    var value: UInt64 = 0
                    _ = read(wakeFD, &value, 8)
                    mailboxReady = true
                } else if token & Self.listenerTokenBase != 0 {
                    acceptConnections(from: runtime.listeners[Int(token & ~Self.listenerTokenBase)])
                } else if http.lingering[Int(token)] != nil && connections[Int(token)] == nil {
                    drainLingering(Int(token))
                } else if let connection = connections[Int(token)] {
                    handle(events[position], on: connection, ready: &ready, httpReady: &httpReady)
                }
            }
            if mailboxReady { drainMailbox() }
            process(ready)
            if index == 0 { runTimersIfDue() }
            if !httpReady.isEmpty || !http.resumable.isEmpty {
                serviceHTTP(httpReady)
            }
            if http.connectionCount > 0 { closeIdleHTTPConnections() }
            closeExpiredLingering()
            closeStalledConnections()
            flushDirty()
            runtime.checkDrained()
        }
        for connection in connections.values {
            close(connection.fd)
        }
        connections = [:]
        for id in Array(http.lingering.keys) {
            closeLingering(id)
        }
    }

    /// The duration above which a `sched_yield` is taken to have run another thread. The call
    /// itself takes about 0.5 microseconds when no other thread is waiting for the core.
    static let contendedYieldNanoseconds: Int64 = 5_000

    /// When the last epoll_wait returned events, for busy polling.
    private var lastEventTime: Int64 = 0
    private lazy var busyPollNanoseconds = Int64(runtime.configuration.busyPollMicroseconds) * 1000

    private func monotonicNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    private func waitTimeout() -> Int32 {
        // Output queued by a close during the last flush must not wait for the next event.
        if !dirty.isEmpty || !http.resumable.isEmpty { return 0 }
        var timeout: Int64 = -1
        if index == 0 {
            let deadline = runtime.nextDeadline.load(ordering: .acquiring)
            if deadline != Int64.max {
                timeout = max(0, deadline - JobCore.readMonotonicClock())
            }
        }
        if runtime.state.load(ordering: .acquiring) == ServerRuntime.draining {
            timeout = timeout < 0 ? 100 : min(timeout, 100)
        }
        if let sweep = idleSweepDelay() {
            timeout = timeout < 0 ? sweep : min(timeout, sweep)
        }
        if let linger = lingeringDelay() {
            timeout = timeout < 0 ? linger : min(timeout, linger)
        }
        if let stall = closeStallDelay() {
            timeout = timeout < 0 ? stall : min(timeout, stall)
        }
        return Int32(clamping: timeout)
    }

    private func removeListeners() {
        listenersRegistered = false
        for listener in runtime.listeners {
            _ = cgs_epoll_ctl(epollFD, EPOLL_CTL_DEL, listener.fd, 0, 0)
        }
        // Closing the sockets makes new connections fail at once instead of waiting unanswered.
        runtime.closeListeners()
    }

    // MARK: Accepting

    private func acceptConnections(from listener: Listener) {
        for _ in 0..<64 {
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    cgs_accept4(listener.fd, $0, &length, cgs_sock_nonblock | cgs_sock_cloexec)
                }
            }
            if fd < 0 {
                let code = errno
                if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return }
                if code == ECONNABORTED || code == EPROTO { continue }
                runtime.logger.error(
                    "accept on \(listener.description) failed: \(SystemError(code: code, call: "accept4"))")
                return
            }
            let peer = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketCalls.numericHost($0) }
            }
            // The log names the client's port as well, so a line can be tied to a process.
            let peerWithPort = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketCalls.numericHostAndPort($0) }
            }
            configureAccepted(fd)
            let id = runtime.nextConnectionID()
            let session = runtime.withCore { core in
                let session = core.connect(connectionID: id, loopIndex: index, fd: fd, peerAddress: peer)
                // An HTTP client gets WORK_EXCEPTION, so its response can carry the exception text.
                if listener.kind == .http { session.wantsExceptions = true }
                return session
            }
            let parser = FrameParser(
                maximumBodyLength: runtime.configuration.maximumPacketSize,
                maximumLineLength: runtime.configuration.maximumAdminLineLength)
            let connection = Connection(id: id, fd: fd, peer: peer, session: session, parser: parser)
            if listener.kind == .http { startHTTP(on: connection) }
            connections[id] = connection
            connection.registeredEvents = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
            if cgs_epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, connection.registeredEvents, UInt64(id)) != 0 {
                runtime.logger.error("cannot watch connection from \(peer): \(SystemError.current("epoll_ctl"))")
                closeConnection(connection)
                continue
            }
            runtime.logger.info(
                "accepted connection \(id) from \(peerWithPort) on fd \(fd)\(listener.kind == .http ? " (http)" : "")")
        }
    }

    private func configureAccepted(_ fd: Int32) {
        let configuration = runtime.configuration
        try? SocketCalls.setOption(fd, SOL_SOCKET, SO_KEEPALIVE, 1)
        try? SocketCalls.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        // gearmand 1.1.20 applies these with or without --keepalive, so they do here too.
        if let idle = configuration.keepaliveIdle {
            try? SocketCalls.setOption(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, Int32(idle))
        }
        if let interval = configuration.keepaliveInterval {
            try? SocketCalls.setOption(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, Int32(interval))
        }
        if let count = configuration.keepaliveCount {
            try? SocketCalls.setOption(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT, Int32(count))
        }
    }

    // MARK: Reading

    /// Handles the epoll events of one connection: writes queued output when the socket is
    /// writable and reads when input or an end of stream arrived.
    private func handle(
        _ flags: UInt32, on connection: Connection, ready: inout [(Connection, [Frame])], httpReady: inout [Connection]
    ) {
        if flags & EPOLLOUT.rawValue != 0 {
            flush(connection)
            if connections[connection.id] !== connection { return }
        }
        if connection.closeReason != nil {
            // A closing connection reads nothing more, and its read events are off (see
            // updateInterest). EPOLLHUP or EPOLLERR means that the peer can no longer receive
            // the rest of the output.
            if flags & (EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 { finishClose(connection) }
            return
        }
        if flags & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
            if connection.http != nil {
                readHTTP(from: connection, closing: &ready, readable: &httpReady)
            } else {
                readFrames(from: connection, into: &ready)
            }
        }
    }

    private func readFrames(from connection: Connection, into ready: inout [(Connection, [Frame])]) {
        if connection.closeReason != nil { return }
        let received = read(connection.fd, scratch.baseAddress, scratch.count)
        if received == 0 {
            connection.closeReason = ""
            ready.append((connection, []))
            return
        }
        if received < 0 {
            let code = errno
            if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return }
            connection.closeReason = code == ECONNRESET ? "" : "read failed: \(SystemError(code: code, call: "read"))"
            ready.append((connection, []))
            return
        }
        var frames: [Frame] = []
        do {
            try connection.parser.parse(UnsafeRawBufferPointer(rebasing: scratch[0..<received]), into: &frames)
            ready.append((connection, frames))
        } catch let fault {
            // Frames completed before the fault are still handled; the reply to the fault goes last.
            ready.append((connection, frames))
            reject(connection, fault: fault)
        }
    }

    /// Queues an ERROR for a framing fault and marks the connection to close once it is written.
    private func reject(_ connection: Connection, fault: WireError) {
        switch fault {
        case .lineTooLong:
            connection.outbound.append(contentsOf: Array("ERR \(fault.errorCode) \(fault.description)\r\n".utf8))
        default:
            let error = Packet.response(.error, fault.errorCode, fault.description)
            connection.outbound.append(error)
        }
        connection.closeReason = fault.description
        dirty.append(connection)
    }

    // MARK: Processing

    private func process(_ ready: [(Connection, [Frame])]) {
        if ready.isEmpty { return }
        outbox.removeAll()
        var shutdown: Bool? = nil
        withCoreInOrder { core in
            for (connection, frames) in ready {
                for frame in frames {
                    let disposition: JobCore.Disposition
                    switch frame {
                    case .packet(let packet):
                        disposition = core.handle(packet, from: connection.session, outbox: &outbox)
                    case .adminLine(let line):
                        disposition = core.handleAdmin(line, from: connection.session, outbox: &outbox)
                    }
                    switch disposition {
                    case .keepOpen: continue
                    case .close(let reason): connection.closeReason = reason
                    case .shutdown(let graceful): shutdown = graceful
                    }
                    if connection.closeReason != nil { break }
                }
                if connection.closeReason != nil && connection.outbound.isEmpty && frames.isEmpty {
                    core.disconnect(connection.session, outbox: &outbox)
                    connection.isReleased = true
                }
            }
            core.routeHeldOutputs(&outbox)
            runtime.publishDeadline(core)
        }
        deliver()
        for (connection, _) in ready where connection.closeReason != nil {
            if connection.outbound.isEmpty {
                finishClose(connection)
            } else {
                dirty.append(connection)
            }
        }
        if let graceful = shutdown {
            runtime.requestStop(graceful: graceful)
        }
    }

    private func runTimersIfDue() {
        let deadline = runtime.nextDeadline.load(ordering: .acquiring)
        if deadline == Int64.max || deadline > JobCore.readMonotonicClock() { return }
        outbox.removeAll()
        withCoreInOrder { core in
            core.fireTimers(outbox: &outbox)
            core.routeHeldOutputs(&outbox)
            runtime.publishDeadline(core)
        }
        deliver()
    }

    /// Hands the outbox to its connections: directly for this loop's, by mailbox for others'.
    func deliver() {
        var remote: [Int: [(connectionID: Int, output: Outbox.Output)]] = [:]
        for item in outbox.items {
            if item.loopIndex == index {
                guard let connection = connections[item.connectionID] else { continue }
                connection.deliver(item.output)
                dirty.append(connection)
                if connection.http != nil { http.resumable.append(connection) }
            } else {
                remote[item.loopIndex, default: []].append((item.connectionID, item.output))
            }
        }
        for (loopIndex, items) in remote {
            let loop = runtime.loops[loopIndex]
            loop.post(items)
            loop.wake()
        }
        if outbox.deadlineChanged && index != 0 {
            runtime.loops[0].wake()
        }
        outbox.removeAll()
    }

    /// Runs `body` with the core lock held, then delivers what was in this loop's mailbox when
    /// the lock was taken.
    ///
    /// The store committer posts acknowledgements under the core lock, in the same step that
    /// releases the connection's held-reply count. Taking the mailbox under the lock sends those
    /// acknowledgements before any reply that `body` produces for the same connection.
    ///
    /// NOTE: no test covers this order, because the race needs a store commit to land between
    /// the committer's and this loop's turns at the lock.
    func withCoreInOrder(_ body: (JobCore) -> Void) {
        var posted: [(connectionID: Int, output: Outbox.Output)] = []
        runtime.withCore { core in
            posted = takeMailbox()
            body(core)
        }
        deliverPosted(posted)
    }

    private func drainMailbox() {
        deliverPosted(takeMailbox())
    }

    private func takeMailbox() -> [(connectionID: Int, output: Outbox.Output)] {
        mailbox.withLock { items in
            let taken = items
            items.removeAll()
            return taken
        }
    }

    private func deliverPosted(_ items: [(connectionID: Int, output: Outbox.Output)]) {
        for item in items {
            guard let connection = connections[item.connectionID] else { continue }
            connection.deliver(item.output)
            dirty.append(connection)
            if connection.http != nil { http.resumable.append(connection) }
        }
    }

    // MARK: Writing and closing

    private func flushDirty() {
        if dirty.isEmpty { return }
        let pending = dirty
        dirty.removeAll(keepingCapacity: true)
        for connection in pending where connections[connection.id] === connection {
            flush(connection)
        }
    }

    private func flush(_ connection: Connection) {
        if !connection.outbound.isEmpty {
            let countBefore = connection.outbound.count
            do {
                let result = try connection.outbound.write(to: connection.fd)
                if result == .wouldBlock {
                    connection.isWaitingForWritable = true
                    updateBacklog(of: connection)
                    if connection.closeReason != nil {
                        startCloseDeadline(of: connection, progressed: connection.outbound.count < countBefore)
                    }
                    updateInterest(connection)
                    return
                }
            } catch {
                if connection.closeReason == nil {
                    connection.closeReason = error.code == EPIPE || error.code == ECONNRESET ? "" : error.description
                }
                finishClose(connection)
                return
            }
            // The idle timeout of an HTTP connection counts from the moment its peer took the
            // last response, not from the moment the response was queued.
            if connection.http != nil { connection.http!.lastActivity = JobCore.readMonotonicClock() }
        }
        connection.isWaitingForWritable = false
        updateBacklog(of: connection)
        if connection.closeReason != nil {
            finishClose(connection)
            return
        }
        updateInterest(connection)
    }

    /// Sets the epoll events of a connection from its write, input-pause, backlog and closing
    /// state. A closing connection reads no more input, because a level-triggered EPOLLIN or
    /// EPOLLRDHUP that is never read would make epoll_wait return at once, again and again.
    func updateInterest(_ connection: Connection) {
        let reads =
            connection.closeReason == nil && !connection.isInputPaused && !connection.isOutputBacklogged
        var events = reads ? EPOLLIN.rawValue | EPOLLRDHUP.rawValue : 0
        if connection.isWaitingForWritable { events |= EPOLLOUT.rawValue }
        if events == connection.registeredEvents { return }
        connection.registeredEvents = events
        _ = cgs_epoll_ctl(epollFD, EPOLL_CTL_MOD, connection.fd, events, UInt64(connection.id))
    }

    /// Releases the connection's jobs in the core, unless that happened already, and closes it.
    func finishClose(_ connection: Connection) {
        guard connections[connection.id] === connection else { return }
        if !connection.isReleased {
            connection.isReleased = true
            outbox.removeAll()
            withCoreInOrder { core in
                core.disconnect(connection.session, outbox: &outbox)
                core.routeHeldOutputs(&outbox)
                runtime.publishDeadline(core)
            }
            deliver()
        }
        closeConnection(connection)
    }

    private func closeConnection(_ connection: Connection) {
        connections[connection.id] = nil
        closingConnections[connection.id] = nil
        if connection.http != nil { http.connectionCount -= 1 }
        // Unread input would make close(2) send a reset, which can destroy output the peer has
        // not read yet, such as the response to `Connection: close` or an ERROR packet.
        if (connection.lingersOnClose || Self.hasUnreadInput(connection.fd))
            && runtime.state.load(ordering: .acquiring) != ServerRuntime.stopped
        {
            linger(connection)
        } else {
            _ = cgs_epoll_ctl(epollFD, EPOLL_CTL_DEL, connection.fd, 0, 0)
            close(connection.fd)
        }
        if let reason = connection.closeReason, !reason.isEmpty {
            runtime.logger.error("closed connection from \(connection.peer) (fd \(connection.fd)): \(reason)")
        } else {
            runtime.logger.info("connection \(connection.id) from \(connection.peer) closed")
        }
    }
}
