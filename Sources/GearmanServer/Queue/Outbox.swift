import GearmanKit

/// Packets and admin replies produced while the core lock is held, delivered after it is released.
///
/// Collecting output first keeps socket writes and cross-loop hand-offs out of the critical section.
struct Outbox {
    /// One piece of output for one connection.
    enum Output {
        case packet(Packet)
        case text([UInt8])
    }

    private(set) var items: [(connectionID: Int, loopIndex: Int, output: Output)] = []
    /// Whether an earlier timer deadline was set, so the timer loop must recompute its wait.
    var deadlineChanged = false

    mutating func send(_ packet: Packet, to session: Session) {
        items.append((session.connectionID, session.loopIndex, .packet(packet)))
    }

    mutating func send(_ type: PacketType, _ arguments: [ArraySlice<UInt8>], to session: Session) {
        send(Packet(magic: .response, type: type, arguments: arguments), to: session)
    }

    mutating func sendText(_ text: String, to session: Session) {
        items.append((session.connectionID, session.loopIndex, .text(Array(text.utf8))))
    }

    mutating func sendError(_ code: String, _ message: String, to session: Session) {
        send(.error, [Array(code.utf8)[...], Array(message.utf8)[...]], to: session)
    }

    /// Removes the items for which `shouldRemove` returns true, keeping the others in order.
    mutating func removeAll(where shouldRemove: ((connectionID: Int, loopIndex: Int, output: Output)) -> Bool) {
        items.removeAll(where: shouldRemove)
    }

    mutating func removeAll() {
        items.removeAll(keepingCapacity: true)
        deadlineChanged = false
    }
}
