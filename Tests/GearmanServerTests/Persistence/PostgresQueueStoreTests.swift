import GearmanKit
import Testing

@testable import GearmanServer

/// Starts one throwaway cluster for the suite it is attached to and stops it afterwards.
struct ThrowawayPostgresTrait: SuiteTrait, TestScoping {
    @TaskLocal static var cluster: PostgresCluster?

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let cluster = try await PostgresCluster()
        do {
            try await Self.$cluster.withValue(cluster) {
                try await function()
            }
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }
}

extension Trait where Self == ThrowawayPostgresTrait {
    static var throwawayPostgres: Self { Self() }
}

// Serialized because one test restarts the cluster that all of them share.
@Suite(
    "Postgres queue store", .serialized, .throwawayPostgres,
    .disabled(if: PostgresCluster.unavailableReason != nil, Comment(rawValue: PostgresCluster.unavailableReason ?? "")),
    .timeLimit(.minutes(1)))
struct PostgresQueueStoreTests {
    private var cluster: PostgresCluster {
        get throws {
            guard let cluster = ThrowawayPostgresTrait.cluster else { throw TestSetupError("no cluster in scope") }
            return cluster
        }
    }

    private func makeStore(table: String) throws -> PostgresQueueStore {
        try PostgresQueueStore(conninfo: cluster.conninfo, table: table)
    }

    @Test("add, remove and load round trip")
    func roundTrip() throws {
        let store = try makeStore(table: "round_trip")
        defer { store.close() }

        try store.commit(SampleJobs.varied.map { .add($0) })
        try store.commit([.remove(SampleJobs.varied[1].key)])

        var expected = SampleJobs.varied
        expected.remove(at: 1)
        #expect(try store.load() == expected)
    }

    @Test("jobs survive close and reopen")
    func reloadAfterClose() throws {
        let first = try makeStore(table: "reload")
        try first.commit(SampleJobs.varied.map { .add($0) })
        first.close()

        let second = try makeStore(table: "reload")
        defer { second.close() }
        #expect(try second.load() == SampleJobs.varied)
    }

    @Test("adding a stored key replaces the job")
    func replace() throws {
        let store = try makeStore(table: "replace")
        defer { store.close() }
        let first = SampleJobs.job("f", "a")
        let second = SampleJobs.job("f", "b")
        let replacement = SampleJobs.job("f", "a", .high, data: Array("new".utf8))

        try store.commit([.add(first), .add(second)])
        try store.commit([.add(replacement)])

        #expect(try store.load() == [second, replacement])
    }

    @Test("a rejected operation rolls back its whole batch")
    func batchAtomicity() throws {
        let store = try makeStore(table: "atomicity")
        defer { store.close() }
        let kept = SampleJobs.job("f", "kept")
        try store.commit([.add(kept)])

        let tooLong = SampleJobs.job(String(repeating: "x", count: 256), "u")
        let batch: [StoreOperation] = [
            .add(SampleJobs.job("f", "one")), .remove(kept.key), .add(tooLong), .add(SampleJobs.job("f", "two")),
        ]
        let error = #expect(throws: QueueStoreError.self) { try store.commit(batch) }

        guard case .commitFailed(_, let message, let index) = error else {
            Issue.record("expected commitFailed, got \(String(describing: error))")
            return
        }
        #expect(index == 2)
        #expect(message.contains("value too long for type character varying(255)"))
        #expect(try store.load() == [kept])
        try store.commit([.add(SampleJobs.job("f", "after"))])
        #expect(try store.load() == [kept, SampleJobs.job("f", "after")])
    }

    @Test("creates the table in the C gearmand's layout")
    func createsCSchema() throws {
        let store = try makeStore(table: "layout")
        store.close()
        let connection = try PostgresConnection(conninfo: cluster.conninfo)
        defer { connection.close() }

        let columns = try connection.query(
            "SELECT column_name::text, data_type::text, coalesce(character_maximum_length, 0)::int8 "
                + "FROM information_schema.columns WHERE table_name = 'layout' ORDER BY ordinal_position")
        let described = columns.map { row in
            "\(String(decoding: row[0] ?? [], as: UTF8.self)) \(String(decoding: row[1] ?? [], as: UTF8.self)) "
                + "\(PostgresInt8.decode(row[2] ?? []) ?? -1)"
        }
        #expect(
            described == [
                "unique_key character varying 64", "function_name character varying 255", "priority integer 0",
                "data bytea 0", "when_to_run integer 0",
            ])
        let constraints = try connection.query(
            "SELECT pg_get_constraintdef(oid)::text FROM pg_constraint WHERE conrelid = 'layout'::regclass")
        #expect(
            constraints.map { String(decoding: $0[0] ?? [], as: UTF8.self) } == ["UNIQUE (unique_key, function_name)"])
    }

    @Test("loads rows as the C gearmand writes them")
    func loadsCRows() throws {
        let store = try makeStore(table: "c_rows")
        defer { store.close() }
        let connection = try PostgresConnection(conninfo: cluster.conninfo)
        defer { connection.close() }

        // The C server stores an empty workload as NULL and an empty unique key as ''.
        try connection.execute(
            "INSERT INTO c_rows (priority, unique_key, function_name, data, when_to_run) VALUES "
                + "(0, 'khigh', 'fn', '\\x6869676864617461'::bytea, 0), (1, '', 'fnempty', NULL, 0), "
                + "(2, 'kepoch', 'fnepoch', '\\x00ff'::bytea, 1796519989)")

        #expect(
            try store.load() == [
                SampleJobs.job("fn", "khigh", .high, data: Array("highdata".utf8)),
                SampleJobs.job("fnempty", "", .normal, data: []),
                SampleJobs.job("fnepoch", "kepoch", .low, data: [0x00, 0xFF], runAt: 1_796_519_989),
            ])
    }

    @Test("a commit after a database restart reconnects")
    func reconnectAfterRestart() async throws {
        let store = try makeStore(table: "restart")
        defer { store.close() }
        let before = SampleJobs.job("f", "before")
        try store.commit([.add(before)])

        try await cluster.restart()
        let after = SampleJobs.job("f", "after")
        try store.commit([.add(after)])

        #expect(try store.load() == [before, after])
    }

    @Test("commit fails while the database is down")
    func commitWhileDown() async throws {
        let store = try makeStore(table: "down")
        defer { store.close() }
        let cluster = try cluster

        await cluster.stop()
        let error = #expect(throws: QueueStoreError.self) { try store.commit([.add(SampleJobs.job("f", "lost"))]) }
        try await cluster.start()

        guard case .commitFailed(_, let message, let index) = error else {
            Issue.record("expected commitFailed, got \(String(describing: error))")
            return
        }
        #expect(index == nil)
        #expect(message.contains("Connection refused"))
        let saved = SampleJobs.job("f", "saved")
        try store.commit([.add(saved)])
        #expect(try store.load() == [saved])
    }
}

@Suite("Postgres queue store without a server")
struct PostgresQueueStoreOfflineTests {
    @Test("an invalid table name is rejected before connecting")
    func invalidTableName() {
        let error = #expect(throws: QueueStoreError.self) {
            try PostgresQueueStore(conninfo: "host=127.0.0.1 port=1", table: "queue; DROP TABLE users")
        }

        guard case .invalidOption(let option, _) = error else {
            Issue.record("expected invalidOption, got \(String(describing: error))")
            return
        }
        #expect(option == "libpq-table")
    }
}
