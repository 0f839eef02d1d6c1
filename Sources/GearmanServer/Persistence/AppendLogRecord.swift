import GearmanKit

/// Encoding and decoding of the records of an `AppendLogQueueStore` file; the type's
/// documentation describes the format.
enum AppendLogRecord {
    /// The first bytes of every log file: a name and a format version.
    static let magic: [UInt8] = Array("GKQLOG01".utf8)
    /// The bytes before a record's payload: its length and its checksum.
    static let headerSize = 8

    private static let addKind: UInt8 = 1
    private static let removeKind: UInt8 = 2
    private static let endOfBatchKind: UInt8 = 3

    /// A decoded record.
    enum Entry {
        case operation(StoreOperation)
        /// The end of a commit's records: a replay applies a batch only once it reads this.
        case endOfBatch
    }

    /// The record that ends every commit's batch.
    static let endOfBatch: [UInt8] = record(payload: [endOfBatchKind])

    /// Returns the whole record, header included, for `operation`.
    ///
    /// The payload must fit the 32-bit length field; a Gearman packet's own 32-bit size limits
    /// a job's data below that.
    static func encode(_ operation: StoreOperation) -> [UInt8] {
        var payload: [UInt8] = []
        switch operation {
        case .add(let job):
            payload.reserveCapacity(18 + job.function.count + job.unique.count + job.data.count)
            payload.append(addKind)
            payload.append(UInt8(job.priority.rawValue))
            appendLittleEndian(UInt64(bitPattern: job.runAt), to: &payload)
            appendField(job.function, to: &payload)
            appendField(job.unique, to: &payload)
            payload += job.data
        case .remove(let key):
            payload.append(removeKind)
            appendField(key.function, to: &payload)
            appendField(key.unique, to: &payload)
        }
        return record(payload: payload)
    }

    private static func record(payload: [UInt8]) -> [UInt8] {
        var record: [UInt8] = []
        record.reserveCapacity(headerSize + payload.count)
        appendLittleEndian(UInt32(payload.count), to: &record)
        let checksum = CRC32.checksum(payload, continuing: CRC32.checksum(record))
        appendLittleEndian(checksum, to: &record)
        record += payload
        return record
    }

    /// Returns the payload length stored in a record header, or nil for fewer than `headerSize` bytes.
    static func payloadLength(header: ArraySlice<UInt8>) -> Int? {
        guard header.count >= headerSize else { return nil }
        return Int(readLittleEndian(UInt32.self, header, at: header.startIndex))
    }

    /// Decodes a whole record, header included.
    ///
    /// Returns nil when the checksum does not match or the payload is malformed. Such a record
    /// marks the end of the valid part of a log.
    static func decode(_ record: ArraySlice<UInt8>) -> Entry? {
        guard let length = payloadLength(header: record), record.count == headerSize + length else { return nil }
        let start = record.startIndex
        let stored = readLittleEndian(UInt32.self, record, at: start + 4)
        let payload = record[(start + headerSize)...]
        guard CRC32.checksum(payload, continuing: CRC32.checksum(record[start..<(start + 4)])) == stored else {
            return nil
        }
        return decodePayload(payload)
    }

    private static func decodePayload(_ payload: ArraySlice<UInt8>) -> Entry? {
        var position = payload.startIndex
        guard position < payload.endIndex else { return nil }
        let kind = payload[position]
        position += 1
        switch kind {
        case addKind:
            guard payload.endIndex - position >= 9,
                let priority = JobPriority(rawValue: Int(payload[position]))
            else { return nil }
            let runAt = Int64(bitPattern: readLittleEndian(UInt64.self, payload, at: position + 1))
            position += 9
            guard let function = readField(payload, at: &position), let unique = readField(payload, at: &position)
            else { return nil }
            let data = Array(payload[position...])
            let job = StoredJob(function: function, unique: unique, priority: priority, data: data, runAt: runAt)
            return .operation(.add(job))
        case removeKind:
            guard let function = readField(payload, at: &position), let unique = readField(payload, at: &position),
                position == payload.endIndex
            else { return nil }
            return .operation(.remove(StoredJobKey(function: function, unique: unique)))
        case endOfBatchKind:
            return position == payload.endIndex ? .endOfBatch : nil
        default:
            return nil
        }
    }

    private static func appendField(_ bytes: [UInt8], to buffer: inout [UInt8]) {
        appendLittleEndian(UInt32(bytes.count), to: &buffer)
        buffer += bytes
    }

    private static func readField(_ bytes: ArraySlice<UInt8>, at position: inout Int) -> [UInt8]? {
        guard bytes.endIndex - position >= 4 else { return nil }
        let length = Int(readLittleEndian(UInt32.self, bytes, at: position))
        position += 4
        guard bytes.endIndex - position >= length else { return nil }
        defer { position += length }
        return Array(bytes[position..<(position + length)])
    }

    private static func appendLittleEndian<Value: FixedWidthInteger>(_ value: Value, to buffer: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { buffer += $0 }
    }

    private static func readLittleEndian<Value: FixedWidthInteger>(
        _ type: Value.Type, _ bytes: ArraySlice<UInt8>, at position: Int
    ) -> Value {
        var value: Value = 0
        for offset in 0..<(Value.bitWidth / 8) {
            value |= Value(bytes[position + offset]) << (offset * 8)
        }
        return value
    }
}
