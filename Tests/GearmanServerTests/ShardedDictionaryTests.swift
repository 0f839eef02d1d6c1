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

@Suite("Unique keys")
struct UniqueKeyTests {
    @Test("equal bytes match across storage")
    func equalBytes() {
        let workload = Array("xx-key-yy".utf8)
        let sliced = UniqueKey(function: Array("f".utf8), key: workload[3..<6])
        let whole = UniqueKey(function: Array("f".utf8), key: Array("key".utf8)[...])
        #expect(sliced == whole)
        #expect(sliced.hashValue == whole.hashValue)
        var index = ShardedDictionary<UniqueKey, Int>()
        index[sliced] = 1
        #expect(index[whole] == 1)
    }

    @Test("each field tells keys apart")
    func differences() {
        let base = UniqueKey(function: Array("f".utf8), key: Array("k".utf8)[...])
        let others = [
            UniqueKey(function: Array("g".utf8), key: Array("k".utf8)[...]),
            UniqueKey(function: Array("f".utf8), key: Array("k2".utf8)[...]),
            UniqueKey(function: Array("f".utf8), key: Array("k".utf8)[...], isPayload: true),
            // The same bytes split differently between function and key.
            UniqueKey(function: Array("fk".utf8), key: [][...]),
        ]
        var index = ShardedDictionary<UniqueKey, Int>()
        index[base] = 0
        for (position, other) in others.enumerated() {
            #expect(other != base)
            index[other] = position + 1
        }
        #expect(index.count == others.count + 1)
        #expect(index[base] == 0)
    }
}
