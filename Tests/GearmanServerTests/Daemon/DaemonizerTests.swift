import Testing

@testable import GearmanServer

/// The parts of `gearmand --daemon` that run without forking the test process.
struct DaemonizerTests {
    @Test func threadCountSeesTestThreads() {
        // Swift Testing runs tests on a thread pool, so this process has several threads.
        #expect(Daemonizer.threadCount() > 1)
    }

    @Test func startRefusesWithThreads() throws {
        // The guard against forking a test process: without a second thread this would fork.
        try #require(Daemonizer.threadCount() > 1)
        guard case .failed(let message) = Daemonizer.start() else {
            Issue.record("Daemonizer.start() forked a process with several threads")
            return
        }
        #expect(message.contains("threads run already"), "message: \(message)")
    }

    @Test(arguments: [DaemonReadiness.Report.ready, .failed("user 'x' not found"), .failed("")])
    func reportRoundTrip(_ report: DaemonReadiness.Report) {
        #expect(DaemonReadiness.Report(bytes: report.bytes) == report)
    }

    @Test func emptyPipeIsNoReport() {
        #expect(DaemonReadiness.Report(bytes: []) == nil)
    }
}
