import GearmanKit
import Testing

@testable import GearmanServer

@Suite("Job core queue rules")
struct QueueRuleTests {
    @Test("high runs before normal before low across a worker's functions")
    func priorityAcrossFunctions() {
        let harness = CoreHarness()
        let client = harness.connect()
        harness.submit(client, "a", data: "a-low", type: .submitJobLowBackground)
        harness.submit(client, "b", data: "b-normal", type: .submitJobBackground)
        harness.submit(client, "a", data: "a-normal", type: .submitJobBackground)
        harness.submit(client, "b", data: "b-high", type: .submitJobHighBackground)
        let worker = harness.connect()
        harness.send(worker, .canDo, "a")
        harness.send(worker, .canDo, "b")
        let order = (0..<4).compactMap { _ in harness.grab(worker)?.data }
        #expect(order == ["b-high", "b-normal", "a-normal", "a-low"])
        #expect(harness.grab(worker) == nil)
    }

    @Test("jobs of one priority run in submission order across functions")
    func fifoWithinPriority() {
        let harness = CoreHarness()
        let client = harness.connect()
        for index in 0..<6 {
            harness.submit(client, index % 2 == 0 ? "even" : "odd", data: "\(index)", type: .submitJobBackground)
        }
        let worker = harness.connect()
        harness.send(worker, .canDo, "odd")
        harness.send(worker, .canDo, "even")
        let order = (0..<6).compactMap { _ in harness.grab(worker)?.data }
        #expect(order == ["0", "1", "2", "3", "4", "5"])
    }

    @Test("round robin alternates between a worker's functions")
    func roundRobin() {
        let harness = CoreHarness { $0.roundRobin = true }
        let client = harness.connect()
        for index in 0..<3 { harness.submit(client, "a", data: "a\(index)", type: .submitJobBackground) }
        for index in 0..<3 { harness.submit(client, "b", data: "b\(index)", type: .submitJobBackground) }
        let worker = harness.connect()
        harness.send(worker, .canDo, "a")
        harness.send(worker, .canDo, "b")
        let order = (0..<6).compactMap { _ in harness.grab(worker)?.data }
        #expect(order == ["b0", "a0", "b1", "a1", "b2", "a2"])
    }

    @Test("submissions with the same unique key share one job and its result")
    func coalescing() {
        let harness = CoreHarness()
        let first = harness.connect()
        let second = harness.connect()
        let handle1 = harness.submit(first, "f", unique: "key", data: "one")
        let handle2 = harness.submit(second, "f", unique: "key", data: "two")
        #expect(handle1 == handle2)
        let worker = harness.connect()
        harness.send(worker, .canDo, "f")
        let job = harness.grab(worker)
        #expect(job?.data == "one")
        #expect(harness.grab(worker) == nil)
        harness.send(worker, .workComplete, handle1, "done")
        for client in [first, second] {
            let packets = harness.take(client)
            #expect(packets.map(\.type) == [.workComplete])
            #expect(packets.first?.stringArgument(1) == "done")
        }
    }

    @Test("a running job still absorbs new submissions with its key")
    func coalescingWhileRunning() {
        let harness = CoreHarness()
        let client = harness.connect()
        let worker = harness.connect()
        harness.send(worker, .canDo, "f")
        let handle = harness.submit(client, "f", unique: "k")
        #expect(harness.grab(worker)?.handle == handle)
        let late = harness.connect()
        #expect(harness.submit(late, "f", unique: "k") == handle)
        harness.send(worker, .workComplete, handle, "r")
        #expect(harness.take(late).map(\.type) == [.workComplete])
    }

    @Test("the unique key '-' coalesces on the payload, and only with other '-' jobs")
    func payloadKey() {
        let harness = CoreHarness()
        let client = harness.connect()
        let one = harness.submit(client, "f", unique: "-", data: "same", type: .submitJobBackground)
        let two = harness.submit(client, "f", unique: "-", data: "same", type: .submitJobBackground)
        let other = harness.submit(client, "f", unique: "-", data: "different", type: .submitJobBackground)
        let explicit = harness.submit(client, "f", unique: "same", data: "same", type: .submitJobBackground)
        #expect(one == two)
        #expect(one != other)
        #expect(one != explicit)
    }

    @Test("an empty unique key never coalesces")
    func emptyUnique() {
        let harness = CoreHarness()
        let client = harness.connect()
        let one = harness.submit(client, "f", unique: "", data: "d", type: .submitJobBackground)
        let two = harness.submit(client, "f", unique: "", data: "d", type: .submitJobBackground)
        #expect(one != two)
    }

    @Test("a unique key over 64 bytes gets ARGUMENT_TOO_LARGE; 64 bytes is kept whole")
    func uniqueLength() {
        let harness = CoreHarness()
        let client = harness.connect()
        let replies = harness.send(client, .submitJobBackground, "f", String(repeating: "u", count: 65), "d")
        #expect(replies.map(\.type) == [.error])
        #expect(replies.first?.stringArgument(0) == "ARGUMENT_TOO_LARGE")
        let key = String(repeating: "k", count: 64)
        harness.submit(client, "f", unique: key, type: .submitJobBackground)
        #expect(harness.admin(client, "show unique jobs") == "\(key)\n.\n")
    }

    @Test("a foreground client attached to a background job gets its result, and leaving keeps the job")
    func foregroundOnBackground() {
        let harness = CoreHarness()
        let submitter = harness.connect()
        let handle = harness.submit(submitter, "f", unique: "bg", type: .submitJobBackground)
        let watcher = harness.connect()
        #expect(harness.submit(watcher, "f", unique: "bg") == handle)
        let leaver = harness.connect()
        harness.submit(leaver, "f", unique: "bg")
        harness.disconnect(leaver)
        let worker = harness.connect()
        harness.send(worker, .canDo, "f")
        #expect(harness.grab(worker)?.handle == handle)
        harness.send(worker, .workComplete, handle, "result")
        #expect(harness.take(watcher).map(\.type) == [.workComplete])
    }

    @Test("a background job survives its only foreground watcher leaving")
    func backgroundJobKeptWhenWatcherLeaves() {
        let harness = CoreHarness()
        let submitter = harness.connect()
        let handle = harness.submit(submitter, "f", unique: "bg", type: .submitJobBackground)
        let watcher = harness.connect()
        harness.submit(watcher, "f", unique: "bg")
        harness.disconnect(watcher)
        let worker = harness.connect()
        harness.send(worker, .canDo, "f")
        #expect(harness.grab(worker)?.handle == handle)
    }

    @Test("a foreground job whose client left is discarded instead of run")
    func abandonedForegroundJob() {
        let harness = CoreHarness()
        let client = harness.connect()
        harness.submit(client, "f", data: "abandoned")
        harness.submit(harness.connect(), "f", data: "kept", type: .submitJobBackground)
        harness.disconnect(client)
        let worker = harness.connect()
        harness.send(worker, .canDo, "f")
        #expect(harness.grab(worker)?.data == "kept")
        #expect(harness.grab(worker) == nil)
        #expect(harness.core.jobs.count == 1)
    }

    /// Cancelled jobs are removed with the function, while live queued jobs still block the drop.
    @Test("drop function after cancel job")
    func dropAfterCancel() {
        let harness = CoreHarness()
        let client = harness.connect()
        let queued = harness.submit(client, "cx", data: "queued", type: .submitJobBackground)
        let later = harness.send(client, .submitJobEpoch, "cx", "", String(harness.wallClock + 60), "later")
        let scheduled = later.first?.stringArgument(0) ?? ""
        harness.submit(client, "cy", data: "live", type: .submitJobBackground)
        #expect(harness.admin(client, "drop function cx") == "ERR there are still queued jobs\r\n")

        #expect(harness.admin(client, "cancel job \(queued)") == "OK\r\n")
        #expect(harness.admin(client, "cancel job \(scheduled)") == "OK\r\n")
        #expect(harness.admin(client, "drop function cx") == "OK\r\n")
        #expect(harness.admin(client, "status") == "cy\t1\t0\t0\n.\n")
        #expect(harness.core.jobs.count == 1)
        #expect(harness.admin(client, "drop function cy") == "ERR there are still queued jobs\r\n")

        // The timer of the removed epoch job finds nothing to enqueue.
        harness.advance(milliseconds: 61_000)
        #expect(harness.admin(client, "status") == "cy\t1\t0\t0\n.\n")
    }

    /// gearmand 1.1.20 reads a trailing space as an empty last word; these are its replies.
    @Test("admin lines with a trailing space")
    func adminTrailingSpace() {
        let harness = CoreHarness()
        let client = harness.connect()
        harness.submit(client, "f", unique: "key", data: "x", type: .submitJobBackground)
        #expect(harness.admin(client, "show jobs ") == "ERR UNKNOWN_SHOW_ARGUMENTS\r\n")
        #expect(harness.admin(client, "show unique jobs ") == "ERR UNKNOWN_SHOW_ARGUMENTS\r\n")
        #expect(harness.admin(client, "cancel job ") == "ERR UNKNOWN_JOB\r\n")
        #expect(harness.admin(client, "drop function ") == "ERR function not found\r\n")
        #expect(harness.admin(client, "create function ").hasPrefix("ERR INVALID_ARGUMENTS "))
        #expect(harness.admin(client, "status ") == "f\t1\t0\t0\n.\n")
        // Runs of spaces between words still count as one separator.
        #expect(harness.admin(client, "show  unique  jobs") == "key\n.\n")
    }
}

@Suite("Job core background acknowledgements")
struct BackgroundAcknowledgementTests {
    @Test("a background submission that joins a foreground job keeps it alive")
    func backgroundJoinsForeground() {
        let harness = CoreHarness()
        let foreground = harness.connect()
        let handle = harness.submit(foreground, "f", unique: "shared")
        let background = harness.connect()
        #expect(harness.submit(background, "f", unique: "shared", type: .submitJobBackground) == handle)
        harness.disconnect(foreground)
        let worker = harness.connect()
        harness.send(worker, .canDo, "f")
        #expect(harness.grab(worker)?.handle == handle)
    }
}
