import Foundation
import ProcessTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// One combination of the `X-Gearman-*` request fields and where its job must end up.
struct HTTPHeaderCase: Sendable, CustomTestStringConvertible {
    let background: Bool
    /// The `X-Gearman-Priority` value, or nil to send none.
    let priority: String?
    /// The `X-Gearman-Unique` value, or nil to send none.
    let unique: String?

    var testDescription: String {
        "background=\(background) priority=\(priority ?? "-") unique=\(unique ?? "-")"
    }

    var curlArguments: [String] {
        var arguments: [String] = []
        if background { arguments += ["-H", "X-Gearman-Background: true"] }
        if let priority { arguments += ["-H", "X-Gearman-Priority: \(priority)"] }
        if let unique { arguments += ["-H", "X-Gearman-Unique: \(unique)"] }
        return arguments
    }

    /// The admin `prioritystatus` line of the function while the job waits: high, normal, low.
    var queuedColumns: [String] {
        switch priority {
        case "high": return ["1", "0", "0"]
        case "low": return ["0", "0", "1"]
        default: return ["0", "1", "0"]
        }
    }

    static let all: [HTTPHeaderCase] = [false, true].flatMap { background in
        [nil, "high", "low"].flatMap { priority in
            [nil, "key-1"].map { HTTPHeaderCase(background: background, priority: priority, unique: $0) }
        }
    }
}

/// The HTTP protocol module of our gearmand (`-r http`), driven with curl and raw sockets.
@Suite(.enabled(if: Curl.isInstalled, "curl (/usr/bin/curl) is not installed"), .timeLimit(.minutes(3)))
struct HTTPGatewayTests {
    @Test(arguments: HTTPHeaderCase.all)
    func headerCombination(_ example: HTTPHeaderCase) async throws {
        let http = try await HTTPServer.start()
        defer { http.stop() }
        let curl = try Curl.start(
            ["-i", "-d", "payload"] + example.curlArguments + ["\(http.baseURL)/combo"], in: http.server.directory,
            name: "curl")
        defer { curl.stop() }

        let queued = try await http.waitForJobs(of: "combo", count: 1)
        try #require(queued, "the job never showed up in status: \((try? http.admin("status")) ?? [])")
        let columns = try http.adminFields("prioritystatus", of: "combo")
        #expect(columns.map { Array($0[1...3]) } == example.queuedColumns)

        if example.background {
            let result = try await Curl.finish(curl)
            let response = try #require(Curl.responses(result).first, "curl: \(result.errorText)")
            #expect(response.status == 200)
            #expect(response.value("X-Gearman-Command") == "JOB_CREATED")
            #expect(response.value("X-Gearman-Job-Handle")?.hasPrefix("H:") == true)
            #expect(response.body.isEmpty)
        }

        let worker = try await RawWorker(server: http, function: "combo")
        let job = try await worker.grab()
        #expect(job.unique == (example.unique ?? ""))
        #expect(job.workload == Array("payload".utf8))
        try worker.send(PacketNumber.workComplete, handle: job.handle, Array("done".utf8))

        if !example.background {
            let result = try await Curl.finish(curl)
            let response = try #require(Curl.responses(result).first, "curl: \(result.errorText)")
            #expect(response.status == 200)
            #expect(response.value("X-Gearman-Command") == "WORK_COMPLETE")
            #expect(response.value("X-Gearman-Job-Handle") == job.handle)
            #expect(response.value("Server")?.hasPrefix("GearmanKit/") == true)
            #expect(response.bodyText == "done")
        }
    }

    @Test func equalWorkloadsDoNotCoalesceWithoutUnique() async throws {
        let http = try await HTTPServer.start()
        defer { http.stop() }
        for _ in 0..<2 {
            let result = try await Curl.run(["-H", "X-Gearman-Background: true", "-d", "same", "\(http.baseURL)/f"])
            #expect(result.termination == .exited(0), "curl: \(result.errorText)")
        }
        #expect(try http.adminFields("status", of: "f")?[1] == "2")

        // The unique key `-` coalesces equal workloads, as the C module does by default.
        for _ in 0..<2 {
            let result = try await Curl.run(
                ["-H", "X-Gearman-Background: true", "-H", "X-Gearman-Unique: -", "-d", "same", "\(http.baseURL)/g"])
            #expect(result.termination == .exited(0), "curl: \(result.errorText)")
        }
        #expect(try http.adminFields("status", of: "g")?[1] == "1")
    }

    @Test func echoWorkerReturnsLargeBody() async throws {
        let http = try await HTTPServer.start()
        defer { http.stop() }
        let worker = try ChildProcess(
            executable: Paths.ourGearman,
            arguments: ["-h", "127.0.0.1", "-p", String(http.server.port), "-w", "-f", "echo", "--", "cat"],
            standardOutput: http.server.directory.file("worker.stdout"),
            standardError: http.server.directory.file("worker.stderr"))
        defer { worker.stop() }
        try #require(try await http.server.waitForWorker(of: "echo"), "gearman -w did not register")

        var payload = [UInt8](repeating: 0, count: 3 * 1024 * 1024)
        for index in payload.indices { payload[index] = UInt8(truncatingIfNeeded: index &* 31 &+ index >> 9) }
        let input = http.server.directory.file("payload.bin")
        try Data(payload).write(to: input)
        let result = try await Curl.run(["--data-binary", "@\(input.path)", "-o", "-", "\(http.baseURL)/echo"])
        #expect(result.termination == .exited(0), "curl: \(result.errorText)")
        #expect(result.standardOutput.count == payload.count)
        // Comparing as a Bool keeps a mismatch from printing two 3 MiB arrays.
        let isSame = result.standardOutput == payload
        #expect(isSame, "the echoed body differs from the request body")
    }

    @Test func keepAliveReusesConnection() async throws {
        let http = try await HTTPServer.start()
        defer { http.stop() }
        let url = http.baseURL
        // curl pairs each -o with one URL, so every URL gets its own.
        let discard = ["-o", "/dev/null"]
        let result = try await Curl.run(
            ["-w", "%{num_connects} %{http_code}\\n", "-H", "X-Gearman-Background: true", "-d", "x"]
                + discard + ["\(url)/bg"] + discard + ["\(url)/bg"] + discard + ["\(url)/bg"]
                + ["--next", "-w", "%{num_connects} %{http_code}\\n"] + discard + ["\(url)/healthz"] + discard
                + ["\(url)/status"])
        #expect(result.termination == .exited(0), "curl: \(result.errorText)")
        #expect(result.outputText == "1 200\n0 200\n0 200\n0 200\n0 200\n")
        #expect(try http.adminFields("status", of: "bg")?[1] == "3")
        let accepted = http.server.logLines().filter { $0.contains("accepted connection") && $0.hasSuffix("(http)") }
        #expect(accepted.count == 1, "\(accepted)")
    }

    @Test func http10ClosesUnlessKeepAlive() async throws {
        let http = try await HTTPServer.start()
        defer { http.stop() }
        let url = "\(http.baseURL)/healthz"
        let arguments = ["-0", "-w", "%{num_connects}\\n", "-o", "/dev/null", url, "-o", "/dev/null", url]
        let closing = try await Curl.run(arguments)
        #expect(closing.outputText == "1\n1\n", "curl: \(closing.errorText)")
        let kept = try await Curl.run(["-H", "Connection: keep-alive"] + arguments)
        #expect(kept.outputText == "1\n0\n", "curl: \(kept.errorText)")
    }

    @Test func pipelinedRequestsAnswerInOrder() async throws {
        let http = try await HTTPServer.start()
        defer { http.stop() }
        let worker = try await RawWorker(server: http, function: "slow")
        let client = try http.connect()
        try client.send(
            "POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\none"
                + "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
                + "POST /slow HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 3\r\n\r\ntwo")

        let first = try await worker.grab()
        #expect(first.workload == Array("one".utf8))
        try worker.send(PacketNumber.workComplete, handle: first.handle, Array("1".utf8))
        let second = try await worker.grab()
        #expect(second.workload == Array("two".utf8))
        try worker.send(PacketNumber.workComplete, handle: second.handle, Array("2".utf8))

        let responses = HTTPResponse.parseAll(try client.receiveUntilClosed())
        #expect(responses.map(\.status) == [200, 200, 200])
        #expect(responses.map(\.bodyText) == ["1", "ok\n", "2"])
        #expect(responses.last?.value("Connection") == "close")
    }

    @Test func workDataStreamsChunks() async throws {
        let http = try await HTTPServer.start()
        defer { http.stop() }
        let worker = try ChildProcess(
            executable: Paths.ourGearman,
            arguments: [
                "-h", "127.0.0.1", "-p", String(http.server.port), "-w", "-n", "-f", "lines", "--", "printf",
                "a\\nb\\n",
            ],
            standardOutput: http.server.directory.file("worker.stdout"),
            standardError: http.server.directory.file("worker.stderr"))
        defer { worker.stop() }
        try #require(try await http.server.waitForWorker(of: "lines"), "gearman -w -n did not register")

        let raw = try await Curl.run(["-i", "--raw", "-d", "x", "\(http.baseURL)/lines"])
        #expect(raw.termination == .exited(0), "curl: \(raw.errorText)")
        let text = raw.outputText
        #expect(text.contains("Transfer-Encoding: chunked\r\n"))
        #expect(text.contains("X-Gearman-Command: WORK_DATA\r\n"))
        #expect(
            text.hasSuffix("\r\n\r\n2\r\na\n\r\n2\r\nb\n\r\n0\r\nX-Gearman-Command: WORK_COMPLETE\r\n\r\n"),
            "\(text.debugDescription)")

        let decoded = try await Curl.run(["-d", "x", "\(http.baseURL)/lines"])
        #expect(decoded.outputText == "a\nb\n")

        // HTTP/1.0 has no chunks: the body ends when the server closes the connection.
        let old = try await Curl.run(["-0", "-i", "-d", "x", "\(http.baseURL)/lines"])
        let response = try #require(Curl.responses(old).first, "curl -0: \(old.errorText)")
        #expect(response.value("Transfer-Encoding") == nil)
        #expect(response.value("Connection") == "close")
        #expect(response.bodyText == "a\nb\n")
    }

    @Test func failedJobAnswers500() async throws {
        let http = try await HTTPServer.start()
        defer { http.stop() }
        let worker = try await RawWorker(server: http, function: "f")
        let curl = try Curl.start(["-i", "-d", "x", "\(http.baseURL)/f"], in: http.server.directory, name: "curl")
        defer { curl.stop() }
        let job = try await worker.grab()
        try worker.send(WorkerPacketNumber.workFail, handle: job.handle)

        let response = try #require(Curl.responses(try await Curl.finish(curl)).first)
        #expect(response.status == 500)
        #expect(response.value("X-Gearman-Command") == "WORK_FAIL")
        #expect(response.value("X-Gearman-Job-Handle") == job.handle)
        #expect(response.body.isEmpty)
    }

    @Test func exceptionAnswers500WithText() async throws {
        let http = try await HTTPServer.start()
        defer { http.stop() }
        let worker = try await RawWorker(server: http, function: "f")
        let curl = try Curl.start(["-i", "-d", "x", "\(http.baseURL)/f"], in: http.server.directory, name: "curl")
        defer { curl.stop() }
        let job = try await worker.grab()
        try worker.send(WorkerPacketNumber.workStatus, handle: job.handle, Array("1\02".utf8))
        try worker.send(WorkerPacketNumber.workException, handle: job.handle, Array("division by zero".utf8))

        let response = try #require(Curl.responses(try await Curl.finish(curl)).first)
        #expect(response.status == 500)
        #expect(response.value("X-Gearman-Command") == "WORK_EXCEPTION")
        #expect(response.bodyText == "division by zero")
    }

    @Test func failureAfterStreamingAbortsResponse() async throws {
        let http = try await HTTPServer.start()
        defer { http.stop() }
        let worker = try await RawWorker(server: http, function: "f")
        let curl = try Curl.start(["-d", "x", "\(http.baseURL)/f"], in: http.server.directory, name: "curl")
        defer { curl.stop() }
        let job = try await worker.grab()
        try worker.send(WorkerPacketNumber.workData, handle: job.handle, Array("partial".utf8))
        try worker.send(WorkerPacketNumber.workFail, handle: job.handle)

        let result = try await Curl.finish(curl)
        // curl exits with 18 (partial file) when a chunked body ends without its last chunk.
        #expect(result.termination == .exited(18), "curl: \(result.errorText)")
        #expect(result.outputText == "partial")
    }

    @Test func fullQueueAnswers503() async throws {
        let http = try await HTTPServer.start()
        defer { http.stop() }
        let admin = try http.server.connect()
        try admin.send("create function capped\n")
        #expect(try admin.receiveLine() == "OK\r\n")
        try admin.send("maxqueue capped 1\n")
        #expect(try admin.receiveLine() == "OK\r\n")
        let arguments = ["-i", "-H", "X-Gearman-Background: true", "-d", "x", "\(http.baseURL)/capped"]
        let first = try #require(Curl.responses(try await Curl.run(arguments)).first)
        #expect(first.status == 200)
        let second = try #require(Curl.responses(try await Curl.run(arguments)).first)
        #expect(second.status == 503)
        #expect(second.value("X-Gearman-Command") == "ERROR")
        #expect(second.bodyText.hasPrefix("QUEUE_ERROR"))
    }

    /// Starts a server that takes bodies of at most 1 KiB and sends it the head of an 8 MB POST,
    /// which the server rejects with 413 before any of the body arrives.
    private func startRejectedUpload() async throws -> (HTTPServer, RawConnection) {
        let http = try await HTTPServer.start(arguments: ["--http-max-body-size", "1024"])
        do {
            let connection = try http.connect()
            try connection.send("POST /f HTTP/1.1\r\nHost: test\r\nContent-Length: 8000000\r\n\r\n")
            return (http, connection)
        } catch {
            http.stop()
            throw error
        }
    }

    /// A body rejected with 413 while the client is still sending it is read and discarded, so
    /// the client's writes succeed and it reads the 413 and a clean end of the connection. A
    /// server that closed at once would send a reset for the rest of the body.
    @Test func refusedBodyIsDrained() async throws {
        let (http, connection) = try await startRejectedUpload()
        defer { http.stop() }
        let head = try connection.receiveLine()
        #expect(head.hasPrefix("HTTP/1.1 413"))
        // Give the server time to write the response and close its side, then send the body.
        // The pause blocks the thread instead of awaiting, because under `swift test` in
        // parallel an awaiting task resumed seconds later, after the server's idle limit.
        usleep(200_000)
        let chunk = [UInt8](repeating: UInt8(ascii: "b"), count: 64 * 1024)
        for _ in 0..<64 {
            try connection.send(chunk)
        }
        shutdown(connection.fd, Int32(SHUT_WR))
        let rest = try connection.receiveUntilClosed()
        let response = HTTPResponse.parseAll(Array(head.utf8) + rest)
        #expect(response.map(\.status) == [413])
        #expect(response.first?.value("Connection") == "close")
    }

    /// A client that sends a rejected body slowly, for longer than the idle limit in all but
    /// with shorter pauses, gets a clean end of the connection and no reset.
    @Test func slowRejectedBodyIsDrained() async throws {
        let (http, connection) = try await startRejectedUpload()
        defer { http.stop() }
        let head = try connection.receiveLine()
        #expect(head.hasPrefix("HTTP/1.1 413"))
        let chunk = [UInt8](repeating: UInt8(ascii: "b"), count: 16 * 1024)
        let clock = ContinuousClock()
        let start = clock.now
        while clock.now - start < .milliseconds(3200) {
            try connection.send(chunk)
            try await Task.sleep(for: .milliseconds(400))
        }
        shutdown(connection.fd, Int32(SHUT_WR))
        let rest = try connection.receiveUntilClosed()
        #expect(HTTPResponse.parseAll(Array(head.utf8) + rest).map(\.status) == [413])
    }

    /// A client that stops sending after a rejected request is closed once the idle limit of
    /// 2 s passes, although it keeps its own side open.
    @Test func idleRejectedConnectionCloses() async throws {
        let (http, connection) = try await startRejectedUpload()
        defer { http.stop() }
        // The end of stream here is the server's shutdown of its sending side, not the close.
        let response = HTTPResponse.parseAll(try connection.receiveUntilClosed())
        #expect(response.map(\.status) == [413])
        try await Task.sleep(for: .seconds(3))
        // Once the server has closed the socket, the kernel replies to the next segment with a
        // reset, and a later send fails. While the server still lingers, every send succeeds.
        let chunk = [UInt8](repeating: UInt8(ascii: "b"), count: 1024)
        var sendError: (any Error)? = nil
        for _ in 0..<20 where sendError == nil {
            do {
                try connection.send(chunk)
                try await Task.sleep(for: .milliseconds(50))
            } catch {
                sendError = error
            }
        }
        #expect(sendError != nil, "the server still read from the connection 4 s after the response")
    }

    @Test func errorStatuses() async throws {
        let http = try await HTTPServer.start(arguments: ["--http-max-body-size", "1024"])
        defer { http.stop() }
        let url = http.baseURL

        let missing = try #require(Curl.responses(try await Curl.run(["-i", "-d", "x", "\(url)/"])).first)
        #expect(missing.status == 404)

        let method = try #require(Curl.responses(try await Curl.run(["-i", "-X", "DELETE", "\(url)/f"])).first)
        #expect(method.status == 405)
        #expect(method.value("Allow") == "GET, POST, PUT")

        let body = String(repeating: "b", count: 2000)
        let large = try #require(Curl.responses(try await Curl.run(["-i", "-d", body, "\(url)/f"])).first)
        #expect(large.status == 413)
        #expect(large.value("Connection") == "close")

        let header = String(repeating: "h", count: 20_000)
        let fields = try #require(
            Curl.responses(try await Curl.run(["-i", "-H", "X-Big: \(header)", "\(url)/f"])).first)
        #expect(fields.status == 431)

        let escape = try #require(Curl.responses(try await Curl.run(["-i", "-d", "x", "\(url)/bad%zz"])).first)
        #expect(escape.status == 400)

        let connection = try http.connect()
        try connection.send("GET /f HTTP/1.1\r\nBad Header\r\n\r\n")
        let malformed = HTTPResponse.parseAll(try connection.receiveUntilClosed())
        #expect(malformed.map(\.status) == [400])

        let version = try http.connect()
        try version.send("GET /f HTTP/2.0\r\n\r\n")
        #expect(HTTPResponse.parseAll(try version.receiveUntilClosed()).map(\.status) == [505])

        // No job was submitted by any of the rejected requests.
        #expect(try http.adminFields("status", of: "f") == nil)
        let errors = http.server.logLines().filter { $0.contains(" ERROR ") && $0.contains("HTTP 400") }
        #expect(!errors.isEmpty, "the malformed request was not logged")
    }

    @Test func functionNameIsURLDecoded() async throws {
        let http = try await HTTPServer.start()
        defer { http.stop() }
        let result = try await Curl.run([
            "-H", "X-Gearman-Background: true", "-d", "x", "\(http.baseURL)/a%2Fb+c?ignored=1",
        ])
        #expect(result.termination == .exited(0), "curl: \(result.errorText)")
        #expect(try http.adminFields("status", of: "a/b+c")?[1] == "1")
    }

    @Test func expectContinueGetsInterimResponse() async throws {
        let http = try await HTTPServer.start()
        defer { http.stop() }
        let result = try await Curl.run([
            "-v", "-o", "/dev/null", "-H", "Expect: 100-continue", "-H", "X-Gearman-Background: true", "-d", "x",
            "\(http.baseURL)/f",
        ])
        #expect(result.errorText.contains("HTTP/1.1 100 Continue"), "curl -v: \(result.errorText)")
        #expect(try http.adminFields("status", of: "f")?[1] == "1")
    }

    @Test func idleConnectionIsClosed() async throws {
        let http = try await HTTPServer.start(arguments: ["--http-idle-timeout", "1"])
        defer { http.stop() }
        let clock = ContinuousClock()
        let start = clock.now
        let idle = try http.connect()
        #expect(try idle.receiveUntilClosed().isEmpty)
        #expect(clock.now - start < .seconds(4))

        let partial = try http.connect()
        try partial.send("GET /f HTTP/1.1\r\nHost: t\r\n")
        let responses = HTTPResponse.parseAll(try partial.receiveUntilClosed())
        #expect(responses.map(\.status) == [408])
    }

    @Test func clientLeavingDropsForegroundJob() async throws {
        let http = try await HTTPServer.start()
        defer { http.stop() }
        let client = try http.connect()
        try client.send("POST /gone HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx")
        try #require(try await http.waitForJobs(of: "gone", count: 1))
        Glibc.shutdown(client.fd, Int32(SHUT_RDWR))
        // `show jobs` lists handle, retries, ignored and background; the job waits ignored.
        let ignored = try await waitUntil(timeout: .seconds(10)) {
            try http.admin("show jobs").contains { $0.split(separator: "\t").dropFirst(2).first == "1" }
        }
        #expect(ignored, "show jobs: \((try? http.admin("show jobs")) ?? [])")

        // The next GRAB finds no job, because the server dropped the abandoned one.
        let worker = try await RawWorker(server: http, function: "gone")
        await #expect(throws: RawConnectionError.self) { _ = try await worker.grab(timeout: .milliseconds(500)) }
        #expect(try http.adminFields("status", of: "gone")?[1] == "0")
    }

    @Test func backgroundJobSurvivesRestartWithQueue() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let arguments = ["-q", "libsqlite3", "--libsqlite3-db", directory.file("queue.db").path]
        let first = try await HTTPServer.start(arguments: arguments)
        let result = try await Curl.run([
            "-i", "-H", "X-Gearman-Background: true", "-d", "kept", "\(first.baseURL)/stored",
        ])
        let response = try #require(Curl.responses(result).first, "curl: \(result.errorText)")
        #expect(response.value("X-Gearman-Command") == "JOB_CREATED")
        first.stop()

        let second = try await HTTPServer.start(arguments: arguments)
        defer { second.stop() }
        #expect(try second.adminFields("status", of: "stored")?[1] == "1")
        let worker = try await RawWorker(server: second, function: "stored")
        let job = try await worker.grab()
        #expect(job.workload == Array("kept".utf8))
    }
}
