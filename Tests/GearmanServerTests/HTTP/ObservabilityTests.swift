import GearmanKit
import Testing

@testable import GearmanServer

@Suite("Metrics kept by the core")
struct CoreMetricsTests {
    /// Makes a harness whose metrics clock follows the harness clock, in nanoseconds.
    static func harness(_ configure: (inout ServerConfiguration) -> Void = { _ in }) -> CoreHarness {
        let harness = CoreHarness(configure)
        harness.core.metrics.clock = { [unowned harness] in harness.now * 1_000_000 }
        return harness
    }

    @Test("outcomes are counted per function")
    func outcomes() {
        let harness = Self.harness()
        let client = harness.connect()
        client.wantsExceptions = true
        let worker = harness.sleepingWorker("f")
        for _ in 0..<3 { harness.submit(client, "f") }
        // A submission with the unique key of a queued job coalesces and is not counted.
        harness.submit(client, "f", unique: "u")
        harness.submit(client, "f", unique: "u")

        for result in [PacketType.workComplete, .workFail, .workException] {
            let job = harness.grab(worker)!
            harness.send(worker, result, job.handle, "r")
        }
        let counters = harness.core.metrics.functions[Array("f".utf8)]
        #expect(counters?.submitted == 4)
        #expect(counters?.completed == 1)
        #expect(counters?.failed == 1)
        #expect(counters?.exceptions == 1)
        #expect(counters?.retried == 0)
        #expect(counters?.runTime.count == 3)
        #expect(counters?.queueWait.count == 3)
    }

    @Test("queue wait and run time use the clock")
    func durations() {
        let harness = Self.harness()
        let client = harness.connect()
        let worker = harness.sleepingWorker("f")
        harness.submit(client, "f")
        harness.now += 30
        let job = harness.grab(worker)!
        harness.now += 2_000
        harness.send(worker, .workComplete, job.handle, "r")

        let counters = harness.core.metrics.functions[Array("f".utf8)]!
        #expect(counters.queueWait.sum == 0.03)
        #expect(counters.queueWait.cumulativeCounts[Metrics.Histogram.boundLabels.firstIndex(of: "0.025")!] == 0)
        #expect(counters.queueWait.cumulativeCounts[Metrics.Histogram.boundLabels.firstIndex(of: "0.05")!] == 1)
        #expect(counters.runTime.sum == 2)
        #expect(counters.runTime.cumulativeCounts[Metrics.Histogram.boundLabels.firstIndex(of: "1")!] == 0)
        #expect(counters.runTime.cumulativeCounts[Metrics.Histogram.boundLabels.firstIndex(of: "2.5")!] == 1)
        #expect(counters.runTime.cumulativeCounts.last == 1)
    }

    @Test("retries and drops are counted")
    func retries() {
        let harness = Self.harness { $0.jobRetries = 2 }
        let client = harness.connect()
        harness.submit(client, "f")
        for _ in 0..<2 {
            let worker = harness.sleepingWorker("f")
            #expect(harness.grab(worker) != nil)
            harness.disconnect(worker)
        }
        let counters = harness.core.metrics.functions[Array("f".utf8)]
        #expect(counters?.retried == 2)
        #expect(counters?.failed == 1)
        #expect(counters?.completed == 0)
    }

    @Test("snapshot matches the admin status")
    func snapshotMatchesStatus() {
        let harness = Self.harness()
        let client = harness.connect()
        let worker = harness.sleepingWorker("f", "g")
        harness.submit(client, "f", type: .submitJobHigh)
        harness.submit(client, "f", type: .submitJobLow)
        harness.submit(client, "f")
        _ = harness.grab(worker)
        let admin = harness.connect()
        let status = harness.admin(admin, "status")

        let snapshot = harness.core.snapshot(uptimeSeconds: 1)
        var lines: [String] = []
        for row in snapshot.functions {
            lines.append("\(String(decoding: row.name, as: UTF8.self))\t\(row.jobs)\t\(row.running)\t\(row.workers)")
        }
        #expect(lines.joined(separator: "\n") + "\n.\n" == status)
        #expect(snapshot.functions.first?.queued == [0, 1, 1])
        #expect(snapshot.workers.count == 1)
        #expect(snapshot.workers.first?.functions == [Array("g".utf8), Array("f".utf8)])
        #expect(snapshot.connections == 3)
    }
}

@Suite("Status and metrics formats")
struct ObservabilityFormatTests {
    static func snapshot() -> ServerSnapshot {
        var counters = Metrics.FunctionCounters()
        counters.submitted = 5
        counters.completed = 4
        counters.queueWait.observe(seconds: 0.002)
        counters.queueWait.observe(seconds: 400)
        return ServerSnapshot(
            version: "0.1.0", uptimeSeconds: 12.3456, connections: 2,
            functions: [
                ServerSnapshot.FunctionRow(name: Array("re\"v\\erse".utf8), queued: [1, 2, 3], running: 1, workers: 2)
            ],
            workers: [
                ServerSnapshot.WorkerRow(
                    fd: 9, address: "::1", clientID: Array("id\n1".utf8), functions: [Array("f".utf8)])
            ],
            counters: [Array("f".utf8): counters])
    }

    @Test("status JSON")
    func statusJSON() {
        let expected =
            #"{"version":"0.1.0","uptime_seconds":12.346,"connections":2,"functions":[{"name":"re\"v\\erse","jobs":7,"#
            + #""queued":{"high":1,"normal":2,"low":3},"running":1,"workers":2}],"workers":[{"fd":9,"address":"::1","#
            + #""client_id":"id\n1","functions":["f"]}]}"# + "\n"
        #expect(StatusDocument.json(Self.snapshot()) == expected)
    }

    @Test("JSON escapes control characters")
    func jsonEscaping() {
        #expect(StatusDocument.quoted("a\u{1}b\tc") == #""a\u0001b\tc""#)
        #expect(StatusDocument.formatSeconds(0.0004) == "0.000")
        #expect(StatusDocument.formatSeconds(61.05) == "61.050")
    }

    @Test("metrics exposition")
    func exposition() {
        let process = ProcessMetrics(
            cpuSeconds: 1.5, residentMemoryBytes: 4096, virtualMemoryBytes: 8192, openFileDescriptors: 7,
            maximumFileDescriptors: 1024, startTimeSeconds: 1_700_000_000)
        let text = MetricsExposition.text(Self.snapshot(), process: process)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.contains(#"gearman_jobs_queued{function="re\"v\\erse",priority="high"} 1"#))
        #expect(lines.contains(#"gearman_jobs_queued{function="re\"v\\erse",priority="low"} 3"#))
        #expect(lines.contains(#"gearman_jobs_running{function="re\"v\\erse"} 1"#))
        #expect(lines.contains(#"gearman_workers{function="re\"v\\erse"} 2"#))
        #expect(lines.contains(#"gearman_jobs_submitted_total{function="f"} 5"#))
        #expect(lines.contains(#"gearman_jobs_completed_total{function="f"} 4"#))
        #expect(lines.contains(#"gearman_job_queue_wait_seconds_bucket{function="f",le="0.001"} 0"#))
        #expect(lines.contains(#"gearman_job_queue_wait_seconds_bucket{function="f",le="0.0025"} 1"#))
        #expect(lines.contains(#"gearman_job_queue_wait_seconds_bucket{function="f",le="300"} 1"#))
        #expect(lines.contains(#"gearman_job_queue_wait_seconds_bucket{function="f",le="+Inf"} 2"#))
        #expect(lines.contains(#"gearman_job_queue_wait_seconds_count{function="f"} 2"#))
        #expect(lines.contains("gearman_connections 2"))
        #expect(lines.contains("process_open_fds 7"))
        #expect(lines.contains("process_resident_memory_bytes 4096"))
        #expect(lines.contains("# TYPE gearman_job_run_seconds histogram"))
        // Every family has one HELP and one TYPE line.
        let types = lines.filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
        #expect(Set(types).count == types.count)
    }

    @Test("process metrics read /proc")
    func processMetrics() {
        let metrics = ProcessMetrics.current()
        #expect(metrics.residentMemoryBytes > 0)
        #expect(metrics.virtualMemoryBytes >= metrics.residentMemoryBytes)
        #expect(metrics.openFileDescriptors >= 3)
        #expect(metrics.maximumFileDescriptors >= metrics.openFileDescriptors)
        #expect(metrics.startTimeSeconds > 1_600_000_000)
        #expect(metrics.cpuSeconds > 0)
    }

    @Test("stat line with spaces in the command name")
    func statParsing() {
        let line = "123 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 555 4096 77 rest"
        let parsed = ProcessMetrics.parseStat(line)
        #expect(parsed?.startTicks == 555)
        #expect(parsed?.virtualBytes == 4096)
        #expect(parsed?.residentPages == 77)
        #expect(ProcessMetrics.parseBootTime("cpu 1 2\nbtime 1700000000\nprocesses 5\n") == 1_700_000_000)
    }
}
