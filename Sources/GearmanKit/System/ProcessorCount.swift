#if canImport(Glibc)
    import Glibc
#endif

/// The number of processor cores the system has online.
enum ProcessorCount {
    static var online: Int {
        let count = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        return count > 0 ? count : 1
    }
}
