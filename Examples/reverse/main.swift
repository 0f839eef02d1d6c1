// The Hello World of Gearman: a worker that reverses text and a client that sends it.
//
//   example-reverse --role worker [--servers LIST]
//   example-reverse --role client [--servers LIST] TEXT...
//
// Start a job server (`gearmand`), then the worker, then the client; the order of worker and
// client does not matter, because the server queues a job until a worker asks for it.

import GearmanKit

#if canImport(Glibc)
    import Glibc
#endif

let usage = """
    Usage: example-reverse --role worker [--servers LIST]
           example-reverse --role client [--servers LIST] TEXT...
    LIST is a comma-separated list of host[:port]; the default is localhost:4730.
    """

/// Writes `message` and a newline to standard error.
func printError(_ message: String) {
    let bytes = Array((message + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

// `--name value` pairs, and the other arguments as words.
var options: [String: String] = [:]
var words: [String] = []
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    if argument.hasPrefix("--"), let value = arguments.popFirst() {
        options[String(argument.dropFirst(2))] = value
    } else {
        words.append(argument)
    }
}
let servers = options["servers"] ?? "localhost:4730"

do {
    switch options["role"] {
    case "worker":
        // The worker connects to every server in the list and registers "reverse" with each
        // (CAN_DO). It runs every job a server hands it through this closure, and the closure's
        // return value is the job's result.
        let worker = try GearmanWorker(servers: servers)
        worker.register("reverse") { job in
            let text = String(decoding: job.workload, as: UTF8.self)
            return Array(String(text.reversed()).utf8)
        }
        printError("example-reverse: worker for 'reverse' on \(servers)")
        try await worker.run()

    case "client" where !words.isEmpty:
        // `run` submits a foreground job and waits until a worker returns its result.
        let client = try GearmanClient(servers: servers)
        let text = words.joined(separator: " ")
        let result = try await client.run("reverse", workload: Array(text.utf8))
        print(String(decoding: result, as: UTF8.self))

    default:
        printError(usage)
        exit(2)
    }
} catch {
    printError("example-reverse: \(error)")
    exit(1)
}
