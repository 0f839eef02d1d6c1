import CGearmanSystem

#if canImport(Glibc)
    import Glibc
#endif

/// The standard `process_*` metrics of a Prometheus client, read from Linux's /proc.
struct ProcessMetrics: Sendable, Equatable {
    /// User plus system CPU time, from getrusage(2).
    var cpuSeconds: Double
    var residentMemoryBytes: Int
    var virtualMemoryBytes: Int
    var openFileDescriptors: Int
    /// The soft RLIMIT_NOFILE.
    var maximumFileDescriptors: Int
    /// The Unix time the process started, from /proc/self/stat and the boot time in /proc/stat.
    var startTimeSeconds: Double

    /// Reads the metrics of this process; a value that cannot be read is 0.
    static func current() -> ProcessMetrics {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let cpu =
            Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1_000_000 + Double(usage.ru_stime.tv_sec)
            + Double(usage.ru_stime.tv_usec) / 1_000_000
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)

        let stat = parseStat(readFile("/proc/self/stat"))
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        var startTime = 0.0
        if let startTicks = stat?.startTicks, let bootTime, ticksPerSecond > 0 {
            startTime = Double(bootTime) + Double(startTicks) / ticksPerSecond
        }
        return ProcessMetrics(
            cpuSeconds: cpu, residentMemoryBytes: (stat?.residentPages ?? 0) * pageSize,
            virtualMemoryBytes: stat?.virtualBytes ?? 0, openFileDescriptors: countOpenFileDescriptors(),
            maximumFileDescriptors: Int(clamping: limit.rlim_cur),
            startTimeSeconds: startTime)
    }

    /// Parses the fields of /proc/PID/stat that follow the command name in parentheses, which
    /// may itself contain spaces: starttime (field 22), vsize (23) and rss (24, in pages).
    static func parseStat(_ text: String) -> (startTicks: Int, virtualBytes: Int, residentPages: Int)? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state), so field N is fields[N - 3].
        guard fields.count > 21, let start = Int(fields[19]), let virtual = Int(fields[20]),
            let resident = Int(fields[21])
        else { return nil }
        return (start, virtual, resident)
    }

    /// The boot time in Unix seconds, read once because it never changes.
    static let bootTime: Int? = parseBootTime(readFile("/proc/stat"))

    /// Parses the `btime` line of /proc/stat: the boot time in Unix seconds.
    static func parseBootTime(_ text: String) -> Int? {
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Int(line.dropFirst(6).trimmingBlanks())
        }
        return nil
    }

    /// Counts the entries of /proc/self/fd, less the descriptor that reads the directory.
    static func countOpenFileDescriptors() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { name in
                name[0] == UInt8(ascii: ".") && (name[1] == 0 || (name[1] == UInt8(ascii: ".") && name[2] == 0))
            }
            if !isDot { count += 1 }
        }
        return max(0, count - 1)
    }

    static func readFile(_ path: String) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return "" }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { break }
            bytes += buffer[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
