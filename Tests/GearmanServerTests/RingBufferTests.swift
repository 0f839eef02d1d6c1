import Testing

@testable import GearmanServer

@Suite("Ring buffer")
struct RingBufferTests {
    private func elements(_ buffer: RingBuffer<Int>) -> [Int] {
        var all: [Int] = []
        buffer.forEach { all.append($0) }
        return all
    }

    @Test("removeAll keeps order across wrap-around")
    func removeAllKeepsOrder() {
        var buffer = RingBuffer<Int>()
        for value in 1...6 { buffer.append(value) }
        // Prepending moves the head to the end of the storage, so the contents wrap around.
        buffer.prepend(0)
        buffer.prepend(-1)
        let removed = buffer.removeAll { $0 % 2 == 0 }
        #expect(removed == [0, 2, 4, 6])
        #expect(elements(buffer) == [-1, 1, 3, 5])
        #expect(buffer.count == 4)
        #expect(buffer.first == -1)
        buffer.append(7)
        #expect(elements(buffer) == [-1, 1, 3, 5, 7])
    }

    @Test("removeAll without a match")
    func removeAllWithoutMatch() {
        var buffer = RingBuffer<Int>()
        for value in 1...3 { buffer.append(value) }
        #expect(buffer.removeAll { $0 > 10 }.isEmpty)
        #expect(elements(buffer) == [1, 2, 3])
    }
}
