import Foundation
import GearmanKit
import Testing

@testable import GearmanServer

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Append-only log queue store")
struct AppendLogQueueStoreTests {
    @Test("add, remove and load round trip")
    func roundTrip() throws {
        let folder = TemporaryFolder()
        let store = try AppendLogQueueStore(path: folder.file("queue.log"))
        defer { store.close() }

        try store.commit(SampleJobs.varied.map { .add($0) })
        try store.commit([.remove(SampleJobs.varied[1].key)])

        var expected = SampleJobs.varied
        expected.remove(at: 1)
        #expect(try store.load() == expected)
    }

    @Test(
        "jobs survive close and reopen",
        arguments: [
            AppendLogQueueStore.FsyncPolicy.always, .interval(milliseconds: 5), .never,
        ])
    func reloadAfterClose(_ policy: AppendLogQueueStore.FsyncPolicy) throws {
        let folder = TemporaryFolder()
        let path = folder.file("queue.log")
        let first = try AppendLogQueueStore(path: path, fsyncPolicy: policy)
        try first.commit(SampleJobs.varied.map { .add($0) })
        try first.commit([.remove(SampleJobs.varied[0].key)])
        first.close()

        let second = try AppendLogQueueStore(path: path, fsyncPolicy: policy)
        defer { second.close() }
        #expect(try second.load() == Array(SampleJobs.varied.dropFirst()))
    }

    @Test("adding a stored key replaces the job and moves it last")
    func replaceMovesLast() throws {
        let folder = TemporaryFolder()
        let path = folder.file("queue.log")
        let store = try AppendLogQueueStore(path: path)
        let first = SampleJobs.job("f", "a")
        let second = SampleJobs.job("f", "b")
        let replacement = SampleJobs.job("f", "a", .high, data: Array("new".utf8))

        try store.commit([.add(first), .add(second)])
        try store.commit([.add(replacement)])

        #expect(try store.load() == [second, replacement])
        store.close()
        let reopened = try AppendLogQueueStore(path: path)
        defer { reopened.close() }
        #expect(try reopened.load() == [second, replacement])
    }

    @Test("removing a missing key writes nothing")
    func removeMissingKey() throws {
        let folder = TemporaryFolder()
        let path = folder.file("queue.log")
        let store = try AppendLogQueueStore(path: path)
        defer { store.close() }
        let sizeBefore = fileSize(path)

        try store.commit([.remove(StoredJobKey(function: Array("f".utf8), unique: Array("none".utf8)))])

        #expect(fileSize(path) == sizeBefore)
        #expect(try store.load().isEmpty)
    }

    @Test("a torn tail is truncated and earlier batches are kept")
    func tornTail() throws {
        let folder = TemporaryFolder()
        let path = folder.file("queue.log")
        let early = [SampleJobs.job("f", "1"), SampleJobs.job("f", "2")]
        let late = [SampleJobs.job("f", "3"), SampleJobs.job("f", "4", data: [UInt8](repeating: 7, count: 1000))]
        let store = try AppendLogQueueStore(path: path)
        try store.commit(early.map { .add($0) })
        let sizeAfterEarly = fileSize(path)
        try store.commit(late.map { .add($0) })
        store.close()

        // Cut the second batch inside its last add record: its first add is whole but must not
        // be replayed, because the batch never finished.
        truncateFile(path, to: fileSize(path) - 500)
        let reopened = try AppendLogQueueStore(path: path)

        #expect(try reopened.load() == early)
        #expect(fileSize(path) == sizeAfterEarly)

        let after = SampleJobs.job("g", "after")
        try reopened.commit([.add(after)])
        reopened.close()
        let again = try AppendLogQueueStore(path: path)
        defer { again.close() }
        #expect(try again.load() == early + [after])
    }

    @Test("a torn tail in zero bytes is truncated")
    func zeroFilledTail() throws {
        let folder = TemporaryFolder()
        let path = folder.file("queue.log")
        let kept = SampleJobs.job("f", "kept")
        let store = try AppendLogQueueStore(path: path)
        try store.commit([.add(kept)])
        let sizeAfterKept = fileSize(path)
        store.close()

        // A file system that grew the file but lost its data after a machine crash leaves zeros.
        truncateFile(path, to: sizeAfterKept + 4096)
        let reopened = try AppendLogQueueStore(path: path)
        defer { reopened.close() }

        #expect(try reopened.load() == [kept])
        #expect(fileSize(path) == sizeAfterKept)
    }

    /// Flips the byte at `offset`, opens the log, and returns the error that rejected it. It
    /// records an issue when the open succeeds or changes the file.
    private func rejectionAfterFlipping(_ path: String, at offset: Int) throws -> String {
        flipByte(in: path, at: offset)
        let before = try fileBytes(path)
        let error = #expect(throws: QueueStoreError.self) { try AppendLogQueueStore(path: path) }
        #expect(try fileBytes(path) == before)
        return String(describing: error)
    }

    @Test("corruption before later batches is rejected and the file is kept")
    func corruptionInTheMiddle() throws {
        let folder = TemporaryFolder()
        let (path, sizeAfterFirst) = try writeThreeBatchLog(in: folder)

        // A byte inside the payload of the second batch's add record.
        let message = try rejectionAfterFlipping(path, at: sizeAfterFirst + 20)

        #expect(message.contains("damaged at offset \(sizeAfterFirst)"), "\(message)")
        #expect(message.contains("fails its checksum"), "\(message)")
        #expect(message.contains("truncate -s \(sizeAfterFirst) \(path)"), "\(message)")
        #expect(message.contains("(1 job)"), "\(message)")
        #expect(!fileExists(path + ".compact"))
    }

    @Test("a damaged length before later batches is rejected")
    func damagedLengthInTheMiddle() throws {
        let folder = TemporaryFolder()
        let (path, sizeAfterFirst) = try writeThreeBatchLog(in: folder)

        // The high byte of the second batch's first length field: the record now claims more
        // bytes than the file holds, as a torn write would, but whole batches follow it.
        let message = try rejectionAfterFlipping(path, at: sizeAfterFirst + 3)

        #expect(message.contains("damaged at offset \(sizeAfterFirst)"), "\(message)")
        #expect(message.contains("valid end-of-batch record follows"), "\(message)")
    }

    /// A flipped byte in the last batch, with nothing after it, is corruption. A crash leaves a
    /// prefix of a write, never a whole record with other bytes. The batch may also have been
    /// acknowledged, so replay must not drop it silently.
    @Test(
        "a flipped byte in the last batch is rejected",
        arguments: [
            ("add record", 12),
            ("end-of-batch record", 1),
        ])
    func corruptionInTheLastBatch(_ place: String, bytesFromEnd: Int) throws {
        let folder = TemporaryFolder()
        let path = folder.file("queue.log")
        let store = try AppendLogQueueStore(path: path)
        try store.commit([.add(SampleJobs.job("f", "kept"))])
        try store.commit([.add(SampleJobs.job("f", "last", data: Array("payload".utf8)))])
        store.close()

        let message = try rejectionAfterFlipping(path, at: fileSize(path) - bytesFromEnd)
        #expect(message.contains("damaged at offset"), "flipped byte in the \(place): \(message)")
    }

    @Test("the last batch cut inside a record is a torn tail")
    func lastBatchCutInsideRecord() throws {
        let folder = TemporaryFolder()
        let path = folder.file("queue.log")
        let kept = SampleJobs.job("f", "kept")
        let store = try AppendLogQueueStore(path: path)
        try store.commit([.add(kept)])
        let sizeAfterKept = fileSize(path)
        try store.commit([.add(SampleJobs.job("f", "torn", data: Array("payload".utf8))), .remove(kept.key)])
        store.close()

        // Cut inside the remove record, after the whole add record of the same batch.
        truncateFile(path, to: fileSize(path) - 12)
        let cutSize = fileSize(path)
        let logPath = folder.file("server.log")
        let logger = try Logger(level: .warning, destination: .file(logPath))
        let reopened = try AppendLogQueueStore(path: path, logger: logger)
        defer { reopened.close() }

        #expect(try reopened.load() == [kept])
        #expect(fileSize(path) == sizeAfterKept)
        let log = String(decoding: try fileBytes(logPath), as: UTF8.self)
        #expect(log.contains("WARNING"), "\(log)")
        #expect(
            log.contains("dropped the last \(cutSize - sizeAfterKept) bytes, from offset \(sizeAfterKept) on"), "\(log)"
        )
        #expect(log.contains("whole records without an end-of-batch record (adds: 1, removes: 0)"), "\(log)")
        #expect(log.contains("then a record cut short at offset"), "\(log)")
        #expect(log.contains("the log now stores 1 job"), "\(log)")
    }

    @Test("a file cut inside its header is started again")
    func tornHeader() throws {
        let folder = TemporaryFolder()
        let path = folder.file("queue.log")
        writeFile(path, "GKQL")
        let logPath = folder.file("server.log")
        let logger = try Logger(level: .warning, destination: .file(logPath))

        let store = try AppendLogQueueStore(path: path, logger: logger)
        let log = String(decoding: try fileBytes(logPath), as: UTF8.self)
        #expect(log.contains("WARNING log \(path) is cut short inside its 8-byte header (4 bytes)"), "\(log)")
        try store.commit([.add(SampleJobs.job("f", "u"))])
        store.close()
        let reopened = try AppendLogQueueStore(path: path)
        defer { reopened.close() }

        #expect(try reopened.load() == [SampleJobs.job("f", "u")])
    }

    @Test("compaction keeps exactly the live jobs")
    func compaction() throws {
        let folder = TemporaryFolder()
        let path = folder.file("queue.log")
        let store = try AppendLogQueueStore(path: path, compactionThreshold: 20)
        let jobs = (0..<30).map { SampleJobs.job("f", "job-\($0)", JobPriority(rawValue: $0 % 3)!, runAt: Int64($0)) }
        try store.commit(jobs.map { .add($0) })
        // Remove every job but the ones whose index is a multiple of 7, one batch each.
        let removed = jobs.indices.filter { $0 % 7 != 0 }
        var largestSize = fileSize(path)
        for index in removed {
            try store.commit([.remove(jobs[index].key)])
            largestSize = max(largestSize, fileSize(path))
        }
        let live = jobs.indices.filter { $0 % 7 == 0 }.map { jobs[$0] }

        let statistics = store.fileStatistics
        #expect(statistics.liveRecords == live.count)
        #expect(statistics.records < 20 + live.count)
        #expect(fileSize(path) < largestSize)
        #expect(!fileExists(path + ".compact"))
        #expect(try store.load() == live)

        let extra = SampleJobs.job("g", "after-compaction")
        try store.commit([.add(extra)])
        store.close()
        let reopened = try AppendLogQueueStore(path: path)
        defer { reopened.close() }
        #expect(try reopened.load() == live + [extra])
    }

    @Test("compaction skips a log with a record damaged since the replay")
    func compactionKeepsDamagedLog() throws {
        let folder = TemporaryFolder()
        let path = folder.file("queue.log")
        let store = try AppendLogQueueStore(path: path, compactionThreshold: 2)
        defer { store.close() }
        let kept = SampleJobs.job("f", "kept", data: Array("payload".utf8))
        try store.commit([.add(kept)])
        // Inside the data of the only add record that stays live.
        flipByte(in: path, at: fileSize(path) - 12)

        for number in 0..<4 {
            let job = SampleJobs.job("f", "job-\(number)")
            try store.commit([.add(job)])
            try store.commit([.remove(job.key)])
        }

        // A compacted copy of the damaged record would make the next start reject the new file.
        #expect(store.fileStatistics.records == 2 + 4 * 4)
        #expect(!fileExists(path + ".compact"))
    }

    @Test("no compaction while at most half of the log is dead")
    func noCompactionWhileMostlyLive() throws {
        let folder = TemporaryFolder()
        let path = folder.file("queue.log")
        let store = try AppendLogQueueStore(path: path, compactionThreshold: 2)
        defer { store.close() }
        let jobs = (0..<40).map { SampleJobs.job("f", "job-\($0)") }
        try store.commit(jobs.map { .add($0) })
        try store.commit(jobs.prefix(5).map { .remove($0.key) })

        // 40 adds, 5 removes and 2 end-of-batch records, of which 5 + 5 + 2 are dead.
        #expect(store.fileStatistics.records == 47)
        #expect(try store.load() == Array(jobs.dropFirst(5)))
    }

    @Test("a second store on the same file is rejected")
    func lockedBySecondStore() throws {
        let folder = TemporaryFolder()
        let path = folder.file("queue.log")
        let store = try AppendLogQueueStore(path: path)
        defer { store.close() }

        let error = #expect(throws: QueueStoreError.self) { try AppendLogQueueStore(path: path) }

        #expect((error.map(String.init(describing:)) ?? "").contains("locked by another process"))
    }

    /// A forked child shares the lock until it calls exec; the store waits that moment out.
    @Test("a lock released within a second is taken")
    func lockReleasedSoonIsTaken() throws {
        let folder = TemporaryFolder()
        let path = folder.file("queue.log")
        try AppendLogQueueStore(path: path).close()
        let holder = Glibc.open(path, O_RDWR | O_CLOEXEC)
        try #require(holder >= 0)
        try #require(flock(holder, LOCK_EX | LOCK_NB) == 0)
        let release = Thread {
            usleep(200_000)
            Glibc.close(holder)
        }
        release.start()

        let store = try AppendLogQueueStore(path: path)
        store.close()
    }

    @Test("a path in a missing folder fails with the system's message")
    func missingFolder() throws {
        let folder = TemporaryFolder()
        let path = folder.file("missing/queue.log")

        let error = #expect(throws: QueueStoreError.self) { try AppendLogQueueStore(path: path) }

        let text = error.map(String.init(describing:)) ?? ""
        #expect(text.contains(path))
        #expect(text.contains("No such file or directory"))
    }

    @Test("a file that is not a queue log is left alone")
    func notALog() throws {
        let folder = TemporaryFolder()
        let path = folder.file("notes.txt")
        writeFile(path, "important notes, not a queue\n")

        let error = #expect(throws: QueueStoreError.self) { try AppendLogQueueStore(path: path) }

        #expect((error.map(String.init(describing:)) ?? "").contains("not a GearmanKit queue log"))
        #expect(fileSize(path) == 29)
    }

    @Test("a closed store rejects commits")
    func commitAfterClose() throws {
        let folder = TemporaryFolder()
        let store = try AppendLogQueueStore(path: folder.file("queue.log"), fsyncPolicy: .interval(milliseconds: 1))
        store.close()

        #expect(throws: QueueStoreError.closed(store: store.description)) {
            try store.commit([.add(SampleJobs.job("f", "u"))])
        }
    }

    @Test("records decode to what was encoded and reject any flipped byte")
    func recordEncoding() throws {
        for job in SampleJobs.varied {
            let record = AppendLogRecord.encode(.add(job))
            guard case .operation(.add(let decoded)) = AppendLogRecord.decode(record[...]) else {
                Issue.record("record of \(job) did not decode")
                continue
            }
            #expect(decoded == job)
            for offset in record.indices {
                var damaged = record
                damaged[offset] ^= 0x01
                #expect(AppendLogRecord.decode(damaged[...]) == nil, "flipped byte \(offset) went unnoticed")
            }
        }
    }

    @Test("CRC-32 matches the IEEE check value")
    func crcCheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum(Array("6789".utf8), continuing: CRC32.checksum(Array("12345".utf8))) == 0xCBF4_3926)
    }
}
