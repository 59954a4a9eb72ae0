import Foundation
import Testing
import VigilAudit
import VigilCore
import VigilCrypto
import VigilTestSupport

@testable import VigilStore

@Suite("SQLite password store")
struct PasswordStoreTests {
    let dir: TemporaryDirectory
    let clock = TestClock()
    let store: SQLiteStore

    init() throws {
        dir = try TemporaryDirectory()
        store = try SQLiteStore(
            path: dir.file("vigil.sqlite"),
            masterKey: Fixtures.masterKey(),
            signing: AuditSigning(signers: [Fixtures.auditSigner()], origin: Fixtures.auditOrigin, everyEntries: 4),
            clock: clock
        )
    }

    func addSubject() async throws {
        let now = clock.now()
        try await store.write { tx in
            try tx.insertSubject(SubjectRegistration(subjectID: "deadbeef-0001", email: nil, phone: nil, displayName: nil), at: now)
        }
    }

    static let first = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
    static let second = "$argon2id$v=19$m=24576,t=3,p=1$c2FsdHNhbHRzYWx0c2FsdA$b3RoZXJvdGhlcm90aGVyb3RoZXJvdGhlcm90aGVyb3Q"

    @Test("set, replace and read back; created_at stays, updated_at moves")
    func setAndReplace() async throws {
        try await addSubject()
        let t0 = clock.now()
        #expect(try await store.write { try $0.setPassword(subjectID: "deadbeef-0001", hash: Self.first, at: t0) } == false)
        clock.advance(seconds: 60)
        let t1 = clock.now()
        #expect(try await store.write { try $0.setPassword(subjectID: "deadbeef-0001", hash: Self.second, at: t1) } == true)
        let record = try #require(try await store.read { try $0.password(subjectID: "deadbeef-0001") })
        #expect(record == PasswordRecord(hash: Self.second, createdAt: t0, updatedAt: t1))
        #expect(try await store.read { try $0.password(subjectID: "deadbeef-0002") } == nil)
    }

    @Test("a rehash replaces only the hash it was computed from")
    func guardedRehash() async throws {
        try await addSubject()
        let now = clock.now()
        _ = try await store.write { try $0.setPassword(subjectID: "deadbeef-0001", hash: Self.first, at: now) }
        #expect(try await store.write { try $0.rehashPassword(subjectID: "deadbeef-0001", from: Self.second, to: Self.second, at: now) } == false)
        #expect(try await store.read { try $0.password(subjectID: "deadbeef-0001")?.hash } == Self.first)
        #expect(try await store.write { try $0.rehashPassword(subjectID: "deadbeef-0001", from: Self.first, to: Self.second, at: now) } == true)
        #expect(try await store.read { try $0.password(subjectID: "deadbeef-0001")?.hash } == Self.second)
    }

    @Test("the table takes argon2id strings for known subjects only")
    func constraints() async throws {
        try await addSubject()
        let now = clock.now()
        await #expect(throws: (any Error).self) {
            try await store.write { try $0.setPassword(subjectID: "deadbeef-0001", hash: "plaintext-password", at: now) }
        }
        await #expect(throws: (any Error).self) {
            try await store.write { try $0.setPassword(subjectID: "deadbeef-0001", hash: "$argon2i$v=19$m=19456,t=2,p=1$abc$def", at: now) }
        }
        await #expect(throws: (any Error).self) {
            try await store.write { try $0.setPassword(subjectID: "nobody", hash: Self.first, at: now) }
        }
        #expect(try await store.read { try $0.password(subjectID: "deadbeef-0001") } == nil)
    }
}
