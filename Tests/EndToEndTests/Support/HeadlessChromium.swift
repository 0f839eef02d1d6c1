import Foundation
import ProcessTestSupport

#if canImport(Glibc)
    import Glibc
#endif

struct ChromiumError: Error, CustomStringConvertible {
    let description: String
}

/// Debian's Chromium, run headless with a profile, HOME and XDG folders of its own in a
/// temporary directory, so it neither reads nor writes the profile of the user running the tests.
///
/// The binary /usr/lib/chromium/chromium is started directly rather than the /usr/bin/chromium
/// wrapper script. The wrapper of Debian's chromium 156 sources /etc/chromium.d, whose
/// `extensions` file adds `--enable-remote-extensions` and so turns off the wrapper's own
/// `--disable-background-networking`. Started directly, Chromium gets only the options below.
///
/// Call `stop()` on every path, usually from a `defer`.
final class HeadlessChromium {
    static let path = "/usr/lib/chromium/chromium"
    static var isInstalled: Bool { TestPaths.isExecutable(path) }
    static let missingMessage = "chromium (Debian package chromium, \(path)) is not installed"

    /// Options of every run. Chromium must reach nothing but the test's server on 127.0.0.1:
    /// the `--disable-*` options turn off its background requests, and the resolver rule makes
    /// every host name other than 127.0.0.1 fail to resolve.
    static let commonArguments = [
        "--headless",
        // Tests run as root in CI, and Chromium does not start as root with its sandbox on.
        "--no-sandbox",
        "--disable-gpu",
        // /dev/shm of a container can be too small for Chromium's shared memory. Debian's
        // /etc/chromium.d/dev-shm adds this option when /dev/shm has less than 3.8 GB free.
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        // Chromium's log on standard error goes into failure messages.
        "--enable-logging=stderr",
    ]

    /// The run's folder: the profile, HOME, and the standard streams of each Chromium started.
    let directory: TemporaryDirectory
    private var children: [ChildProcess] = []
    private var runCount = 0

    var profile: URL { directory.file("profile") }
    var home: URL { directory.file("home") }

    init() throws {
        directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
    }

    /// The test's environment with HOME and the XDG folders moved into the run's folder.
    /// Chromium's crash handler keeps its database under XDG_CONFIG_HOME, not in the profile.
    var environment: [String: String] {
        var environment = ChildProcess.defaultEnvironment
        environment["HOME"] = home.path
        environment["XDG_CONFIG_HOME"] = home.appendingPathComponent(".config").path
        environment["XDG_CACHE_HOME"] = home.appendingPathComponent(".cache").path
        environment["XDG_DATA_HOME"] = home.appendingPathComponent(".local/share").path
        return environment
    }

    /// Starts Chromium with the common options, the profile, `arguments` and then `url`.
    private func start(_ arguments: [String], url: String) throws -> ChildProcess {
        runCount += 1
        let child = try ChildProcess(
            executable: Self.path,
            arguments: Self.commonArguments + ["--user-data-dir=\(profile.path)"] + arguments + [url],
            environment: environment,
            standardOutput: directory.file("chromium-\(runCount).stdout"),
            standardError: directory.file("chromium-\(runCount).stderr"))
        children.append(child)
        return child
    }

    /// Runs Chromium on `url` until it exits, such as with `--dump-dom` or `--screenshot`.
    ///
    /// A run still going after `timeout` is stopped and returned with `timedOut` set.
    func run(_ arguments: [String], url: String, timeout: Duration = .seconds(30)) async throws -> ToolResult {
        try await start(arguments, url: url).waitForResult(timeout: timeout)
    }

    /// Starts Chromium on about:blank with the DevTools protocol on a free port of 127.0.0.1,
    /// and connects to its page.
    ///
    /// Chromium writes the port it chose to `DevToolsActivePort` in the profile once it listens.
    func startWithDevTools(timeout: Duration = .seconds(20)) async throws -> DevToolsPage {
        let child = try start(["--remote-debugging-port=0"], url: "about:blank")
        let portFile = profile.appendingPathComponent("DevToolsActivePort")
        var port: UInt16?
        let ready = try await waitUntil(timeout: timeout) {
            port = readText(portFile).split(separator: "\n").first.flatMap { UInt16($0) }
            return port != nil || !child.isRunning
        }
        guard ready, let port else {
            throw ChromiumError(
                description:
                    "Chromium wrote no DevTools port within \(timeout) (\(child.termination)); stderr:\n"
                    + child.standardErrorText())
        }
        return try DevToolsPage(port: port, path: try findPageTarget(port: port))
    }

    /// Returns the WebSocket path of the first page target that `GET /json/list` lists.
    private func findPageTarget(port: UInt16) throws -> String {
        let connection = try RawConnection(port: port)
        try connection.send("GET /json/list HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n")
        // Chromium keeps the connection open after the response, so the body is read by its
        // Content-Length.
        let statusLine = try connection.receiveLine()
        var length = 0
        while true {
            let line = try connection.receiveLine()
            if line == "\r\n" { break }
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "content-length" {
                length = Int(parts[1].trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            }
        }
        let body = try connection.receive(count: length)
        guard statusLine.hasPrefix("HTTP/1.1 200") else {
            throw ChromiumError(description: "GET /json/list on the DevTools port returned \(statusLine)")
        }
        let targets = try JSONSerialization.jsonObject(with: Data(body)) as? [[String: Any]] ?? []
        for target in targets where target["type"] as? String == "page" {
            guard let address = target["webSocketDebuggerUrl"] as? String, let url = URL(string: address) else {
                continue
            }
            return url.path
        }
        throw ChromiumError(
            description: "GET /json/list listed no page target: \(String(decoding: body, as: UTF8.self))")
    }

    /// Returns standard error of every Chromium started, for failure messages.
    func logText() -> String {
        children.map { $0.standardErrorText() }.joined(separator: "\n")
    }

    /// Stops every Chromium started and its crash handlers, then removes the run's folder.
    ///
    /// chrome_crashpad_handler starts in a session of its own, so stopping Chromium's process
    /// group misses it. It exits by itself once Chromium is gone, and is found by the run's
    /// folder in its command line. One still there after 5 s gets SIGKILL, by its PID.
    func stop() {
        for child in children.reversed() {
            child.stop()
        }
        let path = directory.url.path
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(5))
        var remaining = Self.findProcesses(mentioning: path)
        while !remaining.isEmpty && clock.now < deadline {
            usleep(50_000)
            remaining = Self.findProcesses(mentioning: path)
        }
        for pid in remaining {
            kill(pid, SIGKILL)
        }
        directory.remove()
    }

    /// Returns the PIDs of processes whose command line contains `text`.
    static func findProcesses(mentioning text: String) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry in
            guard let pid = pid_t(entry), pid != getpid(),
                let commandLine = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
            else { return nil }
            return String(decoding: commandLine, as: UTF8.self).contains(text) ? pid : nil
        }
    }
}

/// A client of the Chrome DevTools protocol for one page, over a WebSocket to 127.0.0.1.
///
/// It covers what the tests need of RFC 6455: it sends unfragmented masked text frames, and
/// reads text, continuation, ping and close frames. Each call waits for its response on the one
/// connection and stores the events that arrive before it.
final class DevToolsPage {
    private let connection: RawConnection
    private var nextID = 1
    /// Events received so far, in order, as decoded JSON objects with `method` and `params`.
    private(set) var events: [[String: Any]] = []

    /// Opens the WebSocket at `path` on 127.0.0.1:`port`.
    init(port: UInt16, path: String) throws {
        connection = try RawConnection(port: port)
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        try connection.send(
            "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n\r\n")
        let statusLine = try connection.receiveLine()
        while try connection.receiveLine() != "\r\n" {}
        // NOTE: Sec-WebSocket-Accept is not checked, because that needs SHA-1, which Foundation
        // on Linux does not offer. The peer is the Chromium this test started.
        guard statusLine.hasPrefix("HTTP/1.1 101") else {
            throw ChromiumError(description: "the DevTools WebSocket handshake failed: \(statusLine)")
        }
    }

    /// Sends the command `method` and returns its `result`.
    func call(_ method: String, _ parameters: [String: Any] = [:]) throws -> [String: Any] {
        let id = nextID
        nextID += 1
        let command: [String: Any] = ["id": id, "method": method, "params": parameters]
        try sendText(Array(try JSONSerialization.data(withJSONObject: command)))
        while true {
            let message = try receiveMessage()
            guard let object = try JSONSerialization.jsonObject(with: Data(message)) as? [String: Any] else {
                continue
            }
            if let responseID = object["id"] as? Int, responseID == id {
                if let error = object["error"] {
                    throw ChromiumError(description: "DevTools command \(method) failed: \(error)")
                }
                return object["result"] as? [String: Any] ?? [:]
            }
            if object["method"] != nil {
                events.append(object)
            }
        }
    }

    /// Evaluates a JavaScript expression in the page and returns its value, which must be a string.
    func evaluate(_ expression: String) throws -> String {
        let result = try call("Runtime.evaluate", ["expression": expression, "returnByValue": true])
        if let exception = result["exceptionDetails"] {
            throw ChromiumError(description: "evaluating \(expression) threw: \(exception)")
        }
        guard let value = (result["result"] as? [String: Any])?["value"] as? String else {
            throw ChromiumError(description: "\(expression) returned no string: \(result)")
        }
        return value
    }

    /// Describes each uncaught exception, `console.error` or `console.assert` call, and log
    /// entry of level error (such as a failed request) among the events received so far.
    ///
    /// Chromium reports these only to a client that sent `Runtime.enable` and `Log.enable`.
    var errorMessages: [String] {
        events.compactMap { event in
            let parameters = event["params"] as? [String: Any] ?? [:]
            switch event["method"] as? String {
            case "Runtime.exceptionThrown":
                let details = parameters["exceptionDetails"] as? [String: Any] ?? [:]
                let exception = details["exception"] as? [String: Any] ?? [:]
                return "uncaught exception: \(exception["description"] ?? details["text"] ?? details)"
            case "Runtime.consoleAPICalled":
                let type = parameters["type"] as? String ?? ""
                guard type == "error" || type == "assert" else { return nil }
                let arguments = parameters["args"] as? [[String: Any]] ?? []
                let texts = arguments.map { "\($0["value"] ?? $0["description"] ?? $0)" }
                return "console.\(type): \(texts.joined(separator: " "))"
            case "Log.entryAdded":
                let entry = parameters["entry"] as? [String: Any] ?? [:]
                guard entry["level"] as? String == "error" else { return nil }
                return "\(entry["source"] ?? "log") error: \(entry["text"] ?? "") \(entry["url"] ?? "")"
            default:
                return nil
            }
        }
    }

    /// Sends one text frame, masked with a random key as RFC 6455 requires of clients.
    private func sendText(_ payload: [UInt8]) throws {
        var frame: [UInt8] = [0x81]  // FIN, opcode 1 (text)
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else if payload.count <= 0xFFFF {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            frame.append(0x80 | 127)
            frame += (0..<8).reversed().map { UInt8(truncatingIfNeeded: payload.count >> ($0 * 8)) }
        }
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        try connection.send(frame)
    }

    /// Reads frames until a whole text message has arrived, and replies to pings on the way.
    /// Frames from a server are never masked.
    private func receiveMessage() throws -> [UInt8] {
        var message: [UInt8] = []
        while true {
            let head = try connection.receive(count: 2)
            let isFinal = head[0] & 0x80 != 0
            let opcode = head[0] & 0x0F
            var length = Int(head[1] & 0x7F)
            if length == 126 {
                length = try connection.receive(count: 2).reduce(0) { $0 << 8 | Int($1) }
            } else if length == 127 {
                length = try connection.receive(count: 8).reduce(0) { $0 << 8 | Int($1) }
            }
            let payload = try connection.receive(count: length)
            switch opcode {
            case 0x0, 0x1:
                message += payload
                if isFinal { return message }
            case 0x8:
                throw ChromiumError(description: "Chromium closed the DevTools WebSocket")
            case 0x9:
                // A pong echoes the ping's payload, masked like every client frame.
                let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
                let masked = payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
                try connection.send([0x8A, 0x80 | UInt8(payload.count)] + mask + masked)
            default:
                continue
            }
        }
    }
}
