import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Opens a TCP socket listening on 127.0.0.1 on a port the system picks, and returns it with
/// its address.
///
/// - Parameter configure: runs on the socket before `listen(2)`, for options such as
///   SO_RCVBUF that accepted sockets inherit.
func listenOnLoopback(backlog: Int32, configure: (Int32) -> Void = { _ in }) throws -> (fd: Int32, address: sockaddr_in)
{
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    configure(fd)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
            bind(fd, address, length) == 0 && listen(fd, backlog) == 0 && getsockname(fd, address, &length) == 0
        }
    }
    try #require(bound, "cannot listen on 127.0.0.1: errno \(errno)")
    return (fd, address)
}

/// Checks `condition` every 10 ms until it is true or `timeout` passes, and returns its last
/// value. Tests wait this way for threads that are not tasks.
func pollUntil(timeout: Duration, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}
