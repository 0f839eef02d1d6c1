// An image-resize service: the worker runs ImageMagick's `convert` on each JPEG it receives, and
// the client sends a JPEG file and writes the thumbnail the worker returns.
//
//   example-resize --role worker [--servers LIST] [--jobs N]
//   example-resize --role client [--servers LIST] [--size WxH] INPUT.jpg OUTPUT.jpg
//
// A Gearman workload is one opaque byte string, so the client puts the parameters in a first
// line, "WxH\n", in front of the image bytes.

import Foundation
import GearmanKit

#if canImport(Glibc)
    import Glibc
#endif

let usage = """
    Usage: example-resize --role worker [--servers LIST] [--jobs N]
           example-resize --role client [--servers LIST] [--size WxH] INPUT.jpg OUTPUT.jpg
    --jobs sets how many images the worker converts at once (default 2); --size is the box the
    thumbnail fits in, keeping its aspect ratio (default 160x160).
    """

/// Writes `message` and a newline to standard error.
func printError(_ message: String) {
    let bytes = Array((message + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

/// ImageMagick's `convert`, by full path so that no other program of that name runs.
let convertPath = "/usr/bin/convert"

/// A failed conversion; the worker reports its description to the client as a WORK_EXCEPTION.
struct ResizeError: Error, CustomStringConvertible {
    let description: String
}

/// Splits a workload into the requested size and the image bytes.
func parseWorkload(_ workload: [UInt8]) throws -> (size: String, image: [UInt8]) {
    guard let newline = workload.firstIndex(of: UInt8(ascii: "\n")) else {
        throw ResizeError(description: "invalid workload: expected a 'WxH' line before the image")
    }
    let size = String(decoding: workload[..<newline], as: UTF8.self)
    let dimensions = size.split(separator: "x", omittingEmptySubsequences: false)
    let isNumber = { (text: Substring) in !text.isEmpty && text.allSatisfy { ("0"..."9").contains($0) } }
    guard dimensions.count == 2, dimensions.allSatisfy(isNumber) else {
        throw ResizeError(description: "invalid size '\(size)': expected WIDTHxHEIGHT, for example 160x160")
    }
    return (size, Array(workload[(newline + 1)...]))
}

/// Runs `convert - -resize SIZE jpg:-` with the image on its standard input and returns its
/// standard output. Blocks the calling thread until `convert` exits.
func runConvert(_ image: [UInt8], size: String) throws -> [UInt8] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: convertPath)
    process.arguments = ["-", "-resize", size, "jpg:-"]
    let input = Pipe()
    let output = Pipe()
    let errors = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = errors
    try process.run()

    // Write the image from another thread, so that a full output pipe cannot block both sides.
    let writer = Thread {
        try? input.fileHandleForWriting.write(contentsOf: image)
        try? input.fileHandleForWriting.close()
    }
    writer.start()
    let thumbnail = output.fileHandleForReading.readDataToEndOfFile()
    let message = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()

    guard process.terminationReason == .exit, process.terminationStatus == 0 else {
        let text = String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        throw ResizeError(description: "convert failed with status \(process.terminationStatus): \(text)")
    }
    return Array(thumbnail)
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
        // A closed pipe to `convert` must fail the one job with EPIPE, not kill the worker.
        signal(SIGPIPE, SIG_IGN)
        var workerOptions = GearmanWorker.Options()
        workerOptions.maximumConcurrentJobs = Int(options["jobs"] ?? "2") ?? 2
        let worker = try GearmanWorker(servers: servers, options: workerOptions)
        worker.register("resize") { job in
            // A thrown error becomes a WORK_EXCEPTION that carries the error's description.
            let (size, image) = try parseWorkload(job.workload)
            // `convert` blocks a thread while it runs, so it runs on a dispatch queue rather
            // than on one of the few threads of Swift's cooperative pool.
            return try await withCheckedThrowingContinuation { continuation in
                DispatchQueue.global().async {
                    continuation.resume(with: Result { try runConvert(image, size: size) })
                }
            }
        }
        printError("example-resize: worker for 'resize' on \(servers)")
        try await worker.run()

    case "client" where words.count == 2:
        let size = options["size"] ?? "160x160"
        let image = try Data(contentsOf: URL(fileURLWithPath: words[0]))
        let client = try GearmanClient(servers: servers)
        let thumbnail = try await client.run("resize", workload: Array("\(size)\n".utf8) + Array(image))
        try Data(thumbnail).write(to: URL(fileURLWithPath: words[1]))
        print("wrote \(words[1]) (\(thumbnail.count) bytes)")

    default:
        printError(usage)
        exit(2)
    }
} catch {
    printError("example-resize: \(error)")
    exit(1)
}
