import Synchronization

/// Collects the handles of a batch of background submissions and resumes one waiting task
/// when every job of the batch was created or failed.
///
/// One collector for the batch replaces a stream per job, so submitting many background jobs
/// costs one suspension instead of one per job.
final class BatchCollector: Sendable {
    private struct State {
        var handles: [String?]
        var errors: [Error?]
        var remaining: Int
        var continuation: CheckedContinuation<[String], Error>?
        var isResumed = false
    }

    private let state: Mutex<State>

    init(count: Int) {
        state = Mutex(
            State(
                handles: Array(repeating: nil, count: count), errors: Array(repeating: nil, count: count),
                remaining: count))
    }

    /// Records the handle of job `index`.
    func created(_ index: Int, handle: String) {
        finish(index) { $0.handles[index] = handle }
    }

    /// Records the failure of job `index`.
    func failed(_ index: Int, error: Error) {
        finish(index) { $0.errors[index] = error }
    }

    /// Fails the whole batch at once, as after a cancelled wait.
    func cancel(_ error: Error) {
        let continuation = state.withLock { state -> CheckedContinuation<[String], Error>? in
            guard !state.isResumed else { return nil }
            state.isResumed = true
            state.remaining = 0
            let waiting = state.continuation
            state.continuation = nil
            state.errors = state.errors.map { $0 ?? error }
            return waiting
        }
        continuation?.resume(throwing: error)
    }

    /// Waits for every job; returns the handles in order or throws the error of the first
    /// job that failed.
    func wait() async throws -> [String] {
        try await withCheckedThrowingContinuation { continuation in
            let outcome = state.withLock { state -> Result<[String], Error>? in
                if state.remaining > 0 && !state.isResumed {
                    state.continuation = continuation
                    return nil
                }
                state.isResumed = true
                return Self.outcome(state)
            }
            if let outcome { continuation.resume(with: outcome) }
        }
    }

    private func finish(_ index: Int, _ record: (inout State) -> Void) {
        let resumption = state.withLock { state -> (CheckedContinuation<[String], Error>, Result<[String], Error>)? in
            guard state.handles[index] == nil && state.errors[index] == nil else { return nil }
            record(&state)
            state.remaining -= 1
            guard state.remaining == 0, !state.isResumed, let continuation = state.continuation else { return nil }
            state.isResumed = true
            state.continuation = nil
            return (continuation, Self.outcome(state))
        }
        if let (continuation, outcome) = resumption { continuation.resume(with: outcome) }
    }

    private static func outcome(_ state: State) -> Result<[String], Error> {
        if let error = state.errors.lazy.compactMap({ $0 }).first { return .failure(error) }
        return .success(state.handles.map { $0 ?? "" })
    }
}
