import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A connection whose incoming frames are read by a dedicated thread and handed to a callback,
/// while any task may send.
///
/// The async client, worker and admin API are built on it: the reader thread resumes waiting
/// tasks, and senders write under a mutex, so packets from concurrent tasks never interleave.
/// What the socket does not take at once is queued, and a flusher thread writes it when the
/// socket has room. So a send waits for a server that reads slowly only when more than
/// `maximumQueuedOutput` bytes are queued.
final class PacketChannel: Sendable {
    let server: ServerAddress
    /// The executor whose jobs the reader thread runs, if any.
    let executor: ChannelExecutor?
    private let connection: UnsafeTransfer<GearmanConnection>
    private let closed = Atomic<Bool>(false)

    /// Bytes a send may leave queued before it waits for the server to read. Large payloads are
    /// queued by reference to the caller's array, so the queue costs little memory of its own.
    static let maximumQueuedOutput = 16 * 1024 * 1024

    /// Output the socket did not take yet, written in order.
    private struct Output {
        var queued = OutboundBuffer()
        /// Whether a flusher thread is writing `queued`.
        var isFlushing = false
        /// The error that ended a flush; later sends throw it.
        var failure: GearmanError?
    }

    private let output = Mutex(Output())

    /// The time of the last frame received or packet sent, for busy polling.
    final class Activity: Sendable {
        private let nanoseconds = Atomic<Int64>(0)

        func touch() {
            nanoseconds.store(PacketChannel.monotonicNanoseconds(), ordering: .relaxed)
        }

        /// Returns whether something happened within the last `window` nanoseconds.
        func isRecent(within window: Int64) -> Bool {
            PacketChannel.monotonicNanoseconds() - nanoseconds.load(ordering: .relaxed) < window
        }
    }

    private let activity = Activity()

    /// Connects and starts the reader thread; `onFrame` runs on that thread for every frame and
    /// `onClose` once when the connection ends (with the error, or nil after `close()`).
    ///
    /// With an `executor`, the reader thread also runs that executor's jobs, between frames.
    /// With a `busyPoll` time (in microseconds), the reader polls without sleeping for that
    /// long after the last packet sent or received, so a reply that follows soon finds it
    /// awake. On a virtual machine a thread's wake-up costs more than reading the reply.
    init(
        server: ServerAddress, connectTimeout: Int?, executor: ChannelExecutor? = nil, busyPoll: Int = 0,
        onFrame: @escaping @Sendable (Frame) -> Void,
        onClose: @escaping @Sendable (GearmanError?) -> Void
    ) throws {
        self.server = server
        self.executor = executor
        let connection = try GearmanConnection(to: server, timeout: connectTimeout)
        self.connection = UnsafeTransfer(connection)
        let busyPollNanoseconds = Int64(max(0, busyPoll)) * 1000
        Thread.start { [connection = self.connection, closed = Unowned(self), activity] in
            var failure: GearmanError? = nil
            do {
                if executor == nil && busyPollNanoseconds == 0 {
                    while true {
                        onFrame(try connection.value.receiveFrame())
                    }
                } else {
                    try Self.read(
                        connection.value, executor: executor, activity: activity, busyPoll: busyPollNanoseconds,
                        onFrame: onFrame)
                }
            } catch let error as GearmanError {
                failure = error
            } catch {
            }
            executor?.detachReaderThread()
            let wasClosedByUs = closed.value?.isClosed ?? true
            onClose(wasClosedByUs ? nil : failure)
        }
    }

    /// Runs the reader loop with an executor or busy polling. It hands each frame to
    /// `onFrame`, runs the executor's jobs after it, and waits for the socket and the
    /// executor's eventfd together. While polling busily it yields the core between two
    /// empty polls.
    private static func read(
        _ connection: GearmanConnection, executor: ChannelExecutor?, activity: Activity, busyPoll: Int64,
        onFrame: @Sendable (Frame) -> Void
    ) throws {
        executor?.attachReaderThread()
        var descriptors = [pollfd(fd: connection.fd, events: Int16(POLLIN), revents: 0)]
        if let executor {
            descriptors.append(pollfd(fd: executor.wakeFD, events: Int16(POLLIN), revents: 0))
        }
        while true {
            while connection.hasBufferedFrame {
                onFrame(try connection.receiveFrame())
                if busyPoll > 0 { activity.touch() }
                executor?.runQueued()
            }
            executor?.runQueued()
            let isSpinning = busyPoll > 0 && activity.isRecent(within: busyPoll)
            for index in descriptors.indices { descriptors[index].revents = 0 }
            let ready = poll(&descriptors, nfds_t(descriptors.count), isSpinning ? 0 : -1)
            if ready < 0 {
                if errno == EINTR { continue }
                throw GearmanError.ioFailed(connection.server, .current("poll"))
            }
            if ready == 0 {
                sched_yield()
                continue
            }
            if let executor, descriptors[1].revents != 0 {
                executor.acknowledgeWake()
            }
            if descriptors[0].revents != 0 {
                try connection.readAvailable()
            }
        }
    }

    static func monotonicNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    var isClosed: Bool { closed.load(ordering: .acquiring) }

    /// Sends packets in one write, queueing what the socket does not take at once.
    ///
    /// NOTE: Only when more than `maximumQueuedOutput` bytes are queued does the send wait,
    /// blocking the calling thread, until the server has read enough of them.
    func send(_ packets: [Packet]) throws {
        if isClosed { throw GearmanError.connectionClosed(server) }
        activity.touch()
        try enqueue { buffer in
            for packet in packets { buffer.append(packet) }
        }
    }

    func send(_ packet: Packet) throws {
        try send([packet])
    }

    func send(bytes: [UInt8]) throws {
        if isClosed { throw GearmanError.connectionClosed(server) }
        try enqueue { buffer in buffer.append(contentsOf: bytes) }
    }

    /// Appends output behind what is queued, writes what the socket takes, and starts a flusher
    /// thread for the rest.
    private func enqueue(_ append: (inout OutboundBuffer) -> Void) throws {
        let connection = self.connection
        let startsFlusher = try output.withLock { output throws -> Bool in
            if let failure = output.failure { throw failure }
            append(&output.queued)
            if !output.isFlushing {
                if try connection.value.writeAvailable(&output.queued, nonBlocking: true) == .drained {
                    return false
                }
            }
            while output.queued.count > Self.maximumQueuedOutput {
                connection.value.waitUntilWritable(timeout: -1)
                _ = try connection.value.writeAvailable(&output.queued, nonBlocking: true)
            }
            if output.isFlushing || output.queued.isEmpty { return false }
            output.isFlushing = true
            return true
        }
        if startsFlusher {
            Thread.start { [self] in flushQueued() }
        }
    }

    /// Writes the queued output as the socket takes it, on a thread of its own, until the queue
    /// is empty or the connection fails.
    private func flushQueued() {
        enum Step { case wait, finish, fail }
        let connection = self.connection
        while true {
            let step = output.withLock { output -> Step in
                do {
                    if try connection.value.writeAvailable(&output.queued, nonBlocking: true) == .wouldBlock {
                        return .wait
                    }
                    output.isFlushing = false
                    return .finish
                } catch {
                    output.failure = (error as? GearmanError) ?? GearmanError.connectionClosed(server)
                    output.queued = OutboundBuffer()
                    output.isFlushing = false
                    return .fail
                }
            }
            switch step {
            case .wait:
                // close() shuts the socket down, which ends the wait and makes the next write fail.
                connection.value.waitUntilWritable(timeout: -1)
            case .finish:
                return
            case .fail:
                // The requests whose packets were lost wait for replies. The reader thread
                // usually meets the same reset and fails them through onClose, and ending the
                // connection makes sure it does. No test reaches a write failure alone.
                shutdown(connection.value.fd, Int32(SHUT_RDWR))
                return
            }
        }
    }

    /// Closes the socket; the reader thread then ends and calls `onClose(nil)`.
    func close() {
        if closed.exchange(true, ordering: .acquiringAndReleasing) { return }
        // shutdown(2) wakes the reader blocked in read(2); the reader closes nothing itself.
        shutdown(connection.value.fd, Int32(SHUT_RDWR))
    }
}

/// Moves a non-Sendable reference across threads where the code guarantees exclusive use:
/// here the reader thread only reads, and senders and the flusher only write, under the
/// output lock.
struct UnsafeTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// A weak reference that can cross threads.
///
/// Set `value` before the reference is shared; later it only changes to nil when the object goes.
final class Unowned<Object: AnyObject>: @unchecked Sendable {
    weak var value: Object?
    init(_ value: Object?) { self.value = value }
}

/// Runs `body` on a new thread and returns its result, so that a blocking call such as a
/// connect, which may wait for the whole connect timeout, does not hold a thread of Swift's
/// cooperative pool. That pool has one thread per core, so a few such waits would stall every
/// task of the program.
func runOnNewThread<Value: Sendable>(_ body: @escaping @Sendable () throws -> Value) async throws -> Value {
    try await withCheckedThrowingContinuation { continuation in
        Thread.start {
            continuation.resume(with: Result { try body() })
        }
    }
}

/// Starts detached POSIX threads for blocking work.
enum Thread {
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    static func start(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Body(body)).toOpaque()
        var thread = pthread_t()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let status = pthread_create(
            &thread, &attributes,
            { argument in
                Unmanaged<Body>.fromOpaque(argument!).takeRetainedValue().run()
                return nil
            }, box)
        pthread_attr_destroy(&attributes)
        precondition(status == 0, "pthread_create failed with error \(status)")
    }
}
