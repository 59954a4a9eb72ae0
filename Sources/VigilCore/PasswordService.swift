import Foundation
import VigilCrypto

/// Setting and verifying passwords.
///
/// Rules:
/// - the password rules are `PasswordRules` (NIST SP 800-63B): NFKC, lengths in code points,
///   the blocklist, not containing the subject id; the minimum depends on whether the subject
///   has an active TOTP, and is checked again inside the transaction that stores the hash;
/// - argon2id runs on `PasswordHasher`'s bounded pool, before or after a store transaction,
///   never inside one; when the pool is full the answer is 503 with `Retry-After`;
/// - a verify is counted against the `password_verify` rate limit (per subject) before the
///   value is checked; consecutive failures lock the `password` factor with the policy's
///   growing delay (counted apart from one-time codes), during which even the right password
///   gets 429 with `Retry-After`; a success resets the count;
/// - a success whose hash was made at another cost than the policy's is rehashed at the
///   policy's cost in the same use case (only while the stored hash is still the one that was
///   verified, so a rehash never undoes a concurrent change);
/// - a frozen subject's password is not set (423 `account_frozen`, audited `password.set` denied);
/// - setting a password leaves the failure count alone: a lock stays until its delay passes,
///   or until an agent or a completed recovery clears it;
/// - a subject without a password gets 404, as one without TOTP does on the TOTP route: this
///   route is for authenticated service clients, which already know their subjects, so there
///   is no dummy hash to even out the time (anonymous routes must answer uniformly instead);
/// - every outcome is audited in the transaction that records it; the answer to a locked or
///   rate-limited attempt is thrown only after that entry is committed. Neither the password
///   nor its hash is ever in an audit entry, a log line or an error.
public struct PasswordService: Sendable {
    let deps: VigilDependencies

    public init(_ deps: VigilDependencies) { self.deps = deps }

    var policy: AuthenticationPolicy.Password { deps.policies.authentication.password }
    var rules: PasswordRules { PasswordRules(policy: policy, blocklist: deps.passwordBlocklist) }

    /// The outcome of setting a password.
    public struct SetResult: Sendable, Equatable {
        /// True when the subject had a password before.
        public var replacedPrevious: Bool
    }

    /// Sets (or replaces) a subject's password. Audited `password.set`, and `password.changed`
    /// too when it replaces one.
    public func setPassword(subjectID: String, password typed: String, by principal: Principal, request: RequestInfo) async throws -> SetResult {
        try principal.require(.subjectsWrite)
        let (hasSecondFactor, frozen) = try await deps.store.read { tx in
            guard try tx.subjectExists(id: subjectID) else { throw VigilError.notFound(resource: "subject") }
            return (try tx.totpCredential(subjectID: subjectID) != nil, try tx.accountFreeze(subjectID: subjectID) != nil)
        }
        if frozen {
            let now = deps.clock.now()
            _ = try await deps.store.write { tx in
                try Self.auditFrozenSet(tx, subjectID: subjectID, principal: principal, request: request, now: now)
            }
            throw VigilError.accountFrozen
        }
        let rules = self.rules
        let candidate = try rules.check(typed, subjectID: subjectID, hasSecondFactor: hasSecondFactor)
        let cost = policy.argon2id.cost
        let hash = try await deps.passwordHasher.hash(candidate, cost: cost)
        let now = deps.clock.now()
        let codePoints = candidate.codePoints
        let result: SetResult? = try await deps.store.write { tx in
            guard try tx.subjectExists(id: subjectID) else { throw VigilError.notFound(resource: "subject") }
            // Frozen while the hash was computed: no credential changes during a freeze.
            if try Self.auditFrozenSet(tx, subjectID: subjectID, principal: principal, request: request, now: now) { return nil }
            // The second factor may have changed while the hash was computed.
            let hasSecondFactor = try tx.totpCredential(subjectID: subjectID) != nil
            try rules.checkLength(codePoints, hasSecondFactor: hasSecondFactor)
            let replaced = try tx.setPassword(subjectID: subjectID, hash: hash, at: now)
            let audit = Auditor(tx: tx, principal: principal, subjectID: subjectID, request: request, now: now)
            var details: [String: AuditValue] = [
                "replaced_previous": .int(replaced ? 1 : 0),
                "second_factor": .int(hasSecondFactor ? 1 : 0),
            ]
            if let parameters = PasswordHash.parameters(of: hash) { details["argon2id"] = .string(parameters) }
            try audit.record("password.set", .success, details)
            if replaced {
                try audit.record("password.changed", .success)
                try SecurityNotice.enqueue("password_changed", subjectID: subjectID, channels: deps.noticeChannels, in: tx, at: now)
            }
            return SetResult(replacedPrevious: replaced)
        }
        guard let result else { throw VigilError.accountFrozen }
        return result
    }

    /// When the subject is frozen: audits the refused `password.set` and returns true.
    @discardableResult
    static func auditFrozenSet(_ tx: any StoreWriting, subjectID: String, principal: Principal, request: RequestInfo, now: Date) throws -> Bool {
        guard let freeze = try tx.accountFreeze(subjectID: subjectID) else { return false }
        try Auditor(tx: tx, principal: principal, subjectID: subjectID, request: request, now: now)
            .record("password.set", .denied, ["reason": "account_frozen", "report_id": .string(freeze.reportID)])
        return true
    }

    /// Verifies a password. A wrong password is `false`; a locked or rate-limited factor
    /// throws `VigilError.rateLimited`, a full hashing pool `VigilError.overloaded`.
    public func verify(subjectID: String, password typed: String, by principal: Principal, request: RequestInfo) async throws -> Bool {
        try principal.require(.credentialsVerify)
        let candidate = try PasswordRules.candidate(forVerifying: typed)
        let limit = deps.policies.authentication.rateLimits[.passwordVerify]
        let lockout = deps.policies.authentication.lockout[.password]
        let cost = policy.argon2id.cost

        // 1. Admission: the subject has a password; the attempt is counted; the factor is not locked.
        let start = deps.clock.now()
        let admission: Admission = try await deps.store.write { tx in
            guard try tx.subjectExists(id: subjectID) else { throw VigilError.notFound(resource: "subject") }
            guard let record = try tx.password(subjectID: subjectID) else { throw VigilError.notFound(resource: "password") }
            let audit = Auditor(tx: tx, principal: principal, subjectID: subjectID, request: request, now: start)
            if let freeze = try tx.accountFreeze(subjectID: subjectID) {
                // A frozen account (suspicious-login decision) passes no factor until unfrozen.
                try audit.record("password.verify.frozen", .denied, ["report_id": .string(freeze.reportID)])
                return .frozen
            }
            if let retry = try tx.countRequest(
                key: "\(AuthenticationPolicy.RateLimited.passwordVerify.rawValue):\(subjectID)",
                limit: limit.limit,
                windowSeconds: limit.windowSeconds,
                now: start
            ) {
                try audit.record("password.verify.rate_limited", .denied, ["retry_after_seconds": .int(Int64(retry))])
                return .refused(retry)
            }
            if let retry = try tx.factorState(subjectID: subjectID, factor: .password).retryAfter(now: start) {
                try audit.record("password.verify.locked", .denied, ["retry_after_seconds": .int(Int64(retry))])
                return .refused(retry)
            }
            return .admitted(record.hash)
        }
        var hash: String
        switch admission {
        case .refused(let retry): throw VigilError.rateLimited(retryAfterSeconds: retry)
        case .frozen: throw VigilError.accountFrozen
        case .admitted(let stored): hash = stored
        }

        // A password changed between the admission and the record: verify again against the
        // new hash (without counting the attempt twice), a few times at most.
        for _ in 0..<3 {
            // 2. The slow part, on the pool, outside any transaction.
            let matched = try await deps.passwordHasher.verify(candidate, against: hash)
            // Best effort: a full pool leaves the old hash in place until the next success.
            let rehashed: String? =
                matched && PasswordHash.needsRehash(hash, cost: cost) ? try? await deps.passwordHasher.hash(candidate, cost: cost) : nil

            // 3. The record: success, or one failure more and the lock it causes.
            let now = deps.clock.now()
            let verified = hash
            let outcome: Outcome = try await deps.store.write { tx in
                guard let record = try tx.password(subjectID: subjectID) else { throw VigilError.notFound(resource: "password") }
                if record.hash != verified { return .stale(record.hash) }
                let audit = Auditor(tx: tx, principal: principal, subjectID: subjectID, request: request, now: now)
                let state = try tx.factorState(subjectID: subjectID, factor: .password)
                // A concurrent failure may have locked the factor meanwhile: then even the
                // right password fails, as it would have had it arrived a moment later.
                if let retry = state.retryAfter(now: now) {
                    try audit.record("password.verify.locked", .denied, ["retry_after_seconds": .int(Int64(retry))])
                    return .locked(retry)
                }
                guard matched else {
                    try SecondFactorService.recordFailure(
                        tx,
                        audit: audit,
                        subjectID: subjectID,
                        factor: .password,
                        state: state,
                        lockout: lockout,
                        action: "password.verify.failed"
                    )
                    return .failed
                }
                try tx.setFactorState(subjectID: subjectID, factor: .password, .clear)
                try audit.record("password.verify.succeeded", .success)
                if let rehashed, try tx.rehashPassword(subjectID: subjectID, from: verified, to: rehashed, at: now) {
                    try audit.record(
                        "password.rehashed",
                        .success,
                        [
                            "from": .string(PasswordHash.parameters(of: verified) ?? "unknown"),
                            "to": .string(PasswordHash.parameters(of: rehashed) ?? "unknown"),
                        ]
                    )
                }
                return .passed
            }
            switch outcome {
            case .passed: return true
            case .failed: return false
            case .locked(let retry): throw VigilError.rateLimited(retryAfterSeconds: retry)
            case .stale(let current): hash = current
            }
        }
        throw VigilError.unavailable(reason: "the password kept changing during verification")
    }

    enum Admission: Sendable {
        case admitted(String)
        case refused(Int)
        case frozen
    }

    enum Outcome: Sendable {
        case passed
        case failed
        case locked(Int)
        case stale(String)
    }
}
