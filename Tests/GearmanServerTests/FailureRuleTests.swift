import GearmanKit
import Testing

@testable import GearmanServer

@Suite("Job core failures, retries and timers")
struct FailureRuleTests {
    @Test("a disconnected worker's job goes back to the head of its queue")
    func requeueOnDisconnect() {
        let harness = CoreHarness()
        let client = harness.connect()
        let first = harness.submit(client, "f", data: "first")
        harness.submit(client, "f", data: "second")
        let worker = harness.connect()
        harness.send(worker, .canDo, "f")
        #expect(harness.grab(worker)?.handle == first)
        harness.disconnect(worker)
        let next = harness.connect()
        harness.send(next, .canDo, "f")
        #expect(harness.grab(next)?.handle == first)
        #expect(harness.admin(next, "show jobs").contains("\(first)\t1\t0\t0"))
        #expect(harness.take(client).isEmpty)
    }

    @Test("after --job-retries attempts the job fails and its client gets WORK_FAIL")
    func retriesThenFail() {
        let harness = CoreHarness { $0.jobRetries = 2 }
        let client = harness.connect()
        let handle = harness.submit(client, "f")
        for attempt in 1...2 {
            let worker = harness.connect()
            harness.send(worker, .canDo, "f")
            #expect(harness.grab(worker)?.handle == handle, "attempt \(attempt)")
            harness.disconnect(worker)
        }
        let packets = harness.take(client)
        #expect(packets.map(\.type) == [.workFail])
        #expect(packets.first?.stringArgument(0) == handle)
        #expect(harness.core.jobs.isEmpty)
        #expect(harness.admin(client, "status") == "f\t0\t0\t0\n.\n")
    }

    @Test("CAN_DO_TIMEOUT expiry requeues the job as an attempt, and late results are rejected")
    func timeoutRequeues() {
        let harness = CoreHarness()
        let client = harness.connect()
        let handle = harness.submit(client, "f")
        let slow = harness.connect()
        harness.send(slow, .canDoTimeout, "f", "500")
        #expect(harness.grab(slow)?.handle == handle)
        #expect(harness.admin(client, "status") == "f\t1\t1\t1\n.\n")
        harness.advance(milliseconds: 499)
        #expect(harness.admin(client, "status") == "f\t1\t1\t1\n.\n")
        harness.advance(milliseconds: 1)
        #expect(harness.admin(client, "status") == "f\t1\t0\t1\n.\n")
        #expect(harness.admin(client, "show jobs") == "\(handle)\t1\t0\t0\n.\n")

        let late = harness.send(slow, .workComplete, handle, "late")
        #expect(late.map(\.type) == [.error])
        #expect(late.first?.stringArgument(0) == "JOB_NOT_FOUND")
        #expect(harness.core.functions[Array("f".utf8)]?.running == 0)

        let fast = harness.connect()
        harness.send(fast, .canDo, "f")
        #expect(harness.grab(fast)?.handle == handle)
        harness.send(fast, .workComplete, handle, "ok")
        #expect(harness.take(client).map(\.type) == [.workComplete])
        #expect(harness.admin(client, "status") == "f\t0\t0\t2\n.\n")
    }

    @Test("an epoch job waits for its time, then wakes a sleeping worker")
    func epochJob() {
        let harness = CoreHarness()
        let worker = harness.sleepingWorker("f")
        #expect(harness.take(worker).isEmpty)
        let client = harness.connect()
        let runAt = harness.wallClock + 5
        let replies = harness.send(client, .submitJobEpoch, "f", "", String(runAt), "later")
        let handle = replies.first?.stringArgument(0) ?? ""
        #expect(replies.map(\.type) == [.jobCreated])
        #expect(harness.take(worker).isEmpty)
        #expect(harness.admin(client, "prioritystatus") == "f\t0\t1\t0\t1\n.\n")
        #expect(harness.grab(worker) == nil)
        harness.send(worker, .preSleep)
        harness.advance(milliseconds: 4000)
        #expect(harness.take(worker).isEmpty)
        harness.advance(milliseconds: 1000)
        #expect(harness.take(worker).map(\.type) == [.noop])
        #expect(harness.grab(worker)?.handle == handle)
    }

    @Test("an epoch time in the past runs at once")
    func epochInPast() {
        let harness = CoreHarness()
        let client = harness.connect()
        harness.send(client, .submitJobEpoch, "f", "", "12", "now")
        let worker = harness.connect()
        harness.send(worker, .canDo, "f")
        #expect(harness.grab(worker)?.data == "now")
    }

    @Test("maxqueue rejects submissions over the limit but never a coalesced one")
    func maxQueue() {
        let harness = CoreHarness()
        let client = harness.connect()
        harness.submit(client, "f", unique: "a", type: .submitJobBackground)
        #expect(harness.admin(client, "maxqueue f 2") == "OK\r\n")
        harness.submit(client, "f", unique: "b", type: .submitJobBackground)
        let full = harness.send(client, .submitJobBackground, "f", "c", "x")
        #expect(full.map(\.type) == [.error])
        #expect(full.first?.stringArgument(0) == "QUEUE_ERROR")
        #expect(full.first?.stringArgument(1) == "Job queue is full")
        #expect(harness.send(client, .submitJobBackground, "f", "a", "x").map(\.type) == [.jobCreated])
        #expect(harness.admin(client, "maxqueue f 0 0 3") == "OK\r\n")
        #expect(harness.send(client, .submitJobLowBackground, "f", "d", "x").map(\.type) == [.jobCreated])
        #expect(harness.send(client, .submitJobHighBackground, "f", "e", "x").map(\.type) == [.jobCreated])
        #expect(harness.send(client, .submitJobLowBackground, "f", "g", "x").map(\.type) == [.error])
    }

    @Test("only one sleeping worker is woken per new job by default")
    func wakeOnePerJob() {
        let harness = CoreHarness()
        let workers = (0..<3).map { _ in harness.sleepingWorker("f") }
        harness.submit(harness.connect(), "f", type: .submitJobBackground)
        let woken = workers.filter { harness.take($0).map(\.type) == [.noop] }
        #expect(woken.count == 1)
    }

    @Test("--worker-wakeup 0 wakes every sleeping worker")
    func wakeAll() {
        let harness = CoreHarness { $0.workerWakeup = 0 }
        let workers = (0..<3).map { _ in harness.sleepingWorker("f") }
        harness.submit(harness.connect(), "f", type: .submitJobBackground)
        #expect(workers.allSatisfy { harness.take($0).map(\.type) == [.noop] })
    }

    @Test("a woken worker that disconnects passes the wake-up on")
    func wakeUpHandedOn() {
        let harness = CoreHarness()
        let first = harness.sleepingWorker("f")
        let second = harness.sleepingWorker("f")
        harness.submit(harness.connect(), "f", type: .submitJobBackground)
        let woken = harness.take(first).isEmpty ? second : first
        let other = woken === first ? second : first
        harness.disconnect(woken)
        #expect(harness.take(other).map(\.type) == [.noop])
    }

    @Test("PRE_SLEEP with a job waiting gets NOOP at once")
    func preSleepWithWork() {
        let harness = CoreHarness()
        harness.submit(harness.connect(), "f", type: .submitJobBackground)
        let worker = harness.connect()
        harness.send(worker, .canDo, "f")
        #expect(harness.send(worker, .preSleep).map(\.type) == [.noop])
    }

    @Test("WORK_EXCEPTION reaches only clients that asked for exceptions; others get WORK_FAIL")
    func exceptions() {
        let harness = CoreHarness()
        let plain = harness.connect()
        let wants = harness.connect()
        #expect(harness.send(wants, .optionRequest, "exceptions").map(\.type) == [.optionResponse])
        let handle = harness.submit(plain, "f", unique: "k")
        harness.submit(wants, "f", unique: "k")
        let worker = harness.connect()
        harness.send(worker, .canDo, "f")
        _ = harness.grab(worker)
        harness.send(worker, .workException, handle, "boom")
        let plainPackets = harness.take(plain)
        #expect(plainPackets.map(\.type) == [.workFail])
        #expect(plainPackets.first?.arguments.map { Array($0) } == [Array(handle.utf8)])
        let wantsPackets = harness.take(wants)
        #expect(wantsPackets.map(\.type) == [.workException])
        #expect(wantsPackets.first?.stringArgument(1) == "boom")
    }

    @Test("unknown options get UNKNOWN_OPTION")
    func unknownOption() {
        let harness = CoreHarness()
        let client = harness.connect()
        let replies = harness.send(client, .optionRequest, "foo")
        #expect(replies.first?.stringArgument(0) == "UNKNOWN_OPTION")
    }

    @Test("WORK_STATUS is relayed and reported by GET_STATUS")
    func workStatus() {
        let harness = CoreHarness()
        let (client, worker, handle) = harness.startRunningJob("f", unique: "s")
        harness.send(worker, .workStatus, handle, "3", "10")
        let relayed = harness.take(client)
        #expect(relayed.map(\.type) == [.workStatus])
        let status = harness.send(client, .getStatus, handle)
        #expect(status.first?.arguments.map { String(decoding: $0, as: UTF8.self) } == [handle, "1", "1", "3", "10"])
        let unique = harness.send(client, .getStatusUnique, "s")
        #expect(unique.first?.arguments.map { String(decoding: $0, as: UTF8.self) } == ["s", "1", "1", "3", "10", "1"])
        let unknown = harness.send(client, .getStatus, "H:test:999")
        #expect(
            unknown.first?.arguments.map { String(decoding: $0, as: UTF8.self) } == ["H:test:999", "0", "0", "0", "0"])
    }

    /// A NUL after the handle or name of GET_STATUS, GET_STATUS_UNIQUE, OPTION_REQ or WORK_FAIL
    /// ends it, as in gearmand 1.1.20.
    @Test("NUL ends a one-argument field")
    func trailingNulInOneArgumentPackets() {
        let harness = CoreHarness()
        let (client, worker, handle) = harness.startRunningJob("f", unique: "s")
        func fields(_ packets: [Packet]) -> [String]? {
            packets.first?.arguments.map { String(decoding: $0, as: UTF8.self) }
        }
        // The frame parser gives a one-argument packet its whole body as the argument, NUL included.
        func packet(_ type: PacketType, _ body: String) -> Packet {
            Packet(magic: .request, type: type, arguments: [Array(body.utf8)[...]])
        }
        let status = harness.send(client, packet(.getStatus, handle + "\0"))
        #expect(fields(status) == [handle, "1", "1", "0", "0"])
        let unique = harness.send(client, packet(.getStatusUnique, "s\0extra"))
        #expect(fields(unique) == ["s", "1", "1", "0", "0", "1"])
        let option = harness.send(client, packet(.optionRequest, "exceptions\0"))
        #expect(option.map(\.type) == [.optionResponse])

        let failed = harness.send(worker, packet(.workFail, handle + "\0"))
        #expect(failed.isEmpty)
        let relayed = harness.take(client)
        #expect(relayed.map(\.type) == [.workFail])
        #expect(fields(relayed) == [handle])
        #expect(harness.core.jobs.isEmpty)
    }

    @Test("results for a job the worker does not hold get JOB_NOT_FOUND")
    func resultsForUnknownJob() {
        let harness = CoreHarness()
        let worker = harness.connect()
        #expect(
            harness.send(worker, .workData, "H:test:7", "x").first?.stringArgument(1) == "Job does not exist on server")
        #expect(
            harness.send(worker, .workFail, "H:test:7").first?.stringArgument(1) == "Job given in work result not found"
        )
    }

    @Test("GRAB_JOB_ALL returns the reducer of a reduce job")
    func reduceJob() {
        let harness = CoreHarness()
        let client = harness.connect()
        let created = harness.send(client, .submitReduceJob, "map", "u", "reduce", "", "payload")
        #expect(created.map(\.type) == [.jobCreated])
        let worker = harness.connect()
        harness.send(worker, .canDo, "map")
        let assign = harness.send(worker, .grabJobAll)
        #expect(assign.first?.type == .jobAssignAll)
        #expect(
            assign.first?.arguments.map { String(decoding: $0, as: UTF8.self) }.dropFirst() == [
                "map", "u", "reduce", "payload",
            ])

        // With an empty reducer name the job is assigned as a plain job, as by gearmand 1.1.20.
        harness.send(client, .submitReduceJobBackground, "map", "v", "", "", "second")
        let plain = harness.send(worker, .grabJobAll)
        #expect(plain.first?.type == .jobAssignUnique)
        #expect(
            plain.first?.arguments.map { String(decoding: $0, as: UTF8.self) }.dropFirst() == ["map", "v", "second"])
    }

    @Test(
        "types the server does not accept get INVALID_COMMAND",
        arguments: [PacketType.unused, .allYours, .submitJobScheduled])
    func rejectedTypes(type: PacketType) {
        let harness = CoreHarness()
        let client = harness.connect()
        let arguments = type.hasNoArguments ? [] : (0...type.separatorCount).map { _ in ArraySlice<UInt8>() }
        let replies = harness.send(client, Packet(magic: .request, type: type, arguments: arguments))
        #expect(replies.first?.stringArgument(0) == "INVALID_COMMAND")
        #expect(replies.first?.stringArgument(1) == "Command not expected")
        #expect(harness.lastDisposition == .keepOpen)
    }

    @Test("a response type sent to the server gets an ERROR and closes the connection")
    func responseTypeCloses() {
        let harness = CoreHarness()
        let client = harness.connect()
        let replies = harness.send(client, .jobCreated, "H:x:1")
        #expect(replies.first?.stringArgument(0) == "INVALID_COMMAND")
        if case .close = harness.lastDisposition {
        } else {
            Issue.record("expected the connection to close, got \(harness.lastDisposition)")
        }
    }
}
