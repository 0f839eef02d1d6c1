import Foundation

/// Runs `body` on a new thread and returns its result once it finishes.
///
/// Use it for blocking work in a test, such as a loop of blocking socket reads or a wait for a
/// child process. Swift Testing runs tests on the cooperative thread pool, which has one thread
/// per core. Blocking work there delays every other test's tasks, such as the job handlers of
/// an in-process worker, and on two cores two such calls stop them until the calls return.
///
/// Cancellation does not reach `body`, so bound its waits with timeouts of its own.
public func runOnDedicatedThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result { try body() })
        }
    }
}
