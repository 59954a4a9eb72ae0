import Foundation
import VigilCore
import VigilCrypto

/// The case workflow: notes, verifications, actions, closing and feedback. Free text (notes,
/// reasons, the CSAT comment) and new contact data are encrypted, each bound to its row.
extension SQLiteTransaction {
    private func date(_ row: Statement, _ i: Int32) -> Date? { row.isNull(i) ? nil : Timestamp.parse(row.text(i) ?? "") }
    private func format(_ d: Date?) -> SQLValue { d.map { .text(Timestamp.format($0)) } ?? .null }

    // MARK: reading

    func caseContact(id: String) throws -> String? {
        try conn.queryOne("SELECT contact_ct FROM cases WHERE id = ?", [.text(id)]) { row in
            try keyring.open(row.blob(0), table: "cases", column: "contact_ct", rowID: id)
        } ?? nil
    }

    func caseNotes(caseID: String) throws -> [CaseNote] {
        try conn.query(
            "SELECT id, kind, author, body_ct, created_at FROM case_notes WHERE case_id = ? ORDER BY created_at, rowid",
            [.text(caseID)]
        ) { row in
            let id = row.text(0) ?? ""
            guard let kind = CaseNoteKind(rawValue: row.text(1) ?? "") else {
                throw VigilError.dataIntegrity(reason: "case_notes row with an unknown kind")
            }
            return CaseNote(
                id: id,
                caseID: caseID,
                kind: kind,
                author: row.text(2) ?? "",
                body: try keyring.open(row.blob(3), table: "case_notes", column: "body_ct", rowID: id) ?? "",
                createdAt: date(row, 4) ?? .distantPast
            )
        }
    }

    private static let verificationColumns =
        "id, case_id, check_name, status, agent_id, code_hash, attempts, code_expires_at, created_at, completed_at"

    private func verificationRow(_ row: Statement) throws -> CaseVerification {
        guard let check = RecoveryPolicy.VerificationCheck(rawValue: row.text(2) ?? ""),
            let status = CaseVerification.Status(rawValue: row.text(3) ?? "")
        else { throw VigilError.dataIntegrity(reason: "case_verifications row with an unknown check or status") }
        return CaseVerification(
            id: row.text(0) ?? "",
            caseID: row.text(1) ?? "",
            check: check,
            status: status,
            agentID: row.text(4) ?? "",
            codeHash: row.blob(5),
            attempts: Int(row.int(6)),
            codeExpiresAt: date(row, 7),
            createdAt: date(row, 8) ?? .distantPast,
            completedAt: date(row, 9)
        )
    }

    func caseVerifications(caseID: String) throws -> [CaseVerification] {
        try conn.query(
            "SELECT \(Self.verificationColumns) FROM case_verifications WHERE case_id = ? ORDER BY created_at, rowid",
            [.text(caseID)],
            verificationRow
        )
    }

    func caseVerification(id: String) throws -> CaseVerification? {
        try conn.queryOne("SELECT \(Self.verificationColumns) FROM case_verifications WHERE id = ?", [.text(id)], verificationRow)
    }

    private static let actionColumns = """
        id, case_id, action, status, requested_by, requested_at, reason_ct, params_ct, checks, decided_by, decided_at,
        executed_at, hold_until
        """

    private func actionRow(_ row: Statement) throws -> CaseAction {
        let id = row.text(0) ?? ""
        guard let action = RecoveryPolicy.Action(rawValue: row.text(2) ?? ""), let status = CaseAction.Status(rawValue: row.text(3) ?? "")
        else { throw VigilError.dataIntegrity(reason: "case_actions row with an unknown action or status") }
        var change: CaseAction.ContactChange?
        if let params = try keyring.open(row.blob(7), table: "case_actions", column: "params_ct", rowID: id) {
            change = try? JSONDecoder().decode(CaseAction.ContactChange.self, from: Data(params.utf8))
            if change == nil { throw VigilError.dataIntegrity(reason: "case_actions.params_ct of one row is malformed") }
        }
        return CaseAction(
            id: id,
            caseID: row.text(1) ?? "",
            action: action,
            status: status,
            requestedBy: row.text(4) ?? "",
            requestedAt: date(row, 5) ?? .distantPast,
            reason: try keyring.open(row.blob(6), table: "case_actions", column: "reason_ct", rowID: id) ?? "",
            contactChange: change,
            checks: (row.text(8) ?? "").split(separator: ",").compactMap { RecoveryPolicy.VerificationCheck(rawValue: String($0)) },
            decidedBy: row.text(9),
            decidedAt: date(row, 10),
            executedAt: date(row, 11),
            holdUntil: date(row, 12)
        )
    }

    func caseActions(caseID: String) throws -> [CaseAction] {
        try conn.query(
            "SELECT \(Self.actionColumns) FROM case_actions WHERE case_id = ? ORDER BY requested_at, rowid",
            [.text(caseID)],
            actionRow
        )
    }

    func caseAction(id: String) throws -> CaseAction? {
        try conn.queryOne("SELECT \(Self.actionColumns) FROM case_actions WHERE id = ?", [.text(id)], actionRow)
    }

    func pendingApprovals(limit: Int) throws -> [CaseAction] {
        try conn.query(
            "SELECT \(Self.actionColumns) FROM case_actions WHERE status = 'pending_approval' ORDER BY requested_at, rowid LIMIT ?",
            [.int(Int64(max(1, min(limit, 500))))],
            actionRow
        )
    }

    func caseFeedback(id: String) throws -> CaseFeedback? {
        try conn.queryOne("SELECT csat_score, csat_comment_ct, feedback_at FROM cases WHERE id = ? AND csat_score IS NOT NULL", [.text(id)]) {
            row in
            CaseFeedback(
                score: Int(row.int(0)),
                comment: try keyring.open(row.blob(1), table: "cases", column: "csat_comment_ct", rowID: id),
                at: date(row, 2) ?? .distantPast
            )
        }
    }

    func caseResolution(id: String) throws -> (code: CaseResolution, closedAt: Date)? {
        try conn.queryOne("SELECT resolution_code, closed_at FROM cases WHERE id = ? AND status = 'closed'", [.text(id)]) { row in
            guard let code = CaseResolution(rawValue: row.text(0) ?? ""), let at = date(row, 1) else {
                throw VigilError.dataIntegrity(reason: "a closed case without a resolution code or close time")
            }
            return (code, at)
        } ?? nil
    }

    func verificationCodeDigest(_ code: String, verificationID: String) -> [UInt8] {
        keyring.blindIndex.digest(domain: "case_verifications.code:" + verificationID, value: code)
    }

    func lastCredentialChange(subjectID: String) throws -> Date? {
        try conn.queryOne(
            """
            SELECT max(t) FROM (
                SELECT updated_at AS t FROM passwords WHERE subject_id = ?1 AND updated_at > created_at
                UNION ALL SELECT updated_at FROM subjects WHERE id = ?1 AND updated_at > created_at
                UNION ALL SELECT created_at FROM withdrawal_holds WHERE subject_id = ?1
            )
            """,
            [.text(subjectID)]
        ) { date($0, 0) } ?? nil
    }

    func verificationCodesSent(subjectID: String, check: RecoveryPolicy.VerificationCheck, since: Date) throws -> Int {
        Int(
            try conn.queryOne(
                """
                SELECT count(*) FROM case_verifications v JOIN cases c ON c.id = v.case_id
                WHERE c.subject_id = ? AND v.check_name = ? AND v.code_expires_at IS NOT NULL AND v.created_at > ?
                """,
                [.text(subjectID), .text(check.rawValue), .text(Timestamp.format(since))]
            ) { $0.int(0) } ?? 0
        )
    }

    func caseAuditSeqs(caseID: String) throws -> [UInt64] {
        try conn.query("SELECT seq FROM case_audit WHERE case_id = ? ORDER BY seq", [.text(caseID)]) { UInt64($0.int(0)) }
    }

    func caseSLARecords(openedFrom from: Date, to: Date) throws -> [CaseSLARecord] {
        try conn.query(
            """
            SELECT id, channel, category, priority, opened_at, first_response_due, resolution_due, first_responded_at, closed_at,
                resolution_code, csat_score
            FROM cases WHERE opened_at >= ? AND opened_at < ? ORDER BY opened_at, id
            """,
            [.text(Timestamp.format(from)), .text(Timestamp.format(to))]
        ) { row in
            guard let channel = CaseChannel(rawValue: row.text(1) ?? ""), let category = CaseCategory(rawValue: row.text(2) ?? ""),
                let priority = CasePriority(rawValue: row.text(3) ?? "")
            else { throw VigilError.dataIntegrity(reason: "cases row with an unknown channel, category or priority") }
            return CaseSLARecord(
                id: row.text(0) ?? "",
                channel: channel,
                category: category,
                priority: priority,
                openedAt: date(row, 4) ?? .distantPast,
                firstResponseDue: date(row, 5) ?? .distantPast,
                resolutionDue: date(row, 6) ?? .distantPast,
                firstRespondedAt: date(row, 7),
                closedAt: date(row, 8),
                resolution: row.text(9).flatMap(CaseResolution.init(rawValue:)),
                csatScore: row.isNull(10) ? nil : Int(row.int(10))
            )
        }
    }

    // MARK: writing

    func markFirstResponse(caseID: String, at time: Date) throws -> Bool {
        try conn.run(
            "UPDATE cases SET first_responded_at = ? WHERE id = ? AND first_responded_at IS NULL",
            [.text(Timestamp.format(time)), .text(caseID)]
        ) == 1
    }

    func retriageCase(id: String, priority: CasePriority, firstResponseDue: Date, resolutionDue: Date) throws -> Bool {
        try conn.run(
            "UPDATE cases SET priority = ?, first_response_due = ?, resolution_due = ? WHERE id = ? AND status <> 'closed'",
            [.text(priority.rawValue), .text(Timestamp.format(firstResponseDue)), .text(Timestamp.format(resolutionDue)), .text(id)]
        ) == 1
    }

    func closeCase(id: String, resolution: CaseResolution, at time: Date) throws -> Bool {
        try conn.run(
            "UPDATE cases SET status = 'closed', closed_at = ?, resolution_code = ? WHERE id = ? AND status <> 'closed'",
            [.text(Timestamp.format(time)), .text(resolution.rawValue), .text(id)]
        ) == 1
    }

    func recordCaseFeedback(id: String, _ f: CaseFeedback) throws -> Bool {
        try conn.run(
            """
            UPDATE cases SET csat_score = ?, csat_comment_ct = ?, feedback_at = ?
            WHERE id = ? AND status = 'closed' AND csat_score IS NULL
            """,
            [
                .int(Int64(f.score)), .optionalBlob(try keyring.seal(f.comment, table: "cases", column: "csat_comment_ct", rowID: id)),
                .text(Timestamp.format(f.at)), .text(id),
            ]
        ) == 1
    }

    func insertCaseNote(_ n: CaseNote) throws {
        try conn.run(
            "INSERT INTO case_notes (id, case_id, kind, author, body_ct, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            [
                .text(n.id), .text(n.caseID), .text(n.kind.rawValue), .text(n.author),
                .optionalBlob(try keyring.seal(n.body, table: "case_notes", column: "body_ct", rowID: n.id)), .text(Timestamp.format(n.createdAt)),
            ]
        )
    }

    func insertCaseVerification(_ v: CaseVerification) throws {
        try conn.run(
            """
            INSERT INTO case_verifications (id, case_id, check_name, status, agent_id, code_hash, attempts, code_expires_at,
                created_at, completed_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                .text(v.id), .text(v.caseID), .text(v.check.rawValue), .text(v.status.rawValue), .text(v.agentID), .optionalBlob(v.codeHash),
                .int(Int64(v.attempts)), format(v.codeExpiresAt), .text(Timestamp.format(v.createdAt)), format(v.completedAt),
            ]
        )
    }

    func voidPendingVerificationCodes(subjectID: String, at time: Date) throws -> [CaseVerification] {
        let ids = try conn.query(
            """
            UPDATE case_verifications SET status = 'failed', code_hash = NULL, completed_at = ?
            WHERE status = 'pending' AND case_id IN (SELECT id FROM cases WHERE subject_id = ?)
            RETURNING id
            """,
            [.text(Timestamp.format(time)), .text(subjectID)]
        ) { $0.text(0) ?? "" }
        return try ids.sorted().compactMap { try caseVerification(id: $0) }
    }

    func cancelPendingActions(requestedBy agentID: String, at time: Date) throws -> [CaseAction] {
        let ids = try conn.query(
            """
            UPDATE case_actions SET status = 'cancelled'
            WHERE requested_by = ? AND status = 'pending_approval'
            RETURNING id
            """,
            [.text(agentID)]
        ) { $0.text(0) ?? "" }
        return try ids.sorted().compactMap { try caseAction(id: $0) }
    }

    func updateCaseVerification(_ v: CaseVerification) throws {
        try conn.run(
            "UPDATE case_verifications SET status = ?, attempts = ?, completed_at = ?, code_hash = ? WHERE id = ?",
            [.text(v.status.rawValue), .int(Int64(v.attempts)), format(v.completedAt), .optionalBlob(v.codeHash), .text(v.id)]
        )
    }

    private func sealedParams(_ a: CaseAction) throws -> SQLValue {
        guard let change = a.contactChange else { return .null }
        let json = String(decoding: try JSONEncoder().encode(change), as: UTF8.self)
        return .optionalBlob(try keyring.seal(json, table: "case_actions", column: "params_ct", rowID: a.id))
    }

    func insertCaseAction(_ a: CaseAction) throws {
        try conn.run(
            """
            INSERT INTO case_actions (id, case_id, action, status, requested_by, requested_at, reason_ct, params_ct, checks,
                decided_by, decided_at, executed_at, hold_until)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                .text(a.id), .text(a.caseID), .text(a.action.rawValue), .text(a.status.rawValue), .text(a.requestedBy),
                .text(Timestamp.format(a.requestedAt)),
                .optionalBlob(try keyring.seal(a.reason, table: "case_actions", column: "reason_ct", rowID: a.id)), try sealedParams(a),
                .text(a.checks.map(\.rawValue).joined(separator: ",")), .optionalText(a.decidedBy), format(a.decidedAt), format(a.executedAt),
                format(a.holdUntil),
            ]
        )
    }

    func updateCaseAction(_ a: CaseAction, from: CaseAction.Status) throws -> Bool {
        try conn.run(
            """
            UPDATE case_actions SET status = ?, decided_by = ?, decided_at = ?, executed_at = ?, hold_until = ?
            WHERE id = ? AND status = ?
            """,
            [
                .text(a.status.rawValue), .optionalText(a.decidedBy), format(a.decidedAt), format(a.executedAt), format(a.holdUntil),
                .text(a.id), .text(from.rawValue),
            ]
        ) == 1
    }

    func updateSubjectContact(subjectID: String, email: String?, phone: String?, at time: Date) throws {
        if let email {
            try conn.run(
                "UPDATE subjects SET email_ct = ?, email_bidx = ?, updated_at = ? WHERE id = ?",
                [
                    .optionalBlob(try keyring.seal(email, table: "subjects", column: "email_ct", rowID: subjectID)),
                    .blob(keyring.blindIndex.digest(domain: "subjects.email", value: email)), .text(Timestamp.format(time)), .text(subjectID),
                ]
            )
        }
        if let phone {
            try conn.run(
                "UPDATE subjects SET phone_ct = ?, phone_bidx = ?, updated_at = ? WHERE id = ?",
                [
                    .optionalBlob(try keyring.seal(phone, table: "subjects", column: "phone_ct", rowID: subjectID)),
                    .blob(keyring.blindIndex.digest(domain: "subjects.phone", value: phone)), .text(Timestamp.format(time)), .text(subjectID),
                ]
            )
        }
    }

    func linkCaseSubject(caseID: String, subjectID: String) throws -> Bool {
        try conn.run(
            "UPDATE cases SET subject_id = ? WHERE id = ? AND subject_id IS NULL AND status <> 'closed'",
            [.text(subjectID), .text(caseID)]
        ) == 1
    }

    func unfreezeAccount(subjectID: String) throws -> Bool {
        try conn.run("DELETE FROM account_freezes WHERE subject_id = ?", [.text(subjectID)]) == 1
    }

    /// Files an audit entry under its case: entries whose target is a case, or whose details
    /// name one (`case_id`), so the case file can find them. Called with the append.
    func indexCaseAudit(_ event: AuditRecord) throws {
        var caseID: String?
        if let target = event.target, target.type == "case" { caseID = target.id }
        if case .string(let id)? = event.details["case_id"] { caseID = id }
        guard let caseID else { return }
        try conn.run(
            "INSERT INTO case_audit (case_id, seq) SELECT ?, max(seq) FROM audit_entries",
            [.text(caseID)]
        )
    }
}
