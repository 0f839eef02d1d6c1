#if canImport(Glibc)
    import Glibc
#endif

/// The exclusive flock(2) that keeps a second server off a store file while one uses it.
///
/// Two servers writing one store hand out the same job handles, and a job without a unique key
/// is stored under its handle, so the rows of one server would replace the other's.
enum StoreFileLock {
    /// Takes the file's exclusive lock, trying again for up to 1 s while it is held.
    ///
    /// A process that this one forks shares the lock until it calls exec, although the
    /// descriptor has O_CLOEXEC. So a store that is closed and opened again while an embedding
    /// program starts a child can find its own lock still held for a moment. A lock that stays
    /// held belongs to another server. Leaves errno set when it returns false.
    static func acquire(_ fd: Int32) -> Bool {
        for _ in 0..<20 {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return true }
            if errno != EWOULDBLOCK { return false }
            usleep(50_000)
        }
        return flock(fd, LOCK_EX | LOCK_NB) == 0
    }
}
