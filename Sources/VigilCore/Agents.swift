import Foundation
import VigilCrypto

/// What a support agent may do; enforced on every agent route (issue 6).
public enum AgentRole: String, Sendable, CaseIterable, Codable {
    case agent, supervisor, auditor, admin
}

/// An agent account as stored, with its secrets decrypted for the one use case that needs them.
public struct AgentCredentials: Sendable {
    public var id: String
    public var role: AgentRole
    public var passwordHash: String?
    public var totpSecret: SecretBytes?
    public var pendingTOTPSecret: SecretBytes?
    public var lastStep: UInt64?
    public var disabled: Bool

    public init(
        id: String,
        role: AgentRole,
        passwordHash: String?,
        totpSecret: SecretBytes?,
        pendingTOTPSecret: SecretBytes?,
        lastStep: UInt64?,
        disabled: Bool
    ) {
        self.id = id
        self.role = role
        self.passwordHash = passwordHash
        self.totpSecret = totpSecret
        self.pendingTOTPSecret = pendingTOTPSecret
        self.lastStep = lastStep
        self.disabled = disabled
    }
}

/// A session as stored (the token itself only as SHA-256).
public struct AgentSession: Sendable, Equatable {
    public var agentID: String
    public var role: AgentRole
    public var createdAt: Date
    public var expiresAt: Date
    public var lastSeenAt: Date
    public var revoked: Bool
    public var agentDisabled: Bool

    public init(
        agentID: String,
        role: AgentRole,
        createdAt: Date,
        expiresAt: Date,
        lastSeenAt: Date,
        revoked: Bool,
        agentDisabled: Bool
    ) {
        self.agentID = agentID
        self.role = role
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.lastSeenAt = lastSeenAt
        self.revoked = revoked
        self.agentDisabled = agentDisabled
    }
}

public struct AgentSummary: Sendable, Equatable {
    public var id: String
    public var role: AgentRole
    public var active: Bool
    public var disabled: Bool
    public var createdAt: Date
    /// The console-login factors with failures or a lock (`password`, `totp`).
    public var failures: [AuthenticationPolicy.Factor: FactorState]

    public init(
        id: String,
        role: AgentRole,
        active: Bool,
        disabled: Bool,
        createdAt: Date,
        failures: [AuthenticationPolicy.Factor: FactorState] = [:]
    ) {
        self.id = id
        self.role = role
        self.active = active
        self.disabled = disabled
        self.createdAt = createdAt
        self.failures = failures
    }
}

public protocol AgentReading {
    func agentIDBySetupToken(hash: [UInt8], at time: Date) throws -> String?
    func agentID(email: String) throws -> String?
    func agentCredentials(id: String) throws -> AgentCredentials?
    func agentSession(hash: [UInt8]) throws -> AgentSession?
    func agents() throws -> [AgentSummary]
    /// The agent's work email, decrypted (for the agent's own security notices).
    func agentEmail(id: String) throws -> String?
    /// Consecutive console-login failures of one factor (`password`, `totp`) and their lock.
    func agentFactorState(agentID: String, factor: AuthenticationPolicy.Factor) throws -> FactorState
}

public protocol AgentWriting: AgentReading {
    func insertAgent(id: String, email: String, role: AgentRole, setupTokenHash: [UInt8], setupExpires: Date, at time: Date) throws
    func setAgentPasswordAndPendingTOTP(id: String, passwordHash: String, totpSecret: SecretBytes, at time: Date) throws
    /// Activates the pending TOTP and clears the setup token.
    func completeAgentSetup(id: String, acceptedStep: UInt64, at time: Date) throws
    func advanceAgentStep(id: String, to step: UInt64) throws -> Bool
    func insertAgentSession(hash: [UInt8], agentID: String, at time: Date, expires: Date) throws
    func touchAgentSession(hash: [UInt8], at time: Date) throws
    func revokeAgentSession(hash: [UInt8], at time: Date) throws -> Bool
    /// Disables an agent and revokes its sessions; false when there is no such active agent.
    func disableAgent(id: String, at time: Date) throws -> Bool
    func setAgentFactorState(agentID: String, factor: AuthenticationPolicy.Factor, _ state: FactorState) throws
}

/// Support agents: accounts, setup (password + TOTP), sessions.
///
/// Rules:
/// - an agent is created by an operator (`vigil agent create`), which prints a one-time setup
///   token (256 bits, stored as SHA-256, valid 24 h); with it the agent sets a password and
///   enrols TOTP, and the setup token dies when the TOTP is activated;
/// - a session needs email, password and a TOTP code; any failure is the same 401; a session
///   token (`vgs_…`, 256 bits) is stored as SHA-256, lives at most `sessionLifetime` and dies
///   after `idleTimeout` without use, and can be revoked (logout, or disabling the agent);
/// - logins lock like a subject's factors (issue 11): consecutive failures are counted per agent,
///   password and TOTP apart, with `lockout.password` / `lockout.totp` of the authentication
///   policy — a growing delay, then locked until an operator unlocks it (`vigil agent unlock`),
///   never more than 100 consecutive failures (NIST SP 800-63B §5.2.2). The argon2id work is
///   done for every attempt; a locked agent's attempt is refused without being checked or
///   counted. The audit entry names the factor that failed (`agent.login.failed`,
///   `details.factor`; a replayed TOTP step is `reason: replayed`); the client always gets the
///   same 401. When a lock begins, the agent and every admin are told through the outbox
///   (`agent_notice`, to their work email);
/// - agents and service clients cannot use each other's routes: an agent principal has no
///   scopes, and a service key has no role.
public struct AgentService: Sendable {
    let deps: VigilDependencies
    public static let setupLifetime: TimeInterval = 24 * 3600
    public static let sessionLifetime: TimeInterval = 8 * 3600
    public static let idleTimeout: TimeInterval = 30 * 60
    public static let sessionPrefix = "vgs_"

    public init(_ deps: VigilDependencies) { self.deps = deps }

    /// Creates an agent; the returned setup token is the only copy.
    public func create(email: String, role: AgentRole, actor: AuditActor) async throws -> (id: String, setupToken: String) {
        let normalised = try SubjectRegistration.normaliseEmail(email)
        let id = "agt_" + ByteEncoding.hex(SecureRandom.bytes(8))
        let token = SecureRandom.bytes(32)
        let now = deps.clock.now()
        try await deps.store.write { tx in
            if try tx.agentID(email: normalised) != nil { throw VigilError.alreadyExists(resource: "agent") }
            try tx.insertAgent(
                id: id,
                email: normalised,
                role: role,
                setupTokenHash: SHA256.hash(token),
                setupExpires: now.addingTimeInterval(Self.setupLifetime),
                at: now
            )
            try tx.appendAudit(
                AuditRecord(
                    action: "agent.created",
                    actor: actor,
                    target: .init(type: "agent", id: id),
                    details: ["role": .string(role.rawValue)],
                    time: now
                )
            )
        }
        return (id, ByteEncoding.base64URL(token))
    }

    public struct Setup: Sendable {
        public var agentID: String
        public var secret: String
        public var uri: String
        public var qrSVG: String
    }

    /// With the setup token: sets the password and starts TOTP enrolment.
    public func beginSetup(setupToken: String, password: String, request: RequestInfo) async throws -> Setup {
        let hash = try Self.tokenHash(setupToken)
        let now = deps.clock.now()
        guard let id = try await deps.store.read({ try $0.agentIDBySetupToken(hash: hash, at: now) }) else { throw VigilError.invalidToken }
        let rules = PasswordRules(policy: deps.policies.authentication.password, blocklist: deps.passwordBlocklist)
        let candidate = try rules.check(password, subjectID: id, hasSecondFactor: true)
        let passwordHash = try await deps.passwordHasher.hash(candidate, cost: deps.policies.authentication.password.argon2id.cost)
        let secretBytes = SecureRandom.bytes(20)
        let secret = try SecretBytes(transient: secretBytes)
        try await deps.store.write { tx in
            guard try tx.agentIDBySetupToken(hash: hash, at: now) == id else { throw VigilError.invalidToken }
            try tx.setAgentPasswordAndPendingTOTP(id: id, passwordHash: passwordHash, totpSecret: secret, at: now)
            try tx.appendAudit(
                AuditRecord(
                    action: "agent.setup.started",
                    actor: AuditActor(type: .agent, id: id),
                    target: .init(type: "agent", id: id),
                    requestID: request.requestID,
                    sourceIP: request.sourceIP,
                    time: now
                )
            )
        }
        let base32 = ByteEncoding.base32(secretBytes)
        let uri = SecondFactorService.keyURI(
            label: "Vigil Console:\(id)",
            secret: base32,
            issuer: "Vigil Console",
            algorithm: "SHA1",
            digits: 6,
            period: 30
        )
        return Setup(agentID: id, secret: base32, uri: uri, qrSVG: try QRCode.encode(Array(uri.utf8)).svg(pixelsPerModule: 6))
    }

    /// With the setup token and a code from the app: activates TOTP; the setup token dies.
    public func completeSetup(setupToken: String, code: String, request: RequestInfo) async throws -> String {
        let hash = try Self.tokenHash(setupToken)
        let now = deps.clock.now()
        let ok: String? = try await deps.store.write { tx in
            guard let id = try tx.agentIDBySetupToken(hash: hash, at: now), let creds = try tx.agentCredentials(id: id),
                let pending = creds.pendingTOTPSecret
            else { return nil }
            guard let step = try OneTimePassword.verify(code, secret: pending, now: now, parameters: .init(), lastAcceptedStep: nil) else {
                return ""
            }
            try tx.completeAgentSetup(id: id, acceptedStep: step, at: now)
            try tx.appendAudit(
                AuditRecord(
                    action: "agent.setup.completed",
                    actor: AuditActor(type: .agent, id: id),
                    target: .init(type: "agent", id: id),
                    requestID: request.requestID,
                    sourceIP: request.sourceIP,
                    time: now
                )
            )
            return id
        }
        guard let id = ok else { throw VigilError.invalidToken }
        guard !id.isEmpty else { throw VigilError.invalidCode }
        return id
    }

    /// Email, password and TOTP code → a session token (returned once).
    public func login(
        email: String,
        password: String,
        code: String,
        request: RequestInfo
    ) async throws -> (token: String, expiresAt: Date, role: AgentRole) {
        let now = deps.clock.now()
        let limit = deps.policies.authentication.rateLimits[.passwordVerify]
        let emailKey = (try? SubjectRegistration.normaliseEmail(email)) ?? email
        // Rate limit per email, counted before anything is checked (committed even on failure).
        let limited: Int? = try await deps.store.write { tx in
            try tx.countRequest(key: "agent_login:\(emailKey)", limit: limit.limit, windowSeconds: limit.windowSeconds, now: now)
        }
        if let retry = limited { throw VigilError.rateLimited(retryAfterSeconds: retry) }
        let creds: AgentCredentials? = try await deps.store.read { tx in
            guard let id = try? tx.agentID(email: email) else { return nil }
            return try tx.agentCredentials(id: id)
        }
        // The same argon2id work whether or not the account exists, or is locked.
        let dummy = "$argon2id$v=19$m=19456,t=2,p=1$Lwi0J4qfjXwnNLLvq5OHwA$NubZpFVEMzCJ6JWys0oHdyw9mI1htC08wwdja46/xBI"
        let candidate = try PasswordRules.candidate(forVerifying: password)
        let matched = try await deps.passwordHasher.verify(candidate, against: creds?.passwordHash ?? dummy)
        let token = SecureRandom.bytes(32)
        let expires = now.addingTimeInterval(Self.sessionLifetime)
        let deps = self.deps
        let granted: AgentRole? = try await deps.store.write { tx in
            try Self.decideLogin(
                tx,
                deps: deps,
                verified: creds,
                passwordMatched: matched,
                code: code,
                session: (SHA256.hash(token), expires),
                request: request,
                now: now
            )
        }
        guard let role = granted else { throw VigilError.unauthenticated }
        return (Self.sessionPrefix + ByteEncoding.base64URL(token), expires, role)
    }

    /// The login's decision, in one transaction with its audit entries: refused (nil) or the
    /// session inserted (the agent's role). See the type's rules.
    static func decideLogin(
        _ tx: any StoreWriting,
        deps: VigilDependencies,
        verified: AgentCredentials?,
        passwordMatched: Bool,
        code: String,
        session: (hash: [UInt8], expires: Date),
        request: RequestInfo,
        now: Date
    ) throws -> AgentRole? {
        func record(_ action: String, _ outcome: AuditRecord.Outcome, agent: String?, _ details: [String: AuditValue] = [:]) throws {
            try tx.appendAudit(
                AuditRecord(
                    action: action,
                    actor: outcome == .success ? AuditActor(type: .agent, id: agent ?? "") : .system,
                    target: agent.map { .init(type: "agent", id: $0) },
                    outcome: outcome,
                    requestID: request.requestID,
                    sourceIP: request.sourceIP,
                    details: details,
                    time: now
                )
            )
        }
        guard let verified, let creds = try tx.agentCredentials(id: verified.id) else {
            try record("agent.login.failed", .failure, agent: nil, ["factor": "account"])
            return nil
        }
        let id = creds.id
        guard !creds.disabled else {
            try record("agent.login.failed", .failure, agent: id, ["factor": "account", "reason": "disabled"])
            return nil
        }
        let lockout = deps.policies.authentication.lockout
        let states: [AuthenticationPolicy.Factor: FactorState] = [
            .password: try tx.agentFactorState(agentID: id, factor: .password),
            .totp: try tx.agentFactorState(agentID: id, factor: .totp),
        ]
        let locked = states.filter { $0.value.retryAfter(now: now) != nil }.keys.map(\.rawValue).sorted()
        if !locked.isEmpty {
            try record("agent.login.locked", .denied, agent: id, ["factors": .string(locked.joined(separator: ","))])
            return nil
        }
        func fail(_ factor: AuthenticationPolicy.Factor, reason: String) throws {
            let before = states[factor] ?? .clear
            let next = lockout[factor].after(before, failureAt: now)
            try tx.setAgentFactorState(agentID: id, factor: factor, next)
            try record(
                "agent.login.failed",
                .failure,
                agent: id,
                ["factor": .string(factor.rawValue), "reason": .string(reason), "consecutive_failures": .int(Int64(next.consecutiveFailures))]
            )
            guard lockout[factor].lockBegins(from: before, to: next) else { return }
            let until: AuditValue = next.lockedIndefinitely ? "unlocked_by_operator" : .string(Timestamp.format(next.lockedUntil ?? now))
            try record(
                "agent.locked",
                .success,
                agent: id,
                ["factor": .string(factor.rawValue), "until": until, "consecutive_failures": .int(Int64(next.consecutiveFailures))]
            )
            try Self.notifyLock(tx, deps: deps, agentID: id, factor: factor, until: until, now: now)
        }
        // The password was verified against the hash read before; a hash changed since counts nothing.
        guard creds.passwordHash == verified.passwordHash else {
            try record("agent.login.failed", .failure, agent: id, ["factor": "password", "reason": "changed"])
            return nil
        }
        guard passwordMatched else {
            try fail(.password, reason: "wrong")
            return nil
        }
        guard let secret = creds.totpSecret,
            let step = try OneTimePassword.verify(code, secret: secret, now: now, parameters: .init(), lastAcceptedStep: nil)
        else {
            try fail(.totp, reason: "wrong")
            return nil
        }
        // A step at or before the last accepted one was used already (here, or by a racing login).
        guard creds.lastStep.map({ step > $0 }) ?? true, try tx.advanceAgentStep(id: id, to: step) else {
            try fail(.totp, reason: "replayed")
            return nil
        }
        for (factor, state) in states where state != .clear {
            try tx.setAgentFactorState(agentID: id, factor: factor, .clear)
        }
        try tx.insertAgentSession(hash: session.hash, agentID: id, at: now, expires: session.expires)
        try record("agent.login.succeeded", .success, agent: id)
        return creds.role
    }

    /// Tells the agent and every admin that the agent's console login is locked.
    static func notifyLock(
        _ tx: any StoreWriting,
        deps: VigilDependencies,
        agentID: String,
        factor: AuthenticationPolicy.Factor,
        until: AuditValue,
        now: Date
    ) throws {
        var recipients: [(agent: String, audience: String)] = [(agentID, "agent")]
        for admin in try tx.agents() where admin.role == .admin && !admin.disabled && admin.id != agentID {
            recipients.append((admin.id, "admin"))
        }
        let untilText: JSONValue =
            switch until {
            case .string(let s): .string(s)
            default: "unlocked_by_operator"
            }
        for (recipient, audience) in recipients {
            guard let email = try tx.agentEmail(id: recipient) else { continue }
            for channel in deps.noticeChannels {
                try tx.enqueueMessage(
                    OutboundMessage(
                        kind: .agentNotice,
                        subjectID: recipient,
                        channel: channel,
                        recipient: .email(email),
                        payload: [
                            "event": "agent_login_locked", "audience": .string(audience), "agent_id": .string(agentID),
                            "factor": .string(factor.rawValue), "locked_until": untilText, "occurred_at": .string(Timestamp.format(now)),
                        ],
                        createdAt: now
                    )
                )
            }
        }
    }

    /// Clears an agent's console-login failures and locks (`vigil agent unlock`); false when
    /// there was nothing to clear.
    public func unlock(id: String, actor: AuditActor) async throws -> Bool {
        let now = deps.clock.now()
        return try await deps.store.write { tx in
            guard try tx.agentCredentials(id: id) != nil else { throw VigilError.notFound(resource: "agent") }
            var cleared: [String] = []
            for factor in [AuthenticationPolicy.Factor.password, .totp] where try tx.agentFactorState(agentID: id, factor: factor) != .clear {
                try tx.setAgentFactorState(agentID: id, factor: factor, .clear)
                cleared.append(factor.rawValue)
            }
            guard !cleared.isEmpty else { return false }
            try tx.appendAudit(
                AuditRecord(
                    action: "agent.unlocked",
                    actor: actor,
                    target: .init(type: "agent", id: id),
                    details: ["factors": .string(cleared.joined(separator: ","))],
                    time: now
                )
            )
            return true
        }
    }

    /// A presented session token → the agent principal; every failure is `unauthenticated`.
    public func authenticate(bearer: String?) async throws -> Principal {
        guard let bearer, bearer.hasPrefix(Self.sessionPrefix), let hash = try? Self.tokenHash(String(bearer.dropFirst(Self.sessionPrefix.count)))
        else { throw VigilError.unauthenticated }
        let now = deps.clock.now()
        let session = try await deps.store.read { try $0.agentSession(hash: hash) }
        guard let session, !session.revoked, !session.agentDisabled, session.expiresAt > now,
            now.timeIntervalSince(session.lastSeenAt) < Self.idleTimeout
        else { throw VigilError.unauthenticated }
        try await deps.store.write { try $0.touchAgentSession(hash: hash, at: now) }
        return .agent(id: session.agentID, role: session.role)
    }

    /// Ends the session that presents `bearer`.
    public func logout(bearer: String?, request: RequestInfo) async throws {
        let principal = try await authenticate(bearer: bearer)
        guard let bearer, let hash = try? Self.tokenHash(String(bearer.dropFirst(Self.sessionPrefix.count))) else {
            throw VigilError.unauthenticated
        }
        let now = deps.clock.now()
        try await deps.store.write { tx in
            _ = try tx.revokeAgentSession(hash: hash, at: now)
            try tx.appendAudit(
                AuditRecord(
                    action: "agent.session.revoked",
                    actor: principal.actor,
                    target: .init(type: "agent", id: principal.actor.id),
                    requestID: request.requestID,
                    sourceIP: request.sourceIP,
                    time: now
                )
            )
        }
    }

    public func list() async throws -> [AgentSummary] { try await deps.store.read { try $0.agents() } }

    /// Disables an agent: its sessions end, and in the same transaction every action it asked
    /// for that still waits for approval is cancelled (each audited on its case with the
    /// reason); its attestations stop counting (`CaseWorkflowService.countedChecks`). Returns
    /// the cancelled actions.
    @discardableResult
    public func disable(id: String, actor: AuditActor) async throws -> [CaseAction] {
        let now = deps.clock.now()
        return try await deps.store.write { tx in
            guard try tx.disableAgent(id: id, at: now) else { throw VigilError.notFound(resource: "agent") }
            let cancelled = try tx.cancelPendingActions(requestedBy: id, at: now)
            try tx.appendAudit(
                AuditRecord(
                    action: "agent.disabled",
                    actor: actor,
                    target: .init(type: "agent", id: id),
                    details: ["actions_cancelled": .int(Int64(cancelled.count))],
                    time: now
                )
            )
            for a in cancelled {
                try tx.appendAudit(
                    AuditRecord(
                        action: "case.action_cancelled",
                        actor: actor,
                        target: .init(type: "case", id: a.caseID),
                        details: [
                            "case_id": .string(a.caseID), "action_id": .string(a.id), "action": .string(a.action.rawValue),
                            "reason": "requester_disabled",
                        ],
                        time: now
                    )
                )
            }
            return cancelled
        }
    }

    static func tokenHash(_ text: String) throws -> [UInt8] {
        guard let raw = ByteEncoding.fromBase64URL(text), raw.count == 32 else { throw VigilError.invalidToken }
        return SHA256.hash(raw)
    }
}
