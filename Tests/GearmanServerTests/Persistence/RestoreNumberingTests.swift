import GearmanKit
import Testing

@testable import GearmanServer

@Suite("Restored queue numbering")
struct RestoreNumberingTests {
    /// A stored job of function `f` with the given unique key.
    private func stored(_ unique: String) -> StoredJob {
        StoredJob(function: Array("f".utf8), unique: Array(unique.utf8), priority: .normal, data: [1], runAt: 0)
    }

    @Test("new jobs are numbered above stored handles")
    func numbersAboveStoredHandles() {
        let harness = CoreHarness()
        var outbox = Outbox()
        // Rows of jobs that had no unique key, stored under their handles by an earlier start.
        harness.core.restore([stored("H:test:5"), stored("H:test:12"), stored("order-7")], outbox: &outbox)

        let client = harness.connect()
        let handle = harness.submit(client, "f", type: .submitJobBackground)
        #expect(handle == "H:test:16")
    }

    @Test("other keys give no number")
    func otherKeysIgnored() {
        let harness = CoreHarness()
        #expect(harness.core.storedHandleNumber(of: stored("H:test:42")) == 42)
        #expect(harness.core.storedHandleNumber(of: stored("H:other:42")) == nil)
        #expect(harness.core.storedHandleNumber(of: stored("H:test:")) == nil)
        #expect(harness.core.storedHandleNumber(of: stored("H:test:4x")) == nil)
        #expect(harness.core.storedHandleNumber(of: stored("H:test")) == nil)
    }
}
