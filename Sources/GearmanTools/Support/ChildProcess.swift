import CGearmanSystem
import GearmanKit

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a command with posix_spawn(3), feeding it bytes on standard input and collecting its
/// standard output, without a shell.
public enum ChildProcess {
    /// What a finished command left behind.
    public struct Outcome: Sendable, Equatable {
        /// Everything the command wrote to standard output.
        public var output: [UInt8]
        /// The exit status, or 128 + the signal number when a signal ended it.
        public var status: Int32
    }

    /// Runs `arguments` (searched in PATH), writes `input` to its standard input and reads its
    /// standard output until it closes; `onOutput` sees each chunk as it arrives.
    ///
    /// Standard error is inherited. Input and output are pumped together with poll(2), so a
    /// command that writes before it has read all its input cannot deadlock.
    public static func run(_ arguments: [String], input: [UInt8], onOutput: ([UInt8]) -> Void = { _ in }) throws
        -> Outcome
    {
        var inputPipe: [Int32] = [-1, -1]
        var outputPipe: [Int32] = [-1, -1]
        guard cgs_pipe2(&inputPipe, O_CLOEXEC) == 0 else { throw SystemError.current("pipe2") }
        guard cgs_pipe2(&outputPipe, O_CLOEXEC) == 0 else {
            close(inputPipe[0])
            close(inputPipe[1])
            throw SystemError.current("pipe2")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inputPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outputPipe[1], 1)

        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid = pid_t()
        let status = argv.withUnsafeBufferPointer { buffer in
            posix_spawnp(&pid, arguments[0], &actions, nil, buffer.baseAddress!, cgs_environ())
        }
        close(inputPipe[0])
        close(outputPipe[1])
        if status != 0 {
            close(inputPipe[1])
            close(outputPipe[0])
            throw SystemError(code: status, call: "posix_spawn \(arguments[0])")
        }

        var output: [UInt8] = []
        var written = 0
        var inputOpen = true
        let writer = inputPipe[1]
        let reader = outputPipe[0]
        _ = fcntl(writer, F_SETFL, fcntl(writer, F_GETFL) | O_NONBLOCK)
        if input.isEmpty {
            close(writer)
            inputOpen = false
        }
        var chunk = [UInt8](repeating: 0, count: 65536)
        var outputOpen = true
        while outputOpen {
            var descriptors = [pollfd(fd: reader, events: Int16(POLLIN), revents: 0)]
            if inputOpen { descriptors.append(pollfd(fd: writer, events: Int16(POLLOUT), revents: 0)) }
            if poll(&descriptors, nfds_t(descriptors.count), -1) < 0 {
                if errno == EINTR { continue }
                break
            }
            if inputOpen && descriptors[1].revents != 0 {
                let count = input.withUnsafeBytes { raw in
                    write(writer, raw.baseAddress! + written, min(raw.count - written, 65536))
                }
                if count > 0 { written += count }
                if count < 0 && errno != EAGAIN && errno != EINTR {
                    written = input.count  // The command stopped reading (EPIPE); its output still counts.
                }
                if written >= input.count {
                    close(writer)
                    inputOpen = false
                }
            }
            if descriptors[0].revents != 0 {
                let count = read(reader, &chunk, chunk.count)
                if count > 0 {
                    let piece = Array(chunk[0..<count])
                    output += piece
                    onOutput(piece)
                } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                    outputOpen = false
                }
            }
        }
        if inputOpen { close(writer) }
        close(reader)
        var waitStatus: Int32 = 0
        while waitpid(pid, &waitStatus, 0) < 0 && errno == EINTR {}
        let exitStatus: Int32
        if waitStatus & 0x7f == 0 {
            exitStatus = (waitStatus >> 8) & 0xff
        } else {
            exitStatus = 128 + (waitStatus & 0x7f)
        }
        return Outcome(output: output, status: exitStatus)
    }
}
