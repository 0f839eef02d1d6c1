import Synchronization

/// Collector of the outcomes of a batch of jobs: it resumes one waiting task when every job
/// of the batch is done (a background job when it is created).
///
/// The caller suspends once per batch instead of once per job, as with libgearman's
/// `gearman_client_run_tasks`.
final class ResultCollector: Sendable {
    private struct State {
        var results: [Result<[UInt8], any Error>?]
        var remaining: Int
        var continuation: CheckedContinuation<[Result<[UInt8], any Error>], Never>?
        var isResumed = false
    }

    private let state: Mutex<State>

    init(count: Int) {
        state = Mutex(State(results: Array(repeating: nil, count: count), remaining: count))
    }

    /// Records the outcome of job `index`; later outcomes of the same job are ignored.
    func finish(_ index: Int, with result: Result<[UInt8], any Error>) {
        let resumption = state.withLock {
            state -> (CheckedContinuation<[Result<[UInt8], any Error>], Never>, [Result<[UInt8], any Error>])? in
            guard state.results[index] == nil else { return nil }
            state.results[index] = result
            state.remaining -= 1
            guard state.remaining == 0, !state.isResumed, let continuation = state.continuation else { return nil }
            state.isResumed = true
            state.continuation = nil
            return (continuation, Self.outcomes(state))
        }
        if let (continuation, outcomes) = resumption { continuation.resume(returning: outcomes) }
    }

    /// Ends every job still open with `error`, as after a cancelled wait.
    func cancel(_ error: any Error) {
        let count = state.withLock { $0.results.count }
        for index in 0..<count {
            finish(index, with: .failure(error))
        }
    }

    /// Waits for every job and returns the outcomes in order.
    func wait() async -> [Result<[UInt8], any Error>] {
        await withCheckedContinuation { continuation in
            let outcomes = state.withLock { state -> [Result<[UInt8], any Error>]? in
                if state.remaining > 0 && !state.isResumed {
                    state.continuation = continuation
                    return nil
                }
                state.isResumed = true
                return Self.outcomes(state)
            }
            if let outcomes { continuation.resume(returning: outcomes) }
        }
    }

    private static func outcomes(_ state: State) -> [Result<[UInt8], any Error>] {
        state.results.map { $0 ?? .failure(CancellationError()) }
    }
}
