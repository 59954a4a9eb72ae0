import Foundation
import VigilCore
import VigilCrypto

/// Agents (encrypted email with a blind index, argon2id hash, encrypted TOTP secrets) and
/// their sessions (tokens as SHA-256).
extension SQLiteTransaction {
    private func agentEmailIndex(_ email: String) -> [UInt8] { keyring.blindIndex.digest(domain: "agents.email", value: email) }

    func insertAgent(id: String, email: String, role: AgentRole, setupTokenHash: [UInt8], setupExpires: Date, at time: Date) throws {
        try conn.run(
            """
            INSERT INTO agents (id, email_ct, email_bidx, role, setup_token_hash, setup_expires_at, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """,
            [
                .text(id), .optionalBlob(try keyring.seal(email, table: "agents", column: "email_ct", rowID: id)), .blob(agentEmailIndex(email)),
                .text(role.rawValue), .blob(setupTokenHash), .text(Timestamp.format(setupExpires)), .text(Timestamp.format(time)),
            ]
        )
    }

    func agentIDBySetupToken(hash: [UInt8], at time: Date) throws -> String? {
        try conn.queryOne(
            "SELECT id FROM agents WHERE setup_token_hash = ? AND setup_expires_at > ? AND disabled_at IS NULL",
            [.blob(hash), .text(Timestamp.format(time))],
            { $0.text(0) }
        ) ?? nil
    }

    func agentID(email: String) throws -> String? {
        let normalised = try SubjectRegistration.normaliseEmail(email)
        return try conn.queryOne("SELECT id FROM agents WHERE email_bidx = ?", [.blob(agentEmailIndex(normalised))], { $0.text(0) }) ?? nil
    }

    func agentCredentials(id: String) throws -> AgentCredentials? {
        try conn.queryOne(
            "SELECT role, password_hash, totp_secret_ct, pending_totp_ct, totp_last_step, disabled_at FROM agents WHERE id = ?",
            [.text(id)]
        ) { row in
            AgentCredentials(
                id: id,
                role: AgentRole(rawValue: row.text(0) ?? "") ?? .agent,
                passwordHash: row.text(1),
                totpSecret: try row.blob(2).map { try keyring.openSecret($0, table: "agents", column: "totp_secret_ct", rowID: id) },
                pendingTOTPSecret: try row.blob(3).map { try keyring.openSecret($0, table: "agents", column: "pending_totp_ct", rowID: id) },
                lastStep: row.isNull(4) ? nil : UInt64(row.int(4)),
                disabled: !row.isNull(5)
            )
        }
    }

    func setAgentPasswordAndPendingTOTP(id: String, passwordHash: String, totpSecret: SecretBytes, at time: Date) throws {
        try conn.run(
            "UPDATE agents SET password_hash = ?, pending_totp_ct = ? WHERE id = ?",
            [.text(passwordHash), .blob(try keyring.sealSecret(totpSecret, table: "agents", column: "pending_totp_ct", rowID: id)), .text(id)]
        )
    }

    func completeAgentSetup(id: String, acceptedStep: UInt64, at time: Date) throws {
        guard let creds = try agentCredentials(id: id), let pending = creds.pendingTOTPSecret else {
            throw VigilError.notFound(resource: "agent setup")
        }
        try conn.run(
            """
            UPDATE agents SET totp_secret_ct = ?, pending_totp_ct = NULL, totp_last_step = ?, setup_token_hash = NULL, setup_expires_at = NULL
            WHERE id = ?
            """,
            [.blob(try keyring.sealSecret(pending, table: "agents", column: "totp_secret_ct", rowID: id)), .int(Int64(acceptedStep)), .text(id)]
        )
    }

    func advanceAgentStep(id: String, to step: UInt64) throws -> Bool {
        try conn.run(
            "UPDATE agents SET totp_last_step = ? WHERE id = ? AND (totp_last_step IS NULL OR totp_last_step < ?)",
            [.int(Int64(step)), .text(id), .int(Int64(step))]
        ) == 1
    }

    func insertAgentSession(hash: [UInt8], agentID: String, at time: Date, expires: Date) throws {
        try conn.run(
            "INSERT INTO agent_sessions (token_hash, agent_id, created_at, expires_at, last_seen_at) VALUES (?, ?, ?, ?, ?)",
            [.blob(hash), .text(agentID), .text(Timestamp.format(time)), .text(Timestamp.format(expires)), .text(Timestamp.format(time))]
        )
    }

    func agentSession(hash: [UInt8]) throws -> AgentSession? {
        try conn.queryOne(
            """
            SELECT s.agent_id, a.role, s.created_at, s.expires_at, s.last_seen_at, s.revoked_at, a.disabled_at
            FROM agent_sessions s JOIN agents a ON a.id = s.agent_id WHERE s.token_hash = ?
            """,
            [.blob(hash)]
        ) { row in
            AgentSession(
                agentID: row.text(0) ?? "",
                role: AgentRole(rawValue: row.text(1) ?? "") ?? .agent,
                createdAt: Timestamp.parse(row.text(2) ?? "") ?? .distantPast,
                expiresAt: Timestamp.parse(row.text(3) ?? "") ?? .distantPast,
                lastSeenAt: Timestamp.parse(row.text(4) ?? "") ?? .distantPast,
                revoked: !row.isNull(5),
                agentDisabled: !row.isNull(6)
            )
        }
    }

    func touchAgentSession(hash: [UInt8], at time: Date) throws {
        try conn.run("UPDATE agent_sessions SET last_seen_at = ? WHERE token_hash = ?", [.text(Timestamp.format(time)), .blob(hash)])
    }

    func revokeAgentSession(hash: [UInt8], at time: Date) throws -> Bool {
        try conn.run(
            "UPDATE agent_sessions SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL",
            [.text(Timestamp.format(time)), .blob(hash)]
        )
            == 1
    }

    func agents() throws -> [AgentSummary] {
        var list = try conn.query("SELECT id, role, totp_secret_ct IS NOT NULL, disabled_at, created_at FROM agents ORDER BY created_at", []) {
            row in
            AgentSummary(
                id: row.text(0) ?? "",
                role: AgentRole(rawValue: row.text(1) ?? "") ?? .agent,
                active: row.int(2) == 1,
                disabled: !row.isNull(3),
                createdAt: Timestamp.parse(row.text(4) ?? "") ?? .distantPast
            )
        }
        for i in list.indices {
            for factor in [AuthenticationPolicy.Factor.password, .totp] {
                let state = try agentFactorState(agentID: list[i].id, factor: factor)
                if state != .clear { list[i].failures[factor] = state }
            }
        }
        return list
    }

    func agentEmail(id: String) throws -> String? {
        try conn.queryOne("SELECT email_ct FROM agents WHERE id = ?", [.text(id)]) { row in
            try keyring.open(row.blob(0), table: "agents", column: "email_ct", rowID: id)
        } ?? nil
    }

    private static let indefinite = "indefinite"

    func agentFactorState(agentID: String, factor: AuthenticationPolicy.Factor) throws -> FactorState {
        try conn.queryOne(
            "SELECT consecutive, locked_until FROM agent_factor_failures WHERE agent_id = ? AND factor = ?",
            [.text(agentID), .text(factor.rawValue)]
        ) { row in
            let until = row.text(1)
            return FactorState(
                consecutiveFailures: Int(row.int(0)),
                lockedUntil: until.flatMap { $0 == Self.indefinite ? nil : Timestamp.parse($0) },
                lockedIndefinitely: until == Self.indefinite
            )
        } ?? .clear
    }

    func setAgentFactorState(agentID: String, factor: AuthenticationPolicy.Factor, _ state: FactorState) throws {
        guard state != .clear else {
            try conn.run("DELETE FROM agent_factor_failures WHERE agent_id = ? AND factor = ?", [.text(agentID), .text(factor.rawValue)])
            return
        }
        let until: SQLValue = state.lockedIndefinitely ? .text(Self.indefinite) : .optionalText(state.lockedUntil.map(Timestamp.format))
        try conn.run(
            """
            INSERT INTO agent_factor_failures (agent_id, factor, consecutive, locked_until) VALUES (?, ?, ?, ?)
            ON CONFLICT (agent_id, factor) DO UPDATE SET consecutive = excluded.consecutive, locked_until = excluded.locked_until
            """,
            [.text(agentID), .text(factor.rawValue), .int(Int64(state.consecutiveFailures)), until]
        )
    }

    func disableAgent(id: String, at time: Date) throws -> Bool {
        let changed = try conn.run(
            "UPDATE agents SET disabled_at = ? WHERE id = ? AND disabled_at IS NULL",
            [.text(Timestamp.format(time)), .text(id)]
        )
        try conn.run(
            "UPDATE agent_sessions SET revoked_at = ? WHERE agent_id = ? AND revoked_at IS NULL",
            [.text(Timestamp.format(time)), .text(id)]
        )
        return changed == 1
    }
}
