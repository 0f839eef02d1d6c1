import GearmanKit
import Testing

@testable import GearmanServer

/// A store that is never called: the committer in these tests is not started, so staged
/// batches stay where a test can read them.
private final class UnusedStore: QueueStore, Sendable {
    let description = "unused"
    func load() throws -> [StoredJob] { [] }
    func commit(_ operations: [StoreOperation]) throws {}
    func close() {}
}

@Suite("Replies held for the persistent queue")
struct HeldReplyTests {
    private func harnessWithStore() -> CoreHarness {
        let harness = CoreHarness()
        harness.core.committer = StoreCommitter(store: UnusedStore(), logger: .disabled) { _, _, _ in }
        return harness
    }

    /// Handles `packets` from `session` in one pass, as an event loop does with one read, and
    /// returns the packets sent at once and the packets held until the store commits.
    private func handleInOnePass(_ harness: CoreHarness, _ session: Session, _ packets: [Packet])
        -> (immediate: [Packet], held: [Packet])
    {
        var outbox = Outbox()
        for packet in packets {
            _ = harness.core.handle(packet, from: session, outbox: &outbox)
        }
        harness.core.routeHeldOutputs(&outbox)
        let immediate = outbox.items.compactMap { item -> Packet? in
            if case .packet(let packet) = item.output { return packet }
            return nil
        }
        let held = harness.core.stagedStoreBatch.acknowledgements.compactMap { acknowledgement -> Packet? in
            if case .packet(let packet) = acknowledgement.output { return packet }
            return nil
        }
        return (immediate, held)
    }

    private func request(_ type: PacketType, _ arguments: String...) -> Packet {
        Packet(magic: .request, type: type, arguments: arguments.map { Array($0.utf8)[...] })
    }

    @Test("earlier reply goes before JOB_CREATED")
    func earlierReplyGoesFirst() {
        let harness = harnessWithStore()
        let client = harness.connect()
        let (immediate, held) = handleInOnePass(
            harness, client,
            [
                request(.echoRequest, "first"), request(.submitJobBackground, "f", "", "bg"),
                request(.echoRequest, "third"),
            ])
        #expect(immediate.map(\.type) == [.echoResponse])
        #expect(immediate.first?.stringArgument(0) == "first")
        #expect(held.map(\.type) == [.jobCreated, .echoResponse])
        #expect(held.last?.stringArgument(0) == "third")
    }

    @Test("later pass waits behind held reply")
    func laterPassWaits() {
        let harness = harnessWithStore()
        let client = harness.connect()
        _ = handleInOnePass(harness, client, [request(.submitJobBackground, "f", "", "bg")])
        harness.core.stagedStoreBatch = StoreCommitter.Batch()
        let (immediate, held) = handleInOnePass(harness, client, [request(.echoRequest, "next")])
        #expect(immediate.isEmpty)
        #expect(held.map(\.type) == [.echoResponse])
    }

    @Test("rejected background job is removed")
    func rejectedJobIsRemoved() {
        let harness = harnessWithStore()
        let client = harness.connect()
        // With a store, JOB_CREATED waits for the commit, so the jobs are found by workload.
        harness.submit(client, "f", data: "a", type: .submitJobBackground)
        harness.send(client, .submitJobEpoch, "f", "", String(harness.wallClock + 60), "b")
        harness.submit(client, "f", data: "c", type: .submitJobBackground)
        #expect(harness.admin(client, "status") == "f\t3\t0\t0\n.\n")
        let jobs = harness.core.jobs.values
        let numbers = jobs.filter { $0.data != Array("c".utf8)[...] }.map(\.number)
        let kept = jobs.first { $0.data == Array("c".utf8)[...] }.map {
            String(decoding: harness.core.handle(of: $0), as: UTF8.self)
        }
        #expect(numbers.count == 2)
        var outbox = Outbox()
        harness.core.acknowledged(heldReleases: [:], failedJobs: Set(numbers), outbox: &outbox)
        #expect(harness.admin(client, "status") == "f\t1\t0\t0\n.\n")
        #expect(harness.admin(client, "show jobs") == "\(kept ?? "")\t0\t0\t1\n.\n")
        #expect(harness.core.jobs.count == 1)

        let worker = harness.connect()
        harness.send(worker, .canDo, "f")
        #expect(harness.grab(worker)?.data == "c")
        #expect(harness.grab(worker) == nil)
    }
}
