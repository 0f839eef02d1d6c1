import GearmanKit
import ProcessTestSupport
import Testing

@testable import GearmanServer

#if canImport(Glibc)
    import Glibc
#endif

@Suite("SQLite queue store")
struct SQLiteQueueStoreTests {
    @Test("add, remove and load round trip")
    func roundTrip() throws {
        let folder = TemporaryFolder()
        let store = try SQLiteQueueStore(path: folder.file("queue.db"))
        defer { store.close() }

        try store.commit(SampleJobs.varied.map { .add($0) })
        try store.commit([.remove(SampleJobs.varied[1].key)])

        var expected = SampleJobs.varied
        expected.remove(at: 1)
        #expect(try store.load() == expected)
    }

    /// Two servers on one file hand out the same handles, and jobs without a unique key are
    /// stored under their handle, so one server's rows would replace the other's.
    @Test("a second store on one file is rejected")
    func secondStoreRejected() throws {
        let folder = TemporaryFolder()
        let path = folder.file("queue.db")
        let first = try SQLiteQueueStore(path: path)
        try first.commit([.add(SampleJobs.job("f", "kept"))])

        #expect(
            throws: QueueStoreError.openFailed(
                store: "libsqlite3 \(path)",
                message: "the database is in use by another gearmand; stop the other server or use another file")
        ) {
            try SQLiteQueueStore(path: path)
        }

        first.close()
        let second = try SQLiteQueueStore(path: path)
        defer { second.close() }
        #expect(try second.load() == [SampleJobs.job("f", "kept")])
    }

    @Test("many adds in one batch keep their order and replace equal keys")
    func manyAdds() throws {
        let folder = TemporaryFolder()
        let store = try SQLiteQueueStore(path: folder.file("queue.db"))
        defer { store.close() }

        // 100 adds fill three multi-row statements and leave 4 single inserts. Job 40 repeats
        // the key of job 10 inside the second statement, so it replaces job 10.
        var jobs = (0..<100).map { SampleJobs.job("f", "job-\($0)", data: [UInt8($0)]) }
        jobs[40] = SampleJobs.job("f", "job-10", data: [40])
        try store.commit(jobs.map { .add($0) })
        try store.commit([.remove(jobs[3].key)])

        var expected = jobs.enumerated().filter { $0.offset != 10 && $0.offset != 3 }.map(\.element)
        let replaced = expected.remove(at: expected.firstIndex(of: jobs[40])!)
        expected.insert(replaced, at: expected.firstIndex(of: jobs[39])! + 1)
        #expect(try store.load() == expected)
    }

    @Test("WAL checkpointed in the background")
    func backgroundCheckpoint() async throws {
        let folder = TemporaryFolder()
        let path = folder.file("queue.db")
        let store = try SQLiteQueueStore(path: path)
        // About 1 KiB per job: 40 batches of 200 jobs write far more than the 1000 pages
        // (4 MiB) at which a checkpoint is requested.
        let payload = [UInt8](repeating: 7, count: 1000)
        var live: [StoredJob] = []
        for batch in 0..<40 {
            let jobs = (0..<200).map { SampleJobs.job("f", "job-\(batch)-\($0)", data: payload) }
            let removals = live.prefix(150).map { StoreOperation.remove($0.key) }
            live.removeFirst(min(150, live.count))
            live += jobs
            try store.write(removals + jobs.map { .add($0) })
            try store.sync()
        }
        // The writer does not checkpoint below the hard limit, so pages in the database file
        // were copied there by the background connection.
        let copied = try await waitUntil(timeout: .seconds(5)) {
            var info = stat()
            return stat(path, &info) == 0 && info.st_size > 1_000_000 && store.backgroundCheckpoints > 0
        }
        #expect(copied)
        #expect(try store.load() == live)
        store.close()

        let reopened = try SQLiteQueueStore(path: path)
        defer { reopened.close() }
        #expect(try reopened.load() == live)
    }

    @Test("jobs survive close and reopen")
    func reloadAfterClose() throws {
        let folder = TemporaryFolder()
        let path = folder.file("queue.db")
        let first = try SQLiteQueueStore(path: path)
        try first.commit(SampleJobs.varied.map { .add($0) })
        first.close()

        let second = try SQLiteQueueStore(path: path)
        defer { second.close() }
        #expect(try second.load() == SampleJobs.varied)
    }

    @Test("adding a stored key replaces the job and moves it last")
    func replaceMovesLast() throws {
        let folder = TemporaryFolder()
        let store = try SQLiteQueueStore(path: folder.file("queue.db"))
        defer { store.close() }
        let first = SampleJobs.job("f", "a")
        let second = SampleJobs.job("f", "b")
        let replacement = SampleJobs.job("f", "a", .high, data: Array("new".utf8))

        try store.commit([.add(first), .add(second)])
        try store.commit([.add(replacement)])

        #expect(try store.load() == [second, replacement])
    }

    @Test("removing a missing key is no error")
    func removeMissingKey() throws {
        let folder = TemporaryFolder()
        let store = try SQLiteQueueStore(path: folder.file("queue.db"))
        defer { store.close() }

        try store.commit([.remove(StoredJobKey(function: Array("f".utf8), unique: Array("none".utf8)))])

        #expect(try store.load().isEmpty)
    }

    @Test("a failing operation rolls back its whole batch")
    func batchAtomicity() throws {
        let folder = TemporaryFolder()
        let path = folder.file("queue.db")
        let store = try SQLiteQueueStore(path: path)
        defer { store.close() }
        let kept = SampleJobs.job("f", "kept")
        try store.commit([.add(kept)])
        let database = try SQLiteDatabase(path: path)
        try database.execute(
            "CREATE TRIGGER reject_poison BEFORE INSERT ON gearman_queue WHEN NEW.function_name = 'poison' "
                + "BEGIN SELECT RAISE(ABORT, 'poison job rejected'); END")
        database.close()

        let batch: [StoreOperation] = [
            .add(SampleJobs.job("f", "one")), .remove(kept.key), .add(SampleJobs.job("poison", "x")),
            .add(SampleJobs.job("f", "two")),
        ]
        let error = #expect(throws: QueueStoreError.self) { try store.commit(batch) }

        guard case .commitFailed(_, let message, let index) = error else {
            Issue.record("expected commitFailed, got \(String(describing: error))")
            return
        }
        #expect(index == 2)
        #expect(message.contains("poison job rejected"))
        #expect(try store.load() == [kept])
    }

    @Test("loads the queue the C gearmand 1.1.20 wrote")
    func loadsCServerFixture() throws {
        let folder = TemporaryFolder()
        let path = folder.file("queue.db")
        try copyFile(from: fixturePath("c-gearmand-queue.db"), to: path)
        let store = try SQLiteQueueStore(path: path)
        defer { store.close() }

        let jobs = try store.load()

        func job(_ function: [UInt8], _ unique: [UInt8], _ priority: JobPriority, _ data: [UInt8], _ runAt: Int64 = 0)
            -> StoredJob
        {
            StoredJob(function: function, unique: unique, priority: priority, data: data, runAt: runAt)
        }
        let expected = [
            job(Array("fn".utf8), Array("knorm".utf8), .normal, Array("normaldata".utf8)),
            job(Array("fn".utf8), Array("khigh".utf8), .high, Array("highdata".utf8)),
            job(Array("fn".utf8), Array("klow".utf8), .low, Array("lowdata".utf8)),
            job(
                Array("fn2".utf8), Array("1df12a9a-f02a-11f1-8ef0-02fc00000001".utf8), .normal,
                Array("nouniquedata".utf8)),
            job(Array("fnbin".utf8), Array("kbin".utf8), .normal, [0x61, 0x00, 0x62, 0x00, 0x63]),
            job(Array("fnempty".utf8), [], .normal, Array("emptyuniquedata2".utf8)),
            job(Array("fnepoch".utf8), Array("kepoch".utf8), .normal, Array("epochdata".utf8), 1_796_519_915),
            job(Array("fnepoch".utf8), [], .normal, Array("epochempty".utf8), 1_796_619_915),
            job([0x66, 0x6E, 0xC3, 0xA9], [0x6B, 0x01, 0xFF], .high, [0xFF, 0xFE, 0x00]),
        ]
        #expect(jobs.count == expected.count)
        for (loaded, wanted) in zip(jobs, expected) {
            #expect(loaded == wanted)
        }
    }

    @Test("creates the table with the C gearmand's statement")
    func createsCSchema() throws {
        let folder = TemporaryFolder()
        let path = folder.file("queue.db")
        let store = try SQLiteQueueStore(path: path, table: "custom_queue")
        store.close()

        let database = try SQLiteDatabase(path: path)
        defer { database.close() }
        let select = try database.prepare(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'custom_queue'")
        defer { select.finalize() }
        #expect(try select.step())
        #expect(
            String(decoding: select.bytes(at: 0), as: UTF8.self)
                == "CREATE TABLE custom_queue ( unique_key TEXT, function_name TEXT, priority INTEGER, data BLOB, "
                + "when_to_run INTEGER, PRIMARY KEY (unique_key, function_name))")
    }

    @Test("adds when_to_run to a table from an older gearmand")
    func addsMissingWhenToRun() throws {
        let folder = TemporaryFolder()
        let path = folder.file("queue.db")
        let database = try SQLiteDatabase(path: path)
        try database.execute(
            "CREATE TABLE gearman_queue ( unique_key TEXT, function_name TEXT, priority INTEGER, data BLOB, "
                + "PRIMARY KEY (unique_key, function_name))")
        try database.execute("INSERT INTO gearman_queue VALUES ('u', 'f', 2, x'00')")
        database.close()

        let store = try SQLiteQueueStore(path: path)
        defer { store.close() }
        let scheduled = SampleJobs.job("f", "later", runAt: 1_900_000_000)
        try store.commit([.add(scheduled)])

        #expect(try store.load() == [SampleJobs.job("f", "u", .low, data: [0x00]), scheduled])
    }

    @Test("store-queue-on-shutdown writes the queue only at close")
    func storesQueueOnShutdown() throws {
        let folder = TemporaryFolder()
        let path = folder.file("queue.db")
        let seed = try SQLiteQueueStore(path: path)
        let loaded = SampleJobs.job("f", "loaded")
        let finished = SampleJobs.job("f", "finished")
        try seed.commit([.add(loaded), .add(finished)])
        seed.close()

        let store = try SQLiteQueueStore(path: path, storesQueueOnShutdown: true)
        #expect(try store.load() == [loaded, finished])
        let added = SampleJobs.job("g", "added", .high)
        try store.commit([.add(added), .remove(finished.key)])

        #expect(try SQLiteQueueStore.storedJobs(atPath: path) == [loaded, finished])

        store.close()
        #expect(try SQLiteQueueStore.storedJobs(atPath: path) == [loaded, added])
    }

    @Test("a path in a missing folder fails with SQLite's message")
    func missingFolder() throws {
        let folder = TemporaryFolder()
        let path = folder.file("missing/queue.db")

        let error = #expect(throws: QueueStoreError.self) { try SQLiteQueueStore(path: path) }

        let text = error.map(String.init(describing:)) ?? ""
        #expect(text.contains(path))
        #expect(text.contains("unable to open database file"))
    }

    // Root bypasses file permissions, so the check needs another user.
    @Test(
        "a read-only folder fails with SQLite's message",
        .disabled(if: geteuid() == 0, "root can write to a read-only folder; run the tests as another user"))
    func readOnlyFolder() throws {
        let folder = TemporaryFolder()
        let path = folder.file("queue.db")
        let seed = try SQLiteQueueStore(path: path)
        try seed.commit([.add(SampleJobs.job("f", "u"))])
        seed.close()
        chmod(path, 0o444)
        chmod(folder.path, 0o555)
        defer { chmod(folder.path, 0o755) }

        let error = #expect(throws: QueueStoreError.self) {
            let store = try SQLiteQueueStore(path: path)
            defer { store.close() }
            try store.commit([.add(SampleJobs.job("f", "v"))])
        }

        #expect((error.map(String.init(describing:)) ?? "").contains("readonly database"))
    }

    @Test("a file that is not a database fails to open")
    func notADatabase() throws {
        let folder = TemporaryFolder()
        let path = folder.file("queue.db")
        writeFile(path, String(repeating: "not a database\n", count: 100))

        let error = #expect(throws: QueueStoreError.self) { try SQLiteQueueStore(path: path) }

        #expect((error.map(String.init(describing:)) ?? "").contains("file is not a database"))
    }

    @Test("an invalid table name is rejected", arguments: ["", "1queue", "queue; DROP TABLE x", "my-queue", "quéue"])
    func invalidTableName(_ table: String) throws {
        let folder = TemporaryFolder()

        let error = #expect(throws: QueueStoreError.self) {
            try SQLiteQueueStore(path: folder.file("queue.db"), table: table)
        }

        guard case .invalidOption(let option, _) = error else {
            Issue.record("expected invalidOption, got \(String(describing: error))")
            return
        }
        #expect(option == "libsqlite3-table")
        #expect(!fileExists(folder.file("queue.db")))
    }

    @Test("a closed store rejects commits")
    func commitAfterClose() throws {
        let folder = TemporaryFolder()
        let store = try SQLiteQueueStore(path: folder.file("queue.db"))
        store.close()

        #expect(throws: QueueStoreError.closed(store: store.description)) {
            try store.commit([.add(SampleJobs.job("f", "u"))])
        }
    }
}
