import CGearmanSystem
import GearmanKit
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A queue stored in an append-only log file, for durability without a database server.
///
/// Every commit appends one record per operation and an end-of-batch record, with one write.
/// The file starts with the 8 bytes `GKQLOG01`, followed by records in this format, integers
/// little-endian:
///
///     length    UInt32   byte count of the payload
///     checksum  UInt32   CRC-32 (IEEE, as zlib's crc32) of the length field and the payload
///     payload:
///       kind    UInt8    1 = add, 2 = remove, 3 = end of batch
///       add:    priority UInt8 (0 high, 1 normal, 2 low), runAt Int64,
///               function length UInt32, function, unique length UInt32, unique,
///               data (the rest of the payload)
///       remove: function length UInt32, function, unique length UInt32, unique
///       end of batch: nothing more
///
/// Opening the file replays it. Replay applies a batch only when its end-of-batch record is
/// valid, so a commit is stored whole or not at all. An incomplete last batch, which a crash
/// during a commit leaves, is a torn tail: the file is truncated after the last whole batch, so
/// new records follow it. A damaged record with more data after it is corruption: opening fails
/// and leaves the file unchanged, because the batches after it may hold acknowledged jobs.
/// `replay` gives the exact rule.
///
/// A record is dead once its job is removed or replaced, and remove and end-of-batch records are
/// dead from the start. Compaction starts when the log contains more than `compactionThreshold`
/// dead records and they are more than half of all records. A commit then rewrites the live
/// records to `<path>.compact`, fsyncs it, renames it over the log and fsyncs the folder, so a
/// crash leaves either the old or the new log.
///
/// The file is locked with `flock`, so a second server on the same file fails to open it.
public final class AppendLogQueueStore: QueueStore {
    /// When a commit's records reach the disk.
    public enum FsyncPolicy: Sendable, Equatable, CustomStringConvertible {
        /// `commit` returns after one `fdatasync` of the whole batch: nothing acknowledged is lost.
        case always
        /// A background thread syncs the file at most this often, and `commit` returns after the
        /// write alone. A crash of the machine (not of the server alone) may lose the jobs
        /// committed in the last interval, although the server acknowledged them.
        case interval(milliseconds: Int)
        /// The file is synced only by compaction and `close()`. The kernel writes it back when
        /// it chooses, so a crash of the machine may lose any number of recent jobs.
        case never

        public var description: String {
            switch self {
            case .always: return "always"
            case .interval(let milliseconds): return "\(milliseconds)"
            case .never: return "never"
            }
        }
    }

    /// The dead records a log may hold before compaction, when no other number is given.
    public static let defaultCompactionThreshold = 10_000

    public let description: String
    private let path: String
    private let fsyncPolicy: FsyncPolicy
    private let compactionThreshold: Int
    private let logger: Logger
    private let state: Mutex<State>
    private let flusher: IntervalFlusher?

    /// The offset and size of a live add record in the file, its header included.
    private struct RecordLocation {
        var offset: Int
        var size: Int
    }

    private struct State {
        var fd: Int32
        var end: Int
        var recordCount: Int
        var live: [StoredJobKey: RecordLocation]
        /// Whether appended records wait for the interval flusher's fsync.
        var isDirty = false
        /// Set when a failed write could not be undone, so the file may hold a partial record.
        var failure: String?
    }

    /// Opens the log at `path`, creating it if it is missing, and truncates a torn tail.
    ///
    /// - Parameter compactionThreshold: the number of dead records above which a commit
    ///   compacts the log, provided they are also more than half of it.
    /// - Throws: `QueueStoreError.openFailed` when the file cannot be created, read or locked,
    ///   is not a queue log, or is corrupt before its end; the message then gives the offset
    ///   and the repair.
    public init(
        path: String, fsyncPolicy: FsyncPolicy = .always,
        compactionThreshold: Int = AppendLogQueueStore.defaultCompactionThreshold, logger: Logger = .disabled
    ) throws {
        self.path = path
        self.fsyncPolicy = fsyncPolicy
        self.compactionThreshold = compactionThreshold
        self.logger = logger
        let name = "logfile \(path)"
        description = name
        do {
            state = Mutex(try Self.open(path: path, logger: logger))
        } catch {
            throw QueueStoreError.openFailed(store: name, message: error.message)
        }
        if case .interval(let milliseconds) = fsyncPolicy {
            do {
                flusher = try IntervalFlusher(milliseconds: milliseconds)
            } catch {
                state.withLock { _ = Glibc.close($0.fd) }
                throw QueueStoreError.openFailed(store: name, message: error.description)
            }
        } else {
            flusher = nil
        }
        flusher?.start { [weak self] in self?.syncIfDirty() }
    }

    deinit {
        close()
    }

    public func load() throws -> [StoredJob] {
        try state.withLock { state in
            guard state.fd >= 0 else { throw QueueStoreError.closed(store: description) }
            var jobs: [StoredJob] = []
            jobs.reserveCapacity(state.live.count)
            for location in state.live.values.sorted(by: { $0.offset < $1.offset }) {
                do {
                    let record = try Self.read(state.fd, offset: location.offset, count: location.size)
                    guard case .operation(.add(let job)) = AppendLogRecord.decode(record[...]) else {
                        throw LogFailure("the record at offset \(location.offset) changed since the log was opened")
                    }
                    jobs.append(job)
                } catch {
                    throw QueueStoreError.openFailed(store: description, message: error.message)
                }
            }
            return jobs
        }
    }

    public func commit(_ operations: [StoreOperation]) throws {
        try state.withLock { state in
            guard state.fd >= 0 else { throw QueueStoreError.closed(store: description) }
            if let failure = state.failure {
                throw QueueStoreError.commitFailed(
                    store: description, message: "\(failure); restart the server to recover the log",
                    operationIndex: nil)
            }

            // Keys this batch adds (with their new location) or removes (nil), applied to
            // `state.live` only once the batch is written.
            var changes: [StoredJobKey: RecordLocation?] = [:]
            var buffer: [UInt8] = []
            var recordCount = 1
            for operation in operations {
                switch operation {
                case .add(let job):
                    let record = AppendLogRecord.encode(operation)
                    changes[job.key] = RecordLocation(offset: state.end + buffer.count, size: record.count)
                    buffer += record
                case .remove(let key):
                    let isStored = changes[key].map { $0 != nil } ?? (state.live[key] != nil)
                    guard isStored else { continue }
                    changes[key] = .some(nil)
                    buffer += AppendLogRecord.encode(operation)
                }
                recordCount += 1
            }
            guard !buffer.isEmpty else { return }
            buffer += AppendLogRecord.endOfBatch

            do {
                try Self.write(state.fd, buffer, offset: state.end)
                if fsyncPolicy == .always, fdatasync(state.fd) != 0 {
                    throw LogFailure(SystemError.current("fdatasync"))
                }
            } catch {
                // Cut the partial batch off, so the next batch does not follow a torn record.
                if ftruncate(state.fd, off_t(state.end)) != 0 {
                    state.failure = "cannot remove a partly written batch (\(SystemError.current("ftruncate")))"
                }
                throw QueueStoreError.commitFailed(store: description, message: error.message, operationIndex: nil)
            }

            state.end += buffer.count
            state.recordCount += recordCount
            for (key, location) in changes {
                state.live[key] = location
            }
            if case .interval = fsyncPolicy {
                state.isDirty = true
            }
            let deadCount = state.recordCount - state.live.count
            if deadCount > compactionThreshold && deadCount * 2 > state.recordCount {
                compact(&state)
            }
        }
    }

    /// Stops the interval flusher, syncs the file and closes it.
    public func close() {
        flusher?.stop()
        state.withLock { state in
            guard state.fd >= 0 else { return }
            if fsync(state.fd) != 0 {
                logger.error("\(description): \(SystemError.current("fsync")) on close; recent jobs may be lost")
            }
            Glibc.close(state.fd)
            state.fd = -1
        }
    }

    /// The file's size in bytes and its count of records, live and dead, for tests and logs.
    var fileStatistics: (size: Int, records: Int, liveRecords: Int) {
        state.withLock { ($0.end, $0.recordCount, $0.live.count) }
    }

    /// Syncs the file if records were appended since the last sync; called by the interval flusher.
    private func syncIfDirty() {
        let fd: Int32 = state.withLock { state in
            guard state.isDirty, state.fd >= 0 else { return -1 }
            state.isDirty = false
            // A duplicate stays valid if compaction replaces and closes the original meanwhile.
            return dup(state.fd)
        }
        guard fd >= 0 else { return }
        defer { Glibc.close(fd) }
        if fdatasync(fd) != 0 {
            let error = SystemError.current("fdatasync")
            logger.error("\(description): \(error); jobs committed since the last sync may be lost")
            state.withLock { $0.isDirty = true }
        }
    }

    /// Rewrites the live records to a new file and renames it over the log.
    ///
    /// A failure is logged and leaves the old log in use, because the batch that triggered the
    /// compaction is already stored.
    private func compact(_ state: inout State) {
        let temporaryPath = path + ".compact"
        let deadCount = state.recordCount - state.live.count
        do {
            let result = try Self.writeCompacted(state, to: temporaryPath)
            guard rename(temporaryPath, path) == 0 else {
                let error = SystemError.current("rename")
                Glibc.close(result.fd)
                unlink(temporaryPath)
                throw LogFailure(error)
            }
            Glibc.close(state.fd)
            state.fd = result.fd
            state.end = result.end
            state.live = result.live
            state.recordCount = result.live.count + 1
            state.isDirty = false
            if let error = Self.syncFolder(of: path) {
                logger.error("\(description): compacted, but \(error); a crash may bring the old log back")
            }
            logger.info(
                "\(description): compacted, dropping \(deadCount) dead records; \(result.live.count) jobs remain")
        } catch {
            logger.error("\(description): compaction failed, the log keeps growing: \(error.message)")
        }
    }

    /// Writes the header and the live records of `state` to a new file at `path` and syncs it.
    private static func writeCompacted(
        _ state: State, to path: String
    ) throws(LogFailure) -> (fd: Int32, end: Int, live: [StoredJobKey: RecordLocation]) {
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LogFailure(SystemError.current("open \(path)")) }
        do throws(LogFailure) {
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { throw LogFailure(SystemError.current("flock \(path)")) }
            var live: [StoredJobKey: RecordLocation] = [:]
            live.reserveCapacity(state.live.count)
            var buffer = AppendLogRecord.magic
            var end = 0
            for (key, location) in state.live.sorted(by: { $0.value.offset < $1.value.offset }) {
                let record = try read(state.fd, offset: location.offset, count: location.size)
                // A record damaged on disk since the replay would make the next start reject
                // the compacted file, so the old log stays in use instead.
                guard case .operation(.add) = AppendLogRecord.decode(record[...]) else {
                    throw LogFailure("the record at offset \(location.offset) no longer passes its checksum")
                }
                live[key] = RecordLocation(offset: end + buffer.count, size: record.count)
                buffer += record
                if buffer.count >= 1 << 20 {
                    try write(fd, buffer, offset: end)
                    end += buffer.count
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            buffer += AppendLogRecord.endOfBatch
            try write(fd, buffer, offset: end)
            end += buffer.count
            guard fsync(fd) == 0 else { throw LogFailure(SystemError.current("fsync \(path)")) }
            return (fd, end, live)
        } catch {
            Glibc.close(fd)
            unlink(path)
            throw error
        }
    }
}

// MARK: - Opening and replaying the file

extension AppendLogQueueStore {
    private static func open(path: String, logger: Logger) throws(LogFailure) -> State {
        var created = false
        var fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        if fd < 0 && errno == ENOENT {
            fd = Glibc.open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            created = true
        }
        guard fd >= 0 else { throw LogFailure(SystemError.current("open")) }
        do throws(LogFailure) {
            guard StoreFileLock.acquire(fd) else {
                if errno == EWOULDBLOCK {
                    throw LogFailure("the log is locked by another process; stop the other server or use another file")
                }
                throw LogFailure(SystemError.current("flock"))
            }
            // A compaction that crashed before its rename leaves this file behind.
            unlink(path + ".compact")

            var state = try replay(fd, path: path, logger: logger)
            if state.end == 0 {
                try write(fd, AppendLogRecord.magic, offset: 0)
                state.end = AppendLogRecord.magic.count
                guard fsync(fd) == 0 else { throw LogFailure(SystemError.current("fsync")) }
                if created, let error = syncFolder(of: path) {
                    throw LogFailure(error)
                }
            }
            return state
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    /// Reads every record, builds the index of live jobs and truncates a torn tail.
    ///
    /// Replay stops at the first record it cannot use. What follows the last whole batch is then
    /// judged by this rule:
    ///
    /// - Torn tail, cut off with a warning. The records after the last whole batch are whole
    ///   and valid but have no end-of-batch record. The file ends at a record boundary, inside
    ///   a record (a header cut short, or a length field that reaches past the end of the file),
    ///   or in zero bytes only. A crash during a commit's single write leaves a prefix of that
    ///   write, so that commit never returned. A file system that lost the data of a grown file
    ///   in a machine crash leaves zeros, which only the `never` and interval policies expose.
    /// - Corruption, rejected without changing the file. That is a whole record that fails its
    ///   checksum or cannot be decoded, unless it and every byte after it are zero, or a length
    ///   field past the end of the file followed by a valid end-of-batch record. A crash does
    ///   not change bytes that were written, so this is damage after the write, and the damaged
    ///   batch (even the last one) or a later batch may hold acknowledged jobs.
    ///
    /// NOTE: a damaged length field in the last batch that reaches past the end of the file
    /// looks exactly like a torn write, so that batch is cut off as a torn tail.
    private static func replay(_ fd: Int32, path: String, logger: Logger) throws(LogFailure) -> State {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw LogFailure(SystemError.current("fstat")) }
        let size = Int(info.st_size)
        var state = State(fd: fd, end: 0, recordCount: 0, live: [:])
        // A file cut short while its header was written contains a prefix of the magic.
        guard size > AppendLogRecord.magic.count else {
            let head = try read(fd, offset: 0, count: size)
            guard head == Array(AppendLogRecord.magic.prefix(size)) else { throw notALog() }
            if size > 0 && size < AppendLogRecord.magic.count {
                logger.warning(
                    "log \(path) is cut short inside its \(AppendLogRecord.magic.count)-byte header (\(size) bytes), so it contains no job; writing the header anew"
                )
            }
            return state
        }
        guard try read(fd, offset: 0, count: AppendLogRecord.magic.count) == AppendLogRecord.magic else {
            throw notALog()
        }

        var reader = SequentialReader(fd: fd, size: size)
        var offset = AppendLogRecord.magic.count
        var batch: [(operation: StoreOperation, location: RecordLocation)] = []
        var stop: ReplayStop?
        state.end = offset
        while offset < size {
            guard let header = try reader.read(at: offset, count: AppendLogRecord.headerSize) else {
                stop = .headerCutShort
                break
            }
            let payloadLength = AppendLogRecord.payloadLength(header: header[...]) ?? 0
            guard let record = try reader.read(at: offset, count: AppendLogRecord.headerSize + payloadLength) else {
                stop = .lengthPastEnd(payloadLength)
                break
            }
            guard let entry = AppendLogRecord.decode(record[...]) else {
                stop = .invalidRecord
                break
            }
            let location = RecordLocation(offset: offset, size: record.count)
            offset += record.count
            guard case .operation(let operation) = entry else {
                for (operation, location) in batch {
                    switch operation {
                    case .add(let job):
                        state.live[job.key] = location
                    case .remove(let key):
                        state.live[key] = nil
                    }
                }
                state.recordCount += batch.count + 1
                state.end = offset
                batch.removeAll()
                continue
            }
            batch.append((operation, location))
        }
        guard state.end < size else { return state }

        let tail = LogTail(
            start: state.end, stopOffset: offset, size: size, stop: stop, operations: batch.map(\.operation))
        if let damage = try damage(of: tail, fd: fd) {
            throw LogFailure(
                "the log is damaged at offset \(offset): \(damage), and \(size - offset) bytes follow from there "
                    + "to the end of the file, which may hold acknowledged jobs. The server left the file unchanged. "
                    + "Move the file away to start with an empty queue, or repair it: 'truncate -s \(state.end) "
                    + "\(path)' keeps what was stored before the damage (\(jobCount(state.live.count))) "
                    + "and loses the rest")
        }
        guard ftruncate(fd, off_t(state.end)) == 0, fsync(fd) == 0 else {
            throw LogFailure(SystemError.current("truncating the torn tail"))
        }
        logger.warning("logfile \(path): \(tail.summary); the log now stores \(jobCount(state.live.count))")
        return state
    }

    /// Returns why the bytes after the last whole batch are corruption, or nil for a torn tail;
    /// `replay` documents the rule.
    private static func damage(of tail: LogTail, fd: Int32) throws(LogFailure) -> String? {
        switch tail.stop {
        case nil, .headerCutShort:
            return nil
        case .lengthPastEnd(let payloadLength):
            // NOTE: job data that contains the 9 bytes of an end-of-batch record, cut short by a
            // crash, is taken for corruption too, so the start fails although nothing is damaged.
            let searchStart = tail.stopOffset + AppendLogRecord.headerSize
            guard let found = try find(AppendLogRecord.endOfBatch, in: fd, from: searchStart, to: tail.size) else {
                return nil
            }
            return "the record there claims \(payloadLength) payload bytes, past the end of the file, "
                + "but a valid end-of-batch record follows at offset \(found)"
        case .invalidRecord:
            guard try !isZero(fd, from: tail.stopOffset, to: tail.size) else { return nil }
            return "the record there fails its checksum or cannot be decoded"
        }
    }

    /// Returns the offset of the first copy of `pattern` in the file between `start` and `end`.
    private static func find(_ pattern: [UInt8], in fd: Int32, from start: Int, to end: Int) throws(LogFailure) -> Int?
    {
        let chunkSize = 1 << 20
        var chunkStart = start
        while chunkStart + pattern.count <= end {
            let chunk = try read(fd, offset: chunkStart, count: min(chunkSize, end - chunkStart))
            if chunk.count >= pattern.count {
                for index in 0...(chunk.count - pattern.count)
                where chunk[index] == pattern[0] && chunk[index..<(index + pattern.count)].elementsEqual(pattern) {
                    return chunkStart + index
                }
            }
            // The next chunk overlaps this one, so a copy across the boundary is found too.
            chunkStart += max(1, chunk.count - pattern.count + 1)
        }
        return nil
    }

    /// Returns whether every byte of the file between `start` and `end` is zero.
    private static func isZero(_ fd: Int32, from start: Int, to end: Int) throws(LogFailure) -> Bool {
        var chunkStart = start
        while chunkStart < end {
            let chunk = try read(fd, offset: chunkStart, count: min(1 << 20, end - chunkStart))
            guard chunk.allSatisfy({ $0 == 0 }) else { return false }
            chunkStart += chunk.count
        }
        return true
    }

    private static func jobCount(_ count: Int) -> String {
        count == 1 ? "1 job" : "\(count) jobs"
    }

    private static func notALog() -> LogFailure {
        LogFailure("the file exists but is not a GearmanKit queue log; give a new path or move the file away")
    }
}

// MARK: - File access

extension AppendLogQueueStore {
    /// Reads exactly `count` bytes at `offset`, throwing if the file is shorter.
    fileprivate static func read(_ fd: Int32, offset: Int, count: Int) throws(LogFailure) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let result = bytes.withUnsafeMutableBytes { buffer in
                pread(fd, buffer.baseAddress! + done, count - done, off_t(offset + done))
            }
            if result < 0 && errno == EINTR { continue }
            guard result > 0 else {
                if result == 0 { throw LogFailure("unexpected end of file at offset \(offset + done)") }
                throw LogFailure(SystemError.current("pread"))
            }
            done += result
        }
        return bytes
    }

    fileprivate static func write(_ fd: Int32, _ bytes: [UInt8], offset: Int) throws(LogFailure) {
        var done = 0
        while done < bytes.count {
            let result = bytes.withUnsafeBytes { buffer in
                pwrite(fd, buffer.baseAddress! + done, bytes.count - done, off_t(offset + done))
            }
            if result < 0 && errno == EINTR { continue }
            guard result > 0 else { throw LogFailure(SystemError.current("pwrite")) }
            done += result
        }
    }

    /// Syncs the folder that contains `path`, so a created or renamed file survives a crash;
    /// returns the error, if any.
    fileprivate static func syncFolder(of path: String) -> SystemError? {
        let folder: String
        if let slash = path.lastIndex(of: "/") {
            folder = slash == path.startIndex ? "/" : String(path[..<slash])
        } else {
            folder = "."
        }
        let fd = Glibc.open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return SystemError.current("open \(folder)") }
        defer { Glibc.close(fd) }
        return fsync(fd) == 0 ? nil : SystemError.current("fsync \(folder)")
    }
}

/// The reason replay stopped before the end of the file.
private enum ReplayStop {
    /// Fewer bytes than a record header remain.
    case headerCutShort
    /// The header's payload length, which reaches past the end of the file.
    case lengthPastEnd(Int)
    /// A whole record fails its checksum or cannot be decoded.
    case invalidRecord
}

/// The bytes after the last whole batch, for the replay's warning and its torn-tail check.
private struct LogTail {
    /// The offset of the first byte after the last whole batch.
    var start: Int
    /// The offset of the record where replay stopped, or the file size when it read every record.
    var stopOffset: Int
    var size: Int
    var stop: ReplayStop?
    /// The valid operations after `start`, which lack their end-of-batch record.
    var operations: [StoreOperation]

    /// A sentence that lists what truncating the tail drops.
    var summary: String {
        let adds = operations.count { if case .add = $0 { true } else { false } }
        var text =
            "dropped the last \(size - start) bytes, from offset \(start) on, the incomplete batch that a crash "
            + "during a commit leaves: whole records without an end-of-batch record (adds: \(adds), "
            + "removes: \(operations.count - adds))"
        switch stop {
        case nil:
            break
        case .headerCutShort:
            text += ", then a record header cut short at offset \(stopOffset)"
        case .lengthPastEnd(let payloadLength):
            text += ", then a record cut short at offset \(stopOffset) that claims \(payloadLength) payload bytes"
        case .invalidRecord:
            text += ", then \(size - stopOffset) zero bytes from offset \(stopOffset)"
        }
        return text
    }
}

/// Reads a file front to back through a 1 MiB buffer, so replay costs few system calls.
private struct SequentialReader {
    let fd: Int32
    let size: Int
    private var buffer: [UInt8] = []
    private var bufferOffset = 0

    init(fd: Int32, size: Int) {
        self.fd = fd
        self.size = size
    }

    /// Returns `count` bytes at `offset`, or nil if the file ends before them.
    mutating func read(at offset: Int, count: Int) throws(LogFailure) -> [UInt8]? {
        guard offset + count <= size else { return nil }
        let start = offset - bufferOffset
        if start < 0 || start + count > buffer.count {
            bufferOffset = offset
            buffer = try AppendLogQueueStore.read(fd, offset: offset, count: min(size - offset, max(count, 1 << 20)))
            return Array(buffer[0..<count])
        }
        return Array(buffer[start..<(start + count)])
    }
}

/// A failure of the log file, with the system's message where there is one.
struct LogFailure: Error, CustomStringConvertible {
    var description: String

    init(_ message: String) {
        description = message
    }

    init(_ error: SystemError) {
        description = error.description
    }
}

/// A thread that calls a function at a fixed interval until it is stopped.
final class IntervalFlusher: Sendable {
    private let milliseconds: Int32
    private let wakeFD: Int32
    private let thread = Mutex<pthread_t?>(nil)

    init(milliseconds: Int) throws(LogFailure) {
        self.milliseconds = Int32(clamping: max(1, milliseconds))
        wakeFD = eventfd(0, Int32(EFD_CLOEXEC))
        guard wakeFD >= 0 else { throw LogFailure(SystemError.current("eventfd")) }
    }

    /// Starts the thread, which calls `tick` after each interval.
    func start(_ tick: @escaping @Sendable () -> Void) {
        // The thread keeps a reference to the flusher, so the eventfd stays open until the thread has ended.
        let body: @Sendable () -> Void = { [self] in
            var poll = pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)
            while true {
                let ready = Glibc.poll(&poll, 1, milliseconds)
                if ready > 0 { return }
                tick()
            }
        }
        switch PosixThread.start(body) {
        case .success(let created): thread.withLock { $0 = created }
        case .failure(let error): preconditionFailure("\(error)")
        }
    }

    /// Wakes the thread and waits for it to end; calling it again does nothing.
    func stop() {
        let taken: pthread_t? = thread.withLock { value in
            let running = value
            value = nil
            return running
        }
        guard let running = taken else { return }
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, 8)
        // The tick keeps the store only briefly, but if the store's last reference goes away
        // during a tick, its deinit calls stop() on this very thread, which cannot join itself.
        if pthread_equal(running, pthread_self()) != 0 {
            pthread_detach(running)
        } else {
            pthread_join(running, nil)
        }
    }

    deinit {
        Glibc.close(wakeFD)
    }
}

extension Error {
    /// The message of a log failure, or the error's description.
    fileprivate var message: String {
        String(describing: self)
    }
}
