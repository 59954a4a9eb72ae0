import CSQLite3
import Foundation
import Testing
import VigilAudit
import VigilCore
import VigilCrypto
import VigilTestSupport

@testable import VigilStore

/// Opens a raw connection beside the store, the way an attacker holding the file would.
private func raw(_ path: String, _ sql: String, _ bindings: [SQLValue] = []) throws {
    let conn = try SQLiteConnection(path: path)
    try conn.exec("PRAGMA busy_timeout = 5000")
    try conn.run(sql, bindings)
}

private func rawBlob(_ path: String, _ sql: String) throws -> [UInt8]? {
    let conn = try SQLiteConnection(path: path)
    return try conn.queryOne(sql, [], { $0.blob(0) }) ?? nil
}

private let alice = SubjectRegistration(
    subjectID: "deadbeef-0001",
    email: "Zebra.Quokka-7731@Example.org",
    phone: "+49 151 7731 0042",
    displayName: "Quillon Zebrafinch"
)
private let bob = SubjectRegistration(
    subjectID: "deadbeef-0002",
    email: "otter@example.net",
    phone: "+4915100000002",
    displayName: "Bob Otter"
)

private func insert(_ store: SQLiteStore, _ s: SubjectRegistration, clock: TestClock) async throws {
    let v = try s.validated()
    try await store.write { tx in
        try tx.insertSubject(v, at: clock.now())
        try tx.appendAudit(
            AuditRecord(action: "subject.created", actor: .system, target: .init(type: "subject", id: v.subjectID), time: clock.now())
        )
    }
}

@Suite("SQLite store")
struct SQLiteStoreTests {
    let dir: TemporaryDirectory
    let clock = TestClock()
    let path: String
    let signing = AuditSigning(signers: [Fixtures.auditSigner()], origin: Fixtures.auditOrigin, everyEntries: 4)

    init() throws {
        dir = try TemporaryDirectory()
        path = dir.file("vigil.sqlite")
    }

    func open() throws -> SQLiteStore {
        try SQLiteStore(path: path, masterKey: Fixtures.masterKey(), signing: signing, clock: clock)
    }

    @Test("a registered subject reads back decrypted and is found by email and phone blind index")
    func roundTrip() async throws {
        let store = try open()
        try await insert(store, alice, clock: clock)
        let read = try await store.read { try $0.subject(id: "deadbeef-0001") }
        #expect(read?.email == "zebra.quokka-7731@example.org")
        #expect(read?.phone == "+4915177310042")
        #expect(read?.displayName == "Quillon Zebrafinch")
        #expect(try await store.read { try $0.subjectID(email: " ZEBRA.quokka-7731@example.ORG") } == "deadbeef-0001")
        #expect(try await store.read { try $0.subjectID(phone: "+49 (151) 7731-0042") } == "deadbeef-0001")
        #expect(try await store.read { try $0.subjectID(email: "nobody@example.org") } == nil)
    }

    @Test("one statement reads a second-factor check's state: freeze, counters, credential, codes left; one row holds the counters")
    func secondFactorSnapshot() async throws {
        let store = try open()
        try await insert(store, alice, clock: clock)
        let id = alice.subjectID
        let now = clock.now()
        // Nothing yet: empty counters, no credential, no codes; no row at all for an unknown subject.
        let e = try #require(try await store.write { tx in try tx.secondFactorSnapshot(subjectID: id, factor: .totp) })
        #expect(e.freeze == nil && e.counters == FactorCounters() && e.totp == nil && e.recoveryCodesRemaining == 0)
        #expect(try await store.write { tx in try tx.secondFactorSnapshot(subjectID: "deadbeef-9999", factor: .totp) } == nil)

        let secret = try SecretBytes.random(count: 20)
        let secretCopy = secret.withUnsafeBytes { Array($0) }
        let totpCounters = FactorCounters(
            state: FactorState(consecutiveFailures: 4, lockedUntil: now.addingTimeInterval(60)),
            rate: RateWindow(windowStart: 1_800_000_000, count: 7),
            recentFailures: [1_800_000_000_123, 1_800_000_001_456]
        )
        try await store.write { tx in
            try tx.saveTOTPEnrolment(
                subjectID: id,
                TOTPRecord(secret: secret, algorithm: .sha256, digits: 8, period: 30, lastStep: nil, since: now)
            )
            try tx.activateTOTP(subjectID: id, acceptedStep: 1234, at: now)
            try tx.replaceRecoveryCodes(subjectID: id, codes: ["a", "b", "c"], setID: "s1", at: now)
            _ = try tx.consumeRecoveryCode(subjectID: id, code: "b", at: now)
            try tx.saveFactorCounters(subjectID: id, factor: .totp, totpCounters)
            try tx.setFactorState(subjectID: id, factor: .recoveryCode, FactorState(consecutiveFailures: 9, lockedIndefinitely: true))
            _ = try tx.freezeAccount(AccountFreeze(subjectID: id, frozenAt: now, reportID: "rep_1"))
        }
        let s = try #require(try await store.write { tx in try tx.secondFactorSnapshot(subjectID: id, factor: .totp) })
        #expect(s.freeze?.reportID == "rep_1")
        #expect(s.counters == totpCounters)
        #expect(s.counters.state.retryAfter(now: now) == 60)
        let totp = try #require(s.totp)
        #expect(totp.algorithm == .sha256 && totp.digits == 8 && totp.period == 30 && totp.lastStep == 1234)
        #expect(totp.secret.withUnsafeBytes { Array($0) } == secretCopy)
        #expect(s.recoveryCodesRemaining == 2)
        // The recovery-code factor: its own row (made by setFactorState), no credential read.
        let r = try #require(try await store.write { tx in try tx.secondFactorSnapshot(subjectID: id, factor: .recoveryCode) })
        #expect(r.counters.state.lockedIndefinitely && r.counters.state.consecutiveFailures == 9)
        #expect(r.counters.rate == RateWindow() && r.counters.recentFailures.isEmpty)
        #expect(r.totp == nil && r.recoveryCodesRemaining == 2)
        // Clearing the state (a success, an agent's unlock) keeps the counter and the failure times.
        try await store.write { tx in try tx.setFactorState(subjectID: id, factor: .totp, .clear) }
        let cleared = try await store.write { tx in try tx.factorCounters(subjectID: id, factor: .totp) }
        #expect(cleared == FactorCounters(state: .clear, rate: totpCounters.rate, recentFailures: totpCounters.recentFailures))
        #expect(try await store.read { tx in try tx.factorState(subjectID: id, factor: .totp) } == .clear)
        // The burst rule counts both factors' failures from a time on.
        try await store.write { tx in
            try tx.saveFactorCounters(subjectID: id, factor: .recoveryCode, FactorCounters(recentFailures: [1_800_000_002_000]))
        }
        let since = Date(timeIntervalSince1970: 1_800_000_000.5)
        #expect(try await store.read { tx in try tx.secondFactorFailures(subjectID: id, since: since) } == 2)
    }

    @Test("failure times: a day and the newest 100 are kept; the count is from a time on, to the millisecond")
    func failureHistory() {
        var c = FactorCounters()
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        c.addFailure(at: t0)
        c.addFailure(at: t0.addingTimeInterval(0.5))
        #expect(c.recentFailures == [1_800_000_000_000, 1_800_000_000_500])
        #expect(c.failures(since: t0.addingTimeInterval(0.5)) == 1 && c.failures(since: t0.addingTimeInterval(0.501)) == 0)
        // A failure a day and a second later forgets both.
        c.addFailure(at: t0.addingTimeInterval(86_401))
        #expect(c.recentFailures == [1_800_086_401_000])
        // At most 100, the newest, whatever order the stored list had.
        c.recentFailures = (1...100).map { 1_800_086_401_000 + Int64($0) }.reversed()
        c.addFailure(at: t0.addingTimeInterval(86_402))
        #expect(c.recentFailures.count == 100)
        #expect(c.recentFailures.min() == 1_800_086_401_002 && c.recentFailures.max() == 1_800_086_402_000)
    }

    @Test("migration 11 moves the second-factor failure log into the factor rows and drops it")
    func migrationOfFailureLog() async throws {
        // A database at version 10, as the previous release left it, with a failure log.
        let conn = try SQLiteConnection(path: path)
        try conn.exec("PRAGMA journal_mode = WAL")
        try conn.exec(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT"
        )
        for m in Migrations.all.sorted(by: { $0.version < $1.version }) where m.version <= 10 {
            try conn.exec(m.sql)
            try conn.run("INSERT INTO schema_migrations VALUES (?, ?, '2026-01-01T00:00:00.000Z')", [.int(Int64(m.version)), .text(m.name)])
        }
        try conn.run(
            "INSERT INTO subjects (id, created_at, updated_at) VALUES ('deadbeef-0001', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')"
        )
        try conn.run("INSERT INTO factor_failures (subject_id, factor, consecutive, locked_until) VALUES ('deadbeef-0001', 'totp', 2, NULL)")
        for (factor, at) in [
            ("totp", "2027-01-15T08:00:00.250Z"), ("totp", "2027-01-15T08:00:01.000Z"), ("recovery_code", "2027-01-15T08:00:02.125Z"),
            ("password", "2027-01-15T08:00:03.000Z"),
        ] {
            try conn.run(
                "INSERT INTO second_factor_failures (subject_id, factor, at) VALUES ('deadbeef-0001', ?, ?)",
                [.text(factor), .text(at)]
            )
        }
        let store = try open()
        let totp = try await store.write { tx in try tx.factorCounters(subjectID: "deadbeef-0001", factor: .totp) }
        let codes = try await store.write { tx in try tx.factorCounters(subjectID: "deadbeef-0001", factor: .recoveryCode) }
        let t = Int64(Timestamp.parse("2027-01-15T08:00:00.000Z")!.timeIntervalSince1970 * 1000)
        #expect(totp.state.consecutiveFailures == 2 && totp.recentFailures.sorted() == [t + 250, t + 1000])
        #expect(codes.state == .clear && codes.recentFailures == [t + 2125])
        #expect(try conn.queryOne("SELECT count(*) FROM sqlite_master WHERE name = 'second_factor_failures'", [], { $0.int(0) }) == 0)
        #expect(try await store.schemaVersion() == Migrations.all.map(\.version).max())
    }

    @Test("a duplicate subject id is refused and the first row is untouched")
    func duplicate() async throws {
        let store = try open()
        try await insert(store, alice, clock: clock)
        await #expect(throws: VigilError.alreadyExists(resource: "subject")) {
            try await insert(
                store,
                SubjectRegistration(subjectID: alice.subjectID, email: "x@example.com", phone: nil, displayName: nil),
                clock: clock
            )
        }
        #expect(try await store.read { try $0.subject(id: alice.subjectID)?.email } == "zebra.quokka-7731@example.org")
    }

    @Test("no personal value appears in the database file or its WAL")
    func plaintextScan() async throws {
        let store = try open()
        try await insert(store, alice, clock: clock)
        try await insert(store, bob, clock: clock)
        var bytes = [UInt8]()
        for file in [path, path + "-wal"] where FileManager.default.fileExists(atPath: file) {
            bytes += [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        }
        #expect(bytes.count > 0)
        for needle in ["zebra.quokka-7731", "Zebra.Quokka", "7731", "Quillon", "Zebrafinch", "otter@example.net", "Bob Otter", "4915100000002"] {
            #expect(!contains(bytes, Array(needle.utf8)), "found a personal value in the database files")
        }
        // The subject id is the backend's opaque key, stored in the clear by design.
        #expect(contains(bytes, Array("deadbeef-0001".utf8)))
    }

    @Test("one flipped byte in a stored ciphertext makes the read fail with a data-integrity error")
    func tamperFlip() async throws {
        let store = try open()
        try await insert(store, alice, clock: clock)
        var blob = try #require(try rawBlob(path, "SELECT email_ct FROM subjects WHERE id = 'deadbeef-0001'"))
        blob[blob.count - 3] ^= 0x01
        try raw(path, "UPDATE subjects SET email_ct = ? WHERE id = 'deadbeef-0001'", [.blob(blob)])
        await #expect(
            throws: VigilError.dataIntegrity(
                reason: "subjects.email_ct of one row failed to decrypt: ciphertext failed authentication (altered, moved or wrong key)"
            )
        ) {
            try await store.read { try $0.subject(id: "deadbeef-0001") }
        }
    }

    @Test("a ciphertext moved to another row, or another column, does not decrypt")
    func tamperMove() async throws {
        let store = try open()
        try await insert(store, alice, clock: clock)
        try await insert(store, bob, clock: clock)
        try raw(path, "UPDATE subjects SET email_ct = (SELECT email_ct FROM subjects WHERE id = 'deadbeef-0001') WHERE id = 'deadbeef-0002'")
        await #expect(throws: VigilError.self) { try await store.read { try $0.subject(id: "deadbeef-0002") } }
        try raw(path, "UPDATE subjects SET phone_ct = email_ct WHERE id = 'deadbeef-0001'")
        await #expect(throws: VigilError.self) { try await store.read { try $0.subject(id: "deadbeef-0001") } }
    }

    @Test("data written under version 1 stays readable after rotate, and rewrap moves every field to the new version")
    func rotationAndRewrap() async throws {
        let store = try open()
        for i in 0..<25 {
            try await insert(
                store,
                SubjectRegistration(
                    subjectID: "deadbeef-\(1000 + i)",
                    email: "user\(i)@example.org",
                    phone: "+4915100001\(100 + i)",
                    displayName: "User \(i)"
                ),
                clock: clock
            )
        }
        let before = try await store.keyStatus()
        #expect(before.current == 1)
        #expect(before.versions.map(\.fields) == [75])

        let v2 = try await store.rotateDataKey(actor: .cli("test"))
        #expect(v2 == 2)
        #expect(try await store.read { try $0.subject(id: "deadbeef-1003")?.email } == "user3@example.org")
        try await insert(store, alice, clock: clock)
        let afterRotate = try await store.keyStatus()
        #expect(afterRotate.versions.map(\.fields) == [75, 3])

        // A rewrap interrupted after one batch, then resumed by a fresh process (a new store on the same file).
        #expect(try await store.rewrapBatch(batchSize: 10, actor: .cli("test")) == 10)
        #expect(try await store.keyStatus().versions.map(\.fields) == [65, 13])
        let resumed = try open()
        var total = 0
        while true {
            let n = try await resumed.rewrapBatch(batchSize: 20, actor: .cli("test"))
            if n == 0 { break }
            total += n
        }
        #expect(total == 65)
        #expect(try await resumed.keyStatus().versions.map(\.fields) == [0, 78])
        #expect(try await resumed.read { try $0.subject(id: "deadbeef-1024")?.displayName } == "User 24")
        #expect(try await resumed.read { try $0.subject(id: "deadbeef-0001")?.email } == "zebra.quokka-7731@example.org")
    }

    @Test("a store that keeps running picks up a rotation done by another process for its next write")
    func rotationSeenByRunningStore() async throws {
        let running = try open()
        try await insert(running, alice, clock: clock)
        _ = try await open().rotateDataKey(actor: .cli("test"))
        try await insert(running, bob, clock: clock)
        #expect(try await running.keyStatus().versions.map(\.fields) == [3, 3])
    }

    @Test("the wrong master key is refused with a clear error")
    func wrongMasterKey() async throws {
        _ = try open()
        #expect(throws: StoreError.self) {
            _ = try SQLiteStore(path: path, masterKey: try SecretBytes(copying: [UInt8](repeating: 7, count: 32)), signing: signing, clock: clock)
        }
    }

    @Test("when the audit append fails the change rolls back: no audit, no change")
    func auditFailureRollsBack() async throws {
        let store = try open()
        try raw(path, "CREATE TRIGGER audit_broken BEFORE INSERT ON audit_entries BEGIN SELECT RAISE(ABORT, 'audit unavailable'); END")
        await #expect(throws: SQLiteError.self) { try await insert(store, alice, clock: clock) }
        #expect(try await store.read { try $0.subject(id: alice.subjectID) } == nil)
    }

    @Test("audit entries cannot be updated or deleted through SQL")
    func auditAppendOnly() async throws {
        let store = try open()
        try await insert(store, alice, clock: clock)
        #expect(throws: SQLiteError.self) { try raw(path, "UPDATE audit_entries SET entry = x'00' WHERE seq = 0") }
        #expect(throws: SQLiteError.self) { try raw(path, "DELETE FROM audit_entries") }
    }

    @Test("concurrent use cases share transactions, yet one that fails leaves no trace and does not disturb the others")
    func groupCommitIsolation() async throws {
        let store = try open()
        let before = try await auditCount(store)
        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<60 {
                group.addTask {
                    do {
                        // Every third one inserts and audits, then fails: its writes must vanish.
                        try await store.write { tx in
                            let s = try SubjectRegistration(subjectID: "deadbeef-\(5000 + i)", email: nil, phone: nil, displayName: nil).validated()
                            try tx.insertSubject(s, at: Date(timeIntervalSince1970: 1_234_567_890))
                            try tx.appendAudit(
                                AuditRecord(
                                    action: "subject.created",
                                    actor: .system,
                                    target: .init(type: "subject", id: s.subjectID),
                                    time: Date(timeIntervalSince1970: 1_234_567_890)
                                )
                            )
                            if i % 3 == 0 { throw VigilError.invalidField(field: "x", reason: "test failure") }
                        }
                        return true
                    } catch VigilError.invalidField {
                        return false
                    }
                }
            }
            var all: [Bool] = []
            for try await r in group { all.append(r) }
            return all
        }
        #expect(results.filter { $0 }.count == 40)
        for i in 0..<60 {
            let exists = try await store.read { try $0.subjectExists(id: "deadbeef-\(5000 + i)") }
            #expect(exists == (i % 3 != 0))
        }
        #expect(try await auditCount(store) == before + 40)
        let verified = try await store.verifyAudit(
            keys: [Fixtures.auditSigner().verifierKey],
            allowUnsigned: true,
            progress: { _, _ in }
        )
        #expect((try? verified.get()) != nil)
    }

    @Test("entries appended by another process between this store's writes keep the log whole (the writer re-reads the tree state)")
    func auditAppendsFromTwoProcesses() async throws {
        let running = try open()
        for round in 0..<3 {
            try await insert(
                running,
                SubjectRegistration(subjectID: "deadbeef-\(7000 + round)", email: nil, phone: nil, displayName: nil),
                clock: clock
            )
            // Another process (the CLI) on its own connections: its appends move the tree on disk.
            let other = try open()
            try await insert(
                other,
                SubjectRegistration(subjectID: "deadbeef-\(7100 + round)", email: nil, phone: nil, displayName: nil),
                clock: clock
            )
            try await other.checkpoint()
        }
        try await insert(running, SubjectRegistration(subjectID: "deadbeef-7999", email: nil, phone: nil, displayName: nil), clock: clock)
        try await running.checkpoint()
        let verified = try await running.verifyAudit(keys: [Fixtures.auditSigner().verifierKey], allowUnsigned: false, progress: { _, _ in })
        #expect((try? verified.get()) != nil)
        // 1 bootstrap entry + 7 subjects.
        #expect(try await auditCount(running) == 8)
    }

    @Test("the WAL is checkpointed beside the writer: once the checkpoint has caught up, the next write starts it again")
    func walCheckpointedInBackground() async throws {
        let store = try open()
        // 600 audited inserts write several thousand WAL pages; SQLite's own checkpoint is off.
        for i in 0..<600 {
            try await insert(store, SubjectRegistration(subjectID: "deadbeef-\(10_000 + i)", email: nil, phone: nil, displayName: nil), clock: clock)
        }
        var pages = Int.max
        for i in 0..<100 where pages >= store.checkpointer.afterPages {
            try await Task.sleep(for: .milliseconds(20))
            try await insert(store, SubjectRegistration(subjectID: "deadbeef-\(11_000 + i)", email: nil, phone: nil, displayName: nil), clock: clock)
            pages = store.checkpointer.lastPages
        }
        #expect(pages < store.checkpointer.afterPages, "the WAL still holds \(pages) pages")
        #expect(try await store.read { try $0.subjectExists(id: "deadbeef-10599") })
    }

    @Test("a stored scope list reads back in order; unknown or empty names are skipped")
    func storedScopes() {
        #expect(SQLiteTransaction.scopes("subjects:write,credentials:verify") == [.subjectsWrite, .credentialsVerify])
        #expect(SQLiteTransaction.scopes("audit:read,,no:such,recovery:write") == [.auditRead, .recoveryWrite])
        #expect(SQLiteTransaction.scopes("").isEmpty)
        #expect(SQLiteTransaction.scopes(Scope.allCases.map(\.rawValue).joined(separator: ",")) == Scope.allCases)
    }

    @Test("migrations are recorded and a second open applies nothing")
    func migrations() async throws {
        let store = try open()
        #expect(try await store.schemaVersion() == Migrations.all.last?.version)
        let conn = try SQLiteConnection(path: path)
        #expect(try SQLiteStore.migrate(conn, now: clock.now()).isEmpty)
    }
}

private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard needle.count <= haystack.count, let first = needle.first else { return false }
    var i = 0
    while i <= haystack.count - needle.count {
        if haystack[i] == first && Array(haystack[i..<(i + needle.count)]) == needle { return true }
        i += 1
    }
    return false
}

private func auditCount(_ store: SQLiteStore) async throws -> Int {
    try await store.auditEntryCount()
}
