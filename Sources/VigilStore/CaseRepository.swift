import Foundation
import VigilCore
import VigilCrypto

/// Cases: the queue fields in the clear, the summary and contact encrypted.
extension SQLiteTransaction {
    private static let caseColumns = """
        id, subject_id, channel, category, priority, status, opened_at, first_response_due, resolution_due,
        first_responded_at, assignee, triage_rules
        """

    private func caseRow(_ row: Statement) throws -> CaseSummary {
        func date(_ i: Int32) -> Date { Timestamp.parse(row.text(i) ?? "") ?? .distantPast }
        guard let channel = CaseChannel(rawValue: row.text(2) ?? ""), let category = CaseCategory(rawValue: row.text(3) ?? ""),
            let priority = CasePriority(rawValue: row.text(4) ?? "")
        else { throw VigilError.dataIntegrity(reason: "cases row with an unknown channel, category or priority") }
        return CaseSummary(
            id: row.text(0) ?? "",
            subjectID: row.text(1),
            channel: channel,
            category: category,
            priority: priority,
            status: row.text(5) ?? "",
            openedAt: date(6),
            firstResponseDue: date(7),
            resolutionDue: date(8),
            firstRespondedAt: row.isNull(9) ? nil : date(9),
            assignee: row.text(10),
            triageRules: (row.text(11) ?? "").split(separator: ",").map(String.init)
        )
    }

    func insertCase(_ c: CaseSummary, summary: String, contact: String?) throws {
        try conn.run(
            """
            INSERT INTO cases (id, subject_id, channel, category, priority, status, summary_ct, contact_ct, triage_rules,
                opened_at, first_response_due, resolution_due)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                .text(c.id), .optionalText(c.subjectID), .text(c.channel.rawValue), .text(c.category.rawValue), .text(c.priority.rawValue),
                .text(c.status), .optionalBlob(try keyring.seal(summary, table: "cases", column: "summary_ct", rowID: c.id)),
                .optionalBlob(try keyring.seal(contact, table: "cases", column: "contact_ct", rowID: c.id)),
                .text(c.triageRules.joined(separator: ",")), .text(Timestamp.format(c.openedAt)), .text(Timestamp.format(c.firstResponseDue)),
                .text(Timestamp.format(c.resolutionDue)),
            ]
        )
    }

    func caseSummary(id: String) throws -> CaseSummary? {
        try conn.queryOne("SELECT \(Self.caseColumns) FROM cases WHERE id = ?", [.text(id)], caseRow)
    }

    func caseText(id: String) throws -> String? {
        try conn.queryOne("SELECT summary_ct FROM cases WHERE id = ?", [.text(id)]) { row in
            try keyring.open(row.blob(0), table: "cases", column: "summary_ct", rowID: id)
        } ?? nil
    }

    func caseQueue(_ f: CaseQueueFilter) throws -> [CaseSummary] {
        var clauses = ["status <> 'closed'"]
        var bindings: [SQLValue] = []
        if let s = f.status {
            clauses = ["status = ?"]
            bindings.append(.text(s))
        }
        if let p = f.priority {
            clauses.append("priority = ?")
            bindings.append(.text(p.rawValue))
        }
        if let c = f.channel {
            clauses.append("channel = ?")
            bindings.append(.text(c.rawValue))
        }
        if let c = f.category {
            clauses.append("category = ?")
            bindings.append(.text(c.rawValue))
        }
        if let a = f.assignee {
            if a.isEmpty {
                clauses.append("assignee IS NULL")
            } else {
                clauses.append("assignee = ?")
                bindings.append(.text(a))
            }
        }
        let due = "CASE WHEN first_responded_at IS NULL THEN first_response_due ELSE resolution_due END"
        if let now = f.breachedAt {
            clauses.append("status <> 'closed' AND \(due) < ?")
            bindings.append(.text(Timestamp.format(now)))
        }
        bindings.append(.int(Int64(max(1, min(f.limit, 500)))))
        return try conn.query(
            "SELECT \(Self.caseColumns) FROM cases WHERE \(clauses.joined(separator: " AND ")) ORDER BY \(due), priority, opened_at LIMIT ?",
            bindings,
            caseRow
        )
    }

    func assignCase(id: String, to agentID: String, at time: Date) throws -> Bool {
        try conn.run(
            """
            UPDATE cases SET assignee = ?, assigned_at = ?, status = CASE WHEN status = 'open' THEN 'in_progress' ELSE status END
            WHERE id = ? AND status <> 'closed'
            """,
            [.text(agentID), .text(Timestamp.format(time)), .text(id)]
        ) == 1
    }
}
