import Foundation
import VigilAudit
import VigilCore
import VigilCrypto

/// How this store signs the audit log: the signing keys, the log's origin, and how often a
/// checkpoint is signed inside an append (every `everyEntries` entries; the server also
/// signs every T seconds and at shutdown through `SQLiteStore.checkpoint()`).
public struct AuditSigning: Sendable {
    public var signers: [NoteSigner]
    public var origin: String
    public var everyEntries: Int

    public init(signers: [NoteSigner], origin: String, everyEntries: Int) {
        self.signers = signers
        self.origin = origin
        self.everyEntries = everyEntries
    }
}

/// Appends audit entries inside the caller's transaction. If this throws, the caller's
/// transaction rolls back: no audit, no change. There is no switch that skips it.
enum AuditAppender {
    static func loadState(_ conn: SQLiteConnection) throws -> AuditLogState {
        let stored = try conn.queryOne("SELECT size, tree FROM audit_state WHERE id = 1", []) { ($0.int(0), $0.blob(1) ?? []) }
        let entries = try conn.queryOne("SELECT coalesce(max(seq) + 1, 0) FROM audit_entries", [], { $0.int(0) }) ?? 0
        guard let (size, tree) = stored else {
            guard entries == 0 else { throw VigilError.dataIntegrity(reason: "audit_state is missing while audit_entries has rows") }
            return AuditLogState()
        }
        guard let state = AuditLogState(serialized: tree), state.size == UInt64(size), size == entries else {
            throw VigilError.dataIntegrity(reason: "audit_state does not match audit_entries")
        }
        return state
    }

    /// Appends `record` as the next entry. With a `tip` (the writer's transactions) the tree
    /// state comes from memory and is saved once before the transaction commits; without one
    /// it is read and written here.
    static func append(_ record: AuditRecord, conn: SQLiteConnection, keyring: Keyring, signing: AuditSigning, tip: AuditTip? = nil) throws {
        var state = try tip?.current(conn) ?? loadState(conn)
        let event = AuditEvent(
            actor: AuditEntry.Actor(type: actorKind(record.actor.type), id: record.actor.id),
            action: record.action,
            target: record.target.map { AuditEntry.Target(type: $0.type, idHash: keyring.pseudonym($0.type, $0.id)) },
            outcome: AuditEntry.Outcome(rawValue: record.outcome.rawValue),
            requestID: record.requestID,
            sourceIPHash: record.sourceIP.map { keyring.pseudonym("ip", $0) },
            details: record.details.mapValues {
                switch $0 {
                case .string(let s): .string(s)
                case .int(let i): .integer(i)
                }
            }
        )
        let appended = try state.append(event, at: record.time)
        try conn.run(
            "INSERT INTO audit_entries (seq, time, entry, leaf_hash) VALUES (?, ?, ?, ?)",
            [.int(Int64(appended.seq)), .text(appended.entry.time), .blob(appended.bytes), .blob(appended.leafHash.bytes)]
        )
        if let tip {
            tip.update(state)
        } else {
            try saveState(state, conn: conn)
        }
        if state.size % UInt64(max(1, signing.everyEntries)) == 0 {
            try sign(state, conn: conn, signing: signing, at: record.time)
        }
    }

    static func saveState(_ state: AuditLogState, conn: SQLiteConnection) throws {
        try conn.run(
            """
            INSERT INTO audit_state (id, size, tree) VALUES (1, ?, ?)
            ON CONFLICT (id) DO UPDATE SET size = excluded.size, tree = excluded.tree
            """,
            [.int(Int64(state.size)), .blob(state.serialized())]
        )
    }

    /// Signs a checkpoint for the current size unless one exists.
    @discardableResult
    static func sign(_ state: AuditLogState, conn: SQLiteConnection, signing: AuditSigning, at time: Date) throws -> Bool {
        guard state.size > 0 else { return false }
        let exists = try conn.queryOne("SELECT 1 FROM audit_checkpoints WHERE size = ?", [.int(Int64(state.size))], { $0.int(0) })
        if exists != nil { return false }
        let signed = try state.signedCheckpoint(origin: signing.origin, signers: signing.signers)
        try conn.run(
            "INSERT INTO audit_checkpoints (size, note, created_at) VALUES (?, ?, ?)",
            [.int(Int64(state.size)), .text(signed.text), .text(Timestamp.format(time))]
        )
        return true
    }

    private static func actorKind(_ kind: AuditActor.Kind) -> AuditEntry.Actor.Kind {
        switch kind {
        case .service: .service
        case .agent: .agent
        case .system: .system
        }
    }
}

/// The audit log's tree state between the writer's transactions, so that an append neither
/// reads nor writes the `audit_state` row: the state is read once, kept in memory, and written
/// once per transaction, just before `COMMIT`. Touched only on the writer's queue.
///
/// Rules:
/// - `begin` runs first in every write transaction, with the write lock held: when another
///   connection (a CLI process, another instance) has committed since this connection's last
///   transaction (`PRAGMA data_version` moved), the state is read again from the database;
/// - a use case rolled back to its savepoint takes the state back with it (`mark`/`restore`);
/// - a transaction that does not commit forgets the state (`abandon`), so the next one reads it;
/// - `flush` writes the row before `COMMIT`, so the committed `audit_state` always matches the
///   committed entries, exactly as when every append wrote it.
final class AuditTip {
    private var state: AuditLogState?
    private var dirty = false
    private var dataVersion: Int64?

    /// Where a use case started, to return to if it is rolled back.
    struct Mark {
        fileprivate let state: AuditLogState?
        fileprivate let dirty: Bool
    }

    func begin(_ conn: SQLiteConnection) throws {
        let version = try conn.queryOne("PRAGMA data_version", [], { $0.int(0) })
        if version == nil || version != dataVersion { state = nil }
        dataVersion = version
        dirty = false
    }

    func current(_ conn: SQLiteConnection) throws -> AuditLogState {
        if let state { return state }
        let loaded = try AuditAppender.loadState(conn)
        state = loaded
        return loaded
    }

    func update(_ newState: AuditLogState) {
        state = newState
        dirty = true
    }

    func mark() -> Mark { Mark(state: state, dirty: dirty) }

    func restore(_ mark: Mark) {
        state = mark.state
        dirty = mark.dirty
    }

    /// Writes the state row if this transaction appended; call just before `COMMIT`.
    func flush(_ conn: SQLiteConnection) throws {
        guard dirty, let state else { return }
        try AuditAppender.saveState(state, conn: conn)
        dirty = false
    }

    func abandon() {
        state = nil
        dirty = false
    }
}
