import CGearmanSystem
import GearmanKit

#if canImport(Glibc)
    import Glibc
#endif

/// Thin wrappers over the socket calls the server makes, each named after its C function.
enum SocketCalls {
    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) throws(SystemError) {
        var value = value
        if setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            throw SystemError.current("setsockopt")
        }
    }

    /// Formats the address part of a sockaddr the way `workers` prints peers, such as `127.0.0.1` or `::1`.
    /// Returns the address as `host:port`, with an IPv6 host in brackets, for log lines.
    static func numericHostAndPort(_ storage: UnsafePointer<sockaddr>) -> String {
        let host = numericHost(storage)
        let port: UInt16
        switch Int32(storage.pointee.sa_family) {
        case AF_INET:
            port = storage.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                UInt16(bigEndian: $0.pointee.sin_port)
            }
        case AF_INET6:
            port = storage.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                UInt16(bigEndian: $0.pointee.sin6_port)
            }
        default:
            return host
        }
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    static func numericHost(_ storage: UnsafePointer<sockaddr>) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(storage.pointee.sa_family) {
        case AF_INET:
            storage.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                var raw = address.pointee.sin_addr
                _ = inet_ntop(AF_INET, &raw, &buffer, socklen_t(buffer.count))
            }
        case AF_INET6:
            storage.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                var raw = address.pointee.sin6_addr
                _ = inet_ntop(AF_INET6, &raw, &buffer, socklen_t(buffer.count))
            }
        default:
            return "unknown"
        }
        let text = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // An IPv4 client of a dual-stack socket appears as ::ffff:a.b.c.d; print it as IPv4.
        if text.hasPrefix("::ffff:") && text.contains(".") {
            return String(text.dropFirst(7))
        }
        return text
    }

    /// Returns the port in host byte order of a bound sockaddr.
    static func port(_ storage: UnsafePointer<sockaddr>) -> Int {
        switch Int32(storage.pointee.sa_family) {
        case AF_INET:
            return storage.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                Int(UInt16(bigEndian: $0.pointee.sin_port))
            }
        case AF_INET6:
            return storage.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                Int(UInt16(bigEndian: $0.pointee.sin6_port))
            }
        default:
            return 0
        }
    }
}
