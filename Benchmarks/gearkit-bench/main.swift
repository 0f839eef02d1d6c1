// gearkit-bench: the bg, fg and fgpipe scenarios of shared/bench's gearbench, driven by the Swift
// GearmanClient and GearmanWorker instead of the C libgearman, so the two libraries can be
// compared against the same server. Prints one JSON object like gearbench does.
//
//   gearkit-bench bg|fg|fgpipe --port P [--host H] [--jobs N] [--clients C] [--workers W]
//                 [--size B] [--batch K] [--timeout SECONDS]
//                 [--client-busy-poll US] [--worker-busy-poll US]
import Foundation
import GearmanKit
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

struct Settings: Sendable {
    var mode = ""
    var host = "127.0.0.1"
    var port = 4730
    var jobs = 10_000
    var clients = 1
    var workers = 1
    var size = 64
    var batch = 0
    var timeout = 120.0
    /// Busy-poll times of the client and worker connections in microseconds; nil keeps the
    /// library's default.
    var clientBusyPoll: Int? = nil
    var workerBusyPoll: Int? = nil

    var clientOptions: GearmanClient.Options {
        var options = GearmanClient.Options()
        if let clientBusyPoll { options.busyPoll = clientBusyPoll }
        return options
    }

    var workerOptions: GearmanWorker.Options {
        var options = GearmanWorker.Options()
        if let workerBusyPoll { options.busyPoll = workerBusyPoll }
        return options
    }

    var server: String { "\(host):\(port)" }
}

func parseSettings() -> Settings {
    var settings = Settings()
    var arguments = Array(CommandLine.arguments.dropFirst())
    guard let mode = arguments.first, ["bg", "fg", "fgpipe"].contains(mode) else {
        FileHandle.standardError.write(
            Data(
                "usage: gearkit-bench bg|fg|fgpipe --port P [--jobs N --clients C --workers W --size B --batch K]\n"
                    .utf8))
        exit(2)
    }
    settings.mode = mode
    arguments.removeFirst()
    var index = 0
    while index + 1 < arguments.count {
        let value = arguments[index + 1]
        switch arguments[index] {
        case "--host": settings.host = value
        case "--port": settings.port = Int(value) ?? settings.port
        case "--jobs": settings.jobs = Int(value) ?? settings.jobs
        case "--clients": settings.clients = Int(value) ?? settings.clients
        case "--workers": settings.workers = Int(value) ?? settings.workers
        case "--size": settings.size = Int(value) ?? settings.size
        case "--batch": settings.batch = Int(value) ?? settings.batch
        case "--timeout": settings.timeout = Double(value) ?? settings.timeout
        case "--client-busy-poll": settings.clientBusyPoll = Int(value)
        case "--worker-busy-poll": settings.workerBusyPoll = Int(value)
        default:
            FileHandle.standardError.write(Data("gearkit-bench: unknown option \(arguments[index])\n".utf8))
            exit(2)
        }
        index += 2
    }
    if settings.batch == 0 { settings.batch = settings.mode == "fgpipe" ? 100 : 500 }
    return settings
}

func now() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

/// Splits `total` jobs over `parts` clients as gearbench does: the first ones get one more.
func share(_ total: Int, _ parts: Int, _ index: Int) -> Int {
    total / parts + (index < total % parts ? 1 : 0)
}

/// Round-trip times collected by all clients, in seconds.
final class LatencyLog: Sendable {
    let values = Mutex<[Double]>([])
}

final class Counter: Sendable {
    let value = Atomic<Int>(0)
}

/// Starts `count` echo workers, each its own GearmanWorker with one connection.
func startWorkers(_ settings: Settings, function: String, completed: Counter) throws -> [GearmanWorker] {
    var workers: [GearmanWorker] = []
    for _ in 0..<settings.workers {
        let worker = try GearmanWorker(servers: settings.server, options: settings.workerOptions)
        worker.register(function) { job in
            completed.value.wrappingAdd(1, ordering: .relaxed)
            return job.workload
        }
        workers.append(worker)
        Task { try? await worker.run() }
    }
    return workers
}

func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
}

func emit(_ fields: [(String, String)]) {
    print("{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
}

/// Runs one scenario and prints its JSON line.
func runBenchmark(_ settings: Settings) async throws {
    let function = "gearkit_bench_\(settings.mode)_\(getpid())"
    let payload = [UInt8](repeating: UInt8(ascii: "x"), count: settings.size)
    let completed = Counter()

    switch settings.mode {
    case "bg":
        let clients = try (0..<settings.clients).map { _ in
            try GearmanClient(servers: settings.server, options: settings.clientOptions)
        }
        let start = now()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, client) in clients.enumerated() {
                group.addTask {
                    let count = share(settings.jobs, settings.clients, index)
                    var sent = 0
                    while sent < count {
                        let size = min(settings.batch, count - sent)
                        var requests: [JobRequest] = []
                        for offset in 0..<size {
                            let unique = "c\(index)-\(sent + offset)"
                            requests.append(
                                JobRequest(function: function, workload: payload, unique: unique, background: true))
                        }
                        _ = try await client.submitBackground(requests)
                        sent += size
                    }
                }
            }
            try await group.waitForAll()
        }
        let submitted = now()
        let workers = try startWorkers(settings, function: function, completed: completed)
        while completed.value.load(ordering: .relaxed) < settings.jobs {
            try await Task.sleep(for: .milliseconds(2))
        }
        let end = now()
        for worker in workers { worker.stop(graceful: false) }
        emit([
            ("mode", "\"bg\""), ("library", "\"GearmanKit\""), ("ok", "true"), ("jobs", "\(settings.jobs)"),
            ("clients", "\(settings.clients)"), ("workers", "\(settings.workers)"), ("size", "\(settings.size)"),
            ("submit_rate", String(format: "%.1f", Double(settings.jobs) / (submitted - start))),
            ("end_to_end_rate", String(format: "%.1f", Double(settings.jobs) / (end - start))),
        ])

    case "fg", "fgpipe":
        let workers = try startWorkers(settings, function: function, completed: completed)
        try await Task.sleep(for: .milliseconds(200))  // Let the workers register before timing starts.
        let clients = try (0..<settings.clients).map { _ in
            try GearmanClient(servers: settings.server, options: settings.clientOptions)
        }
        let latencies = LatencyLog()
        let start = now()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, client) in clients.enumerated() {
                group.addTask {
                    let count = share(settings.jobs, settings.clients, index)
                    if settings.mode == "fg" {
                        var own: [Double] = []
                        own.reserveCapacity(count)
                        for number in 0..<count {
                            let begin = now()
                            let result = try await client.run(
                                function, workload: payload, unique: "c\(index)-\(number)")
                            own.append(now() - begin)
                            precondition(result.count == settings.size, "echo mismatch")
                        }
                        latencies.values.withLock { $0 += own }
                    } else {
                        // Like gearbench's gearman_client_run_tasks: a batch goes out together
                        // and the client waits once for all of its results.
                        var sent = 0
                        while sent < count {
                            let size = min(settings.batch, count - sent)
                            let requests = (sent..<(sent + size)).map {
                                JobRequest(function: function, workload: payload, unique: "c\(index)-\($0)")
                            }
                            for outcome in await client.runAll(requests) {
                                let result = try outcome.get()
                                precondition(result.count == settings.size, "echo mismatch")
                            }
                            sent += size
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = now() - start
        for worker in workers { worker.stop(graceful: false) }
        var fields: [(String, String)] = [
            ("mode", "\"\(settings.mode)\""), ("library", "\"GearmanKit\""), ("ok", "true"),
            ("jobs", "\(settings.jobs)"),
            ("clients", "\(settings.clients)"), ("workers", "\(settings.workers)"), ("size", "\(settings.size)"),
            ("elapsed_s", String(format: "%.4f", elapsed)),
            ("rate", String(format: "%.1f", Double(settings.jobs) / elapsed)),
        ]
        if settings.mode == "fg" {
            let sorted = latencies.values.withLock { $0 }.sorted()
            fields += [
                ("lat_p50_us", String(format: "%.1f", percentile(sorted, 0.5) * 1e6)),
                ("lat_p99_us", String(format: "%.1f", percentile(sorted, 0.99) * 1e6)),
            ]
        }
        emit(fields)

    default:
        exit(2)
    }
}

let settings = parseSettings()
alarm(UInt32(settings.timeout))  // A stuck run ends instead of hanging the comparison.
try await runBenchmark(settings)
exit(0)
