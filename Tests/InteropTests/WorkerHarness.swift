import GearmanKit
import Synchronization

/// Runs `body` with an in-process worker working in the background, then stops the worker.
func withWorker(
    servers: String, options: GearmanWorker.Options = GearmanWorker.Options(),
    register: (GearmanWorker) -> Void, _ body: () async throws -> Void
) async throws {
    let worker = try GearmanWorker(servers: servers, options: options)
    register(worker)
    let running = Task { try await worker.run() }
    defer {
        worker.stop(graceful: false)
        running.cancel()
    }
    try await body()
}

/// A one-way switch that a job handler waits on, so a test can look at a running job.
final class Gate: Sendable {
    private let isOpen = Atomic<Bool>(false)

    func open() {
        isOpen.store(true, ordering: .releasing)
    }

    /// Waits until `open()` or `timeout`, polling every 10 ms.
    func wait(timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        while !isOpen.load(ordering: .acquiring) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
