import Foundation
import VigilCrypto

/// Password reset storage: the request queue, tokens, withdrawal holds.
public protocol PasswordResetReading {
    /// The newest token issued for a subject (for the resend cooldown).
    func latestResetTokenTime(subjectID: String) throws -> Date?
    /// The hold on withdrawals, if any.
    func withdrawalHold(subjectID: String) throws -> Date?
    /// The subject of a usable token, without consuming it.
    func resetTokenSubject(hash: [UInt8], at time: Date) throws -> String?
    /// The subject of an unused, unexpired token that was voided (by a newer token, a completed
    /// reset or a freeze): a confirm with it on a frozen account answers `account_frozen`.
    func voidedResetTokenSubject(hash: [UInt8], at time: Date) throws -> String?
}

public protocol PasswordResetWriting: PasswordResetReading {
    /// Queues a request: the identifier is stored encrypted and resolved later by the worker.
    func enqueueResetRequest(id: String, identifier: String, sourceIP: String?, at time: Date) throws
    /// Claims up to `limit` unprocessed requests (marks them processed) and returns them.
    func claimResetRequests(limit: Int, at time: Date) throws -> [PendingResetRequest]
    /// Stores a token (only its hash), voiding every earlier unused token of the subject.
    func issueResetToken(hash: [UInt8], subjectID: String, at time: Date, expires: Date) throws
    /// Consumes a token: true (with its subject) only for an unused, unvoided, unexpired token;
    /// `UPDATE … WHERE used_at IS NULL`, so of two racing confirms one wins.
    func consumeResetToken(hash: [UInt8], at time: Date) throws -> String?
    /// Voids every unused token of the subject; returns how many it voided.
    @discardableResult
    func voidResetTokens(subjectID: String, at time: Date) throws -> Int
    /// Holds withdrawals until `until` (the later of an existing hold and this one stays).
    func holdWithdrawals(subjectID: String, until: Date, at time: Date) throws
}

/// A queued reset request, decrypted for the worker.
public struct PendingResetRequest: Sendable, Equatable {
    public var id: String
    public var identifier: String
    public var sourceIP: String?
    public var receivedAt: Date

    public init(id: String, identifier: String, sourceIP: String?, receivedAt: Date) {
        self.id = id
        self.identifier = identifier
        self.sourceIP = sourceIP
        self.receivedAt = receivedAt
    }
}

/// Password resets.
///
/// Rules:
/// - a request answers 202 with the same body whatever the identifier: the handler only queues
///   it (one encrypted insert and one audit entry, the same work for every identifier) and a
///   background worker resolves it, so neither the answer nor its timing says whether an
///   account exists;
/// - the worker applies the limits per account and per end-user address and the resend cooldown
///   (silently: an anonymous caller learns nothing). The identifier is resolved before it is
///   counted, so a subject's email, phone (E.164, however spaced) and id share one bucket, and an
///   identifier that names nobody is counted in its normalised form. The end-user address is the
///   `client_ip` the wallet backend passes on — never the TCP peer, which is the backend itself
///   for every user, so made-up identifiers from one address can never switch resets off for
///   everyone; without `client_ip` only the per-account limit applies;
/// - while the subject is frozen no token is issued (audited `password_reset.frozen`, denied;
///   the request still answered the same 202), and a confirm answers 423 `account_frozen`;
/// - the worker issues a 256-bit URL-safe token stored only
///   as SHA-256, single use, expiring after `token_ttl_seconds`, voiding older tokens, and sends
///   the link through the outbox — Vigil never relays text chosen by the caller;
/// - confirming never removes or bypasses the second factor: a subject with TOTP must give a
///   TOTP or recovery code; on success, in one transaction: the new hash, every token voided,
///   `credentials.changed` to the wallet backend, a notice to the user, and withdrawals held for
///   `cooling_off_hours`; a failed confirm says only "invalid or expired".
public struct PasswordResetService: Sendable {
    let deps: VigilDependencies

    public init(_ deps: VigilDependencies) { self.deps = deps }

    var policy: RecoveryPolicy.PasswordReset { deps.policies.recovery.passwordReset }

    /// Queues a reset request. Always succeeds for a well-formed identifier.
    /// `clientIP` is the end user's address as the wallet backend saw it (IPv4 or IPv6).
    public func request(identifier: String, clientIP: String? = nil, by principal: Principal, request: RequestInfo) async throws {
        try principal.require(.recoveryWrite)
        let trimmed = identifier.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed.utf8.count <= 320 else {
            throw VigilError.invalidField(field: "identifier", reason: "must be an email address, a phone number or a subject id")
        }
        var endUser: String?
        if let clientIP {
            guard let normalised = LoginReport.normalisedIPAddress(clientIP) else {
                throw VigilError.invalidField(field: "client_ip", reason: "must be an IPv4 or IPv6 address")
            }
            endUser = normalised
        }
        let now = deps.clock.now()
        let id = "rr_" + ByteEncoding.hex(SecureRandom.bytes(12))
        try await deps.store.write { [endUser] tx in
            try tx.enqueueResetRequest(id: id, identifier: trimmed, sourceIP: endUser, at: now)
            try tx.appendAudit(
                AuditRecord(
                    action: "password_reset.requested",
                    actor: principal.actor,
                    requestID: request.requestID,
                    sourceIP: endUser ?? request.sourceIP,
                    details: ["request_id_internal": .string(id)],
                    time: now
                )
            )
        }
    }

    /// What one worker pass did (for tests and logs; no identifiers).
    public struct Processed: Sendable, Equatable {
        public var issued = 0
        public var unknown = 0
        public var limited = 0
    }

    /// Resolves queued requests, one transaction each: the claim, the token, the message and
    /// the audit entry commit together, so a crash loses no request and issues no token twice.
    public func processPending(limit: Int = 64) async throws -> Processed {
        var result = Processed()
        let p = policy
        for _ in 0..<limit {
            let now = deps.clock.now()
            let token = SecureRandom.bytes(32)
            let tokenText = ByteEncoding.base64URL(token)
            let outcome: String = try await deps.store.write { tx in
                guard let pending = try tx.claimResetRequests(limit: 1, at: now).first else { return "none" }
                // An ambiguous address (two accounts share it) issues nothing, like an unknown one.
                let subjectID: String?
                do { subjectID = try Self.resolve(pending.identifier, tx) } catch VigilError.conflict { subjectID = nil }
                // One bucket per account (its email, phone and id alike), else per normalised
                // identifier; one per end-user address. Never one for the caller as a whole.
                let identifierKey = "reset_identifier:" + (subjectID.map { "subject:" + $0 } ?? Self.normalised(pending.identifier))
                let perIdentifier = try tx.countRequest(key: identifierKey, limit: p.maxRequestsPerIdentifierPerHour, windowSeconds: 3600, now: now)
                let perSource = try pending.sourceIP.flatMap {
                    try tx.countRequest(key: "reset_client_ip:" + $0, limit: p.maxRequestsPerSourcePerHour, windowSeconds: 3600, now: now)
                }
                guard let subjectID else {
                    try tx.appendAudit(
                        AuditRecord(
                            action: "password_reset.unmatched",
                            actor: .system,
                            sourceIP: pending.sourceIP,
                            details: ["request": .string(pending.id)],
                            time: now
                        )
                    )
                    return "unknown"
                }
                let audit = Auditor(
                    tx: tx,
                    principal: .service(keyID: "reset-worker", name: "reset-worker", scopes: []),
                    subjectID: subjectID,
                    request: RequestInfo(requestID: nil, sourceIP: pending.sourceIP),
                    now: now
                )
                if perIdentifier != nil || perSource != nil {
                    try audit.record(
                        "password_reset.rate_limited",
                        .denied,
                        ["request": .string(pending.id), "limit": .string(perIdentifier != nil ? "account" : "client_ip")]
                    )
                    return "limited"
                }
                if let freeze = try tx.accountFreeze(subjectID: subjectID) {
                    try audit.record("password_reset.frozen", .denied, ["request": .string(pending.id), "report_id": .string(freeze.reportID)])
                    return "limited"
                }
                if let last = try tx.latestResetTokenTime(subjectID: subjectID), now.timeIntervalSince(last) < TimeInterval(p.resendCooldownSeconds) {
                    try audit.record("password_reset.cooldown", .denied, ["request": .string(pending.id)])
                    return "limited"
                }
                try tx.issueResetToken(
                    hash: SHA256.hash(token),
                    subjectID: subjectID,
                    at: now,
                    expires: now.addingTimeInterval(TimeInterval(p.tokenTTLSeconds))
                )
                try ResetMessages.sendLink(p.link(token: tokenText), subjectID: subjectID, deps: deps, tx: tx, at: now)
                try audit.record(
                    "password_reset.token_issued",
                    .success,
                    ["request": .string(pending.id), "ttl_seconds": .int(Int64(p.tokenTTLSeconds))]
                )
                return "issued"
            }
            switch outcome {
            case "none": return result
            case "issued": result.issued += 1
            case "unknown": result.unknown += 1
            default: result.limited += 1
            }
        }
        return result
    }

    /// The form an identifier that names nobody is counted in: the same address however it is
    /// cased or spaced.
    static func normalised(_ identifier: String) -> String {
        if identifier.contains("@") { return (try? SubjectRegistration.normaliseEmail(identifier)) ?? identifier.lowercased() }
        if identifier.hasPrefix("+") { return (try? SubjectRegistration.normalisePhone(identifier)) ?? identifier }
        return identifier
    }

    /// The subject an identifier names: an email address, a phone number, or a subject id.
    /// An address two accounts share (registered before that was refused) throws `conflict`:
    /// it names no one account.
    static func resolve(_ identifier: String, _ tx: any StoreWriting) throws -> String? {
        do {
            if identifier.contains("@") { return try tx.subjectID(email: identifier) }
            if identifier.hasPrefix("+") { return try tx.subjectID(phone: identifier) }
        } catch VigilError.invalidField {
            return nil  // not an address at all
        }
        if SubjectRegistration.isValidSubjectID(identifier), try tx.subjectExists(id: identifier) { return identifier }
        return nil
    }

    public struct Confirmation: Sendable, Equatable {
        public var subjectID: String
        public var withdrawalsFrozenUntil: Date
    }

    /// Completes a reset with the token from the link, a new password and — when the subject has
    /// TOTP — a TOTP or recovery code.
    public func confirm(
        token: String,
        newPassword: String,
        totpCode: String?,
        recoveryCode: String?,
        by principal: Principal,
        request: RequestInfo
    ) async throws -> Confirmation {
        try principal.require(.recoveryWrite)
        guard let raw = ByteEncoding.fromBase64URL(token), raw.count == 32 else { throw VigilError.invalidToken }
        let hash = SHA256.hash(raw)
        let now = deps.clock.now()
        // 1. The token names its subject (without being consumed yet). A token voided by the
        //    freeze of its account answers `account_frozen`, as a usable one does while frozen.
        let admission = try await deps.store.read { tx -> (subject: String, hasTOTP: Bool, frozen: Bool)? in
            if let subject = try tx.resetTokenSubject(hash: hash, at: now) {
                return (subject, try tx.totpCredential(subjectID: subject) != nil, try tx.accountFreeze(subjectID: subject) != nil)
            }
            if let subject = try tx.voidedResetTokenSubject(hash: hash, at: now), try tx.accountFreeze(subjectID: subject) != nil {
                return (subject, false, true)
            }
            return nil
        }
        guard let (subjectID, hasTOTP, frozen) = admission else { throw VigilError.invalidToken }
        if frozen { try await refuseFrozen(subjectID: subjectID, by: principal, request: request, now: now) }
        // 2. The second factor is never bypassed.
        if hasTOTP {
            guard totpCode != nil || recoveryCode != nil else {
                throw VigilError.invalidField(field: "totp_code", reason: "is required: this account has two-factor authentication")
            }
            // The verification runs as the same client, with the scope that checking a code needs.
            let verifier = Principal.service(keyID: principal.actor.id, name: "password-reset", scopes: [.credentialsVerify])
            let verified = try await SecondFactorService(deps).verify(
                subjectID: subjectID,
                code: totpCode,
                recoveryCode: recoveryCode,
                by: verifier,
                request: request
            )
            guard verified.valid else { throw VigilError.invalidCode }
        }
        // 3. The new password: the rules, then argon2id on the pool, outside any transaction.
        let rules = PasswordRules(policy: deps.policies.authentication.password, blocklist: deps.passwordBlocklist)
        let candidate = try rules.check(newPassword, subjectID: subjectID, hasSecondFactor: hasTOTP)
        let newHash = try await deps.passwordHasher.hash(candidate, cost: deps.policies.authentication.password.argon2id.cost)
        // 4. Everything else in one transaction; the token is consumed there (one racing confirm wins).
        let until = now.addingTimeInterval(TimeInterval(policy.coolingOffHours * 3600))
        let done: Bool? = try await deps.store.write { tx in
            if let freeze = try tx.accountFreeze(subjectID: subjectID) {  // frozen while the hash was computed
                try Auditor(tx: tx, principal: principal, subjectID: subjectID, request: request, now: now)
                    .record("password_reset.confirm_frozen", .denied, ["report_id": .string(freeze.reportID)])
                return nil
            }
            guard try tx.consumeResetToken(hash: hash, at: now) == subjectID else { return false }
            _ = try tx.setPassword(subjectID: subjectID, hash: newHash, at: now)
            try tx.voidResetTokens(subjectID: subjectID, at: now)
            try tx.setFactorState(subjectID: subjectID, factor: .password, .clear)
            try tx.holdWithdrawals(subjectID: subjectID, until: until, at: now)
            try ResetMessages.completed(subjectID: subjectID, deps: deps, tx: tx, at: now, holdUntil: until)
            let audit = Auditor(tx: tx, principal: principal, subjectID: subjectID, request: request, now: now)
            try audit.record("password_reset.completed", .success, ["second_factor": .int(hasTOTP ? 1 : 0)])
            try audit.record("password.changed", .success)
            try audit.record("withdrawals.held", .success, ["hours": .int(Int64(policy.coolingOffHours))])
            return true
        }
        guard let done else { throw VigilError.accountFrozen }
        guard done else { throw VigilError.invalidToken }
        return Confirmation(subjectID: subjectID, withdrawalsFrozenUntil: until)
    }

    /// Audits a confirm refused because the account is frozen, then throws `account_frozen`.
    func refuseFrozen(subjectID: String, by principal: Principal, request: RequestInfo, now: Date) async throws -> Never {
        try await deps.store.write { tx in
            let reportID = try tx.accountFreeze(subjectID: subjectID)?.reportID ?? ""
            try Auditor(tx: tx, principal: principal, subjectID: subjectID, request: request, now: now)
                .record("password_reset.confirm_frozen", .denied, ["report_id": .string(reportID)])
        }
        throw VigilError.accountFrozen
    }
}

/// The messages of a reset, enqueued in the caller's transaction.
enum ResetMessages {
    /// The link, to the subject's email (else phone) through the notice channels; the wallet
    /// backend (webhook) or the development file channel passes it on. No text of the caller's.
    static func sendLink(_ link: String, subjectID: String, deps: VigilDependencies, tx: any StoreWriting, at time: Date) throws {
        let subject = try tx.subject(id: subjectID)
        let recipient: OutboundMessage.Recipient? = subject?.email.map { .email($0) } ?? subject?.phone.map { .phone($0) }
        for channel in deps.noticeChannels {
            try tx.enqueueMessage(
                OutboundMessage(
                    kind: .passwordReset,
                    subjectID: subjectID,
                    channel: channel,
                    recipient: recipient,
                    payload: [
                        "link": .string(link),
                        "expires_in_seconds": .int(Int64(deps.policies.recovery.passwordReset.tokenTTLSeconds)),
                    ],
                    createdAt: time
                )
            )
        }
    }

    /// After a completed reset: `credentials.changed` to the wallet backend (so it ends the
    /// subject's sessions) and a security notice to the user.
    static func completed(subjectID: String, deps: VigilDependencies, tx: any StoreWriting, at time: Date, holdUntil: Date) throws {
        for channel in deps.noticeChannels {
            try tx.enqueueMessage(
                OutboundMessage(
                    kind: .credentialsChanged,
                    subjectID: subjectID,
                    channel: channel,
                    payload: [
                        "event": "credentials.changed", "reason": "password_reset",
                        "withdrawals_frozen_until": .string(Timestamp.format(holdUntil)),
                    ],
                    createdAt: time
                )
            )
        }
        try SecurityNotice.enqueue(
            "password_reset_completed",
            subjectID: subjectID,
            details: ["withdrawals_frozen_until": .string(Timestamp.format(holdUntil))],
            channels: deps.noticeChannels,
            in: tx,
            at: time
        )
    }
}
