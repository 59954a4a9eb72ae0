import Foundation
import VigilCore
import VigilCrypto

/// Repositories over one connection inside one transaction.
struct SQLiteTransaction: StoreWriting {
    let conn: SQLiteConnection
    let keyring: Keyring
    let signing: AuditSigning
    /// Set on the group-commit path, where the store acts on it after COMMIT.
    var effects: WriteEffects? = nil
    /// The writer's in-memory audit tree state; nil outside the writer's transactions.
    var auditTip: AuditTip? = nil

    // MARK: subjects

    func subject(id: String) throws -> Subject? {
        try conn.queryOne(
            "SELECT id, email_ct, phone_ct, display_name_ct, created_at FROM subjects WHERE id = ?",
            [.text(id)]
        ) { row in
            let rowID = row.text(0) ?? ""
            return Subject(
                subjectID: rowID,
                email: try keyring.open(row.blob(1), table: "subjects", column: "email_ct", rowID: rowID),
                phone: try keyring.open(row.blob(2), table: "subjects", column: "phone_ct", rowID: rowID),
                displayName: try keyring.open(row.blob(3), table: "subjects", column: "display_name_ct", rowID: rowID),
                createdAt: Timestamp.parse(row.text(4) ?? "") ?? .distantPast
            )
        }
    }

    func subjectExists(id: String) throws -> Bool {
        try conn.queryOne("SELECT 1 FROM subjects WHERE id = ?", [.text(id)], { $0.int(0) }) != nil
    }

    /// The one subject with this email; an address that two subjects share (registered before
    /// registration refused it) is ambiguous: 409, never the first of them.
    func subjectID(email: String) throws -> String? {
        let normalised = try SubjectRegistration.normaliseEmail(email)
        let ids = try conn.query(
            "SELECT id FROM subjects WHERE email_bidx = ? LIMIT 2",
            [.blob(keyring.blindIndex.digest(domain: "subjects.email", value: normalised))]
        ) { $0.text(0) ?? "" }
        guard ids.count < 2 else { throw VigilError.conflict(reason: "more than one account has this email; name the account by its subject id") }
        return ids.first
    }

    func subjectID(phone: String) throws -> String? {
        let normalised = try SubjectRegistration.normalisePhone(phone)
        let ids = try conn.query(
            "SELECT id FROM subjects WHERE phone_bidx = ? LIMIT 2",
            [.blob(keyring.blindIndex.digest(domain: "subjects.phone", value: normalised))]
        ) { $0.text(0) ?? "" }
        guard ids.count < 2 else { throw VigilError.conflict(reason: "more than one account has this phone; name the account by its subject id") }
        return ids.first
    }

    func insertSubject(_ s: SubjectRegistration, at time: Date) throws {
        let id = s.subjectID
        let exists = try conn.queryOne("SELECT 1 FROM subjects WHERE id = ?", [.text(id)]) { $0.int(0) }
        if exists != nil { throw VigilError.alreadyExists(resource: "subject") }
        // An email or phone is one account's: look-ups by it (resets, cases) must name one subject.
        if let email = s.email, try subjectID(email: email) != nil {
            throw VigilError.conflict(reason: "the email belongs to another account")
        }
        if let phone = s.phone, try subjectID(phone: phone) != nil {
            throw VigilError.conflict(reason: "the phone belongs to another account")
        }
        let ts = Timestamp.format(time)
        try conn.run(
            """
            INSERT INTO subjects (id, email_ct, phone_ct, display_name_ct, email_bidx, phone_bidx, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                .text(id),
                .optionalBlob(try keyring.seal(s.email, table: "subjects", column: "email_ct", rowID: id)),
                .optionalBlob(try keyring.seal(s.phone, table: "subjects", column: "phone_ct", rowID: id)),
                .optionalBlob(try keyring.seal(s.displayName, table: "subjects", column: "display_name_ct", rowID: id)),
                .optionalBlob(s.email.map { keyring.blindIndex.digest(domain: "subjects.email", value: $0) }),
                .optionalBlob(s.phone.map { keyring.blindIndex.digest(domain: "subjects.phone", value: $0) }),
                .text(ts), .text(ts),
            ]
        )
    }

    // MARK: API keys

    private func apiKeyRecord(_ row: Statement) -> APIKeyRecord {
        APIKeyRecord(
            id: row.text(0) ?? "",
            name: row.text(1) ?? "",
            secretHash: row.blob(2) ?? [],
            scopes: Self.scopes(row.text(3) ?? ""),
            createdAt: Timestamp.parse(row.text(4) ?? "") ?? .distantPast,
            revokedAt: row.text(5).flatMap { Timestamp.parse($0) }
        )
    }

    /// The stored comma-separated scope list; unknown names are skipped. Matched on the UTF-8
    /// bytes (this runs on every service request).
    static func scopes(_ text: String) -> [Scope] {
        var scopes: [Scope] = []
        for part in text.utf8.split(separator: UInt8(ascii: ",")) {
            if let scope = Scope.allCases.first(where: { $0.rawValue.utf8.elementsEqual(part) }) { scopes.append(scope) }
        }
        return scopes
    }

    func apiKey(id: String) throws -> APIKeyRecord? {
        try conn.queryOne(
            "SELECT id, name, secret_hash, scopes, created_at, revoked_at FROM api_keys WHERE id = ?",
            [.text(id)],
            apiKeyRecord
        )
    }

    func apiKeys() throws -> [APIKeyRecord] {
        try conn.query("SELECT id, name, secret_hash, scopes, created_at, revoked_at FROM api_keys ORDER BY created_at", [], apiKeyRecord)
    }

    func insertAPIKey(_ key: APIKeyRecord) throws {
        try conn.run(
            "INSERT INTO api_keys (id, name, secret_hash, scopes, created_at) VALUES (?, ?, ?, ?, ?)",
            [
                .text(key.id), .text(key.name), .blob(key.secretHash), .text(key.scopes.map(\.rawValue).joined(separator: ",")),
                .text(Timestamp.format(key.createdAt)),
            ]
        )
    }

    func revokeAPIKey(id: String, at time: Date) throws -> Bool {
        try conn.run(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            [.text(Timestamp.format(time)), .text(id)]
        ) == 1
    }

    // MARK: audit

    func appendAudit(_ event: AuditRecord) throws {
        try AuditAppender.append(event, conn: conn, keyring: keyring, signing: signing, tip: auditTip)
        try indexCaseAudit(event)
    }
}
