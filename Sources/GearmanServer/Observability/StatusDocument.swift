/// The JSON document of `GET /status`.
///
/// ```json
/// {"version":"0.1.0","uptime_seconds":12.5,"connections":3,
///  "functions":[{"name":"reverse","jobs":3,"queued":{"high":0,"normal":2,"low":0},"running":1,"workers":1}],
///  "workers":[{"fd":12,"address":"127.0.0.1","client_id":"-","functions":["reverse"]}]}
/// ```
///
/// `jobs`, `running` and `workers` of a function are the three numbers of its admin `status`
/// line, and `queued` contains the three of its `prioritystatus` line.
enum StatusDocument {
    static func json(_ snapshot: ServerSnapshot) -> String {
        var text = "{\"version\":\(quoted(snapshot.version))"
        text += ",\"uptime_seconds\":\(formatSeconds(snapshot.uptimeSeconds))"
        text += ",\"connections\":\(snapshot.connections)"
        text += ",\"functions\":["
        for (index, row) in snapshot.functions.enumerated() {
            if index > 0 { text += "," }
            text += "{\"name\":\(quoted(row.name)),\"jobs\":\(row.jobs)"
            text += ",\"queued\":{\"high\":\(row.queued[0]),\"normal\":\(row.queued[1]),\"low\":\(row.queued[2])}"
            text += ",\"running\":\(row.running),\"workers\":\(row.workers)}"
        }
        text += "],\"workers\":["
        for (index, worker) in snapshot.workers.enumerated() {
            if index > 0 { text += "," }
            text +=
                "{\"fd\":\(worker.fd),\"address\":\(quoted(worker.address)),\"client_id\":\(quoted(worker.clientID))"
            text += ",\"functions\":[\(worker.functions.map(quoted).joined(separator: ","))]}"
        }
        return text + "]}\n"
    }

    /// Formats seconds with millisecond precision, such as `12.345`.
    static func formatSeconds(_ seconds: Double) -> String {
        let milliseconds = Int((seconds * 1000).rounded())
        let fraction = String(milliseconds % 1000)
        return "\(milliseconds / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }

    static func quoted(_ bytes: [UInt8]) -> String {
        quoted(String(decoding: bytes, as: UTF8.self))
    }

    /// Encodes a JSON string literal; bytes that are not valid UTF-8 became U+FFFD before this.
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }
}
