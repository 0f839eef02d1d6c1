/// The CRC-32 of IEEE 802.3 (reflected polynomial 0xEDB88320), the checksum zlib's `crc32`
/// and `cksum -a crc32b` compute.
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 {
            value = value & 1 == 1 ? (value >> 1) ^ 0xEDB8_8320 : value >> 1
        }
        return value
    }

    /// Returns the checksum of `bytes`, continuing from `previous`, the checksum of the bytes before them.
    static func checksum<Bytes: Sequence<UInt8>>(_ bytes: Bytes, continuing previous: UInt32 = 0) -> UInt32 {
        var crc = ~previous
        for byte in bytes {
            crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
        }
        return ~crc
    }
}
