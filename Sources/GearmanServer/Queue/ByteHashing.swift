#if canImport(Glibc)
    import Glibc
#endif

extension Hasher {
    /// Feeds the count and then the contents of `bytes` as one block, instead of one call per
    /// byte as `Array`'s own `hash(into:)` does.
    ///
    /// The count comes first so that two byte strings hashed one after the other cannot shift
    /// bytes between them and hash alike.
    mutating func combineBytes<Bytes: Collection<UInt8>>(of bytes: Bytes) {
        combine(bytes.count)
        let done: Void? = bytes.withContiguousStorageIfAvailable { combine(bytes: UnsafeRawBufferPointer($0)) }
        if done == nil {
            for byte in bytes { combine(byte) }
        }
    }
}

/// Compares two byte strings with memcmp.
func bytesEqual<Left: Collection<UInt8>, Right: Collection<UInt8>>(_ left: Left, _ right: Right) -> Bool {
    guard left.count == right.count else { return false }
    if left.isEmpty { return true }
    let result: Bool?? = left.withContiguousStorageIfAvailable { leftBuffer in
        right.withContiguousStorageIfAvailable { rightBuffer in
            memcmp(leftBuffer.baseAddress!, rightBuffer.baseAddress!, leftBuffer.count) == 0
        }
    }
    if let result, let equal = result { return equal }
    return left.elementsEqual(right)
}
