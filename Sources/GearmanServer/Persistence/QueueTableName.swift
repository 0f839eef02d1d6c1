/// Checks of the table names that the SQL stores splice into their statements.
enum QueueTableName {
    /// Returns `name` if it matches `^[A-Za-z_][A-Za-z0-9_]*$`, so it is safe to use unquoted in
    /// SQL; throws an error naming `option` otherwise.
    ///
    /// Names stay unquoted because the C gearmand does not quote them either: PostgreSQL folds an
    /// unquoted name to lower case, so both servers find the same table.
    static func validate(_ name: String, option: String) throws(QueueStoreError) -> String {
        let bytes = Array(name.utf8)
        guard let first = bytes.first else {
            throw QueueStoreError.invalidOption(
                option: option, message: "the table name is empty; give a name such as gearman_queue")
        }
        let isValid =
            isLetterOrUnderscore(first)
            && bytes.allSatisfy { isLetterOrUnderscore($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
        guard isValid else {
            throw QueueStoreError.invalidOption(
                option: option,
                message:
                    "invalid table name '\(name)': use ASCII letters, digits and underscores, not starting with a digit"
            )
        }
        return name
    }

    private static func isLetterOrUnderscore(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || byte == UInt8(ascii: "_")
    }
}
