import CSQLite3
import Foundation

/// A SQLite failure. The message is SQLite's own (it names tables and constraints, never
/// bound values, which are always passed as parameters).
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public var description: String { "sqlite error \(code): \(message)" }

    var isConstraintViolation: Bool { code & 0xff == SQLITE_CONSTRAINT }
    var isReadOnly: Bool { code & 0xff == SQLITE_READONLY }
}

/// `SQLITE_TRANSIENT` does not import into Swift (it is a cast of -1 to a function pointer).
private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// SQLite's process-wide settings (`vigil_sqlite3_configure_process` in the shim), applied
/// once, before the first connection opens.
private let sqliteProcessConfigured: Int32 = vigil_sqlite3_configure_process()

/// One SQLite connection with cached prepared statements. Not thread-safe: each connection
/// is used only on its own serial queue (see `SQLiteDatabase`).
final class SQLiteConnection {
    let handle: OpaquePointer
    private var cache: [String: Statement] = [:]
    private var walHookTarget: WALHookTarget?

    init(path: String, readOnly: Bool = false) throws {
        _ = sqliteProcessConfigured
        var db: OpaquePointer?
        let flags =
            (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
            | SQLITE_OPEN_EXRESCODE
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open database"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: message)
        }
        self.handle = db
        sqlite3_extended_result_codes(db, 1)
    }

    deinit {
        cache.removeAll()
        sqlite3_close_v2(handle)
    }

    func check(_ rc: Int32) throws {
        guard rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE else {
            throw SQLiteError(code: sqlite3_extended_errcode(handle), message: String(cString: sqlite3_errmsg(handle)))
        }
    }

    /// Runs one or more statements without parameters (schema, pragmas).
    func exec(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let message = err.map { String(cString: $0) } ?? "exec failed"
            sqlite3_free(err)
            throw SQLiteError(code: rc, message: message)
        }
    }

    /// A cached prepared statement, reset and with bindings cleared: every use resets it when
    /// done (`run`, `query` and `queryOne` do so with `defer`, `step` on an error).
    func statement(_ sql: String) throws -> Statement {
        if let s = cache[sql] { return s }
        var stmt: OpaquePointer?
        try check(sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil))
        guard let stmt else { throw SQLiteError(code: SQLITE_MISUSE, message: "empty statement") }
        let s = Statement(stmt, connection: self)
        cache[sql] = s
        return s
    }

    /// Runs `sql` with `bindings`; returns the number of rows changed.
    @discardableResult
    func run(_ sql: String, _ bindings: [SQLValue] = []) throws -> Int {
        let s = try statement(sql)
        defer { s.reset() }
        try s.bind(bindings)
        while try s.step() {}
        return Int(sqlite3_changes64(handle))
    }

    /// Runs a query and maps every row.
    func query<T>(_ sql: String, _ bindings: [SQLValue] = [], _ map: (Statement) throws -> T) throws -> [T] {
        let s = try statement(sql)
        defer { s.reset() }
        try s.bind(bindings)
        var rows: [T] = []
        while try s.step() { rows.append(try map(s)) }
        return rows
    }

    func queryOne<T>(_ sql: String, _ bindings: [SQLValue] = [], _ map: (Statement) throws -> T) throws -> T? {
        let s = try statement(sql)
        // Reset on every exit, a throwing `map` included: a statement left mid-step would keep
        // its read snapshot (and its transaction) open.
        defer { s.reset() }
        try s.bind(bindings)
        guard try s.step() else { return nil }
        return try map(s)
    }

    /// Runs `body` in a transaction (`BEGIN IMMEDIATE` for writes, so the write lock is taken
    /// up front and `busy_timeout` applies there); rolls back on any error. `BEGIN` and `COMMIT`
    /// are cached statements (`sqlite3_exec` would prepare them on every call).
    func transaction<T>(immediate: Bool, _ body: () throws -> T) throws -> T {
        try run(immediate ? "BEGIN IMMEDIATE" : "BEGIN")
        do {
            let result = try body()
            try run("COMMIT")
            return result
        } catch {
            try? exec("ROLLBACK")
            throw error
        }
    }

    /// Replaces SQLite's automatic checkpoint (which runs inside the `COMMIT` that crosses
    /// 1000 WAL pages, fsync included) with `onCommit`, called after every commit on this
    /// connection with the number of pages now in the WAL. `target` is kept alive with the
    /// connection.
    func setWALHook(_ target: WALHookTarget) {
        walHookTarget = target
        sqlite3_wal_hook(
            handle,
            { context, _, _, pages in
                guard let context else { return SQLITE_OK }
                Unmanaged<WALHookTarget>.fromOpaque(context).takeUnretainedValue().walCommitted(pages: Int(pages))
                return SQLITE_OK
            },
            Unmanaged.passUnretained(target).toOpaque()
        )
    }

    /// A passive checkpoint on this connection: copies what it can from the WAL into the
    /// database without waiting for (or blocking) readers and writers. Returns the WAL's size
    /// and the frames checkpointed, in pages.
    @discardableResult
    func checkpointPassive() throws -> (log: Int, checkpointed: Int) {
        var log: Int32 = 0
        var done: Int32 = 0
        try check(sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_PASSIVE, &log, &done))
        return (Int(log), Int(done))
    }
}

/// Told after each commit how large the WAL has grown (see `SQLiteConnection.setWALHook`).
class WALHookTarget {
    func walCommitted(pages: Int) {}
}

/// A value to bind. Blobs and text are copied by SQLite (`SQLITE_TRANSIENT`), lengths are
/// explicit and 64-bit.
enum SQLValue {
    case int(Int64)
    case text(String)
    case blob([UInt8])
    case null

    static func optionalText(_ s: String?) -> SQLValue { s.map { .text($0) } ?? .null }
    static func optionalBlob(_ b: [UInt8]?) -> SQLValue { b.map { .blob($0) } ?? .null }
}

final class Statement {
    let stmt: OpaquePointer
    unowned let connection: SQLiteConnection

    init(_ stmt: OpaquePointer, connection: SQLiteConnection) {
        self.stmt = stmt
        self.connection = connection
    }

    deinit { sqlite3_finalize(stmt) }

    func reset() {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
    }

    func bind(_ values: [SQLValue]) throws {
        for (i, value) in values.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            switch value {
            case .int(let v): rc = sqlite3_bind_int64(stmt, index, v)
            case .text(let s): rc = sqlite3_bind_text64(stmt, index, s, UInt64(s.utf8.count), sqliteTransient, UInt8(SQLITE_UTF8))
            case .blob(let b):
                rc = b.withUnsafeBytes { p in
                    // A zero-length blob still needs a non-null pointer to be a blob, not NULL.
                    sqlite3_bind_blob64(stmt, index, p.baseAddress ?? UnsafeRawPointer(bitPattern: 1), UInt64(b.count), sqliteTransient)
                }
            case .null: rc = sqlite3_bind_null(stmt, index)
            }
            try connection.check(rc)
        }
    }

    /// Steps once; true when a row is available.
    func step() throws -> Bool {
        let rc = sqlite3_step(stmt)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        let error = SQLiteError(
            code: sqlite3_extended_errcode(connection.handle),
            message: String(cString: sqlite3_errmsg(connection.handle))
        )
        reset()
        throw error
    }

    func int(_ column: Int32) -> Int64 { sqlite3_column_int64(stmt, column) }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(stmt, column) == SQLITE_NULL }

    func text(_ column: Int32) -> String? {
        guard let p = sqlite3_column_text(stmt, column) else { return nil }
        return String(cString: p)
    }

    func blob(_ column: Int32) -> [UInt8]? {
        if isNull(column) { return nil }
        let n = Int(sqlite3_column_bytes(stmt, column))
        guard n > 0, let p = sqlite3_column_blob(stmt, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: n))
    }
}
