/// The text of `GET /metrics` in the Prometheus text exposition format, version 0.0.4.
///
/// Per function: queued jobs by priority, running jobs and registered workers (the numbers of
/// the admin `status` and `prioritystatus` commands), counters of submitted, completed, failed,
/// exception and retried jobs, and histograms of queue wait and run time. Then the open
/// connections and the standard `process_*` metrics.
enum MetricsExposition {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    static func text(_ snapshot: ServerSnapshot, process: ProcessMetrics) -> String {
        var text = ""
        let priorities = ["high", "normal", "low"]
        family(&text, "gearman_jobs_queued", "gauge", "Jobs waiting for a worker, scheduled jobs included.")
        for row in snapshot.functions {
            for (index, priority) in priorities.enumerated() {
                text +=
                    "gearman_jobs_queued{function=\(label(row.name)),priority=\"\(priority)\"} \(row.queued[index])\n"
            }
        }
        family(&text, "gearman_jobs_running", "gauge", "Jobs assigned to a worker and not finished.")
        for row in snapshot.functions {
            text += "gearman_jobs_running{function=\(label(row.name))} \(row.running)\n"
        }
        family(&text, "gearman_workers", "gauge", "Worker registrations (CAN_DO) per function.")
        for row in snapshot.functions {
            text += "gearman_workers{function=\(label(row.name))} \(row.workers)\n"
        }

        let counters = snapshot.counters.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        let counterFamilies: [(name: String, help: String, value: (Metrics.FunctionCounters) -> UInt64)] = [
            (
                "gearman_jobs_submitted_total",
                "Jobs created by submissions; a submission that coalesced is not counted.", \.submitted
            ),
            ("gearman_jobs_completed_total", "Jobs whose worker sent WORK_COMPLETE.", \.completed),
            (
                "gearman_jobs_failed_total",
                "Jobs whose worker sent WORK_FAIL, and jobs dropped after --job-retries attempts.", \.failed
            ),
            ("gearman_jobs_exceptions_total", "Jobs whose worker sent WORK_EXCEPTION.", \.exceptions),
            ("gearman_jobs_retried_total", "Jobs taken back from a worker that disconnected or timed out.", \.retried),
        ]
        for counter in counterFamilies {
            family(&text, counter.name, "counter", counter.help)
            for (name, values) in counters {
                text += "\(counter.name){function=\(label(name))} \(counter.value(values))\n"
            }
        }
        let histograms: [(name: String, help: String, value: (Metrics.FunctionCounters) -> Metrics.Histogram)] = [
            ("gearman_job_queue_wait_seconds", "Time from entering the queue to being taken by a worker.", \.queueWait),
            (
                "gearman_job_run_seconds",
                "Time from being taken by a worker to WORK_COMPLETE, WORK_FAIL or WORK_EXCEPTION.", \.runTime
            ),
        ]
        for histogram in histograms {
            family(&text, histogram.name, "histogram", histogram.help)
            for (name, values) in counters {
                append(histogram.value(values), named: histogram.name, function: label(name), to: &text)
            }
        }

        family(&text, "gearman_connections", "gauge", "Open client, worker, admin and HTTP connections.")
        text += "gearman_connections \(snapshot.connections)\n"
        family(&text, "gearman_uptime_seconds", "gauge", "Time since the server started.")
        text += "gearman_uptime_seconds \(StatusDocument.formatSeconds(snapshot.uptimeSeconds))\n"
        family(&text, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.")
        text += "process_cpu_seconds_total \(process.cpuSeconds)\n"
        family(&text, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.")
        text += "process_resident_memory_bytes \(process.residentMemoryBytes)\n"
        family(&text, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.")
        text += "process_virtual_memory_bytes \(process.virtualMemoryBytes)\n"
        family(&text, "process_open_fds", "gauge", "Number of open file descriptors.")
        text += "process_open_fds \(process.openFileDescriptors)\n"
        family(&text, "process_max_fds", "gauge", "Maximum number of open file descriptors.")
        text += "process_max_fds \(process.maximumFileDescriptors)\n"
        family(&text, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.")
        text += "process_start_time_seconds \(process.startTimeSeconds)\n"
        return text
    }

    private static func family(_ text: inout String, _ name: String, _ type: String, _ help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    private static func append(
        _ histogram: Metrics.Histogram, named name: String, function: String, to text: inout String
    ) {
        let cumulative = histogram.cumulativeCounts
        for (index, bound) in Metrics.Histogram.boundLabels.enumerated() {
            text += "\(name)_bucket{function=\(function),le=\"\(bound)\"} \(cumulative[index])\n"
        }
        text += "\(name)_bucket{function=\(function),le=\"+Inf\"} \(histogram.count)\n"
        text += "\(name)_sum{function=\(function)} \(histogram.sum)\n"
        text += "\(name)_count{function=\(function)} \(histogram.count)\n"
    }

    /// Quotes a label value, escaping backslash, double quote and line feed as the format requires.
    static func label(_ bytes: [UInt8]) -> String {
        var result = "\""
        for character in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            switch character {
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            case "\n": result += "\\n"
            default: result.unicodeScalars.append(character)
            }
        }
        return result + "\""
    }
}
