import Testing

@testable import GearmanServer

@Suite("Sharded dictionary")
struct ShardedDictionaryTests {
    @Test("set, replace, remove and count match a plain dictionary")
    func matchesDictionary() {
        var sharded = ShardedDictionary<Int, String>()
        var plain: [Int: String] = [:]
        var generator = SystemRandomNumberGenerator()
        for step in 0..<20_000 {
            let key = Int.random(in: 0..<3_000, using: &generator)
            let value: String? = Bool.random(using: &generator) ? "v\(step)" : nil
            sharded[key] = value
            plain[key] = value
        }
        #expect(sharded.count == plain.count)
        #expect(sharded.isEmpty == plain.isEmpty)
        for key in 0..<3_000 {
            #expect(sharded[key] == plain[key])
        }
        #expect(sharded.values.sorted() == plain.values.sorted())
    }

    @Test("an emptied dictionary is empty")
    func emptied() {
        var sharded = ShardedDictionary<String, Int>()
        #expect(sharded.isEmpty)
        sharded["a"] = 1
        sharded["a"] = 2
        #expect(sharded.count == 1)
        sharded["a"] = nil
        sharded["missing"] = nil
        #expect(sharded.isEmpty)
        #expect(sharded.values.isEmpty)
    }
}
