import CSQLite3
import Foundation
import VigilCore
import VigilCrypto

/// The SQLite implementation of the store contract.
///
/// One writer connection and one reader connection (WAL lets readers run beside the
/// writer), each confined to its own serial dispatch queue, so SQLite calls never run on a
/// caller's event loop and a connection is never used from two threads at once.
/// Pragmas: `journal_mode=WAL`, `synchronous=NORMAL` (a power cut can lose the last
/// transactions but never corrupts; see SECURITY.md), `foreign_keys=ON`, `busy_timeout=5000`.
public final class SQLiteStore: DataStore, KeyAdministration, @unchecked Sendable {
    // @unchecked Sendable: each connection is only touched on its own queue.
    private let writer: SQLiteConnection
    private let reader: SQLiteConnection
    private let writerQueue = DispatchQueue(label: "vigil.sqlite.writer")
    private let pendingLock = NSLock()
    private var pending: [WriteJob] = []
    private var draining = false
    private let readerQueue = DispatchQueue(label: "vigil.sqlite.reader")
    /// The audit tree state between the writer's transactions (writer queue only).
    private let auditTip = AuditTip()
    /// Checkpoints the WAL off the writer's commits.
    let checkpointer: WALCheckpointer
    /// Connections for API-key look-ups on the caller's thread (see `apiKey(id:)`): each taken
    /// out under `keyLookupLock` and used by one caller at a time, opened when none is free (so
    /// there are at most as many as threads that looked a key up at once).
    private var keyLookups: [SQLiteConnection] = []
    private let keyLookupLock = NSLock()
    let keyring: Keyring
    let clock: any VigilClock
    let signing: AuditSigning
    public let path: String
    /// Rung after a commit that enqueued outbox messages (the worker waits on it).
    public let outboxDoorbell = OutboxDoorbell()

    /// Opens (creating if needed) the database at `path`, applies migrations, and loads or
    /// creates the keyring under `masterKey`.
    public init(path: String, masterKey: SecretBytes, signing: AuditSigning, clock: any VigilClock) throws {
        self.path = path
        self.clock = clock
        self.signing = signing
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let isNew = !FileManager.default.fileExists(atPath: path)
        writer = try SQLiteConnection(path: path)
        // The database holds ciphertexts and hashes, but no one else needs to read it: 0600, as
        // for key files (SQLite gives its -wal and -shm files the database file's mode).
        if isNew { _ = chmod(path, 0o600) }
        try Self.configure(writer)
        try Self.migrate(writer, now: clock.now())
        checkpointer = WALCheckpointer(path: path)
        checkpointer.install(on: writer)
        reader = try SQLiteConnection(path: path)
        try Self.configure(reader)
        let (keyring, bootstrapped) = try Keyring.loadOrBootstrap(writer, master: masterKey, now: clock.now())
        self.keyring = keyring
        if bootstrapped {
            try writerTransaction { tx in
                try tx.appendAudit(
                    AuditRecord(
                        action: "keys.bootstrapped",
                        actor: .system,
                        details: ["data_key_version": 1, "purposes": "data,blind-index,pseudonym"],
                        time: clock.now()
                    )
                )
            }
        }
    }

    deinit {
        checkpointer.close()
    }

    /// One transaction on the writer connection outside group commit (key administration,
    /// checkpoints, bootstrap); on the writer queue, or in `init` before any queue work.
    private func writerTransaction<T>(_ body: (SQLiteTransaction) throws -> T) throws -> T {
        try writer.run("BEGIN IMMEDIATE")
        do {
            try auditTip.begin(writer)
            let result = try body(
                SQLiteTransaction(conn: writer, keyring: keyring, signing: signing, auditTip: auditTip)
            )
            try auditTip.flush(writer)
            try writer.run("COMMIT")
            return result
        } catch {
            auditTip.abandon()
            try? writer.exec("ROLLBACK")
            throw error
        }
    }

    private static func configure(_ conn: SQLiteConnection) throws {
        try conn.exec("PRAGMA busy_timeout = 5000")
        try conn.exec("PRAGMA journal_mode = WAL")
        try conn.exec("PRAGMA synchronous = NORMAL")
        try conn.exec("PRAGMA foreign_keys = ON")
    }

    /// Applies pending migrations — every one not recorded in `schema_migrations`, in version
    /// order (so a database made on a branch with version 4 still gets version 3 after a merge);
    /// returns the versions applied.
    @discardableResult
    static func migrate(_ conn: SQLiteConnection, now: Date) throws -> [Int] {
        try conn.exec(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT"
        )
        let recorded = Set(try conn.query("SELECT version FROM schema_migrations", [], { Int($0.int(0)) }))
        let current = recorded.max() ?? 0
        if let newest = Migrations.all.map(\.version).max(), current > newest { throw StoreError.schemaTooNew(current) }
        var applied: [Int] = []
        for migration in Migrations.all.sorted(by: { $0.version < $1.version }) where !recorded.contains(migration.version) {
            try conn.transaction(immediate: true) {
                try conn.exec(migration.sql)
                try conn.run(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    [.int(Int64(migration.version)), .text(migration.name), .text(Timestamp.format(now))]
                )
            }
            applied.append(migration.version)
        }
        return applied
    }

    /// The schema version after migrations.
    public func schemaVersion() async throws -> Int {
        try await onReader { conn in
            try conn.queryOne("SELECT coalesce(max(version), 0) FROM schema_migrations", [], { Int($0.int(0)) }) ?? 0
        }
    }

    // MARK: DataStore

    public func read<T: Sendable>(_ body: @escaping @Sendable (any StoreReading) throws -> T) async throws -> T {
        try await onReader { conn in
            try conn.transaction(immediate: false) {
                try self.keyring.refresh(conn)
                return try body(SQLiteTransaction(conn: conn, keyring: self.keyring, signing: self.signing))
            }
        }
    }

    /// Runs `body` as one use case: its changes and audit entries commit together or not at all.
    ///
    /// Group commit: use cases that arrive while the writer is busy are run together in one
    /// SQLite transaction, each inside its own savepoint. A use case that throws is rolled back
    /// to its savepoint alone (the others are unaffected, and see none of its writes); a
    /// failing COMMIT fails every use case of the batch. Each use case sees the writes of those
    /// before it, exactly as if they ran one after another, but the batch pays for one commit
    /// (WAL frames, locks) instead of one each.
    public func write<T: Sendable>(_ body: @escaping @Sendable (any StoreWriting) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let job = WriteJob()
            var outcome: Result<T, any Error> = .failure(VigilError.unavailable(reason: "write did not run"))
            job.run = { tx in
                outcome = Result { try body(tx) }
                if case .success = outcome { return true }
                return false
            }
            job.finish = { batchError in
                if let batchError {
                    continuation.resume(throwing: batchError)
                } else {
                    continuation.resume(with: outcome)
                }
            }
            enqueue(job)
        }
    }

    /// At most this many use cases share one transaction.
    static let maxBatch = 128

    private func enqueue(_ job: WriteJob) {
        let startDrain: Bool = pendingLock.withLock {
            pending.append(job)
            if draining { return false }
            draining = true
            return true
        }
        if startDrain { writerQueue.async { self.drain() } }
    }

    /// Runs on the writer queue until no job is pending.
    private func drain() {
        while true {
            let batch: [WriteJob] = pendingLock.withLock {
                let take = Array(pending.prefix(Self.maxBatch))
                pending.removeFirst(take.count)
                if take.isEmpty { draining = false }
                return take
            }
            if batch.isEmpty {
                checkpointer.writerIdle()
                return
            }
            var batchError: (any Error)?
            let effects = WriteEffects()
            do {
                try writer.run("BEGIN IMMEDIATE")
                do {
                    try auditTip.begin(writer)
                    try keyring.refresh(writer)
                    let tx = SQLiteTransaction(conn: writer, keyring: keyring, signing: signing, effects: effects, auditTip: auditTip)
                    for job in batch {
                        try writer.run("SAVEPOINT use_case")
                        let mark = auditTip.mark()
                        if !job.run(tx) {
                            try writer.run("ROLLBACK TO use_case")
                            auditTip.restore(mark)
                        }
                        try writer.run("RELEASE use_case")
                    }
                    try auditTip.flush(writer)
                    try writer.run("COMMIT")
                } catch {
                    auditTip.abandon()
                    try? writer.exec("ROLLBACK")
                    throw error
                }
            } catch {
                batchError = error
            }
            // Only after COMMIT: a worker woken earlier would not see the rows.
            if batchError == nil && effects.enqueuedMessages { outboxDoorbell.ring() }
            for job in batch { job.finish(batchError) }
        }
    }

    /// Signs a checkpoint for the current tree size unless one exists (the server calls this
    /// every `audit.checkpoint.every_seconds` and at shutdown; CLI verbs after they write).
    @discardableResult
    public func checkpoint() async throws -> Bool {
        let now = clock.now()
        return try await onWriter { conn in
            try self.writerTransaction { _ in
                try AuditAppender.sign(try self.auditTip.current(conn), conn: conn, signing: self.signing, at: now)
            }
        }
    }

    /// The API key `id`, read on the caller's thread: one indexed read of a small table on a
    /// connection of its own, so the check every service request starts with costs no hand-off
    /// to the reader queue and back. It reads the committed row each time, so a revocation —
    /// by this process or by `vigil apikey revoke` in another — refuses the next request.
    public func apiKey(id: String) async throws -> APIKeyRecord? {
        try lookUpAPIKey(id: id)
    }

    private func lookUpAPIKey(id: String) throws -> APIKeyRecord? {
        keyLookupLock.lock()
        let pooled = keyLookups.popLast()
        keyLookupLock.unlock()
        let conn: SQLiteConnection
        if let pooled {
            conn = pooled
        } else {
            conn = try SQLiteConnection(path: path)
            try Self.configure(conn)
        }
        defer {
            keyLookupLock.lock()
            keyLookups.append(conn)
            keyLookupLock.unlock()
        }
        return try SQLiteTransaction(conn: conn, keyring: keyring, signing: signing).apiKey(id: id)
    }

    public func ping() async -> Bool {
        (try? await onReader { conn in try conn.queryOne("SELECT 1", [], { $0.int(0) }) }) == 1
    }

    func onWriter<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            writerQueue.async { continuation.resume(with: Result { try body(self.writer) }) }
        }
    }

    func onReader<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            readerQueue.async { continuation.resume(with: Result { try body(self.reader) }) }
        }
    }

    // MARK: KeyAdministration

    public func rotateDataKey(actor: AuditActor) async throws -> UInt32 {
        let now = clock.now()
        return try await onWriter { conn in
            try self.writerTransaction { tx in
                try self.keyring.refresh(conn)
                let next = self.keyring.data.current + 1
                let key = try SecretBytes.random(count: 32)
                let wrapped = try KeyWrap.wrap(key, purpose: Keyring.dataPurpose, version: next, master: self.keyring.master)
                try conn.run(
                    "INSERT INTO keyring (purpose, version, wrapped, created_at) VALUES (?, ?, ?, ?)",
                    [.text(Keyring.dataPurpose), .int(Int64(next)), .blob(wrapped), .text(Timestamp.format(now))]
                )
                try self.keyring.refresh(conn)
                try tx.appendAudit(
                    AuditRecord(action: "keys.data.rotated", actor: actor, details: ["new_version": .int(Int64(next))], time: now)
                )
                return next
            }
        }
    }

    public func keyStatus() async throws -> KeyStatus {
        try await onReader { conn in
            try conn.transaction(immediate: false) {
                try self.keyring.refresh(conn)
                var counts: [UInt32: Int] = [:]
                for column in EncryptedColumns.all {
                    let rows = try conn.query(
                        "SELECT substr(\(column.column), 2, 4), count(*) FROM \(column.table) WHERE \(column.column) IS NOT NULL GROUP BY 1"
                    ) { ($0.blob(0) ?? [], Int($0.int(1))) }
                    for (header, n) in rows where header.count == 4 {
                        let v = header.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                        counts[v, default: 0] += n
                    }
                }
                let versions = try conn.query(
                    "SELECT version, created_at FROM keyring WHERE purpose = ? ORDER BY version",
                    [.text(Keyring.dataPurpose)]
                ) { row in
                    let v = UInt32(row.int(0))
                    return KeyStatus.Version(
                        version: v,
                        createdAt: Timestamp.parse(row.text(1) ?? "") ?? .distantPast,
                        fields: counts[v] ?? 0
                    )
                }
                return KeyStatus(current: self.keyring.data.current, versions: versions)
            }
        }
    }

    public func rewrapBatch(batchSize: Int, actor: AuditActor) async throws -> Int {
        let now = clock.now()
        return try await onWriter { conn in
            try self.writerTransaction { tx in
                try self.keyring.refresh(conn)
                let keys = self.keyring.data
                let currentHeader = Array(FieldCipher.header(version: keys.current)[1...])
                var rewritten = 0
                for column in EncryptedColumns.all where rewritten < batchSize {
                    let rows = try conn.query(
                        """
                        SELECT \(column.key), \(column.column) FROM \(column.table)
                        WHERE \(column.column) IS NOT NULL AND substr(\(column.column), 2, 4) <> ? LIMIT ?
                        """,
                        [.blob(currentHeader), .int(Int64(batchSize - rewritten))]
                    ) { ($0.text(0) ?? "", $0.blob(1) ?? []) }
                    for (rowID, stored) in rows {
                        let context = FieldContext(table: column.table, column: column.column, rowID: rowID)
                        let plain: [UInt8]
                        do {
                            plain = try FieldCipher.open(stored, context: context, keys: keys)
                        } catch {
                            throw VigilError.dataIntegrity(reason: "\(column.table).\(column.column) of one row failed to decrypt")
                        }
                        let resealed = try FieldCipher.seal(plain, context: context, keys: keys)
                        try conn.run(
                            "UPDATE \(column.table) SET \(column.column) = ? WHERE \(column.key) = ?",
                            [.blob(resealed), .text(rowID)]
                        )
                        rewritten += 1
                    }
                }
                if rewritten > 0 {
                    try tx.appendAudit(
                        AuditRecord(
                            action: "keys.data.rewrapped",
                            actor: actor,
                            details: ["fields": .int(Int64(rewritten)), "to_version": .int(Int64(keys.current))],
                            time: now
                        )
                    )
                }
                return rewritten
            }
        }
    }
}

/// Every encrypted column, for `keys status` and `keys rewrap`. A new encrypted column is
/// added here in the same change that adds it to a migration.
enum EncryptedColumns {
    struct Column {
        let table: String
        let key: String
        let column: String
    }
    static let all: [Column] = [
        Column(table: "subjects", key: "id", column: "email_ct"),
        Column(table: "subjects", key: "id", column: "phone_ct"),
        Column(table: "subjects", key: "id", column: "display_name_ct"),
        Column(table: "totp_enrolments", key: "subject_id", column: "secret_ct"),
        Column(table: "totp_credentials", key: "subject_id", column: "secret_ct"),
        Column(table: "password_reset_requests", key: "id", column: "identifier_ct"),
        Column(table: "agents", key: "id", column: "email_ct"),
        Column(table: "cases", key: "id", column: "summary_ct"),
        Column(table: "cases", key: "id", column: "contact_ct"),
        Column(table: "agents", key: "id", column: "totp_secret_ct"),
        Column(table: "agents", key: "id", column: "pending_totp_ct"),
        Column(table: "password_reset_requests", key: "id", column: "source_ip_ct"),
        Column(table: "login_reports", key: "id", column: "ip_ct"),
        Column(table: "login_reports", key: "id", column: "user_agent_ct"),
        Column(table: "login_reports", key: "id", column: "device_id_ct"),
        Column(table: "login_reports", key: "id", column: "reason_ct"),
        Column(table: "outbox_messages", key: "id", column: "recipient_ct"),
        Column(table: "outbox_messages", key: "id", column: "payload_ct"),
        Column(table: "cases", key: "id", column: "csat_comment_ct"),
        Column(table: "case_notes", key: "id", column: "body_ct"),
        Column(table: "case_actions", key: "id", column: "reason_ct"),
        Column(table: "case_actions", key: "id", column: "params_ct"),
    ]
}

/// What a write batch did that matters after it commits; touched only on the writer queue.
final class WriteEffects {
    /// Some use case in the batch enqueued an outbox message (it may have been rolled back to
    /// its savepoint since; a spurious wake-up costs one empty claim).
    var enqueuedMessages = false
}

/// One use case waiting for the writer: `run` executes it inside its savepoint and says
/// whether it succeeded; `finish` resumes its caller once the batch has committed (or failed).
private final class WriteJob: @unchecked Sendable {
    // @unchecked Sendable: `run` and `finish` are set before the job is queued and called only
    // on the writer queue.
    var run: (SQLiteTransaction) -> Bool = { _ in false }
    var finish: ((any Error)?) -> Void = { _ in }
}
