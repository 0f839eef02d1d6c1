import GearmanKit

/// A growable first-in, first-out queue backed by a circular array.
///
/// Appending, prepending and removing at either end take constant amortized time, which a job
/// queue needs: new jobs go to the tail and jobs handed back by a worker return to the head.
struct RingBuffer<Element> {
    private var storage: [Element?] = []
    private var head = 0
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    /// The element at the head, if any.
    var first: Element? {
        count == 0 ? nil : storage[head]
    }

    mutating func append(_ element: Element) {
        growIfFull()
        storage[(head + count) % storage.count] = element
        count += 1
    }

    mutating func prepend(_ element: Element) {
        growIfFull()
        head = (head - 1 + storage.count) % storage.count
        storage[head] = element
        count += 1
    }

    mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head]
        storage[head] = nil
        head = (head + 1) % storage.count
        count -= 1
        if count == 0 {
            head = 0
            if storage.count > 64 { storage = [] }
        }
        return element
    }

    /// Calls `body` on every element from head to tail.
    func forEach(_ body: (Element) -> Void) {
        var index = head
        for _ in 0..<count {
            body(storage[index]!)
            index += 1
            if index == storage.count { index = 0 }
        }
    }

    /// Removes the elements for which `shouldRemove` returns true, keeps the others in order,
    /// and returns the removed ones from head to tail. Takes time linear in `count`.
    mutating func removeAll(where shouldRemove: (Element) -> Bool) -> [Element] {
        var remaining = RingBuffer()
        var removed: [Element] = []
        forEach { element in
            if shouldRemove(element) {
                removed.append(element)
            } else {
                remaining.append(element)
            }
        }
        if !removed.isEmpty { self = remaining }
        return removed
    }

    private mutating func growIfFull() {
        guard count == storage.count else { return }
        let newCapacity = Swift.max(8, storage.count * 2)
        var grown = [Element?](repeating: nil, count: newCapacity)
        var index = head
        for position in 0..<count {
            grown[position] = storage[index]
            index += 1
            if index == storage.count { index = 0 }
        }
        storage = grown
        head = 0
    }
}
