import Testing

@testable import GearmanKit

#if canImport(Glibc)
    import Glibc
#endif

@Suite("OutboundBuffer")
struct OutboundBufferTests {
    @Test("small and referenced chunks arrive in order")
    func writesInOrder() async throws {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        defer { close(fds[1]) }
        let large = [UInt8]((0..<200_000).map { UInt8(truncatingIfNeeded: $0) })
        let packets = [
            Packet.response(.jobCreated, "H:x:1"),
            Packet(magic: .response, type: .workComplete, arguments: [Array("H:x:1".utf8), large]),
            Packet.response(.noop),
        ]
        var buffer = OutboundBuffer()
        for packet in packets { buffer.append(packet) }
        #expect(buffer.count == packets.reduce(0) { $0 + $1.encoded().count })

        let reader = Task.detached { [fd = fds[1]] in
            var all: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = read(fd, &chunk, chunk.count)
                if count <= 0 { break }
                all += chunk[0..<count]
            }
            return all
        }
        while try buffer.write(to: fds[0]) == .wouldBlock {
            usleep(1000)
        }
        close(fds[0])
        let received = await reader.value
        #expect(received == packets.flatMap { $0.encoded() })
        #expect(buffer.isEmpty)
    }
}
