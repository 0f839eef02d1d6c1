import GearmanKit

/// `gearman` without `-w`: builds one job per workload and function, runs them and prints what
/// the workers send back.
struct ClientMode {
    let options: GearmanOptions
    let servers: [ServerAddress]

    /// The workloads to send: the arguments, else standard input whole or line by line.
    func workloads() -> [[UInt8]] {
        if !options.operands.isEmpty {
            return options.operands.map { Array($0.utf8) }
        }
        if options.noInput {
            return [[]]
        }
        let input = Output.readAll(0)
        guard options.lines else { return [input] }
        return Self.splitLines(input, stripNewline: options.stripNewline)
    }

    /// Splits input into lines, keeping each newline unless `stripNewline`; a last line without
    /// a newline is kept whole.
    static func splitLines(_ input: [UInt8], stripNewline: Bool) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        var start = 0
        for index in input.indices where input[index] == UInt8(ascii: "\n") {
            lines.append(Array(input[start..<(stripNewline ? index : index + 1)]))
            start = index + 1
        }
        if start < input.count {
            lines.append(Array(input[start...]))
        }
        return lines
    }

    func run() -> Int32 {
        var requests: [JobRequest] = []
        for workload in workloads() {
            for function in options.functions {
                requests.append(
                    JobRequest(
                        function: function, workload: workload, unique: options.unique ?? JobRequest.randomUnique(),
                        priority: options.priority, background: options.background))
            }
        }
        let client = BlockingClient(servers: servers, timeout: options.timeout)
        var failed = false
        do {
            try client.run(
                requests,
                onServerFailure: { Output.error("gearman: \($0); trying the next server\n") },
                handler: { index, event in
                    if handle(event, function: requests[index].function) { failed = true }
                })
        } catch {
            Output.error("gearman: \(error)\n")
            return 1
        }
        return failed ? 1 : 0
    }

    /// Prints one event; returns true when it means the job failed.
    private func handle(_ event: JobEvent, function: String) -> Bool {
        let prefix: [UInt8] = options.prefix ? Array("\(function): ".utf8) : []
        switch event {
        case .created(let handle):
            if options.verbose { Output.write("Task created: \(handle)\n") }
        case .data(let bytes), .complete(let bytes):
            if !bytes.isEmpty { Output.write(prefix + bytes, to: 1) }
        case .warning(let bytes):
            Output.write(prefix + bytes, to: 2)
        case .status(let numerator, let denominator):
            let percent = denominator == 0 ? 0 : numerator * 100 / denominator
            Output.write(prefix + Array("\(percent)% Complete\n".utf8), to: 1)
        case .failure:
            Output.write(prefix + Array("Job failed\n".utf8), to: 2)
            return true
        case .exception(let bytes):
            Output.write(prefix + bytes, to: 2)
            if bytes.last != UInt8(ascii: "\n") && !bytes.isEmpty { Output.error("\n") }
            Output.write(prefix + Array("Job failed\n".utf8), to: 2)
            return true
        }
        return false
    }
}
