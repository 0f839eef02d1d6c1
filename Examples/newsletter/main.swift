// A fan-out in three steps, as a newsletter service runs it:
//
//  1. The client splits the users into batches (2,000 by default) and runs one
//     `newsletter_batch` job per batch, all at once.
//  2. A batch job runs one `newsletter` job per user of its batch. A newsletter job starts a
//     `render_box` job for each box of the newsletter at once and waits for all of them, then
//     assembles the newsletter.
//  3. The newsletter job submits a background `send_newsletter` job and returns without
//     waiting: the send runs whenever a send worker is free.
//
//   example-newsletter --role worker [--servers LIST]
//   example-newsletter --role client [--servers LIST] [--users N] [--batch-size N]
//   example-newsletter --role all    [--servers LIST] [--users N] [--batch-size N]
//
// `--role all` runs the workers and the client in one process, waits until every send job is
// done, and exits.

import GearmanKit
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

let usage = """
    Usage: example-newsletter --role worker|client|all [--servers LIST] [--users N] [--batch-size N]
    --users sets how many users the client generates (default 5000), --batch-size how many go
    into one batch job (default 2000).
    """

/// Writes `message` and a newline to standard error.
func printError(_ message: String) {
    let bytes = Array((message + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

/// The boxes of every newsletter; each is rendered by its own `render_box` job.
let boxes = ["headline", "offers", "events", "footer"]

/// Send jobs done by this process's send worker.
final class SendCounter: Sendable {
    let done = Atomic<Int>(0)
}

/// Returns the text of a `[UInt8]` workload or result.
func text(_ bytes: [UInt8]) -> String {
    String(decoding: bytes, as: UTF8.self)
}

/// Starts one worker per function and returns them, running in background tasks.
///
/// Every function gets its own `GearmanWorker`, so each has its own limit of concurrent jobs. A
/// batch or newsletter job keeps its slot while it waits for the jobs it started. If parents and
/// children shared the slots, enough waiting parents could take every slot, and the children they
/// wait for would never run.
func startWorkers(servers: String, counter: SendCounter) throws -> [GearmanWorker] {
    // One client for all handlers: it keeps one connection per server and many jobs in flight on it.
    let client = try GearmanClient(servers: servers)

    func makeWorker(concurrentJobs: Int) throws -> GearmanWorker {
        var options = GearmanWorker.Options()
        options.maximumConcurrentJobs = concurrentJobs
        return try GearmanWorker(servers: servers, options: options)
    }

    // Step 1: a batch of users, one "id<TAB>name" line each. Runs a newsletter job per user and
    // returns "RENDERED SENT": newsletters rendered, and send jobs they submitted.
    let batchWorker = try makeWorker(concurrentJobs: 4)
    batchWorker.register("newsletter_batch") { job in
        let users = text(job.workload).split(separator: "\n").map(String.init)
        let (rendered, sent) = await withTaskGroup(of: Bool?.self) { group in
            for user in users {
                group.addTask {
                    // The unique key makes a resubmitted batch coalesce with the jobs still
                    // running for it instead of rendering the same newsletters twice.
                    let id = user.prefix { $0 != "\t" }
                    let handle = try? await client.run(
                        "newsletter", workload: Array(user.utf8), unique: "newsletter-\(id)")
                    return handle.map { !$0.isEmpty }
                }
            }
            var rendered = 0
            var sent = 0
            for await outcome in group {
                if let hasSendJob = outcome {
                    rendered += 1
                    if hasSendJob { sent += 1 }
                }
            }
            return (rendered, sent)
        }
        return Array("\(rendered) \(sent)".utf8)
    }

    // Step 2: one user's newsletter. Renders every box at once, assembles them, and returns the
    // handle of the background send job.
    let newsletterWorker = try makeWorker(concurrentJobs: 64)
    newsletterWorker.register("newsletter") { job in
        let user = text(job.workload)
        let parts = try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
            for (index, box) in boxes.enumerated() {
                group.addTask { (index, try await client.run("render_box", workload: Array("\(box)\t\(user)".utf8))) }
            }
            var parts = [[UInt8]](repeating: [], count: boxes.count)
            for try await (index, part) in group { parts[index] = part }
            return parts
        }
        let newsletter = "<html>\n" + parts.map(text).joined(separator: "\n") + "\n</html>\n"
        // Step 3: hand the newsletter to the send worker and return at once. The server replies
        // with a job handle as soon as it has queued the job.
        let handle = try await client.submitBackground("send_newsletter", workload: Array(newsletter.utf8))
        return Array(handle.utf8)
    }

    // One box of one newsletter: "box<TAB>id<TAB>name" in, an HTML fragment out.
    let renderWorker = try makeWorker(concurrentJobs: 64)
    renderWorker.register("render_box") { job in
        let fields = text(job.workload).split(separator: "\t", omittingEmptySubsequences: false)
        guard fields.count == 3 else { throw WorkFailure() }
        return Array("<div class=\"\(fields[0])\">\(fields[0]) for \(fields[2]) (user \(fields[1]))</div>".utf8)
    }

    // Sends one newsletter. A real service would hand it to a mail server here.
    let sendWorker = try makeWorker(concurrentJobs: 16)
    sendWorker.register("send_newsletter") { _ in
        counter.done.wrappingAdd(1, ordering: .relaxed)
        return []
    }

    let workers = [batchWorker, newsletterWorker, renderWorker, sendWorker]
    for worker in workers {
        Task {
            do {
                try await worker.run()
            } catch {
                printError("example-newsletter: worker stopped: \(error)")
                exit(1)
            }
        }
    }
    return workers
}

/// Newsletters rendered and send jobs submitted, summed over the batches.
struct Summary {
    var users = 0
    var batches = 0
    var rendered = 0
    var sendJobs = 0
}

/// Generates `userCount` users, runs one batch job per `batchSize` of them, and sums the results.
func runClient(servers: String, userCount: Int, batchSize: Int) async throws -> Summary {
    let users = (1...userCount).map { "\($0)\tUser \($0)" }
    let batches = stride(from: 0, to: users.count, by: batchSize).map {
        users[$0..<min($0 + batchSize, users.count)].joined(separator: "\n")
    }
    let client = try GearmanClient(servers: servers)
    var summary = Summary(users: users.count, batches: batches.count)
    try await withThrowingTaskGroup(of: [UInt8].self) { group in
        for batch in batches {
            group.addTask { try await client.run("newsletter_batch", workload: Array(batch.utf8)) }
        }
        for try await result in group {
            let counts = text(result).split(separator: " ").compactMap { Int($0) }
            summary.rendered += counts.first ?? 0
            summary.sendJobs += counts.last ?? 0
        }
    }
    return summary
}

// `--name value` pairs; this example takes no other arguments.
var options: [String: String] = [:]
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    guard argument.hasPrefix("--"), let value = arguments.popFirst() else {
        printError(usage)
        exit(2)
    }
    options[String(argument.dropFirst(2))] = value
}
let servers = options["servers"] ?? "localhost:4730"
let role = options["role"] ?? ""
guard let userCount = Int(options["users"] ?? "5000"), userCount > 0,
    let batchSize = Int(options["batch-size"] ?? "2000"), batchSize > 0,
    ["worker", "client", "all"].contains(role)
else {
    printError(usage)
    exit(2)
}

do {
    let counter = SendCounter()
    var workers: [GearmanWorker] = []
    if role == "worker" || role == "all" {
        workers = try startWorkers(servers: servers, counter: counter)
        printError("example-newsletter: workers on \(servers)")
    }
    if role == "worker" {
        // Work until the process is stopped.
        while true { try await Task.sleep(for: .seconds(3600)) }
    }

    let summary = try await runClient(servers: servers, userCount: userCount, batchSize: batchSize)
    print("users: \(summary.users) in \(summary.batches) batches")
    print("newsletters rendered: \(summary.rendered)")
    print("send jobs submitted: \(summary.sendJobs)")

    if role == "all" {
        // The send jobs run in the background, so the client's results do not wait for them.
        // Wait here, for up to a minute, so that the process does not stop its send worker early.
        let deadline = ContinuousClock.now + .seconds(60)
        while counter.done.load(ordering: .relaxed) < summary.sendJobs && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let done = counter.done.load(ordering: .relaxed)
        print("send jobs done: \(done)")
        for worker in workers { worker.stop(graceful: true) }
        if done < summary.sendJobs { exit(1) }
    }
} catch {
    printError("example-newsletter: \(error)")
    exit(1)
}
