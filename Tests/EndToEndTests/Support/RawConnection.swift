import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Packet type numbers used by the tests, written out here rather than taken from GearmanKit
/// so that a wrong number in the library cannot hide in both places.
enum PacketNumber {
    static let canDo: UInt32 = 1  // CAN_DO
    static let submitJob: UInt32 = 7  // SUBMIT_JOB
    static let jobCreated: UInt32 = 8  // JOB_CREATED
    static let grabJob: UInt32 = 9  // GRAB_JOB
    static let jobAssign: UInt32 = 11  // JOB_ASSIGN
    static let workComplete: UInt32 = 13  // WORK_COMPLETE
    static let echoRequest: UInt32 = 16  // ECHO_REQ
    static let echoResponse: UInt32 = 17  // ECHO_RES
    static let submitJobBackground: UInt32 = 18  // SUBMIT_JOB_BG
    static let error: UInt32 = 19  // ERROR
}

/// Byte-level encoding of Gearman packets.
enum Wire {
    static let requestMagic: [UInt8] = [0, 0x52, 0x45, 0x51]  // "\0REQ"
    static let responseMagic: [UInt8] = [0, 0x52, 0x45, 0x53]  // "\0RES"

    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24 & 0xff), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }

    /// Encodes a 12-byte header. Tests of the limits pass a `bodyLength` that differs from the body sent.
    static func header(magic: [UInt8] = requestMagic, type: UInt32, bodyLength: UInt32) -> [UInt8] {
        magic + bigEndian(type) + bigEndian(bodyLength)
    }

    static func packet(magic: [UInt8] = requestMagic, type: UInt32, body: [UInt8]) -> [UInt8] {
        header(magic: magic, type: type, bodyLength: UInt32(body.count)) + body
    }

    /// Encodes a request whose body is `arguments` joined by NUL bytes.
    static func request(_ type: UInt32, _ arguments: [String]) -> [UInt8] {
        packet(type: type, body: Array(arguments.joined(separator: "\0").utf8))
    }
}

/// A packet read from the server.
struct ReceivedPacket: Sendable, Equatable {
    var magic: [UInt8]
    var type: UInt32
    var body: [UInt8]

    /// The body split at every NUL byte.
    var arguments: [String] {
        body.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    }
}

enum RawConnectionError: Error, CustomStringConvertible {
    case systemCall(String, Int32)
    case timedOut(received: [UInt8])
    case closed(received: [UInt8])

    var description: String {
        switch self {
        case .systemCall(let call, let code):
            return "\(call) failed: \(String(cString: strerror(code)))"
        case .timedOut(let received):
            return
                "timed out waiting for the server after \(received.count) bytes: \(String(decoding: received, as: UTF8.self).debugDescription)"
        case .closed(let received):
            return
                "the server closed the connection after \(received.count) bytes: \(String(decoding: received, as: UTF8.self).debugDescription)"
        }
    }
}

/// A blocking TCP connection to 127.0.0.1 with a receive timeout, for sending exact bytes.
final class RawConnection {
    let fd: Int32

    /// Connects to 127.0.0.1:`port`; every receive gives up after `timeout`.
    init(port: UInt16, timeout: Duration = .seconds(10)) throws {
        // SOCK_CLOEXEC keeps the socket out of child processes that other tests start meanwhile.
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw RawConnectionError.systemCall("socket", errno) }

        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if result != 0 {
            let code = errno
            Glibc.close(fd)
            throw RawConnectionError.systemCall("connect to 127.0.0.1:\(port)", code)
        }

        let (seconds, attoseconds) = timeout.components
        var interval = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
        // Without Nagle's algorithm each small write leaves as its own segment.
        var enabled: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &enabled, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit {
        Glibc.close(fd)
    }

    /// Writes all of `bytes`; MSG_NOSIGNAL turns a write to a closed peer into EPIPE instead of SIGPIPE.
    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw RawConnectionError.systemCall("send", errno)
            }
            offset += written
        }
    }

    func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    /// Writes `bytes` one byte per system call with a 1 ms pause between them, so the server
    /// most likely reads them in many pieces.
    func sendOneByteAtATime(_ bytes: [UInt8]) throws {
        for byte in bytes {
            try send([byte])
            usleep(1_000)
        }
    }

    /// Reads exactly `count` bytes.
    func receive(count: Int) throws -> [UInt8] {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while received.count < count {
            let requested = min(buffer.count, count - received.count)
            let length = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, requested, 0) }
            if length == 0 { throw RawConnectionError.closed(received: received) }
            if length < 0 {
                let code = errno
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK { throw RawConnectionError.timedOut(received: received) }
                throw RawConnectionError.systemCall("recv", code)
            }
            received += buffer[0..<length]
        }
        return received
    }

    func receivePacket() throws -> ReceivedPacket {
        let header = try receive(count: 12)
        let type = header[4..<8].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let length = header[8..<12].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let body = try receive(count: Int(length))
        return ReceivedPacket(magic: Array(header[0..<4]), type: type, body: body)
    }

    /// Reads one text line and returns it with its line ending.
    func receiveLine() throws -> String {
        var line: [UInt8] = []
        while line.last != UInt8(ascii: "\n") {
            line += try receive(count: 1)
        }
        return String(decoding: line, as: UTF8.self)
    }

    /// Reads until the server closes the connection and returns whatever came before the close.
    ///
    /// - Throws: `RawConnectionError.timedOut` if the connection stays open.
    func receiveUntilClosed() throws -> [UInt8] {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let length = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if length == 0 { return received }
            if length < 0 {
                let code = errno
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK { throw RawConnectionError.timedOut(received: received) }
                throw RawConnectionError.systemCall("recv", code)
            }
            received += buffer[0..<length]
        }
    }

    /// Sends an admin command and returns the lines of its list reply, without the final `.`.
    func adminList(_ command: String) throws -> [String] {
        try send(command + "\n")
        var lines: [String] = []
        while true {
            let line = try receiveLine()
            if line == ".\n" { return lines }
            lines.append(String(line.dropLast()))
        }
    }
}
