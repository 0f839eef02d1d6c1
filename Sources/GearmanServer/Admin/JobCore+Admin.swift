import GearmanKit

#if canImport(Glibc)
    import Glibc
#endif

extension JobCore {
    /// The maximum number of tokens on an admin line; gearmand closes the connection on more.
    static let maximumAdminTokens = 5

    /// Handles one admin text line and queues the reply, formatted byte for byte as gearmand's.
    func handleAdmin(_ line: [UInt8], from session: Session, outbox: inout Outbox) -> Disposition {
        let tokens = Self.tokenize(line)
        if tokens.count > Self.maximumAdminTokens {
            outbox.sendText("ERR TOO_MANY_ARGS More+than+5+arguments+in+an+admin+command\r\n", to: session)
            return .close(reason: "sent an admin command with more than \(Self.maximumAdminTokens) arguments")
        }
        let command = tokens.first.map { String(decoding: $0, as: UTF8.self) } ?? ""
        switch command.lowercased() {
        case "workers":
            outbox.sendText(workersReport(), to: session)
        case "status":
            outbox.sendText(statusReport(), to: session)
        case "prioritystatus":
            outbox.sendText(priorityStatusReport(), to: session)
        case "maxqueue":
            outbox.sendText(setMaxQueue(tokens), to: session)
        case "show":
            outbox.sendText(show(tokens), to: session)
        case "cancel":
            if tokens.count < 3 {
                outbox.sendText(Self.unknownCommand(command), to: session)
            } else if tokens.count > 3 || String(decoding: tokens[1], as: UTF8.self).lowercased() != "job" {
                outbox.sendText("ERR UNKNOWN_ERROR\r\n", to: session)
            } else if cancel(handle: tokens[2][...], outbox: &outbox) {
                outbox.sendText("OK\r\n", to: session)
            } else {
                outbox.sendText("ERR UNKNOWN_JOB\r\n", to: session)
            }
        case "create":
            let limit = FrameParser.maximumFunctionNameLength
            if tokens.count == 3, tokens[2].count > limit {
                outbox.sendText("ERR ARGUMENT_TOO_LARGE Function+name+longer+than+\(limit)+bytes\r\n", to: session)
                let reason =
                    "sent create function with a name of \(tokens[2].count) bytes, over the maximum of \(limit)"
                return .close(reason: reason)
            }
            outbox.sendText(createFunction(tokens), to: session)
        case "drop":
            outbox.sendText(dropFunction(tokens), to: session)
        case "getpid":
            outbox.sendText("OK \(getpid())\n", to: session)
        case "verbose":
            outbox.sendText("OK \(logger.level.name)\n", to: session)
        case "version":
            outbox.sendText("OK \(configuration.version)\n", to: session)
        case "shutdown" where configuration.enableAdminShutdown:
            let graceful = tokens.count > 1 && String(decoding: tokens[1], as: UTF8.self).lowercased() == "graceful"
            outbox.sendText("OK\r\n", to: session)
            logger.notice(
                "shutdown\(graceful ? " graceful" : "") requested by admin connection from \(session.peerAddress)")
            return .shutdown(graceful: graceful)
        default:
            outbox.sendText(Self.unknownCommand(command), to: session)
        }
        return .keepOpen
    }

    /// Splits an admin line at runs of spaces. As in gearmand 1.1.20, a leading space gives an
    /// empty first token and a trailing space an empty last one, so `show jobs ` is not
    /// `show jobs` and `cancel job ` looks up an empty handle.
    static func tokenize(_ line: [UInt8]) -> [[UInt8]] {
        let space = UInt8(ascii: " ")
        var tokens: [[UInt8]] = []
        if line.first == space { tokens.append([]) }
        for piece in line.split(separator: space, omittingEmptySubsequences: true) {
            tokens.append(Array(piece))
        }
        if line.last == space && line.contains(where: { $0 != space }) { tokens.append([]) }
        return tokens
    }

    static func asciiLowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
    }

    static func unknownCommand(_ name: String) -> String {
        "ERR UNKNOWN_COMMAND Unknown+server+command\(name)\r\n"
    }

    static func invalidArguments(_ name: String) -> String {
        "ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+\(name)\r\n"
    }

    // MARK: Reports

    // Reports are built as bytes, because function names, client ids and unique keys are
    // bytes that need not be UTF-8. gearmand 1.1 prints them unchanged.

    func workersReport() -> [UInt8] {
        var report: [UInt8] = []
        for session in sessions.values.sorted(by: { $0.fd < $1.fd }) {
            report += Array("\(session.fd) \(session.peerAddress) ".utf8)
            report += session.clientID
            report += Array(" :".utf8)
            for ability in session.abilities.reversed() {
                report.append(UInt8(ascii: " "))
                report += ability.function.name
            }
            report.append(UInt8(ascii: "\n"))
        }
        return report + Array(".\n".utf8)
    }

    func statusReport() -> [UInt8] {
        var report: [UInt8] = []
        for function in functionOrder {
            report += function.name
            report += Array("\t\(function.total)\t\(function.running)\t\(function.registrations)\n".utf8)
        }
        return report + Array(".\n".utf8)
    }

    func priorityStatusReport() -> [UInt8] {
        var report: [UInt8] = []
        for function in functionOrder {
            report += function.name
            report += Array("\t\(function.waiting(.high))\t\(function.waiting(.normal))".utf8)
            report += Array("\t\(function.waiting(.low))\t\(function.registrations)\n".utf8)
        }
        return report + Array(".\n".utf8)
    }

    func show(_ tokens: [[UInt8]]) -> [UInt8] {
        let words = tokens.map { String(decoding: $0, as: UTF8.self).lowercased() }
        if words.count == 1 { return Array(Self.unknownCommand("show").utf8) }
        if words.count == 2 && words[1] == "jobs" {
            var report = ""
            for job in jobs.values.sorted(by: { $0.number < $1.number }) {
                let handle = String(decoding: handle(of: job), as: UTF8.self)
                report +=
                    "\(handle)\t\(job.retries)\t\(job.isIgnored ? 1 : 0)\t\(job.isBackground && !job.isCancelled ? 1 : 0)\n"
            }
            return Array((report + ".\n").utf8)
        }
        if words.count == 3 && words[1] == "unique" && words[2] == "jobs" {
            var report: [UInt8] = []
            for job in jobs.values.sorted(by: { $0.number < $1.number }) {
                report += job.unique
                report.append(UInt8(ascii: "\n"))
            }
            return report + Array(".\n".utf8)
        }
        return Array("ERR UNKNOWN_SHOW_ARGUMENTS\r\n".utf8)
    }

    // MARK: Changes

    func setMaxQueue(_ tokens: [[UInt8]]) -> String {
        guard tokens.count >= 2 else { return Self.invalidArguments("maxqueue") }
        let limits = tokens.dropFirst(2).map { max(0, Self.parseInteger($0[...])) }
        guard let function = functions[tokens[1]] else { return "OK\r\n" }
        switch limits.count {
        case 0: function.maxQueue = [0, 0, 0]
        case 1: function.maxQueue = [limits[0], limits[0], limits[0]]
        case 2: function.maxQueue = [limits[0], limits[1], 0]
        default: function.maxQueue = [limits[0], limits[1], limits[2]]
        }
        return "OK\r\n"
    }

    func createFunction(_ tokens: [[UInt8]]) -> String {
        // gearmand 1.1.20 creates a function with an empty name for `create function ` and
        // crashes when that line ends with a bare newline, so an empty name is rejected here.
        guard tokens.count == 3, String(decoding: tokens[1], as: UTF8.self).lowercased() == "function",
            !tokens[2].isEmpty
        else {
            return Self.invalidArguments("create")
        }
        _ = function(named: tokens[2][...])
        return "OK\r\n"
    }

    /// Handles `drop function`: refuses while workers, running jobs or queued jobs remain, so no
    /// queued job is ever left without a function. Jobs cancelled or abandoned by their clients
    /// do not count: they are removed first, since no worker would ever run them.
    func dropFunction(_ tokens: [[UInt8]]) -> String {
        guard tokens.count == 3, String(decoding: tokens[1], as: UTF8.self).lowercased() == "function" else {
            return Self.invalidArguments("drop")
        }
        // gearmand 1.1 compares the name without regard to ASCII case, byte by byte, and drops
        // every function that matches. Function names are case-sensitive everywhere else, so a
        // function of exactly this name is the one dropped, and only one is dropped.
        let requestedName = tokens[2].map(Self.asciiLowercased)
        let exactMatch = functionOrder.first { $0.name.elementsEqual(tokens[2]) }
        guard
            let function = exactMatch
                ?? functionOrder.first(where: { $0.name.map(Self.asciiLowercased) == requestedName })
        else {
            return "ERR function not found\r\n"
        }
        if function.registrations > 0 || function.running > 0 {
            return "ERR there are still connected workers or executing clients\r\n"
        }
        removeIgnoredJobs(of: function)
        if function.total > 0 {
            return "ERR there are still queued jobs\r\n"
        }
        removeFunction(function)
        return "OK\r\n"
    }

    /// Removes the queued and scheduled jobs of `function` that are ignored (cancelled, or left
    /// by their last foreground client), which a worker would otherwise drop when it took them.
    private func removeIgnoredJobs(of function: FunctionQueue) {
        discardQueuedJobs(of: function, where: \.isIgnored)
        let scheduled = jobs.values.filter { job in
            guard job.function === function, job.isIgnored, case .scheduled = job.state else { return false }
            return true
        }
        for job in scheduled { discard(job) }
    }
}
