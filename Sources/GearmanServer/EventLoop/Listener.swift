import CGearmanSystem
import GearmanKit
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A bound, listening TCP socket.
final class Listener: Sendable {
    /// The protocol spoken on the connections a listener accepts.
    enum Kind: Sendable, Equatable {
        /// The Gearman binary and admin text protocols.
        case gear
        /// The HTTP protocol module.
        case http
    }

    let fd: Int32
    /// The bound address as `host:port`, IPv6 hosts in brackets.
    let description: String
    let port: Int
    let kind: Kind

    private init(fd: Int32, description: String, port: Int, kind: Kind) {
        self.fd = fd
        self.description = description
        self.port = port
        self.kind = kind
    }

    private let isClosed = Atomic<Bool>(false)

    deinit {
        close()
    }

    /// Closes the socket; later calls do nothing.
    func close() {
        if !isClosed.exchange(true, ordering: .acquiringAndReleasing) {
            Glibc.close(fd)
        }
    }

    /// Binds every address `host` resolves to (nil: all IPv4 and IPv6 addresses) on `port`.
    ///
    /// With port 0 the first socket gets an ephemeral port and the others reuse it, so an IPv4
    /// and an IPv6 listener share one port number.
    static func bind(host: String?, port: Int, backlog: Int, kind: Kind = .gear) throws -> [Listener] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = cgs_sock_stream
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>? = nil
        let status = getaddrinfo(host, String(port), &hints, &result)
        if status != 0 {
            throw ServerError.invalidListenAddress(host ?? "*", reason: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(result) }

        var addresses: [(family: Int32, storage: sockaddr_storage, length: socklen_t)] = []
        var cursor = result
        while let info = cursor {
            var storage = sockaddr_storage()
            withUnsafeMutableBytes(of: &storage) { raw in
                raw.copyMemory(
                    from: UnsafeRawBufferPointer(start: info.pointee.ai_addr, count: Int(info.pointee.ai_addrlen)))
            }
            addresses.append((info.pointee.ai_family, storage, info.pointee.ai_addrlen))
            cursor = info.pointee.ai_next
        }
        // Bind IPv4 first so that an ephemeral port chosen there can be reused for IPv6.
        addresses.sort { $0.family == AF_INET && $1.family != AF_INET }

        var listeners: [Listener] = []
        var chosenPort = port
        for var address in addresses {
            if chosenPort != port { setPort(&address.storage, chosenPort) }
            do {
                let listener = try open(address.family, &address.storage, address.length, backlog: backlog, kind: kind)
                chosenPort = listener.port
                listeners.append(listener)
            } catch let error as SystemError
                where host == nil && address.family == AF_INET6
                && (error.code == EAFNOSUPPORT || error.code == EADDRNOTAVAIL)
            {
                continue  // A host without IPv6 still serves IPv4.
            }
        }
        return listeners
    }

    private static func open(
        _ family: Int32, _ storage: inout sockaddr_storage, _ length: socklen_t, backlog: Int, kind: Kind
    ) throws -> Listener {
        let fd = socket(family, cgs_sock_stream | cgs_sock_nonblock | cgs_sock_cloexec, 0)
        if fd < 0 { throw SystemError.current("socket") }
        do {
            try SocketCalls.setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            if family == AF_INET6 {
                try SocketCalls.setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1)
            }
            let bound = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) }
            }
            if bound != 0 { throw SystemError.current("bind") }
            if listen(fd, Int32(backlog)) != 0 { throw SystemError.current("listen") }
        } catch {
            Glibc.close(fd)
            throw error
        }
        var actual = sockaddr_storage()
        var actualLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &actualLength) }
        }
        let (host, port) = withUnsafePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { (SocketCalls.numericHost($0), SocketCalls.port($0)) }
        }
        let text = family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)"
        return Listener(fd: fd, description: text, port: port, kind: kind)
    }

    private static func setPort(_ storage: inout sockaddr_storage, _ port: Int) {
        withUnsafeMutablePointer(to: &storage) { pointer in
            if Int32(pointer.pointee.ss_family) == AF_INET {
                pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                    $0.pointee.sin_port = UInt16(port).bigEndian
                }
            } else {
                pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    $0.pointee.sin6_port = UInt16(port).bigEndian
                }
            }
        }
    }
}
