/// A response status code with its reason phrase from RFC 9110.
struct HTTPStatus: Sendable, Equatable {
    let code: Int
    let reason: String

    static let continueStatus = HTTPStatus(code: 100, reason: "Continue")
    static let ok = HTTPStatus(code: 200, reason: "OK")
    static let badRequest = HTTPStatus(code: 400, reason: "Bad Request")
    static let notFound = HTTPStatus(code: 404, reason: "Not Found")
    static let methodNotAllowed = HTTPStatus(code: 405, reason: "Method Not Allowed")
    static let requestTimeout = HTTPStatus(code: 408, reason: "Request Timeout")
    static let contentTooLarge = HTTPStatus(code: 413, reason: "Content Too Large")
    static let uriTooLong = HTTPStatus(code: 414, reason: "URI Too Long")
    static let expectationFailed = HTTPStatus(code: 417, reason: "Expectation Failed")
    static let headerFieldsTooLarge = HTTPStatus(code: 431, reason: "Request Header Fields Too Large")
    static let internalServerError = HTTPStatus(code: 500, reason: "Internal Server Error")
    static let notImplemented = HTTPStatus(code: 501, reason: "Not Implemented")
    static let serviceUnavailable = HTTPStatus(code: 503, reason: "Service Unavailable")
    static let versionNotSupported = HTTPStatus(code: 505, reason: "HTTP Version Not Supported")
}

/// A request the parser rejects. The connection responds with `status` and closes, because the
/// rest of its byte stream cannot be framed reliably.
struct HTTPRequestError: Error, Sendable, Equatable, CustomStringConvertible {
    let status: HTTPStatus
    /// A description of the fault, sent as the response body and logged.
    let message: String

    var description: String { "\(status.code) \(status.reason): \(message)" }

    static func badRequest(_ message: String) -> HTTPRequestError {
        HTTPRequestError(status: .badRequest, message: message)
    }
}
