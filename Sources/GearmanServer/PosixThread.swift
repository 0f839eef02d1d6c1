import GearmanKit

#if canImport(Glibc)
    import Glibc
#endif

/// The one place that starts POSIX threads running a Swift closure: the event loops, the store's
/// committer, syncer and WAL checkpointer, and the log file's interval flusher.
enum PosixThread {
    /// Starts a joinable thread that runs `body`, and returns the thread, or the error of
    /// pthread_create(3).
    static func start(_ body: @escaping @Sendable () -> Void) -> Result<pthread_t, SystemError> {
        let box = Unmanaged.passRetained(Body(body))
        var thread = pthread_t()
        let status = pthread_create(
            &thread, nil,
            { argument in
                Unmanaged<Body>.fromOpaque(argument!).takeRetainedValue().run()
                return nil
            }, box.toOpaque())
        guard status == 0 else {
            box.release()
            return .failure(SystemError(code: status, call: "pthread_create"))
        }
        return .success(thread)
    }

    /// Starts a detached thread that runs `body`.
    static func startDetached(_ body: @escaping @Sendable () -> Void) -> Result<Void, SystemError> {
        start(body).map { thread in
            pthread_detach(thread)
            return ()
        }
    }

    /// The closure a new thread runs, passed through pthread_create's pointer argument.
    private final class Body: Sendable {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }
}
