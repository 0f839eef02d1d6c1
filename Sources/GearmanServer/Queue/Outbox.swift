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
        sendText(Array(text.utf8), to: session)
    }

    mutating func sendText(_ bytes: [UInt8], to session: Session) {
        items.append((session.connectionID, session.loopIndex, .text(bytes)))
    }

    mutating func sendError(_ code: String, _ message: String, to session: Session) {
        send(.error, [Array(code.utf8)[...], Array(message.utf8)[...]], to: session)
    }

    /// For each connection whose replies began to be held back during this pass, the number of
    /// items that were in the outbox then. The connection's earlier items precede the held reply.
    private(set) var holdStarts: [Int: Int] = [:]

    /// Records that a reply for `connectionID` is held back from now on, unless one already is.
    mutating func markHoldStart(for connectionID: Int) {
        if holdStarts[connectionID] == nil { holdStarts[connectionID] = items.count }
    }

    /// Removes the items for which `shouldRemove` returns true, keeping the others in order.
    /// `shouldRemove` gets each item's position in the outbox, in order, once.
    mutating func removeAll(
        where shouldRemove: (_ position: Int, _ item: (connectionID: Int, loopIndex: Int, output: Output)) -> Bool
    ) {
        var remaining: [(connectionID: Int, loopIndex: Int, output: Output)] = []
        remaining.reserveCapacity(items.count)
        for (position, item) in items.enumerated() where !shouldRemove(position, item) {
            remaining.append(item)
        }
        items = remaining
    }

    mutating func removeAll() {
        items.removeAll(keepingCapacity: true)
        holdStarts.removeAll()
        deadlineChanged = false
    }
}
