import GearmanKit

/// The observability endpoints served on the HTTP port.
enum HTTPEndpoint: String, Sendable, CaseIterable {
    /// A JSON document of functions, workers and server facts.
    case status = "/status"
    /// The Prometheus text exposition format.
    case metrics = "/metrics"
    /// A liveness check that returns `ok`.
    case healthz = "/healthz"
    /// The web dashboard page, which polls `/status`.
    case dashboard = "/"
}

/// A job to submit for an HTTP request, as a SUBMIT_JOB variant.
struct HTTPJobSubmission: Sendable, Equatable {
    let function: [UInt8]
    /// The unique key; empty means none, so the job never coalesces with another.
    let unique: [UInt8]
    let priority: JobPriority
    let isBackground: Bool
    let workload: [UInt8]

    /// The body length of `packet`, without building it: the function, the unique key and the
    /// workload, separated by two NUL bytes.
    var packetBodyLength: Int { function.count + 1 + unique.count + 1 + workload.count }

    /// The request packet the core handles, as a binary client would send it.
    var packet: Packet {
        let type: PacketType
        switch (priority, isBackground) {
        case (.high, false): type = .submitJobHigh
        case (.normal, false): type = .submitJob
        case (.low, false): type = .submitJobLow
        case (.high, true): type = .submitJobHighBackground
        case (.normal, true): type = .submitJobBackground
        case (.low, true): type = .submitJobLowBackground
        }
        return Packet(magic: .request, type: type, arguments: [function[...], unique[...], workload[...]])
    }
}

/// The outcome of routing a request: a job to run, an endpoint to serve, or a rejection.
enum HTTPRoute: Sendable, Equatable {
    case submit(HTTPJobSubmission)
    /// `headOnly` is set for HEAD, which gets the endpoint's head without its body.
    case endpoint(HTTPEndpoint, headOnly: Bool)
    /// An error response; `allow` lists the methods for a 405.
    case reject(HTTPStatus, message: String, allow: String?)

    static let jobMethods = "GET, POST, PUT"
    /// An endpoint path serves GET and HEAD, and runs the job of that name for POST and PUT.
    static let endpointMethods = "GET, HEAD, POST, PUT"

    /// Routes a request. GET and HEAD of an endpoint path serve the endpoint. GET, POST or PUT
    /// of any other path runs the job named by the URL-decoded path, with the body as workload
    /// for POST and PUT and an empty workload for GET.
    ///
    /// The `X-Gearman-Unique`, `X-Gearman-Background` and `X-Gearman-Priority` fields shape the
    /// job. Without `X-Gearman-Unique` the job never coalesces: the C gearmand uses `-`, which
    /// coalesces jobs with equal workloads.
    static func resolve(_ request: HTTPRequest) -> HTTPRoute {
        let path: String
        do throws(HTTPRequestError) {
            path = try Self.path(of: request.target)
        } catch {
            return .reject(error.status, message: error.message, allow: nil)
        }
        if let endpoint = HTTPEndpoint(rawValue: path) {
            switch request.method {
            case "GET": return .endpoint(endpoint, headOnly: false)
            case "HEAD": return .endpoint(endpoint, headOnly: true)
            case "POST", "PUT":
                // POST and PUT of an endpoint path run the function of that name, so every
                // function name stays reachable.
                break
            default:
                return .reject(
                    .methodNotAllowed,
                    message:
                        "\(request.method) is not allowed on \(path); use GET or HEAD, or POST or PUT to run a job.",
                    allow: endpointMethods)
            }
        }
        guard request.method == "POST" || request.method == "GET" || request.method == "PUT" else {
            return .reject(
                .methodNotAllowed,
                message: "\(request.method) is not allowed; use POST, PUT or GET /FUNCTION to run a job.",
                allow: jobMethods)
        }
        let function: [UInt8]
        do throws(HTTPRequestError) {
            function = try Self.functionName(fromPath: path)
        } catch {
            return .reject(error.status, message: error.message, allow: nil)
        }
        if function.isEmpty {
            return .reject(.notFound, message: "No function given: use /FUNCTION, such as POST /reverse.", allow: nil)
        }
        let nameLimit = FrameParser.maximumFunctionNameLength
        if function.count > nameLimit {
            let message = "The function name of \(function.count) bytes is longer than the limit of \(nameLimit) bytes."
            return .reject(.uriTooLong, message: message, allow: nil)
        }

        // Reads the three job fields in one pass. The first field of each name counts.
        var uniqueField: [UInt8]? = nil
        var priorityField: [UInt8]? = nil
        var backgroundField: [UInt8]? = nil
        for field in request.fields {
            switch field.name {
            case "x-gearman-unique": if uniqueField == nil { uniqueField = field.value }
            case "x-gearman-priority": if priorityField == nil { priorityField = field.value }
            case "x-gearman-background": if backgroundField == nil { backgroundField = field.value }
            default: break
            }
        }
        let unique = uniqueField ?? []
        if unique.count > JobCore.maximumUniqueLength {
            return .reject(
                .badRequest,
                message: "X-Gearman-Unique is \(unique.count) bytes; the limit is \(JobCore.maximumUniqueLength).",
                allow: nil)
        }
        var priority = JobPriority.normal
        if let text = priorityField.map({ String(decoding: $0, as: UTF8.self) }) {
            switch text.asciiLowercased() {
            case "high": priority = .high
            case "normal", "": priority = .normal
            case "low": priority = .low
            default:
                return .reject(
                    .badRequest, message: "Invalid X-Gearman-Priority '\(text)': use high, normal or low.", allow: nil)
            }
        }
        var isBackground = false
        if let text = backgroundField.map({ String(decoding: $0, as: UTF8.self) }) {
            switch text.asciiLowercased() {
            case "true": isBackground = true
            case "false", "": isBackground = false
            default:
                return .reject(
                    .badRequest, message: "Invalid X-Gearman-Background '\(text)': use true or false.", allow: nil)
            }
        }
        let workload = request.method == "GET" ? [] : request.body
        return .submit(
            HTTPJobSubmission(
                function: function, unique: unique, priority: priority, isBackground: isBackground, workload: workload))
    }

    /// Returns the path of a request target: the origin form as sent, or the path of an
    /// absolute-form URL, without its query string.
    static func path(of target: String) throws(HTTPRequestError) -> String {
        // Searches the usual origin form as bytes, because comparing Characters is much slower.
        let utf8 = target.utf8
        if utf8.first == UInt8(ascii: "/") {
            guard let query = utf8.firstIndex(of: UInt8(ascii: "?")) else { return target }
            return String(target[..<query])
        }
        var rest = Substring(target)
        if !rest.hasPrefix("/") {
            let lowered = rest.lowercased()
            guard lowered.hasPrefix("http://") || lowered.hasPrefix("https://") else {
                throw .badRequest("The request target '\(String(target.prefix(200)))' is not a path such as /reverse.")
            }
            rest = rest[rest.index(rest.firstIndex(of: ":")!, offsetBy: 3)...]
            rest = rest.firstIndex(of: "/").map { rest[$0...] } ?? "/"
        }
        if let query = rest.firstIndex(of: "?") {
            rest = rest[..<query]
        }
        return String(rest)
    }

    /// Decodes the function name from a path: the first `/` is dropped and `%XX` escapes are
    /// decoded, so `%2F` gives `/`; `+` stays `+`.
    static func functionName(fromPath path: String) throws(HTTPRequestError) -> [UInt8] {
        let bytes = Array(path.utf8.dropFirst())
        if !bytes.contains(UInt8(ascii: "%")) { return bytes }
        var name: [UInt8] = []
        name.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte != UInt8(ascii: "%") {
                name.append(byte)
                index += 1
                continue
            }
            guard index + 2 < bytes.count, let high = HTTPRequestParser.hexValue(bytes[index + 1]),
                let low = HTTPRequestParser.hexValue(bytes[index + 2])
            else {
                throw .badRequest("The path '\(String(path.prefix(200)))' has an invalid percent escape.")
            }
            let decoded = UInt8(high * 16 + low)
            if decoded == 0 {
                throw .badRequest("A function name cannot contain a NUL byte (%00).")
            }
            name.append(decoded)
            index += 3
        }
        return name
    }
}
