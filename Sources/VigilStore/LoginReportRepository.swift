import Foundation
import VigilCore
import VigilCrypto

/// Suspicious-login reports (ip, user agent, device id and reason encrypted, bound to table,
/// column and report id; the device also as a keyed hash per subject), idempotency records,
/// account freezes, pending cases and the second-factor failure log.
extension SQLiteTransaction {
    private func deviceIndex(subjectID: String, deviceID: String) -> [UInt8] {
        keyring.blindIndex.digest(domain: "login_reports.device_id", value: "\(subjectID)\u{0}\(deviceID)")
    }

    func loginHistory(subjectID: String, deviceID: String, since: Date) throws -> [LoginHistoryEntry] {
        let device = deviceIndex(subjectID: subjectID, deviceID: deviceID)
        return try conn.query(
            """
            SELECT occurred_at, country, device_bidx FROM login_reports
            WHERE subject_id = ? AND source = ? AND decision <> 'freeze' AND occurred_at >= ? ORDER BY occurred_at
            """,
            [.text(subjectID), .text(LoginReport.Source.riskEngine.rawValue), .text(Timestamp.format(since))]
        ) { row in
            LoginHistoryEntry(
                occurredAt: Timestamp.parse(row.text(0) ?? "") ?? .distantPast,
                country: row.text(1) ?? "",
                sameDevice: (row.blob(2) ?? []) == device
            )
        }
    }

    func loginReport(id: String) throws -> StoredLoginReport? {
        let table = "login_reports"
        return try conn.queryOne(
            """
            SELECT subject_id, occurred_at, country, source, ip_ct, user_agent_ct, device_id_ct, reason_ct,
                decision, score, rules, reported_at
            FROM login_reports WHERE id = ?
            """,
            [.text(id)]
        ) { row in
            guard let source = LoginReport.Source(rawValue: row.text(3) ?? ""),
                let decision = RecoveryPolicy.SuspiciousLogin.Decision(rawValue: row.text(8) ?? "")
            else { throw VigilError.dataIntegrity(reason: "login_reports.source or decision of one row is unknown") }
            let rules = (row.text(10) ?? "").split(separator: ",").compactMap {
                RecoveryPolicy.SuspiciousLogin.Rule(rawValue: String($0))
            }
            return StoredLoginReport(
                id: id,
                report: LoginReport(
                    subjectID: row.text(0) ?? "",
                    occurredAt: Timestamp.parse(row.text(1) ?? "") ?? .distantPast,
                    ip: try keyring.open(row.blob(4), table: table, column: "ip_ct", rowID: id) ?? "",
                    userAgent: try keyring.open(row.blob(5), table: table, column: "user_agent_ct", rowID: id) ?? "",
                    deviceID: try keyring.open(row.blob(6), table: table, column: "device_id_ct", rowID: id) ?? "",
                    country: row.text(2) ?? "",
                    source: source,
                    reason: try keyring.open(row.blob(7), table: table, column: "reason_ct", rowID: id)
                ),
                outcome: .init(decision: decision, score: Int(row.int(9)), rules: rules),
                reportedAt: Timestamp.parse(row.text(11) ?? "") ?? .distantPast
            )
        }
    }

    func insertLoginReport(_ stored: StoredLoginReport) throws {
        let r = stored.report
        let id = stored.id
        let table = "login_reports"
        try conn.run(
            """
            INSERT INTO login_reports (id, subject_id, occurred_at, country, source, ip_ct, user_agent_ct, device_id_ct,
                device_bidx, reason_ct, decision, score, rules, reported_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                .text(id), .text(r.subjectID), .text(Timestamp.format(r.occurredAt)), .text(r.country), .text(r.source.rawValue),
                .optionalBlob(try keyring.seal(r.ip, table: table, column: "ip_ct", rowID: id)),
                .optionalBlob(try keyring.seal(r.userAgent, table: table, column: "user_agent_ct", rowID: id)),
                .optionalBlob(try keyring.seal(r.deviceID, table: table, column: "device_id_ct", rowID: id)),
                .blob(deviceIndex(subjectID: r.subjectID, deviceID: r.deviceID)),
                .optionalBlob(try keyring.seal(r.reason, table: table, column: "reason_ct", rowID: id)),
                .text(stored.outcome.decision.rawValue), .int(Int64(stored.outcome.score)),
                .text(stored.outcome.rules.map(\.rawValue).joined(separator: ",")), .text(Timestamp.format(stored.reportedAt)),
            ]
        )
    }

    // MARK: idempotency

    private func requestHash(scope: String, key: String, fingerprint: String) -> [UInt8] {
        keyring.blindIndex.digest(domain: "idempotency_keys", value: "\(scope)\u{0}\(key)\u{0}\(fingerprint)")
    }

    func idempotencyMatch(scope: String, key: String, fingerprint: String) throws -> IdempotencyMatch {
        guard
            let (hash, resource) = try conn.queryOne(
                "SELECT request_hash, resource_id FROM idempotency_keys WHERE scope = ? AND key = ?",
                [.text(scope), .text(key)],
                { ($0.blob(0) ?? [], $0.text(1) ?? "") }
            )
        else { return .new }
        return hash == requestHash(scope: scope, key: key, fingerprint: fingerprint) ? .replay(resourceID: resource) : .conflict
    }

    func saveIdempotency(scope: String, key: String, fingerprint: String, resourceID: String, at time: Date) throws {
        try conn.run(
            "INSERT INTO idempotency_keys (scope, key, request_hash, resource_id, created_at) VALUES (?, ?, ?, ?, ?)",
            [
                .text(scope), .text(key), .blob(requestHash(scope: scope, key: key, fingerprint: fingerprint)), .text(resourceID),
                .text(Timestamp.format(time)),
            ]
        )
    }

    // MARK: freezes and pending cases

    func accountFreeze(subjectID: String) throws -> AccountFreeze? {
        try conn.queryOne("SELECT frozen_at, report_id FROM account_freezes WHERE subject_id = ?", [.text(subjectID)]) { row in
            AccountFreeze(
                subjectID: subjectID,
                frozenAt: Timestamp.parse(row.text(0) ?? "") ?? .distantPast,
                reportID: row.text(1) ?? ""
            )
        }
    }

    func freezeAccount(_ freeze: AccountFreeze) throws -> Bool {
        try conn.run(
            "INSERT INTO account_freezes (subject_id, frozen_at, report_id) VALUES (?, ?, ?) ON CONFLICT (subject_id) DO NOTHING",
            [.text(freeze.subjectID), .text(Timestamp.format(freeze.frozenAt)), .text(freeze.reportID)]
        ) == 1
    }

    func pendingCases(subjectID: String) throws -> [PendingCase] {
        try conn.query(
            """
            SELECT id, category, priority, report_id, created_at FROM pending_cases
            WHERE subject_id = ? ORDER BY created_at, id
            """,
            [.text(subjectID)]
        ) { row in
            PendingCase(
                id: row.text(0) ?? "",
                subjectID: subjectID,
                category: row.text(1) ?? "",
                priority: row.text(2) ?? "",
                reportID: row.text(3) ?? "",
                createdAt: Timestamp.parse(row.text(4) ?? "") ?? .distantPast
            )
        }
    }

    func insertPendingCase(_ p: PendingCase) throws {
        try conn.run(
            "INSERT INTO pending_cases (id, subject_id, category, priority, report_id, created_at, opened_case_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                .text(p.id), .text(p.subjectID), .text(p.category), .text(p.priority), .text(p.reportID), .text(Timestamp.format(p.createdAt)),
                .text(p.id),
            ]
        )
    }

    // MARK: second-factor failures

    func secondFactorFailures(subjectID: String, since: Date) throws -> Int {
        try conn.query(
            "SELECT recent_failures FROM factor_failures WHERE subject_id = ? AND factor IN ('totp', 'recovery_code')",
            [.text(subjectID)]
        ) { row in
            FactorCounters(recentFailures: Self.failureTimes(row.text(0))).failures(since: since)
        }.reduce(0, +)
    }
}
