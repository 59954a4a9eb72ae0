import Foundation
import VigilCore

/// Password verifiers (argon2id strings; see migration 3).
extension SQLiteTransaction {
    func password(subjectID: String) throws -> PasswordRecord? {
        try conn.queryOne(
            "SELECT hash, created_at, updated_at FROM passwords WHERE subject_id = ?",
            [.text(subjectID)]
        ) { row in
            PasswordRecord(
                hash: row.text(0) ?? "",
                createdAt: Timestamp.parse(row.text(1) ?? "") ?? .distantPast,
                updatedAt: Timestamp.parse(row.text(2) ?? "") ?? .distantPast
            )
        }
    }

    func setPassword(subjectID: String, hash: String, at time: Date) throws -> Bool {
        let replacing = try conn.queryOne("SELECT 1 FROM passwords WHERE subject_id = ?", [.text(subjectID)]) { $0.int(0) } != nil
        let ts = Timestamp.format(time)
        try conn.run(
            """
            INSERT INTO passwords (subject_id, hash, created_at, updated_at) VALUES (?, ?, ?, ?)
            ON CONFLICT (subject_id) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at
            """,
            [.text(subjectID), .text(hash), .text(ts), .text(ts)]
        )
        return replacing
    }

    func rehashPassword(subjectID: String, from expected: String, to hash: String, at time: Date) throws -> Bool {
        try conn.run(
            // A rehash keeps the password: updated_at stays the time it last changed.
            "UPDATE passwords SET hash = ? WHERE subject_id = ? AND hash = ?",
            [.text(hash), .text(subjectID), .text(expected)]
        ) == 1
    }
}
