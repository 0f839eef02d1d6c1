import GearmanKit

/// `gearman` without `-w`: runs the workloads one after another in input order, each as one job
/// per function, and prints what the workers send back.
///
/// The jobs of a workload are submitted together and the next workload is read only when they
/// have finished (background jobs: when the server has created them). So a pipe of lines is
/// processed as the lines arrive. Foreground jobs of the same `-u` key do not coalesce with
/// each other, and at most one workload's jobs of this client wait in a queue limited with
/// `maxqueue`.
struct ClientMode {
    let options: GearmanOptions
    let servers: [ServerAddress]

    /// Returns the workloads to send, in order: the arguments, else standard input whole or line
    /// by line. In line mode, standard input is read only as far as the next line.
    func workloads() -> AnyIterator<[UInt8]> {
        if !options.operands.isEmpty {
            return AnyIterator(options.operands.map { Array($0.utf8) }.makeIterator())
        }
        if options.noInput {
            return AnyIterator([[UInt8]()].makeIterator())
        }
        guard options.lines else {
            return AnyIterator([Output.readAll(0)].makeIterator())
        }
        var reader = LineReader(fd: 0)
        let stripNewline = options.stripNewline
        return AnyIterator {
            guard var line = reader.nextLine() else { return nil }
            if stripNewline && line.last == UInt8(ascii: "\n") {
                line.removeLast()
            }
            return line
        }
    }

    /// Runs every workload and returns the exit status: 1 when a job failed or the server
    /// rejected a submission, or at once when the connection fails or times out.
    func run() -> Int32 {
        let client = BlockingClient(servers: servers, timeout: options.timeout)
        // Connected at the first workload, so input without lines needs no server.
        var session: BlockingClientSession? = nil
        defer { session?.close() }
        var failed = false
        for workload in workloads() {
            let requests = options.functions.map { function in
                JobRequest(
                    function: function, workload: workload, unique: options.unique ?? JobRequest.randomUnique(),
                    priority: options.priority, background: options.background)
            }
            do {
                let current =
                    try session
                    ?? client.openSession(
                        onServerFailure: { Output.error("gearman: \($0); trying the next server\n") })
                session = current
                try current.run(
                    requests,
                    onRejection: { _, error in
                        // A rejected submission, such as QUEUE_ERROR from a full queue, ends only
                        // its own job.
                        Output.error("gearman: \(error)\n")
                        failed = true
                    },
                    handler: { index, event in
                        if handle(event, function: requests[index].function) { failed = true }
                    })
            } catch {
                Output.error("gearman: \(error)\n")
                return 1
            }
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
