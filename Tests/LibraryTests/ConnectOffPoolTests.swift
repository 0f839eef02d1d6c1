import GearmanKit
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A loopback listener whose accept queue is full, so that a connect to it waits until the
/// client's connect timeout. Linux drops the SYN while the queue of `listen(fd, 0)` contains one
/// connection that is never accepted.
private final class StalledListener: Sendable {
    let port: UInt16
    private let listenerFD: Int32
    private let fillerFD: Int32

    init() throws {
        var (listenerFD, address) = try listenOnLoopback(backlog: 0)
        let fillerFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fillerFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        try #require(connected, "cannot fill the accept queue: errno \(errno)")
        self.port = UInt16(bigEndian: address.sin_port)
        self.listenerFD = listenerFD
        self.fillerFD = fillerFD
    }

    var servers: String { "127.0.0.1:\(port)" }

    func close() {
        _ = Glibc.close(fillerFD)
        _ = Glibc.close(listenerFD)
    }
}

/// Connects that wait for their timeout run on threads of their own, so they do not stall the
/// other tasks of the program. Swift's cooperative pool has one thread per core, so eight
/// connects on it would hold it for the whole timeout.
@Suite("Connecting leaves the cooperative pool free", .timeLimit(.minutes(1)))
struct ConnectOffPoolTests {
    static let connectTimeout = 2000
    /// Well below the connect timeout, and far above the 300 ms sleep it bounds.
    static let sleepBound = Duration.milliseconds(1200)

    @Test("client calls to a stalled server")
    func clientCalls() async throws {
        let listener = try StalledListener()
        defer { listener.close() }
        var options = GearmanClient.Options()
        options.connectTimeout = Self.connectTimeout
        let client = try GearmanClient(servers: listener.servers, options: options)

        let calls = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<4 { group.addTask { _ = try? await client.run("f", workload: []) } }
                for _ in 0..<2 { group.addTask { _ = try? await client.echo([1]) } }
                for _ in 0..<2 { group.addTask { _ = try? await client.status(handle: "H:x:1") } }
            }
        }
        let start = ContinuousClock.now
        try await Task.sleep(for: .milliseconds(300))
        let slept = ContinuousClock.now - start
        await calls.value

        #expect(slept < Self.sleepBound, "a 300 ms sleep took \(slept) while clients connected")
    }

    @Test("client errors stay those of the connect")
    func clientErrors() async throws {
        let listener = try StalledListener()
        defer { listener.close() }
        var options = GearmanClient.Options()
        options.connectTimeout = 300
        let client = try GearmanClient(servers: listener.servers, options: options)

        do {
            _ = try await client.echo([1])
            Issue.record("echo to a stalled server succeeded")
        } catch let error as GearmanError {
            guard case .connectionFailed = error else {
                Issue.record("first echo failed with \(error), expected connectionFailed")
                return
            }
        }
        do {
            _ = try await client.echo([1])
            Issue.record("second echo to a stalled server succeeded")
        } catch let error as GearmanError {
            // The first failure put the server in back-off, so the second call fails at once.
            guard case .connectionClosed = error else {
                Issue.record("second echo failed with \(error), expected connectionClosed")
                return
            }
        }
        do {
            var stream = client.events(for: JobRequest(function: "f", workload: [])).makeAsyncIterator()
            _ = try await stream.next()
            Issue.record("events produced an event from a stalled server")
        } catch let error as GearmanError {
            guard case .noServers = error else {
                Issue.record("events failed with \(error), expected noServers")
                return
            }
        }
    }

    @Test("admin clients connecting to a stalled server")
    func adminConnects() async throws {
        let listener = try StalledListener()
        defer { listener.close() }

        let servers = listener.servers
        let connects = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        _ = try? await GearmanAdmin.connect(server: servers, connectTimeout: Self.connectTimeout)
                    }
                }
            }
        }
        let start = ContinuousClock.now
        try await Task.sleep(for: .milliseconds(300))
        let slept = ContinuousClock.now - start
        await connects.value

        #expect(slept < Self.sleepBound, "a 300 ms sleep took \(slept) while admin clients connected")
    }

    @Test("workers connecting to a stalled server")
    func workerRuns() async throws {
        let listener = try StalledListener()
        defer { listener.close() }

        let servers = listener.servers
        let runs = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask { @Sendable in
                        var options = GearmanWorker.Options()
                        options.connectTimeout = Self.connectTimeout
                        guard let worker = try? GearmanWorker(servers: servers, options: options) else { return }
                        worker.register("f") { _ in [] }
                        try? await worker.run()
                    }
                }
            }
        }
        let start = ContinuousClock.now
        try await Task.sleep(for: .milliseconds(300))
        let slept = ContinuousClock.now - start
        await runs.value

        #expect(slept < Self.sleepBound, "a 300 ms sleep took \(slept) while workers connected")
    }
}
