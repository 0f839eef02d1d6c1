import CGearmanSystem

#if canImport(Glibc)
    import Glibc
#endif

/// A blocking TCP connection to one job server that sends and receives frames.
///
/// This is the synchronous layer the command-line tools use; each call blocks the calling
/// thread, bounded by the timeout given. Not safe to share between threads.
public final class GearmanConnection {
    /// The server this connection talks to.
    public let server: ServerAddress
    /// The socket, for callers that wait on several connections with poll(2).
    public let fd: Int32
    private var parser = FrameParser(maximumBodyLength: Int(UInt32.max), maximumLineLength: 1 << 20)
    private var pending: [Frame] = []
    private var pendingIndex = 0
    private var readBuffer = [UInt8](repeating: 0, count: 64 * 1024)
    private var isClosed = false

    /// Connects to `server`, trying each address its host resolves to.
    ///
    /// - Parameter timeout: milliseconds to wait for the TCP handshake; nil waits as long as
    ///   the system does.
    /// - Throws: `GearmanError.hostNotFound` or `GearmanError.connectionFailed`.
    public init(to server: ServerAddress, timeout: Int? = nil) throws {
        self.server = server
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = cgs_sock_stream
        hints.ai_flags = AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>? = nil
        let status = getaddrinfo(server.host, String(server.port), &hints, &result)
        if status != 0 {
            throw GearmanError.hostNotFound(server, reason: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(result) }
        var lastError = SystemError(code: ECONNREFUSED, call: "connect")
        var cursor = result
        while let info = cursor {
            cursor = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, cgs_sock_stream | cgs_sock_cloexec, 0)
            if fd < 0 {
                lastError = SystemError.current("socket")
                continue
            }
            if let error = Self.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen, timeout: timeout) {
                lastError = error
                Glibc.close(fd)
                continue
            }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            self.fd = fd
            return
        }
        throw GearmanError.connectionFailed(server, lastError)
    }

    deinit {
        close()
    }

    /// Closes the socket; later calls fail with `connectionClosed`.
    public func close() {
        if !isClosed {
            isClosed = true
            Glibc.close(fd)
        }
    }

    /// Sends one packet.
    public func send(_ packet: Packet) throws {
        var buffer = OutboundBuffer()
        buffer.append(packet)
        try write(&buffer)
    }

    /// Sends several packets in as few system calls as possible.
    public func send(_ packets: [Packet]) throws {
        var buffer = OutboundBuffer()
        for packet in packets { buffer.append(packet) }
        try write(&buffer)
    }

    /// Sends raw bytes, such as an admin command line.
    public func send(bytes: [UInt8]) throws {
        var buffer = OutboundBuffer()
        buffer.append(contentsOf: bytes)
        try write(&buffer)
    }

    private func write(_ buffer: inout OutboundBuffer) throws {
        while try writeAvailable(&buffer, nonBlocking: false) == .wouldBlock {
            waitUntilWritable(timeout: -1)
        }
    }

    /// Writes what the socket's send buffer takes now and leaves the rest in `buffer`.
    ///
    /// - Parameter nonBlocking: return `.wouldBlock` instead of waiting when the send buffer
    ///   is full.
    /// - Throws: `connectionClosed` when the peer is gone, `ioFailed` for other errors.
    func writeAvailable(_ buffer: inout OutboundBuffer, nonBlocking: Bool) throws -> OutboundBuffer.WriteResult {
        if isClosed { throw GearmanError.connectionClosed(server) }
        do throws(SystemError) {
            return try buffer.write(to: fd, nonBlocking: nonBlocking)
        } catch {
            if error.code == EPIPE || error.code == ECONNRESET { throw GearmanError.connectionClosed(server) }
            throw GearmanError.ioFailed(server, error)
        }
    }

    /// Waits until the socket's send buffer has room, the connection fails or `timeout`
    /// milliseconds pass (-1 waits without limit).
    func waitUntilWritable(timeout: Int32) {
        var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        _ = poll(&descriptor, 1, timeout)
    }

    /// Whether a frame has already been read and waits in the buffer.
    public var hasBufferedFrame: Bool { pendingIndex < pending.count }

    /// Returns the next frame, reading from the socket as needed.
    ///
    /// - Parameter timeout: milliseconds to wait; nil waits forever.
    /// - Throws: `timedOut`, `connectionClosed`, `ioFailed` or `protocolViolation`.
    public func receiveFrame(timeout: Int? = nil) throws -> Frame {
        let deadline = timeout.map { Self.now() + Int64($0) }
        while pendingIndex >= pending.count {
            if isClosed { throw GearmanError.connectionClosed(server) }
            pending.removeAll(keepingCapacity: true)
            pendingIndex = 0
            if let deadline {
                let remaining = deadline - Self.now()
                var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let ready = remaining > 0 ? poll(&descriptor, 1, Int32(clamping: remaining)) : 0
                if ready == 0 { throw GearmanError.timedOut(server, milliseconds: timeout ?? 0) }
                if ready < 0 && errno != EINTR { throw GearmanError.ioFailed(server, .current("poll")) }
                if ready < 0 { continue }
            }
            try readAvailable()
        }
        let frame = pending[pendingIndex]
        pendingIndex += 1
        return frame
    }

    /// Reads what the socket has (blocking until something arrives) and buffers the frames it
    /// completes, for a reader that waits with poll(2) itself.
    ///
    /// - Throws: `connectionClosed`, `ioFailed` or `protocolViolation`.
    func readAvailable() throws {
        if isClosed { throw GearmanError.connectionClosed(server) }
        if pendingIndex >= pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingIndex = 0
        }
        while true {
            let count = readBuffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count == 0 { throw GearmanError.connectionClosed(server) }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == ECONNRESET { throw GearmanError.connectionClosed(server) }
                throw GearmanError.ioFailed(server, .current("read"))
            }
            do {
                try readBuffer.withUnsafeBytes { raw in
                    try parser.parse(UnsafeRawBufferPointer(rebasing: raw[0..<count]), into: &pending)
                }
            } catch let fault as WireError {
                throw GearmanError.protocolViolation(server, fault)
            }
            return
        }
    }

    /// Returns the next binary packet; an admin text line at this point is a protocol violation.
    public func receivePacket(timeout: Int? = nil) throws -> Packet {
        switch try receiveFrame(timeout: timeout) {
        case .packet(let packet): return packet
        case .adminLine: throw GearmanError.protocolViolation(server, .unknownPacketType(0))
        }
    }

    /// Reads one admin reply line, without its line ending.
    public func receiveLine(timeout: Int? = nil) throws -> String {
        switch try receiveFrame(timeout: timeout) {
        case .adminLine(let line): return String(decoding: line, as: UTF8.self)
        case .packet(let packet): throw GearmanError.unexpectedPacket(server, packet.type)
        }
    }

    private static func connect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t, timeout: Int?)
        -> SystemError?
    {
        guard let timeout else {
            while Glibc.connect(fd, address, length) != 0 {
                if errno == EINTR { continue }
                return .current("connect")
            }
            return nil
        }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        defer { _ = fcntl(fd, F_SETFL, flags) }
        if Glibc.connect(fd, address, length) == 0 { return nil }
        guard errno == EINPROGRESS else { return .current("connect") }
        var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        let ready = poll(&descriptor, 1, Int32(clamping: timeout))
        if ready == 0 { return SystemError(code: ETIMEDOUT, call: "connect") }
        var error: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size)
        return error == 0 ? nil : SystemError(code: error, call: "connect")
    }

    static func now() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}
