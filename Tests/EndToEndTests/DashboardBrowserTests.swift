import Foundation
import ProcessTestSupport
import Testing

/// The web dashboard at `GET /` of our gearmand, loaded in Debian's headless Chromium.
@Suite(
    .enabled(if: HeadlessChromium.isInstalled, Comment(rawValue: HeadlessChromium.missingMessage)),
    .timeLimit(.minutes(2)))
struct DashboardBrowserTests {
    /// A function with queued jobs and no worker.
    static let queuedFunction = "dashboard.mail"
    /// A function with one worker, which runs one job.
    static let workerFunction = "dashboard.resize"
    static let workerClientID = "dashboard-test-worker"

    /// Packet type numbers beyond those in `PacketNumber`.
    enum ExtraPacketNumber {
        static let setClientID: UInt32 = 22  // SET_CLIENT_ID
        static let submitJobHighBackground: UInt32 = 32  // SUBMIT_JOB_HIGH_BG
        static let submitJobLowBackground: UInt32 = 34  // SUBMIT_JOB_LOW_BG
    }

    /// Our gearmand with the worker and client connections that the test keeps open until `stop()`.
    final class BusyServer {
        let http: HTTPServer
        let worker: RawWorker
        let client: RawConnection

        init(http: HTTPServer, worker: RawWorker, client: RawConnection) {
            self.http = http
            self.worker = worker
            self.client = client
        }

        func stop() {
            http.stop()
        }
    }

    /// Starts a server where `queuedFunction` has one high and two normal jobs queued, and a worker
    /// with a client ID runs the one job of `workerFunction`.
    static func startBusyServer() async throws -> BusyServer {
        let http = try await HTTPServer.start()
        do {
            let worker = try await RawWorker(server: http, function: workerFunction)
            try worker.connection.send(Wire.request(ExtraPacketNumber.setClientID, [workerClientID]))

            let client = try http.server.connect()
            try queueJob(of: workerFunction, type: PacketNumber.submitJobBackground, on: client)
            _ = try await worker.grab()
            try queueJob(of: queuedFunction, type: ExtraPacketNumber.submitJobHighBackground, on: client)
            try queueJob(of: queuedFunction, type: PacketNumber.submitJobBackground, on: client)
            try queueJob(of: queuedFunction, type: PacketNumber.submitJobBackground, on: client)
            return BusyServer(http: http, worker: worker, client: client)
        } catch {
            http.stop()
            throw error
        }
    }

    /// Submits a background job of `function` with a submit packet of `type` and waits for JOB_CREATED.
    static func queueJob(of function: String, type: UInt32, on client: RawConnection) throws {
        try client.send(Wire.request(type, [function, "", "workload"]))
        let reply = try client.receivePacket()
        try #require(reply.type == PacketNumber.jobCreated, "submitting a job of \(function) got \(reply.arguments)")
    }

    /// The cells of a function row: server, name, then the high, normal, low, running and
    /// workers counts.
    static func functionRow(_ server: String, _ name: String, _ counts: [Int]) -> [String] {
        [server, name] + counts.map(String.init)
    }

    /// Returns the HTML of a row of the functions table as the page builds it.
    static func functionRowHTML(_ server: String, _ name: String, _ counts: [Int]) -> String {
        let rowTag = counts[3] > 0 ? "<tr class=\"busy\">" : "<tr>"
        let numbers = counts.map { "<td class=\"number\">\($0)</td>" }.joined()
        return "\(rowTag)<td>\(server)</td><td>\(name)</td>\(numbers)</tr>"
    }

    /// Returns the text of each cell of each body row of the table with ID `table`.
    static func readRows(of table: String, in page: DevToolsPage) throws -> [[String]] {
        let json = try page.evaluate(
            """
            JSON.stringify([...document.querySelectorAll("#\(table) tbody tr")]
              .map(row => [...row.cells].map(cell => cell.textContent)))
            """)
        return try JSONDecoder().decode([[String]].self, from: Data(json.utf8))
    }

    /// Reads the rows of `table` every 100 ms until they equal `expected` or `timeout` passes,
    /// and returns the rows read last.
    static func waitForRows(
        of table: String, in page: DevToolsPage, toEqual expected: [[String]], timeout: Duration = .seconds(10)
    ) async throws -> [[String]] {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var rows = try readRows(of: table, in: page)
        while rows != expected && clock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            rows = try readRows(of: table, in: page)
        }
        return rows
    }

    @Test func dumpedDOMShowsFunctionsAndWorkers() async throws {
        let busy = try await Self.startBusyServer()
        defer { busy.stop() }
        let http = busy.http
        let chromium = try HeadlessChromium()
        defer { chromium.stop() }

        // The virtual time budget lets the page's first /status request finish before Chromium
        // dumps the DOM. Virtual time does not advance while a request is open, so a request that
        // the server never responds to keeps Chromium from dumping anything. The browser's own
        // GET /favicon.ico was such a request before the page named an icon.
        let result = try await chromium.run(
            ["--dump-dom", "--virtual-time-budget=3000"], url: "\(http.baseURL)/", timeout: .seconds(30))
        let timedOut = result.timedOut
        let termination = result.termination
        #expect(!timedOut, "chromium --dump-dom timed out; its log:\n\(chromium.logText())")
        #expect(termination == .exited(0), "chromium --dump-dom: \(result.errorText)")

        let dom = result.outputText
        let server = "127.0.0.1:\(http.httpPort)"
        let queuedRow = Self.functionRowHTML(server, Self.queuedFunction, [1, 2, 0, 0, 0])
        let workerRow = Self.functionRowHTML(server, Self.workerFunction, [0, 0, 0, 1, 1])
        let workersRow =
            "<tr><td>\(server)</td><td>127.0.0.1</td><td>\(Self.workerClientID)</td><td>\(Self.workerFunction)</td></tr>"
        #expect(dom.contains(queuedRow), "DOM:\n\(dom)")
        #expect(dom.contains(workerRow), "DOM:\n\(dom)")
        #expect(dom.contains(workersRow), "DOM:\n\(dom)")

        // Loading the page must queue no job: a browser's GET /favicon.ico would run one.
        let functions = try http.admin("status").map { $0.split(separator: "\t").first.map(String.init) ?? "" }
        #expect(functions.sorted() == [Self.queuedFunction, Self.workerFunction])
    }

    /// Checks one page instance through the DevTools protocol, so the update is the page's own
    /// refresh and not a reload. Loading the page twice with `--dump-dom` would not show that,
    /// and a virtual time budget cannot wait for a job that the test queues in real time.
    ///
    /// DevTools events also tell console errors from other console output. Chromium 156's
    /// `--enable-logging=stderr` log writes `console.log` and `console.error` alike as
    /// `INFO:CONSOLE` lines.
    @Test func livePageUpdatesWithoutConsoleErrors() async throws {
        let busy = try await Self.startBusyServer()
        defer { busy.stop() }
        let http = busy.http
        let chromium = try HeadlessChromium()
        defer { chromium.stop() }

        let page = try await chromium.startWithDevTools()
        // Enabled before the page loads, so errors raised while it loads are reported too.
        _ = try page.call("Runtime.enable")
        _ = try page.call("Log.enable")
        let navigation = try page.call("Page.navigate", ["url": "\(http.baseURL)/"])
        #expect(navigation["errorText"] == nil, "loading \(http.baseURL)/ failed: \(navigation)")

        let server = "127.0.0.1:\(http.httpPort)"
        let before = [
            Self.functionRow(server, Self.queuedFunction, [1, 2, 0, 0, 0]),
            Self.functionRow(server, Self.workerFunction, [0, 0, 0, 1, 1]),
        ]
        let initialRows = try await Self.waitForRows(of: "functions", in: page, toEqual: before)
        #expect(initialRows == before)
        let workers = try Self.readRows(of: "workers", in: page)
        #expect(workers == [[server, "127.0.0.1", Self.workerClientID, Self.workerFunction]])
        let figures = try page.evaluate(#"document.getElementById("servers").textContent"#)
        #expect(figures.contains("queued 3"), "server card: \(figures)")
        #expect(figures.contains("running 1"), "server card: \(figures)")

        // A reload would drop this variable, so finding it afterwards shows the same document.
        _ = try page.evaluate(#"window.dashboardTestMarker = "same document""#)
        try Self.queueJob(of: Self.queuedFunction, type: ExtraPacketNumber.submitJobLowBackground, on: busy.client)

        // The page refreshes every 2 s, so 10 s allows for a slow machine.
        let after = [
            Self.functionRow(server, Self.queuedFunction, [1, 2, 1, 0, 0]),
            Self.functionRow(server, Self.workerFunction, [0, 0, 0, 1, 1]),
        ]
        let updated = try await Self.waitForRows(of: "functions", in: page, toEqual: after)
        #expect(updated == after, "the page did not show the queued low-priority job")
        let updatedFigures = try page.evaluate(#"document.getElementById("servers").textContent"#)
        #expect(updatedFigures.contains("queued 4"), "server card: \(updatedFigures)")
        #expect(try page.evaluate("String(window.dashboardTestMarker)") == "same document")

        // The events cover the time from the load until the update, which spans at least two
        // refreshes of the page.
        #expect(page.errorMessages.isEmpty, "console errors:\n\(page.errorMessages.joined(separator: "\n"))")
    }

    @Test func screenshotIsKeptAsArtifact() async throws {
        let busy = try await Self.startBusyServer()
        defer { busy.stop() }
        let http = busy.http
        let chromium = try HeadlessChromium()
        defer { chromium.stop() }

        // .build is ignored by git, so the picture stays out of commits.
        let artifacts = TestPaths.packageRoot.appendingPathComponent(".build/test-artifacts")
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        let screenshot = artifacts.appendingPathComponent("dashboard.png")
        try? FileManager.default.removeItem(at: screenshot)

        let result = try await chromium.run(
            ["--screenshot=\(screenshot.path)", "--window-size=1280,900", "--virtual-time-budget=3000"],
            url: "\(http.baseURL)/", timeout: .seconds(30))
        let timedOut = result.timedOut
        let termination = result.termination
        #expect(!timedOut, "chromium --screenshot timed out; its log:\n\(chromium.logText())")
        #expect(termination == .exited(0), "chromium --screenshot: \(result.errorText)")

        let png = Array(try #require(FileManager.default.contents(atPath: screenshot.path), "no \(screenshot.path)"))
        try #require(png.count > 24, "\(screenshot.path) has only \(png.count) bytes")
        #expect(Array(png[0..<8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "no PNG signature")
        // The IHDR chunk comes first and starts with the width and height, big-endian.
        let width = png[16..<20].reduce(0) { $0 << 8 | Int($1) }
        let height = png[20..<24].reduce(0) { $0 << 8 | Int($1) }
        #expect(width == 1280)
        #expect(height == 900)
    }
}
