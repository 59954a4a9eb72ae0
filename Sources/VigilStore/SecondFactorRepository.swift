import Foundation
import VigilCore
import VigilCrypto

/// TOTP secrets (encrypted, bound to table, column and subject), factor failure counters,
/// recovery codes (keyed hashes) and rate counters.
extension SQLiteTransaction {
    /// A credential or enrolment from six columns from `first` on: secret_ct, algorithm, digits,
    /// period, last step, since.
    private func totpRecord(_ table: String, _ row: Statement, subjectID: String, first c: Int32 = 0) throws -> TOTPRecord {
        guard let algorithm = OneTimePassword.Algorithm(rawValue: row.text(c + 1) ?? "") else {
            throw VigilError.dataIntegrity(reason: "\(table).algorithm of one row is unknown")
        }
        return TOTPRecord(
            secret: try keyring.openSecret(row.blob(c) ?? [], table: table, column: "secret_ct", rowID: subjectID),
            algorithm: algorithm,
            digits: Int(row.int(c + 2)),
            period: Int(row.int(c + 3)),
            lastStep: row.isNull(c + 4) ? nil : UInt64(row.int(c + 4)),
            since: Timestamp.parse(row.text(c + 5) ?? "") ?? .distantPast
        )
    }

    /// A failure state from two columns from `first` on: consecutive, locked_until.
    private func factorState(_ row: Statement, first c: Int32 = 0) -> FactorState {
        let until = row.text(c + 1)
        return FactorState(
            consecutiveFailures: Int(row.int(c)),
            lockedUntil: until.flatMap { $0 == Self.indefinite ? nil : Timestamp.parse($0) },
            lockedIndefinitely: until == Self.indefinite
        )
    }

    func totpCredential(subjectID: String) throws -> TOTPRecord? {
        try conn.queryOne(
            "SELECT secret_ct, algorithm, digits, period, last_step, activated_at FROM totp_credentials WHERE subject_id = ?",
            [.text(subjectID)]
        ) { try totpRecord("totp_credentials", $0, subjectID: subjectID) }
    }

    func totpEnrolment(subjectID: String) throws -> TOTPRecord? {
        try conn.queryOne(
            "SELECT secret_ct, algorithm, digits, period, NULL, created_at FROM totp_enrolments WHERE subject_id = ?",
            [.text(subjectID)]
        ) { try totpRecord("totp_enrolments", $0, subjectID: subjectID) }
    }

    func saveTOTPEnrolment(subjectID: String, _ record: TOTPRecord) throws {
        try conn.run(
            """
            INSERT INTO totp_enrolments (subject_id, secret_ct, algorithm, digits, period, created_at) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (subject_id) DO UPDATE SET secret_ct = excluded.secret_ct, algorithm = excluded.algorithm,
                digits = excluded.digits, period = excluded.period, created_at = excluded.created_at
            """,
            [
                .text(subjectID),
                .blob(try keyring.sealSecret(record.secret, table: "totp_enrolments", column: "secret_ct", rowID: subjectID)),
                .text(record.algorithm.rawValue), .int(Int64(record.digits)), .int(Int64(record.period)),
                .text(Timestamp.format(record.since)),
            ]
        )
    }

    func activateTOTP(subjectID: String, acceptedStep: UInt64, at time: Date) throws {
        guard let pending = try totpEnrolment(subjectID: subjectID) else { throw VigilError.notFound(resource: "totp enrolment") }
        // Re-encrypted for its new table: the associated data names the table.
        try conn.run(
            """
            INSERT INTO totp_credentials (subject_id, secret_ct, algorithm, digits, period, last_step, activated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (subject_id) DO UPDATE SET secret_ct = excluded.secret_ct, algorithm = excluded.algorithm,
                digits = excluded.digits, period = excluded.period, last_step = excluded.last_step, activated_at = excluded.activated_at
            """,
            [
                .text(subjectID),
                .blob(try keyring.sealSecret(pending.secret, table: "totp_credentials", column: "secret_ct", rowID: subjectID)),
                .text(pending.algorithm.rawValue), .int(Int64(pending.digits)), .int(Int64(pending.period)),
                .int(Int64(acceptedStep)), .text(Timestamp.format(time)),
            ]
        )
        try conn.run("DELETE FROM totp_enrolments WHERE subject_id = ?", [.text(subjectID)])
    }

    func removeTOTP(subjectID: String) throws -> Bool {
        let a = try conn.run("DELETE FROM totp_credentials WHERE subject_id = ?", [.text(subjectID)])
        let b = try conn.run("DELETE FROM totp_enrolments WHERE subject_id = ?", [.text(subjectID)])
        return a + b > 0
    }

    func advanceTOTPStep(subjectID: String, to step: UInt64) throws -> Bool {
        try conn.run(
            "UPDATE totp_credentials SET last_step = ? WHERE subject_id = ? AND (last_step IS NULL OR last_step < ?)",
            [.int(Int64(step)), .text(subjectID), .int(Int64(step))]
        ) == 1
    }

    // MARK: failures and locks

    private static let indefinite = "indefinite"

    func factorState(subjectID: String, factor: AuthenticationPolicy.Factor) throws -> FactorState {
        try conn.queryOne(
            "SELECT consecutive, locked_until FROM factor_failures WHERE subject_id = ? AND factor = ?",
            [.text(subjectID), .text(factor.rawValue)]
        ) { factorState($0) } ?? .clear
    }

    func setFactorState(subjectID: String, factor: AuthenticationPolicy.Factor, _ state: FactorState) throws {
        if state == .clear {
            // The row stays: a one-time-code factor's row also holds its request counter and
            // recent failures, which a success or an unlock does not undo.
            try conn.run(
                "UPDATE factor_failures SET consecutive = 0, locked_until = NULL WHERE subject_id = ? AND factor = ?",
                [.text(subjectID), .text(factor.rawValue)]
            )
            return
        }
        let until: SQLValue =
            state.lockedIndefinitely ? .text(Self.indefinite) : .optionalText(state.lockedUntil.map(Timestamp.format))
        try conn.run(
            """
            INSERT INTO factor_failures (subject_id, factor, consecutive, locked_until) VALUES (?, ?, ?, ?)
            ON CONFLICT (subject_id, factor) DO UPDATE SET consecutive = excluded.consecutive, locked_until = excluded.locked_until
            """,
            [.text(subjectID), .text(factor.rawValue), .int(Int64(state.consecutiveFailures)), until]
        )
    }

    // MARK: recovery codes

    private func recoveryCodeHash(subjectID: String, code: String) -> [UInt8] {
        keyring.blindIndex.digest(domain: "recovery_codes", value: "\(subjectID)\u{0}\(code)")
    }

    func recoveryCodesRemaining(subjectID: String) throws -> Int {
        Int(
            try conn.queryOne(
                "SELECT count(*) FROM recovery_codes WHERE subject_id = ? AND used_at IS NULL",
                [.text(subjectID)],
                { $0.int(0) }
            ) ?? 0
        )
    }

    func replaceRecoveryCodes(subjectID: String, codes: [String], setID: String, at time: Date) throws {
        try conn.run("DELETE FROM recovery_codes WHERE subject_id = ?", [.text(subjectID)])
        for code in codes {
            try conn.run(
                "INSERT INTO recovery_codes (subject_id, code_hash, set_id, created_at) VALUES (?, ?, ?, ?)",
                [.text(subjectID), .blob(recoveryCodeHash(subjectID: subjectID, code: code)), .text(setID), .text(Timestamp.format(time))]
            )
        }
    }

    func consumeRecoveryCode(subjectID: String, code: String, at time: Date) throws -> Bool {
        try conn.run(
            "UPDATE recovery_codes SET used_at = ? WHERE subject_id = ? AND code_hash = ? AND used_at IS NULL",
            [.text(Timestamp.format(time)), .text(subjectID), .blob(recoveryCodeHash(subjectID: subjectID, code: code))]
        ) == 1
    }

    // MARK: rate counters

    func countRequest(key: String, limit: Int, windowSeconds: Int, now: Date) throws -> Int? {
        // The key may hold an IP address or an identifier: stored only as a keyed hash.
        let stored = keyring.pseudonym("rate", key)
        // Read, then write, inside the caller's transaction (the writer's: nothing else writes
        // between the two). An upsert with RETURNING would do it in one statement, but SQLite
        // builds a temporary table for every RETURNING.
        let current = try conn.queryOne("SELECT rowid, window_start, count FROM rate_counters WHERE key = ?", [.text(stored)]) {
            (rowID: $0.int(0), window: RateWindow(windowStart: $0.int(1), count: $0.int(2)))
        }
        let (next, retry) = (current?.window ?? RateWindow()).counted(limit: limit, windowSeconds: windowSeconds, now: now)
        if let current {
            try conn.run(
                "UPDATE rate_counters SET window_start = ?, count = ? WHERE rowid = ?",
                [.int(next.windowStart), .int(next.count), .int(current.rowID)]
            )
        } else {
            try conn.run(
                "INSERT INTO rate_counters (key, window_start, count) VALUES (?, ?, ?)",
                [.text(stored), .int(next.windowStart), .int(next.count)]
            )
        }
        return retry
    }

    // MARK: one-time-code factors: one row of counters, and one read per check

    /// `factor_failures` columns 2…4 (from `first` on): rate_window, rate_count, recent_failures.
    private func factorCounters(_ row: Statement, state: FactorState, first c: Int32) -> FactorCounters {
        FactorCounters(
            state: state,
            rate: RateWindow(windowStart: row.int(c), count: row.int(c + 1)),
            recentFailures: Self.failureTimes(row.text(c + 2))
        )
    }

    /// `factor_failures.recent_failures`: milliseconds since 1970, comma-separated.
    static func failureTimes(_ text: String?) -> [Int64] {
        (text ?? "").split(separator: ",").compactMap { Int64($0) }
    }

    static func failureTimesText(_ times: [Int64]) -> String {
        times.map(String.init).joined(separator: ",")
    }

    func factorCounters(subjectID: String, factor: AuthenticationPolicy.Factor) throws -> FactorCounters {
        try conn.queryOne(
            """
            SELECT consecutive, locked_until, rate_window, rate_count, recent_failures FROM factor_failures
            WHERE subject_id = ? AND factor = ?
            """,
            [.text(subjectID), .text(factor.rawValue)]
        ) { factorCounters($0, state: factorState($0), first: 2) } ?? FactorCounters()
    }

    func saveFactorCounters(subjectID: String, factor: AuthenticationPolicy.Factor, _ counters: FactorCounters) throws {
        let state = counters.state
        let until: SQLValue =
            state.lockedIndefinitely ? .text(Self.indefinite) : .optionalText(state.lockedUntil.map(Timestamp.format))
        try conn.run(
            """
            INSERT INTO factor_failures (subject_id, factor, consecutive, locked_until, rate_window, rate_count, recent_failures)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (subject_id, factor) DO UPDATE SET consecutive = excluded.consecutive, locked_until = excluded.locked_until,
                rate_window = excluded.rate_window, rate_count = excluded.rate_count, recent_failures = excluded.recent_failures
            """,
            [
                .text(subjectID), .text(factor.rawValue), .int(Int64(state.consecutiveFailures)), until,
                .int(counters.rate.windowStart), .int(counters.rate.count),
                .text(Self.failureTimesText(counters.recentFailures)),
            ]
        )
    }

    /// One statement instead of six (subject, freeze, rate counter, failure state, credential,
    /// recovery codes left): every TOTP verify starts with these, and each statement costs the
    /// writer — which every write of the service waits for — a VM run and a B-tree descent.
    /// Each joined table has at most one row per subject (primary or unique keys), so the
    /// query returns one row when the subject exists and none otherwise.
    func secondFactorSnapshot(subjectID: String, factor: AuthenticationPolicy.Factor) throws -> SecondFactorSnapshot? {
        try conn.queryOne(
            """
            SELECT af.frozen_at, af.report_id,
                   ff.consecutive, ff.locked_until, ff.rate_window, ff.rate_count, ff.recent_failures,
                   tc.secret_ct, tc.algorithm, tc.digits, tc.period, tc.last_step, tc.activated_at,
                   (SELECT count(*) FROM recovery_codes WHERE subject_id = s.id AND used_at IS NULL)
            FROM subjects s
            LEFT JOIN account_freezes af ON af.subject_id = s.id
            LEFT JOIN factor_failures ff ON ff.subject_id = s.id AND ff.factor = ?2
            LEFT JOIN totp_credentials tc ON tc.subject_id = s.id AND ?2 = 'totp'
            WHERE s.id = ?1
            """,
            [.text(subjectID), .text(factor.rawValue)]
        ) { row in
            SecondFactorSnapshot(
                freeze: row.isNull(0)
                    ? nil
                    : AccountFreeze(
                        subjectID: subjectID,
                        frozenAt: Timestamp.parse(row.text(0) ?? "") ?? .distantPast,
                        reportID: row.text(1) ?? ""
                    ),
                counters: row.isNull(2) ? FactorCounters() : factorCounters(row, state: factorState(row, first: 2), first: 4),
                totp: row.isNull(7) ? nil : try totpRecord("totp_credentials", row, subjectID: subjectID, first: 7),
                recoveryCodesRemaining: Int(row.int(13))
            )
        }
    }
}
