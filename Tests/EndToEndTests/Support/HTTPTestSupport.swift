import Foundation
import ProcessTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Our gearmand started with `-r http --http-port 0`, and the HTTP port read from its log.
struct HTTPServer {
    let server: ServerProcess
    let httpPort: UInt16

    var baseURL: String { "http://127.0.0.1:\(httpPort)" }

    /// Starts the server with the HTTP module and waits until it has logged both ports.
    static func start(arguments: [String] = []) async throws -> HTTPServer {
        let server = try await ServerProcess.start(arguments: ["-r", "http", "--http-port", "0"] + arguments)
        var port: UInt16?
        let logged = try await waitUntil(timeout: .seconds(10)) {
            port = parseHTTPPort(server.logText())
            return port != nil
        }
        guard logged, let port else {
            server.stop()
            throw ServerStartError(description: "gearmand -r http did not log its HTTP port; log:\n\(server.logText())")
        }
        return HTTPServer(server: server, httpPort: port)
    }

    /// Parses the port from the `NOTICE listening on 127.0.0.1:<port> (http)` log line.
    static func parseHTTPPort(_ log: String) -> UInt16? {
        let marker = "NOTICE listening on 127.0.0.1:"
        for line in log.split(separator: "\n") where line.hasSuffix(" (http)") {
            guard let range = line.range(of: marker) else { continue }
            return UInt16(line[range.upperBound...].prefix(while: \.isNumber))
        }
        return nil
    }

    func stop() {
        server.stop()
    }

    /// Opens a raw TCP connection to the HTTP port.
    func connect() throws -> RawConnection {
        try RawConnection(port: httpPort)
    }

    /// Returns the admin reply lines of `command` from the Gearman port, without the final `.`.
    func admin(_ command: String) throws -> [String] {
        try server.connect().adminList(command)
    }

    /// Returns the tab-separated fields of `function`'s line in the admin `command` reply.
    func adminFields(_ command: String, of function: String) throws -> [String]? {
        try admin(command).map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
            .first { $0.first == function }
    }

    /// Waits until the admin `status` line of `function` shows `jobs` jobs.
    func waitForJobs(of function: String, count jobs: Int) async throws -> Bool {
        try await waitUntil(timeout: .seconds(10)) {
            try adminFields("status", of: function)?[1] == String(jobs)
        }
    }
}

/// A response read from curl's `-i` output or a raw connection.
struct HTTPResponse: Sendable {
    var statusLine: String
    /// Header fields in order, names as sent.
    var fields: [(name: String, value: String)]
    var body: [UInt8]

    var status: Int {
        let parts = statusLine.split(separator: " ")
        return parts.count > 1 ? Int(parts[1]) ?? 0 : 0
    }

    var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// Returns the value of the first field named `name`, in any case.
    func value(_ name: String) -> String? {
        fields.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// Parses every response in `bytes`: heads, then bodies framed by Content-Length or chunks;
    /// a response without either takes the rest of the bytes.
    static func parseAll(_ bytes: [UInt8]) -> [HTTPResponse] {
        var responses: [HTTPResponse] = []
        var rest = bytes[...]
        while let response = parseOne(&rest) {
            responses.append(response)
        }
        return responses
    }

    private static func parseOne(_ rest: inout ArraySlice<UInt8>) -> HTTPResponse? {
        guard let headEnd = findHeadEnd(rest) else { return nil }
        let head = String(decoding: rest[rest.startIndex..<headEnd], as: UTF8.self)
        rest = rest[(headEnd + 4)...]
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst()
        let fields = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var response = HTTPResponse(statusLine: statusLine, fields: fields, body: [])
        if response.status == 100 {
            return parseOne(&rest)
        }
        if let length = response.value("Content-Length").flatMap(Int.init) {
            let end = rest.index(rest.startIndex, offsetBy: min(length, rest.count))
            response.body = Array(rest[rest.startIndex..<end])
            rest = rest[end...]
        } else if response.value("Transfer-Encoding") == "chunked" {
            response.body = decodeChunks(&rest)
        } else {
            response.body = Array(rest)
            rest = []
        }
        return response
    }

    private static func findHeadEnd(_ bytes: ArraySlice<UInt8>) -> Int? {
        let marker: [UInt8] = [13, 10, 13, 10]
        var index = bytes.startIndex
        while index + 4 <= bytes.endIndex {
            if Array(bytes[index..<(index + 4)]) == marker { return index }
            index += 1
        }
        return nil
    }

    /// Decodes a chunked body and skips its trailer section.
    private static func decodeChunks(_ rest: inout ArraySlice<UInt8>) -> [UInt8] {
        var body: [UInt8] = []
        while let lineEnd = rest.firstIndex(of: 10) {
            let sizeText = String(decoding: rest[rest.startIndex..<lineEnd], as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            rest = rest[(lineEnd + 1)...]
            let size = Int(sizeText, radix: 16) ?? 0
            if size == 0 {
                while let trailerEnd = rest.firstIndex(of: 10) {
                    let isEmpty =
                        trailerEnd == rest.startIndex || (trailerEnd == rest.startIndex + 1 && rest.first == 13)
                    rest = rest[(trailerEnd + 1)...]
                    if isEmpty { break }
                }
                return body
            }
            let end = min(rest.endIndex, rest.startIndex + size)
            body += rest[rest.startIndex..<end]
            rest = rest[min(rest.endIndex, end + 2)...]
        }
        return body
    }
}

/// Runs curl against 127.0.0.1, always with `--max-time 10`, silent but with errors shown.
enum Curl {
    static let path = "/usr/bin/curl"
    static var isInstalled: Bool { TestPaths.isExecutable(path) }

    static func run(_ arguments: [String]) async throws -> ToolResult {
        try await ToolRunner.run(path, ["--max-time", "10", "-sS"] + arguments, timeout: .seconds(30))
    }

    /// Starts curl without waiting for it, for requests whose job the test's worker runs first.
    static func start(_ arguments: [String], in directory: TemporaryDirectory, name: String) throws -> ChildProcess {
        try ChildProcess(
            executable: path, arguments: ["--max-time", "10", "-sS"] + arguments,
            standardOutput: directory.file("\(name).stdout"), standardError: directory.file("\(name).stderr"))
    }

    /// Waits for a curl started with `start` and returns what it wrote.
    static func finish(_ child: ChildProcess) async throws -> ToolResult {
        try await child.waitForResult(timeout: .seconds(20))
    }

    /// Parses the output of `curl -i`.
    static func responses(_ result: ToolResult) -> [HTTPResponse] {
        HTTPResponse.parseAll(result.standardOutput)
    }
}

/// Packet type numbers a raw worker uses, written out like `PacketNumber`.
enum WorkerPacketNumber {
    static let preSleep: UInt32 = 4  // PRE_SLEEP
    static let noop: UInt32 = 6  // NOOP
    static let noJob: UInt32 = 10  // NO_JOB
    static let workStatus: UInt32 = 12  // WORK_STATUS
    static let workFail: UInt32 = 14  // WORK_FAIL
    static let workException: UInt32 = 25  // WORK_EXCEPTION
    static let workData: UInt32 = 28  // WORK_DATA
    static let grabJobUnique: UInt32 = 30  // GRAB_JOB_UNIQ
    static let jobAssignUnique: UInt32 = 31  // JOB_ASSIGN_UNIQ
}

/// A worker on a raw Gearman connection whose replies each test scripts packet by packet.
final class RawWorker {
    let connection: RawConnection

    /// Connects to the Gearman port of `server` and registers `function`.
    init(server: HTTPServer, function: String) async throws {
        connection = try server.server.connect()
        try connection.send(Wire.request(PacketNumber.canDo, [function]))
        let registered = try await server.server.waitForWorker(of: function)
        try #require(registered, "the raw worker for \(function) did not register")
    }

    /// A job assigned with JOB_ASSIGN_UNIQ.
    struct Assignment {
        let handle: String
        let function: String
        let unique: String
        let workload: [UInt8]
    }

    /// Asks for a job every 20 ms until one is assigned or `timeout` passes.
    func grab(timeout: Duration = .seconds(10)) async throws -> Assignment {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while clock.now < deadline {
            try connection.send(Wire.packet(type: WorkerPacketNumber.grabJobUnique, body: []))
            let reply = try connection.receivePacket()
            if reply.type == WorkerPacketNumber.jobAssignUnique {
                let parts = reply.body.split(separator: 0, maxSplits: 3, omittingEmptySubsequences: false)
                return Assignment(
                    handle: String(decoding: parts[0], as: UTF8.self),
                    function: String(decoding: parts[1], as: UTF8.self),
                    unique: String(decoding: parts[2], as: UTF8.self), workload: parts.count > 3 ? Array(parts[3]) : [])
            }
            try #require(reply.type == WorkerPacketNumber.noJob, "GRAB_JOB_UNIQ got packet type \(reply.type)")
            try await Task.sleep(for: .milliseconds(20))
        }
        throw RawConnectionError.timedOut(received: [])
    }

    /// Sends a WORK_* packet for `handle` with an optional payload.
    func send(_ type: UInt32, handle: String, _ payload: [UInt8]? = nil) throws {
        var body = Array(handle.utf8)
        if let payload { body += [0] + payload }
        try connection.send(Wire.packet(type: type, body: body))
    }
}
