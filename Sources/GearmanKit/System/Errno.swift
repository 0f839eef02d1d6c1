#if canImport(Glibc)
    import Glibc
#endif

/// A POSIX error number with the name of the system call that returned it.
public struct SystemError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The `errno` value.
    public var code: Int32
    /// The system call that failed, such as `bind`.
    public var call: String

    /// Creates an error from an errno value and the failing call.
    public init(code: Int32, call: String) {
        self.code = code
        self.call = call
    }

    /// Creates an error from the current thread's `errno`.
    public static func current(_ call: String) -> SystemError {
        SystemError(code: errno, call: call)
    }

    /// The system's text for the error number, such as "Connection refused".
    public var message: String {
        String(cString: strerror(code))
    }

    public var description: String {
        "\(call) failed: \(message) (errno \(code))"
    }
}
