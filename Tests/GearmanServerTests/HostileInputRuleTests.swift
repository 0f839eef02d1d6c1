import GearmanKit
import Testing

@testable import GearmanServer

/// Packets from a hostile or broken client: out-of-range numbers, aliases of job handles and
/// long runs of registrations. Each of these could stop the server or misroute a result.
@Suite("Hostile input in the job core")
struct HostileInputRuleTests {
    /// A run time past the range of a millisecond deadline must not overflow and stop the server.
    @Test(
        "epoch jobs far in the future", arguments: ["9300000000000000", "9223372036854775807", "99999999999999999999"])
    func farFutureEpoch(_ runAt: String) {
        let harness = CoreHarness()
        let client = harness.connect()
        let replies = harness.send(client, .submitJobEpoch, "fe", "", runAt, "data")
        #expect(replies.map(\.type) == [.jobCreated])
        #expect(harness.admin(client, "status") == "fe\t1\t0\t0\n.\n")

        let worker = harness.sleepingWorker("fe")
        harness.advance(milliseconds: 365 * 24 * 3600 * 1000)
        #expect(harness.take(worker).isEmpty)
        #expect(harness.grab(worker) == nil)
        #expect(harness.admin(client, "status") == "fe\t1\t0\t1\n.\n")
    }

    /// gearmand 1.1.20 stores such a run time in its libsqlite3 queue; ours must start on it.
    @Test("a restored epoch job with the largest run time")
    func restoredFarFutureEpoch() {
        let harness = CoreHarness()
        var outbox = Outbox()
        let stored = StoredJob(
            function: Array("fe".utf8), unique: Array("u".utf8), priority: .normal, data: [1], runAt: Int64.max)
        harness.core.restore([stored], outbox: &outbox)

        let client = harness.connect()
        #expect(harness.admin(client, "status") == "fe\t1\t0\t0\n.\n")
        harness.advance(milliseconds: 1000)
        #expect(harness.admin(client, "status") == "fe\t1\t0\t0\n.\n")
    }

    /// A CAN_DO_TIMEOUT past the range of a millisecond deadline must not stop the server at the
    /// next GRAB_JOB.
    @Test("huge CAN_DO_TIMEOUT values", arguments: ["9223372036854775807", "99999999999999999999"])
    func hugeWorkerTimeout(_ timeout: String) {
        let harness = CoreHarness()
        let client = harness.connect()
        let handle = harness.submit(client, "fc")
        let worker = harness.connect()
        harness.send(worker, .canDoTimeout, "fc", timeout)

        #expect(harness.grab(worker)?.handle == handle)
        harness.advance(milliseconds: 365 * 24 * 3600 * 1000)
        #expect(harness.admin(client, "status") == "fc\t1\t1\t1\n.\n")
        harness.send(worker, .workComplete, handle, "done")
        #expect(harness.take(client).map(\.type) == [.workComplete])
    }

    /// gearmand 1.1.20 replies JOB_NOT_FOUND. Accepting the alias would complete job 1 and send
    /// the client a handle it never saw, so the client would wait for ever.
    @Test("zero-padded handles name no job")
    func zeroPaddedHandles() throws {
        let harness = CoreHarness()
        let client = harness.connect()
        let handle = harness.submit(client, "fh")
        try #require(handle == "H:test:1")
        let worker = harness.connect()
        harness.send(worker, .canDo, "fh")
        #expect(harness.grab(worker)?.handle == handle)

        for alias in ["H:test:01", "H:test:0001", "H:test:0"] {
            let replies = harness.send(worker, .workComplete, alias, "result")
            #expect(replies.map(\.type) == [.error], "WORK_COMPLETE \(alias)")
            #expect(replies.first?.stringArgument(0) == "JOB_NOT_FOUND", "WORK_COMPLETE \(alias)")
            let status = harness.send(client, .getStatus, alias)
            #expect(status.first?.stringArgument(1) == "0", "GET_STATUS \(alias) reported a known job")
            #expect(harness.admin(client, "cancel job \(alias)") == "ERR UNKNOWN_JOB\r\n")
        }
        #expect(harness.take(client).isEmpty)
        #expect(harness.admin(client, "status") == "fh\t1\t1\t1\n.\n")

        harness.send(worker, .workComplete, handle, "result")
        #expect(harness.take(client).map(\.type) == [.workComplete])
    }

    /// Repeated CAN_DO packets all count, as in gearmand 1.1.20, and `workers` lists the newest
    /// registration first.
    @Test("repeated CAN_DO keeps the order of gearmand")
    func repeatedCanDo() {
        let harness = CoreHarness()
        let worker = harness.connect()
        for function in ["f", "f", "f", "g"] {
            harness.send(worker, .canDo, function)
        }
        let admin = harness.connect()
        #expect(harness.admin(admin, "status") == "f\t0\t0\t3\ng\t0\t0\t1\n.\n")
        #expect(harness.admin(admin, "workers").hasPrefix("\(worker.fd) \(worker.peerAddress) - : g f f f\n"))

        harness.send(worker, .cantDo, "f")
        #expect(harness.admin(admin, "status") == "f\t0\t0\t0\ng\t0\t0\t1\n.\n")
        #expect(harness.admin(admin, "workers").hasPrefix("\(worker.fd) \(worker.peerAddress) - : g\n"))
    }

    /// With several registrations of one function, the newest CAN_DO_TIMEOUT applies.
    @Test("the newest CAN_DO_TIMEOUT applies")
    func newestTimeoutApplies() {
        let harness = CoreHarness()
        let client = harness.connect()
        let handle = harness.submit(client, "ft")
        let worker = harness.connect()
        harness.send(worker, .canDoTimeout, "ft", "5000")
        harness.send(worker, .canDoTimeout, "ft", "100")

        #expect(harness.grab(worker)?.handle == handle)
        harness.advance(milliseconds: 100)
        #expect(harness.admin(client, "status") == "ft\t1\t0\t2\n.\n")
    }

    @Test("GET_STATUS_UNIQUE past many empty functions")
    func uniqueStatusSkipsEmptyFunctions() {
        let harness = CoreHarness()
        let admin = harness.connect()
        for index in 0..<1000 {
            _ = harness.admin(admin, "create function empty\(index)")
        }
        let client = harness.connect()
        harness.submit(client, "late", unique: "key", data: "x", type: .submitJobBackground)

        let replies = harness.send(client, .getStatusUnique, "key")
        #expect(replies.map(\.type) == [.statusResponseUnique])
        #expect(replies.first.map { (1..<6).map($0.stringArgument) } == ["1", "0", "0", "0", "0"])
    }

    /// With one unique key in two functions, the function created first wins, whether the
    /// lookup walks the functions (as many jobs as functions) or the keyed jobs (fewer).
    @Test("GET_STATUS_UNIQUE prefers the function created first", arguments: [0, 5])
    func uniqueStatusOrder(emptyFunctions: Int) throws {
        let harness = CoreHarness()
        let admin = harness.connect()
        #expect(harness.admin(admin, "create function older") == "OK\r\n")
        #expect(harness.admin(admin, "create function newer") == "OK\r\n")
        for index in 0..<emptyFunctions {
            _ = harness.admin(admin, "create function empty\(index)")
        }
        let client = harness.connect()
        harness.submit(client, "newer", unique: "key", data: "x", type: .submitJobBackground)
        let older = harness.submit(client, "older", unique: "key", data: "x", type: .submitJobBackground)
        let worker = harness.connect()
        harness.send(worker, .canDo, "older")
        try #require(harness.grab(worker)?.handle == older)

        // Only the job of "older" is running, so the running field shows which job was found.
        let replies = harness.send(client, .getStatusUnique, "key")
        #expect(replies.first.map { (1..<3).map($0.stringArgument) } == ["1", "1"])
    }

    /// Runs an admin line given as bytes and returns the reply bytes unchanged.
    private func adminBytes(_ harness: CoreHarness, _ session: Session, _ line: [UInt8]) -> [UInt8] {
        var outbox = Outbox()
        _ = harness.core.handleAdmin(line, from: session, outbox: &outbox)
        return outbox.items.flatMap { item -> [UInt8] in
            guard item.connectionID == session.connectionID, case .text(let bytes) = item.output else { return [] }
            return bytes
        }
    }

    /// Names that are not UTF-8 reach the admin output unchanged, as in gearmand 1.1.20, and
    /// `drop function` matches bytes, so two such names neither print nor match alike.
    @Test("names that are not UTF-8")
    func nonUTF8Names() {
        let harness = CoreHarness()
        let admin = harness.connect()
        let first: [UInt8] = [0xFF, 0x2D, 0x78]
        let second: [UInt8] = [0xFE, 0x2D, 0x78]
        #expect(adminBytes(harness, admin, Array("create function ".utf8) + first) == Array("OK\r\n".utf8))
        #expect(adminBytes(harness, admin, Array("create function ".utf8) + second) == Array("OK\r\n".utf8))
        let worker = harness.connect()
        _ = harness.send(worker, Packet(magic: .request, type: .canDo, arguments: [first[...]]))
        _ = harness.send(worker, Packet(magic: .request, type: .setClientID, arguments: [[0xC0, 0x41][...]]))

        let status = adminBytes(harness, admin, Array("status".utf8))
        #expect(status == first + Array("\t0\t0\t1\n".utf8) + second + Array("\t0\t0\t0\n.\n".utf8))
        let workers = adminBytes(harness, admin, Array("workers".utf8))
        let workerLine = Array("\(worker.fd) \(worker.peerAddress) ".utf8) + [0xC0, 0x41] + Array(" : ".utf8) + first
        #expect(workers.firstRange(of: workerLine + [0x0A]) != nil)

        #expect(adminBytes(harness, admin, Array("drop function ".utf8) + second) == Array("OK\r\n".utf8))
        let after = adminBytes(harness, admin, Array("status".utf8))
        #expect(after == first + Array("\t0\t0\t1\n.\n".utf8))
    }

    @Test("drop function ignores ASCII case")
    func dropFunctionIgnoresCase() {
        let harness = CoreHarness()
        let admin = harness.connect()
        #expect(harness.admin(admin, "create function Resize") == "OK\r\n")
        #expect(harness.admin(admin, "drop function rESIZE") == "OK\r\n")
        #expect(harness.admin(admin, "status") == ".\n")
    }

    @Test("drop function prefers the exact name")
    func dropFunctionPrefersExactName() {
        let harness = CoreHarness()
        let admin = harness.connect()
        #expect(harness.admin(admin, "create function resize") == "OK\r\n")
        #expect(harness.admin(admin, "create function Resize") == "OK\r\n")
        #expect(harness.admin(admin, "drop function Resize") == "OK\r\n")
        #expect(harness.admin(admin, "status") == "resize\t0\t0\t0\n.\n")
        #expect(harness.admin(admin, "drop function RESIZE") == "OK\r\n")
        #expect(harness.admin(admin, "status") == ".\n")
    }
}
