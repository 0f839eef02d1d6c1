import GearmanKit
import Testing

@testable import GearmanServer

@Suite("HTTP routes")
struct HTTPRouteTests {
    static func request(
        _ method: String, _ target: String, fields: [(String, String)] = [], body: String = ""
    ) -> HTTPRequest {
        HTTPRequest(
            method: method, target: target, version: .http1_1, fields: fields.map { HTTPField($0.0, $0.1) },
            body: Array(body.utf8))
    }

    static func submission(_ request: HTTPRequest) -> HTTPJobSubmission? {
        if case .submit(let submission) = HTTPRoute.resolve(request) { return submission }
        return nil
    }

    static func rejection(_ request: HTTPRequest) -> (status: Int, allow: String?)? {
        if case .reject(let status, _, let allow) = HTTPRoute.resolve(request) { return (status.code, allow) }
        return nil
    }

    @Test("POST runs the function with the body")
    func postSubmits() throws {
        let submission = try #require(Self.submission(Self.request("POST", "/reverse", body: "hello")))
        #expect(submission.function == Array("reverse".utf8))
        #expect(submission.workload == Array("hello".utf8))
        #expect(submission.unique.isEmpty)
        #expect(submission.packet.type == .submitJob)
        #expect(submission.packet.arguments.map { Array($0) } == [Array("reverse".utf8), [], Array("hello".utf8)])
    }

    @Test("GET runs the function with an empty workload")
    func getSubmitsEmptyWorkload() throws {
        let submission = try #require(Self.submission(Self.request("GET", "/reverse", body: "ignored")))
        #expect(submission.workload.isEmpty)
    }

    @Test(
        "headers choose the packet type",
        arguments: [
            ([], PacketType.submitJob),
            ([("X-Gearman-Priority", "high")], .submitJobHigh),
            ([("X-Gearman-Priority", "LOW")], .submitJobLow),
            ([("X-Gearman-Priority", "normal")], .submitJob),
            ([("X-Gearman-Background", "true")], .submitJobBackground),
            ([("X-Gearman-Background", "false")], .submitJob),
            ([("X-Gearman-Background", "TRUE"), ("X-Gearman-Priority", "high")], .submitJobHighBackground),
            ([("x-gearman-background", "true"), ("x-gearman-priority", "low")], .submitJobLowBackground),
        ])
    func packetTypes(fields: [(String, String)], expected: PacketType) throws {
        let submission = try #require(Self.submission(Self.request("PUT", "/f", fields: fields)))
        #expect(submission.packet.type == expected)
    }

    // A name is measured after its percent escapes are decoded: `%66` is one byte, `f`.
    @Test("function name of 8192 bytes is accepted", arguments: ["f", "%66"])
    func functionNameAtLimit(ending: String) throws {
        let target = "/" + String(repeating: "f", count: 8191) + ending
        let submission = try #require(Self.submission(Self.request("POST", target)))
        #expect(submission.function == [UInt8](repeating: UInt8(ascii: "f"), count: 8192))
    }

    @Test("function name of 8193 bytes gets 414", arguments: ["ff", "%66%66"])
    func functionNameOverLimit(ending: String) {
        let target = "/" + String(repeating: "f", count: 8191) + ending
        let rejection = Self.rejection(Self.request("POST", target))
        #expect(rejection?.status == 414)
        #expect(rejection?.allow == nil)
    }

    @Test("first repeated job field counts")
    func repeatedFields() throws {
        let fields = [
            ("X-Gearman-Unique", "a"), ("x-gearman-unique", "b"), ("X-Gearman-Priority", "low"),
            ("X-Gearman-Priority", "high"),
        ]
        let submission = try #require(Self.submission(Self.request("POST", "/f", fields: fields)))
        #expect(submission.unique == Array("a".utf8))
        #expect(submission.priority == .low)
    }

    @Test("X-Gearman-Unique is passed as sent")
    func uniqueKey() throws {
        let submission = try #require(Self.submission(Self.request("POST", "/f", fields: [("X-Gearman-Unique", "-")])))
        #expect(submission.unique == [UInt8(ascii: "-")])
        #expect(submission.packet.argument(1) == [UInt8(ascii: "-")])
    }

    @Test(
        "function names are URL-decoded",
        arguments: [
            ("/a%2Fb", "a/b"), ("/a+b", "a+b"), ("/a%20b", "a b"), ("/f?x=1", "f"), ("//f", "/f"), ("/%e2%82%ac", "€"),
            ("http://example.com/f", "f"), ("HTTPS://example.com:8080/g?q", "g"),
        ])
    func functionNames(target: String, expected: String) throws {
        let submission = try #require(Self.submission(Self.request("POST", target)))
        #expect(submission.function == Array(expected.utf8))
    }

    @Test(
        "invalid requests are rejected",
        arguments: [
            ("POST", "/%zz", [(String, String)](), 400),
            ("POST", "/f%2", [], 400),
            ("POST", "/f%00", [], 400),
            ("POST", "f", [], 400),
            ("POST", "/", [], 404),
            ("PUT", "/?q=1", [], 404),
            ("POST", "/f", [("X-Gearman-Priority", "urgent")], 400),
            ("POST", "/f", [("X-Gearman-Background", "yes")], 400),
            ("POST", "/f", [("X-Gearman-Unique", String(repeating: "u", count: 65))], 400),
        ])
    func invalidRequests(method: String, target: String, fields: [(String, String)], status: Int) {
        let rejection = Self.rejection(Self.request(method, target, fields: fields))
        #expect(rejection?.status == status)
    }

    @Test("GET / serves the dashboard")
    func dashboardRoute() {
        #expect(HTTPRoute.resolve(Self.request("GET", "/")) == .endpoint(.dashboard, headOnly: false))
        #expect(HTTPRoute.resolve(Self.request("GET", "/?refresh=5")) == .endpoint(.dashboard, headOnly: false))
    }

    @Test("a 64-byte unique key is accepted")
    func longestUniqueKey() {
        let fields = [("X-Gearman-Unique", String(repeating: "u", count: 64))]
        #expect(Self.submission(Self.request("POST", "/f", fields: fields)) != nil)
    }

    @Test("unknown methods get 405 with Allow", arguments: ["DELETE", "HEAD", "TRACE", "OPTIONS", "PATCH"])
    func methodNotAllowed(method: String) {
        let rejection = Self.rejection(Self.request(method, "/f"))
        #expect(rejection?.status == 405)
        #expect(rejection?.allow == "GET, POST, PUT")
    }

    @Test("endpoints answer GET and HEAD")
    func endpoints() {
        for endpoint in HTTPEndpoint.allCases {
            #expect(HTTPRoute.resolve(Self.request("GET", endpoint.rawValue)) == .endpoint(endpoint, headOnly: false))
            #expect(HTTPRoute.resolve(Self.request("HEAD", endpoint.rawValue)) == .endpoint(endpoint, headOnly: true))
            #expect(
                HTTPRoute.resolve(Self.request("GET", endpoint.rawValue + "?x")) == .endpoint(endpoint, headOnly: false)
            )
            let rejection = Self.rejection(Self.request("DELETE", endpoint.rawValue))
            #expect(rejection?.status == 405)
            #expect(rejection?.allow == "GET, HEAD, POST, PUT")
        }
    }

    @Test("POST to an endpoint path runs that function")
    func postToEndpointPath() throws {
        let submission = try #require(Self.submission(Self.request("POST", "/status", body: "x")))
        #expect(submission.function == Array("status".utf8))
    }
}
