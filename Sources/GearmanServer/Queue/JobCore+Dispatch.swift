import GearmanKit

extension JobCore {
    /// Handles one packet from `session` and queues every reply in `outbox`.
    func handle(_ packet: Packet, from session: Session, outbox: inout Outbox) -> Disposition {
        if packet.magic != .request {
            outbox.sendError("INVALID_MAGIC", "Request magic expected", to: session)
            return .close(reason: "sent a \\0RES packet (\(packet.type.protocolName)) to the server")
        }
        switch packet.type {
        case .submitJob: return submit(packet, priority: .normal, background: false, from: session, outbox: &outbox)
        case .submitJobHigh: return submit(packet, priority: .high, background: false, from: session, outbox: &outbox)
        case .submitJobLow: return submit(packet, priority: .low, background: false, from: session, outbox: &outbox)
        case .submitJobBackground:
            return submit(packet, priority: .normal, background: true, from: session, outbox: &outbox)
        case .submitJobHighBackground:
            return submit(packet, priority: .high, background: true, from: session, outbox: &outbox)
        case .submitJobLowBackground:
            return submit(packet, priority: .low, background: true, from: session, outbox: &outbox)
        case .submitJobEpoch:
            return submit(packet, priority: .normal, background: true, from: session, outbox: &outbox)
        case .submitReduceJob:
            return submit(packet, priority: .normal, background: false, from: session, outbox: &outbox)
        case .submitReduceJobBackground:
            return submit(packet, priority: .normal, background: true, from: session, outbox: &outbox)
        case .getStatus:
            sendStatus(handle: Self.leadingField(packet.argument(0)), to: session, outbox: &outbox)
        case .getStatusUnique:
            sendUniqueStatus(unique: Self.leadingField(packet.argument(0)), to: session, outbox: &outbox)
        case .optionRequest:
            setOption(packet.argument(0), for: session, outbox: &outbox)
        case .echoRequest:
            outbox.send(.echoResponse, [packet.argument(0)], to: session)
        case .setClientID:
            session.clientID = Array(packet.argument(0).prefix(Self.maximumClientIDLength))
        case .canDo:
            register(session, for: packet.argument(0), timeout: 0)
        case .canDoTimeout:
            register(session, for: packet.argument(0), timeout: Self.parseInteger(packet.argument(1)))
        case .cantDo:
            unregister(session, from: packet.argument(0))
        case .resetAbilities:
            resetAbilities(of: session)
        case .preSleep:
            preSleep(session, outbox: &outbox)
        case .grabJob, .grabJobUnique, .grabJobAll:
            grab(for: session, reply: packet.type, outbox: &outbox)
        case .workData, .workWarning, .workStatus, .workComplete, .workFail, .workException:
            workResult(packet, from: session, outbox: &outbox)
        case .unused, .allYours, .submitJobScheduled:
            reject(session, "INVALID_COMMAND", "Command not expected", outbox: &outbox)
        case .noop, .jobCreated, .noJob, .jobAssign, .echoResponse, .error, .statusResponse, .optionResponse,
            .jobAssignUnique, .jobAssignAll, .statusResponseUnique:
            outbox.sendError("INVALID_COMMAND", "Command not expected", to: session)
            return .close(reason: "sent the response type \(packet.type.protocolName) to the server")
        }
        return .keepOpen
    }

    /// Sends an ERROR packet that leaves the connection open, and logs it at WARNING, as
    /// gearmand 1.1 does. Errors that close the connection are logged with the close instead.
    func reject(_ session: Session, _ code: String, _ message: String, outbox: inout Outbox) {
        logger.warning(
            "rejected a packet from connection \(session.connectionID) (\(session.peerAddress)) with \(code): \(message)"
        )
        outbox.sendError(code, message, to: session)
    }

    /// The longest SET_CLIENT_ID kept, in bytes; gearmand truncates at about the same length.
    static let maximumClientIDLength = 128

    /// Parses a decimal integer the way atoi(3) does: leading blanks and a sign are allowed,
    /// parsing stops at the first non-digit, and no digits give 0.
    /// Returns the bytes before the first NUL. The argument of a one-argument packet such as
    /// GET_STATUS or WORK_FAIL is its whole body, but gearmand 1.1.20 reads such a handle or
    /// name only up to a NUL, and some client libraries end every argument with one.
    static func leadingField(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        guard let end = bytes.firstIndex(of: 0) else { return bytes }
        return bytes[..<end]
    }

    static func parseInteger(_ bytes: ArraySlice<UInt8>) -> Int {
        var index = bytes.startIndex
        while index < bytes.endIndex && (bytes[index] == 32 || bytes[index] == 9) { index += 1 }
        var negative = false
        if index < bytes.endIndex && (bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+")) {
            negative = bytes[index] == UInt8(ascii: "-")
            index += 1
        }
        var value = 0
        while index < bytes.endIndex, bytes[index] >= 48, bytes[index] <= 57 {
            let (product, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = product.addingReportingOverflow(Int(bytes[index] - 48))
            if overflow1 || overflow2 { return negative ? Int.min : Int.max }
            value = sum
            index += 1
        }
        return negative ? -value : value
    }
}
