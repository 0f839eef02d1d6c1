/// The three priority levels of a Gearman job, ordered so that a lower raw value runs first.
public enum JobPriority: Int, Sendable, CaseIterable, Comparable {
    case high = 0
    case normal = 1
    case low = 2

    public static func < (lhs: JobPriority, rhs: JobPriority) -> Bool {
        lhs.rawValue < rhs.rawValue
    }
}
