import Foundation
import VigilCore
import VigilCrypto

/// Reset requests (encrypted identifiers), reset tokens (SHA-256 only), withdrawal holds.
extension SQLiteTransaction {
    func enqueueResetRequest(id: String, identifier: String, sourceIP: String?, at time: Date) throws {
        try conn.run(
            "INSERT INTO password_reset_requests (id, identifier_ct, source_ip_ct, received_at) VALUES (?, ?, ?, ?)",
            [
                .text(id), .optionalBlob(try keyring.seal(identifier, table: "password_reset_requests", column: "identifier_ct", rowID: id)),
                .optionalBlob(try keyring.seal(sourceIP, table: "password_reset_requests", column: "source_ip_ct", rowID: id)),
                .text(Timestamp.format(time)),
            ]
        )
    }

    func claimResetRequests(limit: Int, at time: Date) throws -> [PendingResetRequest] {
        let rows = try conn.query(
            """
            UPDATE password_reset_requests SET processed_at = ?
            WHERE id IN (SELECT id FROM password_reset_requests WHERE processed_at IS NULL ORDER BY received_at LIMIT ?)
            RETURNING id, identifier_ct, source_ip_ct, received_at
            """,
            [.text(Timestamp.format(time)), .int(Int64(limit))]
        ) { row in (row.text(0) ?? "", row.blob(1), row.blob(2), row.text(3) ?? "") }
        return try rows.map { id, identifier, ip, received in
            PendingResetRequest(
                id: id,
                identifier: try keyring.open(identifier, table: "password_reset_requests", column: "identifier_ct", rowID: id) ?? "",
                sourceIP: try keyring.open(ip, table: "password_reset_requests", column: "source_ip_ct", rowID: id),
                receivedAt: Timestamp.parse(received) ?? time
            )
        }.sorted { $0.receivedAt < $1.receivedAt }
    }

    func latestResetTokenTime(subjectID: String) throws -> Date? {
        try conn.queryOne(
            "SELECT max(created_at) FROM password_reset_tokens WHERE subject_id = ?",
            [.text(subjectID)],
            { $0.text(0) }
        ).flatMap { $0 }.flatMap(Timestamp.parse)
    }

    func issueResetToken(hash: [UInt8], subjectID: String, at time: Date, expires: Date) throws {
        try voidResetTokens(subjectID: subjectID, at: time)
        try conn.run(
            "INSERT INTO password_reset_tokens (token_hash, subject_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
            [.blob(hash), .text(subjectID), .text(Timestamp.format(time)), .text(Timestamp.format(expires))]
        )
    }

    func resetTokenSubject(hash: [UInt8], at time: Date) throws -> String? {
        try conn.queryOne(
            """
            SELECT subject_id FROM password_reset_tokens
            WHERE token_hash = ? AND used_at IS NULL AND voided_at IS NULL AND expires_at > ?
            """,
            [.blob(hash), .text(Timestamp.format(time))],
            { $0.text(0) }
        ) ?? nil
    }

    func voidedResetTokenSubject(hash: [UInt8], at time: Date) throws -> String? {
        try conn.queryOne(
            """
            SELECT subject_id FROM password_reset_tokens
            WHERE token_hash = ? AND used_at IS NULL AND voided_at IS NOT NULL AND expires_at > ?
            """,
            [.blob(hash), .text(Timestamp.format(time))],
            { $0.text(0) }
        ) ?? nil
    }

    func consumeResetToken(hash: [UInt8], at time: Date) throws -> String? {
        try conn.queryOne(
            """
            UPDATE password_reset_tokens SET used_at = ?
            WHERE token_hash = ? AND used_at IS NULL AND voided_at IS NULL AND expires_at > ?
            RETURNING subject_id
            """,
            [.text(Timestamp.format(time)), .blob(hash), .text(Timestamp.format(time))],
            { $0.text(0) }
        ) ?? nil
    }

    @discardableResult
    func voidResetTokens(subjectID: String, at time: Date) throws -> Int {
        try conn.run(
            "UPDATE password_reset_tokens SET voided_at = ? WHERE subject_id = ? AND used_at IS NULL AND voided_at IS NULL",
            [.text(Timestamp.format(time)), .text(subjectID)]
        )
    }

    func withdrawalHold(subjectID: String) throws -> Date? {
        try conn.queryOne("SELECT until FROM withdrawal_holds WHERE subject_id = ?", [.text(subjectID)], { $0.text(0) })
            .flatMap { $0 }.flatMap(Timestamp.parse)
    }

    func holdWithdrawals(subjectID: String, until: Date, at time: Date) throws {
        try conn.run(
            """
            INSERT INTO withdrawal_holds (subject_id, until, created_at) VALUES (?, ?, ?)
            ON CONFLICT (subject_id) DO UPDATE SET until = max(until, excluded.until), created_at = excluded.created_at
            """,
            [.text(subjectID), .text(Timestamp.format(until)), .text(Timestamp.format(time))]
        )
    }
}
