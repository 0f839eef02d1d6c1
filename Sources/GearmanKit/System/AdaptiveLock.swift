import CGearmanSystem

#if canImport(Glibc)
    import Glibc
#endif

/// A value protected by an adaptive pthread mutex, for locks that several threads take many
/// times a second.
///
/// `Mutex` from the Synchronization module waits on a priority-inheritance futex on Linux, so
/// each contended acquisition enters the kernel. In a profile of gearmand with two event loops,
/// 7 % of the server's time went to that path for the core lock. An adaptive mutex first spins
/// briefly in user space, which is enough when the holder keeps the lock for microseconds.
public final class AdaptiveLock<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        cgs_adaptive_mutex_init(mutex)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value while holding the lock.
    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
