import GearmanKit
import Testing

@testable import GearmanServer

@Suite("Queue store selection")
struct QueueStoresTests {
    @Test("builtin selects memory only, in any case", arguments: ["builtin", "BuiltIn", "BUILTIN"])
    func builtin(_ name: String) throws {
        #expect(try QueueStores.make(type: name, options: [:]) == nil)
    }

    @Test("libsqlite3 opens the database and table given")
    func sqlite() throws {
        let folder = TemporaryFolder()
        let store = try QueueStores.make(
            type: "LIBSQLITE3",
            options: ["libsqlite3-db": folder.file("q.db"), "libsqlite3-table": "jobs", "logfile-path": "/ignored"])

        #expect(store is SQLiteQueueStore)
        #expect(store?.description == "libsqlite3 \(folder.file("q.db"))")
        store?.close()
    }

    @Test("store-queue-on-shutdown is a flag")
    func shutdownFlag() throws {
        let folder = TemporaryFolder()
        let path = folder.file("q.db")
        let store = try QueueStores.make(
            type: "libsqlite3", options: ["libsqlite3-db": path, "store-queue-on-shutdown": ""])
        try store?.commit([.add(SampleJobs.job("f", "u"))])
        #expect(try SQLiteQueueStore.storedJobs(atPath: path).isEmpty)
        store?.close()
        #expect(try SQLiteQueueStore.storedJobs(atPath: path) == [SampleJobs.job("f", "u")])

        let error = #expect(throws: QueueStoreError.self) {
            try QueueStores.make(
                type: "libsqlite3", options: ["libsqlite3-db": path, "store-queue-on-shutdown": "maybe"])
        }
        #expect(
            error
                == .invalidOption(
                    option: "store-queue-on-shutdown",
                    message: "invalid value 'maybe': it is a flag, so give it without a value"))
    }

    @Test("libsqlite3 without a database names the option")
    func sqliteWithoutDatabase() {
        let error = #expect(throws: QueueStoreError.self) { try QueueStores.make(type: "libsqlite3", options: [:]) }

        #expect(String(describing: error!).hasPrefix("--libsqlite3-db: missing"))
    }

    @Test("logfile parses the fsync policy")
    func logfile() throws {
        let folder = TemporaryFolder()
        let store = try QueueStores.make(
            type: "logfile", options: ["logfile-path": folder.file("q.log"), "logfile-fsync": "250"])

        #expect(store is AppendLogQueueStore)
        store?.close()
        #expect(try QueueStores.fsyncPolicy(nil) == .always)
        #expect(try QueueStores.fsyncPolicy("always") == .always)
        #expect(try QueueStores.fsyncPolicy("NEVER") == .never)
        #expect(try QueueStores.fsyncPolicy("100") == .interval(milliseconds: 100))
    }

    @Test("an invalid fsync policy names the option and the choices", arguments: ["0", "-5", "sometimes", "1.5"])
    func invalidFsyncPolicy(_ value: String) {
        let error = #expect(throws: QueueStoreError.self) { try QueueStores.fsyncPolicy(value) }

        let text = String(describing: error!)
        #expect(text.hasPrefix("--logfile-fsync: invalid value '\(value)'"))
        #expect(text.contains("always, never, or an interval in milliseconds"))
    }

    @Test("logfile without a path names the option")
    func logfileWithoutPath() {
        let error = #expect(throws: QueueStoreError.self) { try QueueStores.make(type: "logfile", options: [:]) }

        #expect(String(describing: error!).hasPrefix("--logfile-path: missing"))
    }

    @Test("an unknown queue type lists the known ones")
    func unknownType() {
        let error = #expect(throws: QueueStoreError.self) { try QueueStores.make(type: "redis", options: [:]) }

        #expect(error == .unknownQueueType("redis"))
        #expect(String(describing: error!).contains("builtin, libsqlite3, Postgres or logfile"))
    }

    @Test("Postgres names are accepted in any case", arguments: ["Postgres", "postgres", "libpq", "LIBPQ"])
    func postgresNames(_ name: String) {
        // Port 1 on loopback refuses at once, so reaching the connection proves the name was accepted.
        let error = #expect(throws: QueueStoreError.self) {
            try QueueStores.make(type: name, options: ["libpq-conninfo": "host=127.0.0.1 port=1 connect_timeout=2"])
        }

        guard case .openFailed(let store, let message) = error else {
            Issue.record("expected openFailed, got \(String(describing: error))")
            return
        }
        #expect(store == "Postgres table queue")
        #expect(message.contains("Connection refused"))
    }
}
