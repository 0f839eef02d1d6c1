/// One line of `status`: a function with its jobs, running jobs and workers.
public struct FunctionStatus: Sendable, Equatable {
    public var name: String
    /// Queued plus running jobs.
    public var total: Int
    public var running: Int
    /// Registered workers (a worker that registered the function twice counts twice).
    public var workers: Int

    public init(name: String, total: Int, running: Int, workers: Int) {
        self.name = name
        self.total = total
        self.running = running
        self.workers = workers
    }

    /// Parses a `status` line: `name TAB total TAB running TAB workers`.
    public init?(line: String) {
        let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 4, let total = Int(fields[1]), let running = Int(fields[2]), let workers = Int(fields[3])
        else { return nil }
        self.init(name: fields[0], total: total, running: running, workers: workers)
    }
}

/// One line of `prioritystatus`: a function with its queued jobs per priority.
public struct FunctionPriorityStatus: Sendable, Equatable {
    public var name: String
    public var high: Int
    public var normal: Int
    public var low: Int
    public var workers: Int

    public init?(line: String) {
        let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 5, let high = Int(fields[1]), let normal = Int(fields[2]), let low = Int(fields[3]),
            let workers = Int(fields[4])
        else { return nil }
        name = fields[0]
        self.high = high
        self.normal = normal
        self.low = low
        self.workers = workers
    }
}

/// One line of `workers`: a connection with its address, client ID and functions.
public struct WorkerInfo: Sendable, Equatable {
    /// The server-side file descriptor of the connection.
    public var fd: Int
    public var address: String
    public var clientID: String
    public var functions: [String]

    /// Parses `fd address client-id : function function …`.
    public init?(line: String) {
        guard let colon = line.range(of: " :") else { return nil }
        let head = line[..<colon.lowerBound].split(separator: " ", maxSplits: 2).map(String.init)
        guard head.count == 3, let fd = Int(head[0]) else { return nil }
        self.fd = fd
        address = head[1]
        clientID = head[2]
        functions = line[colon.upperBound...].split(separator: " ").map(String.init)
    }
}

/// One line of `show jobs`.
public struct JobInfo: Sendable, Equatable {
    public var handle: String
    /// Attempts a worker took the job and lost it.
    public var retries: Int
    /// Whether the job is abandoned or cancelled and will be discarded.
    public var isIgnored: Bool
    /// Whether the job is a background job (kept in the persistent queue when one is configured).
    public var isPersistent: Bool

    public init?(line: String) {
        let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 4, let retries = Int(fields[1]) else { return nil }
        handle = fields[0]
        self.retries = retries
        isIgnored = fields[2] == "1"
        isPersistent = fields[3] == "1"
    }
}

extension String {
    fileprivate func range(of needle: String) -> Range<String.Index>? {
        var index = startIndex
        while index < endIndex {
            if self[index...].hasPrefix(needle) {
                return index..<self.index(index, offsetBy: needle.count)
            }
            index = self.index(after: index)
        }
        return nil
    }
}
