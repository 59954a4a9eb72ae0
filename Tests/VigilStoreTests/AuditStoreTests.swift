import Foundation
import Testing
import VigilAudit
import VigilCore
import VigilCrypto
import VigilTestSupport

@testable import VigilStore

/// Tampering with a copy of the database, as someone holding the file could (triggers
/// dropped first): `verifyAudit` must catch each change and name the right seq.
@Suite("Audit log in the store")
struct AuditStoreTests {
    let dir: TemporaryDirectory
    let clock = TestClock()
    let path: String
    let signing = AuditSigning(signers: [Fixtures.auditSigner()], origin: Fixtures.auditOrigin, everyEntries: 8)
    var keys: [NoteVerifierKey] { [Fixtures.auditSigner().verifierKey] }

    init() throws {
        dir = try TemporaryDirectory()
        path = dir.file("vigil.sqlite")
    }

    func open(_ file: String? = nil) throws -> SQLiteStore {
        try SQLiteStore(path: file ?? path, masterKey: Fixtures.masterKey(), signing: signing, clock: clock)
    }

    /// A log of 1 bootstrap entry + 39 events = 40 entries, checkpoints at 8, 16, 24, 32, 40.
    func populated() async throws -> SQLiteStore {
        let store = try open()
        for i in 0..<39 {
            clock.advance(seconds: 1)
            let now = clock.now()
            try await store.write { tx in
                try tx.appendAudit(
                    AuditRecord(
                        action: "test.event",
                        actor: .cli("test"),
                        target: .init(type: "subject", id: "deadbeef-\(i)"),
                        details: ["n": .int(Int64(i))],
                        time: now
                    )
                )
            }
        }
        try await store.checkpoint()
        return store
    }

    /// A copy of the database with the append-only triggers dropped, changed by `sql`.
    func tampered(_ statements: [String]) throws -> SQLiteStore {
        let copy = dir.file("copy-\(UUID().uuidString).sqlite")
        let source = try SQLiteConnection(path: path)
        try source.exec("VACUUM INTO '\(copy)'")
        let conn = try SQLiteConnection(path: copy)
        try conn.exec("DROP TRIGGER audit_entries_no_update; DROP TRIGGER audit_entries_no_delete")
        for sql in statements { try conn.exec(sql) }
        return try open(copy)
    }

    func failure(_ store: SQLiteStore) async throws -> AuditVerificationFailure? {
        switch try await store.verifyAudit(keys: keys, allowUnsigned: false, progress: { _, _ in }) {
        case .success: nil
        case .failure(let f): f
        }
    }

    @Test("an untouched log verifies: 40 entries, 5 checkpoints")
    func intact() async throws {
        let store = try await populated()
        let result = try await store.verifyAudit(keys: keys, allowUnsigned: false, progress: { _, _ in })
        let summary = try result.get()
        #expect(summary.entries == 40)
        #expect(summary.checkpointsVerified == 5)
    }

    @Test("an altered entry is named by its seq")
    func altered() async throws {
        _ = try await populated()
        let store = try tampered([
            "UPDATE audit_entries SET entry = CAST(replace(CAST(entry AS TEXT), '\"n\":13', '\"n\":99') AS BLOB) WHERE seq = 14"
        ])
        let f = try #require(try await failure(store))
        #expect(f.seq == 14)
        #expect(f.reason == .alteredEntry)
    }

    @Test("an entry altered together with its stored leaf hash fails at the checkpoint that covers it")
    func alteredWithLeafHash() async throws {
        _ = try await populated()
        let store = try tampered([
            "UPDATE audit_entries SET entry = CAST(replace(CAST(entry AS TEXT), '\"n\":13', '\"n\":99') AS BLOB) WHERE seq = 14",
            "UPDATE audit_entries SET leaf_hash = (SELECT leaf_hash FROM audit_entries WHERE seq = 13) WHERE seq = 14",
        ])
        let f = try #require(try await failure(store))
        #expect(f.seq != nil && f.seq! <= 14 && f.seq! >= 8)
    }

    @Test("a deleted entry is a gap at its seq")
    func deleted() async throws {
        _ = try await populated()
        let f = try #require(try await failure(try tampered(["DELETE FROM audit_entries WHERE seq = 21"])))
        #expect(f.seq == 21)
    }

    @Test("two entries swapped are caught at the first of them")
    func reordered() async throws {
        _ = try await populated()
        let store = try tampered([
            "UPDATE audit_entries SET seq = -1 WHERE seq = 10", "UPDATE audit_entries SET seq = 10 WHERE seq = 11",
            "UPDATE audit_entries SET seq = 11 WHERE seq = -1",
        ])
        let f = try #require(try await failure(store))
        #expect(f.seq == 10)
    }

    @Test("an entry inserted after the last checkpoint is reported as not covered by any signature")
    func inserted() async throws {
        _ = try await populated()
        let store = try tampered([
            "INSERT INTO audit_entries (seq, time, entry, leaf_hash) SELECT 40, time, CAST(replace(CAST(entry AS TEXT), '\"seq\":39', '\"seq\":40') AS BLOB), leaf_hash FROM audit_entries WHERE seq = 39"
        ])
        let f = try #require(try await failure(store))
        #expect(f.seq == 40)
    }

    @Test("a truncated log is caught at the first missing seq")
    func truncated() async throws {
        _ = try await populated()
        let f = try #require(try await failure(try tampered(["DELETE FROM audit_entries WHERE seq >= 35"])))
        #expect(f.seq == 35)
    }

    @Test("an export of a sub-range verifies on its own, and an inclusion proof verifies against its checkpoint")
    func exportAndProve() async throws {
        let store = try await populated()
        let out = dir.file("export")
        let from = Date(timeIntervalSince1970: 1_234_567_890 + 10)
        let to = Date(timeIntervalSince1970: 1_234_567_890 + 20)
        let manifest = try await store.exportAudit(to: out, range: .init(from: from, to: to), keys: keys, progress: { _, _ in })
        #expect(manifest.fromSeq == 10 && manifest.toSeq == 20)
        let summary = try AuditExportVerifier.verify(directory: out, keys: keys).get()
        #expect(summary.entries == 11)
        let bundle = try await store.proveAudit(seq: 17)
        let verified = try bundle.verify(keys: keys, origin: Fixtures.auditOrigin).get()
        #expect(verified.seq == 17)
        #expect(verified.checkpoint.size == 40)
    }
}
