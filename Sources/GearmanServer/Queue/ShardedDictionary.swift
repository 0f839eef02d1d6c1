/// A dictionary split into `shardCount` smaller dictionaries by the key's hash.
///
/// A Swift `Dictionary` that outgrows its storage rehashes every entry at once. With hundreds
/// of thousands of queued jobs that pause held the core lock for tens of milliseconds, so every
/// connection stalled. Each shard grows on its own, so one growth step moves 1/64 of the entries.
struct ShardedDictionary<Key: Hashable, Value> {
    static var shardCount: Int { 64 }

    private var shards: [[Key: Value]]
    /// The number of entries in all shards.
    private(set) var count = 0

    init() {
        shards = Array(repeating: [:], count: Self.shardCount)
    }

    private static func shard(of key: Key) -> Int {
        key.hashValue & (shardCount - 1)
    }

    subscript(key: Key) -> Value? {
        get { shards[Self.shard(of: key)][key] }
        set {
            let index = Self.shard(of: key)
            let old = shards[index].updateValueOrRemove(newValue, forKey: key)
            count += (newValue == nil ? 0 : 1) - (old == nil ? 0 : 1)
        }
    }

    var isEmpty: Bool { count == 0 }

    /// Every value, in no particular order.
    var values: [Value] {
        var all: [Value] = []
        all.reserveCapacity(count)
        for shard in shards { all.append(contentsOf: shard.values) }
        return all
    }
}

extension Dictionary {
    /// Sets or removes the value for `key` and returns the value it replaced.
    fileprivate mutating func updateValueOrRemove(_ value: Value?, forKey key: Key) -> Value? {
        if let value { return updateValue(value, forKey: key) }
        return removeValue(forKey: key)
    }
}
