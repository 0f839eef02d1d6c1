#include <sqlite3.h>

// SQLITE_TRANSIENT is a function pointer cast from -1, which Swift cannot import, so these
// wrappers bind with it. They also keep empty values out of NULL: sqlite3_bind_text and
// sqlite3_bind_blob bind NULL when given a null pointer, and the C gearmand 1.1.20 fails to
// replay a row whose unique_key or data is NULL.

/// Binds `length` bytes as TEXT, copied by SQLite; an empty key binds '' rather than NULL.
static inline int cgs_sqlite3_bind_text_bytes(sqlite3_stmt *statement, int index, const void *bytes, int length) {
    return sqlite3_bind_text(statement, index, length == 0 ? "" : (const char *)bytes, length, SQLITE_TRANSIENT);
}

/// Binds `length` bytes as a BLOB, copied by SQLite; empty data binds a zero-length BLOB rather than NULL.
static inline int cgs_sqlite3_bind_blob_bytes(sqlite3_stmt *statement, int index, const void *bytes, int length) {
    if (length == 0) {
        return sqlite3_bind_zeroblob(statement, index, 0);
    }
    return sqlite3_bind_blob(statement, index, bytes, length, SQLITE_TRANSIENT);
}
