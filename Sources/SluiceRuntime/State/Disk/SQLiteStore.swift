import CSQLite
import Foundation

/// An SQLite failure, with the operation and SQLite's own message.
public struct SQLiteError: Error, CustomStringConvertible {
    public let code: Int32
    public let operation: String
    public let message: String

    public var description: String {
        "SQLite failed to \(operation): \(message) (code \(code)). Check the state directory's free space and permissions."
    }
}

/// SQLITE_TRANSIENT: SQLite copies bound bytes before `bind` returns (the C macro is not imported).
private let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

/// A key-value table (`kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID`) in one SQLite database file.
/// Written by hand: SQLite's C API is the only access to the store; the listed packages have no wrapper.
/// Used by one task thread only (opened with SQLITE_OPEN_NOMUTEX).
final class SQLiteStore {
    let path: String
    private var db: OpaquePointer?
    private var getStatement: OpaquePointer?
    private var putStatement: OpaquePointer?
    private var deleteStatement: OpaquePointer?
    private var rangeStatement: OpaquePointer?
    private var deleteRangeStatement: OpaquePointer?
    private var inTransaction = false
    private var writesInTransaction = 0
    /// Writes grouped in one transaction: SQLite commits are the expensive part.
    private let writesPerTransaction = 4096

    /// Opens (creating) the database. `cacheBytes` bounds SQLite's page cache: the memory the state uses.
    init(path: String, cacheBytes: Int) throws {
        self.path = path
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        db = handle
        guard rc == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(handle)
            db = nil
            throw SQLiteError(code: rc, operation: "open \(path)", message: message)
        }
        // The working database is not the durable copy (checkpoints are), so no fsync and no
        // rollback journal: a crash discards the working file and restores from a checkpoint.
        try execute("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA locking_mode=EXCLUSIVE; PRAGMA temp_store=FILE;")
        try execute("PRAGMA cache_size=-\(max(64, cacheBytes / 1024));")
        try execute("CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;")
        getStatement = try prepare("SELECT v FROM kv WHERE k = ?1")
        putStatement = try prepare("INSERT OR REPLACE INTO kv(k, v) VALUES (?1, ?2)")
        deleteStatement = try prepare("DELETE FROM kv WHERE k = ?1")
        rangeStatement = try prepare("SELECT k, v FROM kv WHERE k >= ?1 AND k < ?2 ORDER BY k")
        deleteRangeStatement = try prepare("DELETE FROM kv WHERE k >= ?1 AND k < ?2")
    }

    deinit { close() }

    func close() {
        guard let db else { return }
        if inTransaction { _ = sqlite3_exec(db, "COMMIT", nil, nil, nil) }
        for statement in [getStatement, putStatement, deleteStatement, rangeStatement, deleteRangeStatement] {
            sqlite3_finalize(statement)
        }
        sqlite3_close(db)
        self.db = nil
    }

    private func failure(_ code: Int32, _ operation: String) -> SQLiteError {
        SQLiteError(code: code, operation: operation, message: db.map { String(cString: sqlite3_errmsg($0)) } ?? "database is closed")
    }

    func execute(_ sql: String) throws {
        let rc = sqlite3_exec(db, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw failure(rc, "run '\(sql)'") }
    }

    private func prepare(_ sql: String) throws -> OpaquePointer? {
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK else { throw failure(rc, "prepare '\(sql)'") }
        return statement
    }

    private func bind(_ statement: OpaquePointer?, _ index: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            // A zero-length blob must still bind as a blob (not NULL): pass a valid pointer.
            let base = raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)
            _ = sqlite3_bind_blob(statement, index, base, Int32(raw.count), transient)
        }
    }

    private static func column(_ statement: OpaquePointer?, _ index: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(statement, index))
        guard count > 0, let base = sqlite3_column_blob(statement, index) else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: base, count: count))
    }

    private func beginWrite() throws {
        if !inTransaction {
            try execute("BEGIN")
            inTransaction = true
            writesInTransaction = 0
        }
        writesInTransaction += 1
    }

    private func endWrite() throws {
        if writesInTransaction >= writesPerTransaction { try commit() }
    }

    /// Commits the open write transaction, if any.
    func commit() throws {
        guard inTransaction else { return }
        inTransaction = false
        try execute("COMMIT")
    }

    func get(_ key: [UInt8]) throws -> [UInt8]? {
        defer { sqlite3_reset(getStatement) }
        bind(getStatement, 1, key)
        let rc = sqlite3_step(getStatement)
        switch rc {
        case SQLITE_ROW: return Self.column(getStatement, 0)
        case SQLITE_DONE: return nil
        default: throw failure(rc, "read a state entry")
        }
    }

    func put(_ key: [UInt8], _ value: [UInt8]) throws {
        try beginWrite()
        defer { sqlite3_reset(putStatement) }
        bind(putStatement, 1, key)
        bind(putStatement, 2, value)
        let rc = sqlite3_step(putStatement)
        guard rc == SQLITE_DONE else { throw failure(rc, "write a state entry") }
        try endWrite()
    }

    func delete(_ key: [UInt8]) throws {
        try beginWrite()
        defer { sqlite3_reset(deleteStatement) }
        bind(deleteStatement, 1, key)
        let rc = sqlite3_step(deleteStatement)
        guard rc == SQLITE_DONE else { throw failure(rc, "delete a state entry") }
        try endWrite()
    }

    /// Entries with `lower <= key < upper`, in key order; `limit` stops early.
    func range(from lower: [UInt8], to upper: [UInt8], limit: Int = .max) throws -> [(key: [UInt8], value: [UInt8])] {
        defer { sqlite3_reset(rangeStatement) }
        bind(rangeStatement, 1, lower)
        bind(rangeStatement, 2, upper)
        var rows: [(key: [UInt8], value: [UInt8])] = []
        while rows.count < limit {
            let rc = sqlite3_step(rangeStatement)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw failure(rc, "scan state entries") }
            rows.append((Self.column(rangeStatement, 0), Self.column(rangeStatement, 1)))
        }
        return rows
    }

    func deleteRange(from lower: [UInt8], to upper: [UInt8]) throws {
        try beginWrite()
        defer { sqlite3_reset(deleteRangeStatement) }
        bind(deleteRangeStatement, 1, lower)
        bind(deleteRangeStatement, 2, upper)
        let rc = sqlite3_step(deleteRangeStatement)
        guard rc == SQLITE_DONE else { throw failure(rc, "delete state entries") }
        try endWrite()
    }

    /// Writes a compact copy of the whole database to `path` (a full snapshot).
    func copy(to path: String) throws {
        try commit()
        try execute("VACUUM INTO '\(path.replacingOccurrences(of: "'", with: "''"))'")
    }

    /// Copies the entries with `lower <= key < upper` from another database file.
    func importRange(fromDatabase path: String, lower: [UInt8], upper: [UInt8]) throws {
        try commit()
        try execute("ATTACH DATABASE '\(path.replacingOccurrences(of: "'", with: "''"))' AS source")
        defer { try? execute("DETACH DATABASE source") }
        let insert = try prepare("INSERT OR REPLACE INTO main.kv(k, v) SELECT k, v FROM source.kv WHERE k >= ?1 AND k < ?2")
        defer { sqlite3_finalize(insert) }
        bind(insert, 1, lower)
        bind(insert, 2, upper)
        try execute("BEGIN")
        let rc = sqlite3_step(insert)
        guard rc == SQLITE_DONE else {
            try? execute("ROLLBACK")
            throw failure(rc, "import state entries from \(path)")
        }
        try execute("COMMIT")
    }
}
