import Foundation
import VigilCrypto

/// TOTP enrolment and verification, recovery codes, and the failure counter shared by them.
///
/// Rules:
/// - a new secret stays pending until a valid code activates it; re-enrolment replaces the
///   active secret only then, so a half-finished enrolment never locks anyone out;
/// - the window is the policy's `window_steps` around the server's clock, never re-centred;
///   the accepted step is stored in the same transaction, so a code (and any earlier step) is
///   accepted once, also when requests race or several instances share the database;
/// - attempts are rate-limited per subject and factor, counted before the value is checked;
/// - consecutive failures per factor (one-time codes apart from passwords) lock the factor
///   with a growing delay from policy, during which even a correct value fails (429 with
///   Retry-After); `max_consecutive_failures` (≤ 100) locks it until an agent unlocks it; a
///   success resets the count;
/// - every outcome is audited, in the transaction that records it; the answer for a locked
///   or rate-limited attempt is thrown only after that audit entry is committed;
/// - a frozen account (`account_freezes`, a suspicious-login decision or a support action) passes
///   neither TOTP nor a recovery code and changes neither (enrol, activate, new recovery codes):
///   423 `account_frozen`, audited as a denial, until an agent unfreezes it;
/// - the user gets a security notice (`SecurityNotice`, on `deps.noticeChannels`), enqueued in
///   the same transaction, when TOTP is added, replaced or removed, when recovery codes are
///   replaced, and when failures lock a factor (the first lock of a run of failures, and the
///   lock that lasts until an agent unlocks it — not every growing delay in between).
public struct SecondFactorService: Sendable {
    let deps: VigilDependencies

    public init(_ deps: VigilDependencies) { self.deps = deps }

    var policy: AuthenticationPolicy { deps.policies.authentication }

    /// What the client shows the user once to set up an authenticator app.
    public struct Enrolment: Sendable {
        public var secret: String
        public var uri: String
        public var qrSVG: String
        public var algorithm: String
        public var digits: Int
        public var period: Int
        public var expiresAt: Date
    }

    /// The answer to a verification.
    public struct Verification: Sendable, Equatable {
        public var valid: Bool
        /// `totp` or `recovery_code`.
        public var method: String
        /// Unused recovery codes left (so the wallet can prompt for a new set at 3 or fewer).
        public var recoveryCodesRemaining: Int
    }

    // MARK: enrolment

    public func startEnrolment(subjectID: String, by principal: Principal, request: RequestInfo) async throws -> Enrolment {
        try principal.require(.subjectsWrite)
        let p = policy.totp
        guard let algorithm = OneTimePassword.Algorithm(rawValue: p.algorithm.rawValue) else {
            throw VigilError.unavailable(reason: "unsupported TOTP algorithm in policy")
        }
        let secretBytes = SecureRandom.bytes(p.secretBytes)
        let secret = try SecretBytes(transient: secretBytes)
        let base32 = ByteEncoding.base32(secretBytes)
        let now = deps.clock.now()
        let frozen: Bool = try await deps.store.write { tx in
            guard try tx.subjectExists(id: subjectID) else { throw VigilError.notFound(resource: "subject") }
            if try Self.refuseWhileFrozen(tx, principal: principal, subjectID: subjectID, request: request, now: now, action: "totp.enrolment.frozen")
            {
                return true
            }
            try tx.saveTOTPEnrolment(
                subjectID: subjectID,
                TOTPRecord(secret: secret, algorithm: algorithm, digits: p.digits, period: p.periodSeconds, lastStep: nil, since: now)
            )
            try tx.appendAudit(
                AuditRecord(
                    action: "totp.enrolment.started",
                    actor: principal.actor,
                    target: .init(type: "subject", id: subjectID),
                    requestID: request.requestID,
                    sourceIP: request.sourceIP,
                    details: ["algorithm": .string(algorithm.rawValue), "digits": .int(Int64(p.digits))],
                    time: now
                )
            )
            return false
        }
        if frozen { throw VigilError.accountFrozen }
        let uri = Self.keyURI(
            label: p.label(subject: subjectID),
            secret: base32,
            issuer: p.issuer,
            algorithm: algorithm.rawValue,
            digits: p.digits,
            period: p.periodSeconds
        )
        let qr = try QRCode.encode(Array(uri.utf8), correction: .medium)
        return Enrolment(
            secret: base32,
            uri: uri,
            qrSVG: qr.svg(pixelsPerModule: 6),
            algorithm: algorithm.rawValue,
            digits: p.digits,
            period: p.periodSeconds,
            expiresAt: now.addingTimeInterval(TimeInterval(p.enrolmentTTLSeconds))
        )
    }

    /// The Key URI format of authenticator apps:
    /// `otpauth://totp/<issuer>:<account>?secret=…&issuer=…&algorithm=…&digits=…&period=…`.
    public static func keyURI(label: String, secret: String, issuer: String, algorithm: String, digits: Int, period: Int) -> String {
        var unreserved = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)..<Unicode.Scalar(128)))
        unreserved.insert(charactersIn: "-._~")
        func encode(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: unreserved) ?? "" }
        let labelParts = label.split(separator: ":", maxSplits: 1).map { encode(String($0)) }.joined(separator: ":")
        return "otpauth://totp/\(labelParts)?secret=\(secret)&issuer=\(encode(issuer))&algorithm=\(algorithm)&digits=\(digits)&period=\(period)"
    }

    /// Activates the pending enrolment with a code from the app.
    public func activate(subjectID: String, code: String, by principal: Principal, request: RequestInfo) async throws {
        try principal.require(.subjectsWrite)
        let now = deps.clock.now()
        let window = policy.totp.windowSteps
        let ttl = TimeInterval(policy.totp.enrolmentTTLSeconds)
        let lockout = policy.lockout[.totp]
        let outcome: Gate = try await deps.store.write { tx in
            guard try tx.subjectExists(id: subjectID) else { throw VigilError.notFound(resource: "subject") }
            guard let pending = try tx.totpEnrolment(subjectID: subjectID), pending.since.addingTimeInterval(ttl) > now else {
                throw VigilError.notFound(resource: "pending totp enrolment")
            }
            if try Self.refuseWhileFrozen(
                tx,
                principal: principal,
                subjectID: subjectID,
                request: request,
                now: now,
                action: "totp.activation.frozen"
            ) {
                return .frozen
            }
            let state = try tx.factorState(subjectID: subjectID, factor: .totp)
            let audit = Auditor(tx: tx, principal: principal, subjectID: subjectID, request: request, now: now)
            if let retry = state.retryAfter(now: now) {
                try audit.record("totp.activation.locked", .denied, ["retry_after_seconds": .int(Int64(retry))])
                return .locked(retry)
            }
            let params = OneTimePassword.Parameters(
                algorithm: pending.algorithm,
                digits: pending.digits,
                period: pending.period,
                window: window
            )
            if let step = try OneTimePassword.verify(code, secret: pending.secret, now: now, parameters: params, lastAcceptedStep: nil) {
                let replacing = try tx.totpCredential(subjectID: subjectID) != nil
                try tx.activateTOTP(subjectID: subjectID, acceptedStep: step, at: now)
                try tx.setFactorState(subjectID: subjectID, factor: .totp, .clear)
                try audit.record("totp.activated", .success, ["replaced_previous": .int(replacing ? 1 : 0)])
                try SecurityNotice.enqueue(
                    replacing ? "totp_replaced" : "totp_added",
                    subjectID: subjectID,
                    channels: deps.noticeChannels,
                    in: tx,
                    at: now
                )
                return .passed
            }
            try Self.recordFailure(
                tx,
                audit: audit,
                subjectID: subjectID,
                factor: .totp,
                state: state,
                lockout: lockout,
                action: "totp.activation.failed",
                noticeChannels: deps.noticeChannels
            )
            return .failed
        }
        switch outcome {
        case .frozen: throw VigilError.accountFrozen
        case .locked(let retry): throw VigilError.rateLimited(retryAfterSeconds: retry)
        case .failed, .failedWith: throw VigilError.invalidCode
        case .passed, .passedWith: return
        }
    }

    // MARK: verification

    /// Verifies a TOTP code or a recovery code.
    public func verify(
        subjectID: String,
        code: String?,
        recoveryCode: String?,
        by principal: Principal,
        request: RequestInfo
    )
        async throws -> Verification
    {
        try principal.require(.credentialsVerify)
        // Exactly one, and not empty: a null or empty value is not an attempt, and counts nothing.
        let code = code.flatMap { $0.isEmpty ? nil : $0 }
        let recoveryCode = recoveryCode.flatMap { $0.isEmpty ? nil : $0 }
        guard (code == nil) != (recoveryCode == nil) else {
            throw VigilError.invalidField(
                field: code == nil ? "code" : "recovery_code",
                reason: code == nil ? "is required, or else recovery_code (not empty)" : "cannot be given with code: send one of the two"
            )
        }
        let factor: AuthenticationPolicy.Factor = code != nil ? .totp : .recoveryCode
        let now = deps.clock.now()
        let method = factor == .totp ? "totp" : "recovery_code"
        let deps = self.deps
        let outcome: Gate = try await deps.store.write { tx in
            try Self.checkSecondFactor(
                tx,
                deps: deps,
                subjectID: subjectID,
                code: code,
                recoveryCode: recoveryCode,
                principal: principal,
                request: request,
                now: now
            )
        }
        switch outcome {
        case .frozen: throw VigilError.accountFrozen
        case .locked(let retry): throw VigilError.rateLimited(retryAfterSeconds: retry)
        case .passedWith(let remaining): return Verification(valid: true, method: method, recoveryCodesRemaining: remaining)
        case .failedWith(let remaining): return Verification(valid: false, method: method, recoveryCodesRemaining: remaining)
        case .passed, .failed: return Verification(valid: outcome == .passed, method: method, recoveryCodesRemaining: 0)
        }
    }

    /// One TOTP or recovery-code check inside the caller's transaction: freeze, rate limit,
    /// lock, the value, the step or code used up, the failure counter and its audit entries.
    /// `honourFreeze: false` is for support agents verifying a requester on a case (a frozen
    /// account is exactly what they verify before an unfreeze); lockout still applies.
    static func checkSecondFactor(
        _ tx: any StoreWriting,
        deps: VigilDependencies,
        subjectID: String,
        code: String?,
        recoveryCode: String?,
        principal: Principal,
        request: RequestInfo,
        now: Date,
        honourFreeze: Bool = true,
        auditDetails: [String: AuditValue] = [:]
    ) throws -> Gate {
        let factor: AuthenticationPolicy.Factor = code != nil ? .totp : .recoveryCode
        let policy = deps.policies.authentication
        let limit = policy.rateLimits[factor == .totp ? .totpVerify : .recoveryCodeVerify]
        let lockout = policy.lockout[factor]
        let window = policy.totp.windowSteps
        // Everything the check reads, at once (one statement on SQLite), and everything it
        // counts written at once, in the factor's one row. The decisions come in this order:
        // freeze, rate limit (every request counts), lock, then the value.
        guard let snapshot = try tx.secondFactorSnapshot(subjectID: subjectID, factor: factor)
        else { throw VigilError.notFound(resource: "subject") }
        let audit = Auditor(tx: tx, principal: principal, subjectID: subjectID, request: request, now: now, extra: auditDetails)
        let prefix = factor == .totp ? "totp.verify" : "recovery_code.verify"
        if honourFreeze, let freeze = snapshot.freeze {
            // A frozen account (suspicious-login decision) passes no second factor until unfrozen.
            try audit.record("\(prefix).frozen", .denied, ["report_id": .string(freeze.reportID)])
            return .frozen
        }
        var counters = snapshot.counters
        let (rate, rateRetry) = counters.rate.counted(limit: limit.limit, windowSeconds: limit.windowSeconds, now: now)
        counters.rate = rate
        if let retry = rateRetry {
            try tx.saveFactorCounters(subjectID: subjectID, factor: factor, counters)
            try audit.record("\(prefix).rate_limited", .denied, ["retry_after_seconds": .int(Int64(retry))])
            return .locked(retry)
        }
        let state = counters.state
        if let retry = state.retryAfter(now: now) {
            try tx.saveFactorCounters(subjectID: subjectID, factor: factor, counters)
            try audit.record("\(prefix).locked", .denied, ["retry_after_seconds": .int(Int64(retry))])
            return .locked(retry)
        }
        var remaining = snapshot.recoveryCodesRemaining
        let passed: Bool
        if let code {
            guard let credential = snapshot.totp else {
                throw VigilError.notFound(resource: "active totp credential")
            }
            let params = OneTimePassword.Parameters(
                algorithm: credential.algorithm,
                digits: credential.digits,
                period: credential.period,
                window: window
            )
            if let step = try OneTimePassword.verify(
                code,
                secret: credential.secret,
                now: now,
                parameters: params,
                lastAcceptedStep: credential.lastStep
            ) {
                // The guarded update is what makes the step single-use across instances.
                passed = try tx.advanceTOTPStep(subjectID: subjectID, to: step)
            } else {
                passed = false
            }
        } else {
            passed = try tx.consumeRecoveryCode(subjectID: subjectID, code: Self.normaliseRecoveryCode(recoveryCode ?? ""), at: now)
            if passed { remaining -= 1 }
        }
        if passed {
            counters.state = .clear
            try tx.saveFactorCounters(subjectID: subjectID, factor: factor, counters)
            try audit.record(
                factor == .totp ? "totp.verify.succeeded" : "recovery_code.used",
                .success,
                ["recovery_codes_remaining": .int(Int64(remaining))]
            )
            return .passedWith(remaining)
        }
        try Self.recordFailure(
            tx,
            audit: audit,
            subjectID: subjectID,
            factor: factor,
            state: state,
            lockout: lockout,
            action: "\(prefix).failed",
            noticeChannels: deps.noticeChannels,
            counters: counters
        )
        return .failedWith(remaining)
    }

    // MARK: recovery codes

    /// A new set of recovery codes; the old set stops working. The codes are returned once.
    public func regenerateRecoveryCodes(subjectID: String, by principal: Principal, request: RequestInfo) async throws -> [String] {
        try principal.require(.subjectsWrite)
        let p = policy.recoveryCodes
        let codes = (0..<p.count).map { _ in Self.makeRecoveryCode(entropyBits: p.entropyBits) }
        let now = deps.clock.now()
        let setID = ByteEncoding.hex(SecureRandom.bytes(8))
        let frozen: Bool = try await deps.store.write { tx in
            guard try tx.subjectExists(id: subjectID) else { throw VigilError.notFound(resource: "subject") }
            if try Self.refuseWhileFrozen(tx, principal: principal, subjectID: subjectID, request: request, now: now, action: "recovery_codes.frozen")
            {
                return true
            }
            try tx.replaceRecoveryCodes(subjectID: subjectID, codes: codes.map(Self.normaliseRecoveryCode), setID: setID, at: now)
            try tx.setFactorState(subjectID: subjectID, factor: .recoveryCode, .clear)
            try Auditor(tx: tx, principal: principal, subjectID: subjectID, request: request, now: now)
                .record("recovery_codes.regenerated", .success, ["count": .int(Int64(codes.count)), "set_id": .string(setID)])
            try SecurityNotice.enqueue(
                "recovery_codes_regenerated",
                subjectID: subjectID,
                details: ["count": .int(Int64(codes.count))],
                channels: deps.noticeChannels,
                in: tx,
                at: now
            )
            return false
        }
        if frozen { throw VigilError.accountFrozen }
        return codes
    }

    /// A frozen account changes no second factor (enrol, activate, new recovery codes) until an
    /// agent unfreezes it: whoever froze it may be the one trying. Writes the denial's entry;
    /// the caller answers 423 after the commit.
    static func refuseWhileFrozen(
        _ tx: any StoreWriting,
        principal: Principal,
        subjectID: String,
        request: RequestInfo,
        now: Date,
        action: String
    ) throws -> Bool {
        guard let freeze = try tx.accountFreeze(subjectID: subjectID) else { return false }
        try Auditor(tx: tx, principal: principal, subjectID: subjectID, request: request, now: now)
            .record(action, .denied, ["report_id": .string(freeze.reportID)])
        return true
    }

    /// Lower-case base32 characters in groups of four (`abcd-efgh-…`), at least `entropyBits`
    /// bits (5 bits a character, rounded up to whole groups).
    static func makeRecoveryCode(entropyBits: Int) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
        let characters = ((entropyBits + 4) / 5 + 3) / 4 * 4
        var out = ""
        for i in 0..<characters {
            if i > 0 && i % 4 == 0 { out.append("-") }
            out.append(alphabet[Int(SecureRandom.uniform(32))])
        }
        return out
    }

    /// Case and separators do not matter when a code is typed back.
    public static func normaliseRecoveryCode(_ code: String) -> String {
        code.lowercased().filter { !"- ".contains($0) }
    }

    // MARK: agent operations

    // A TOTP reset is a case action (`CaseWorkflowService`): verified by policy, four eyes, audited.

    /// The lock state of each factor, for support agents.
    public func factorStates(subjectID: String) async throws -> [AuthenticationPolicy.Factor: FactorState] {
        try await deps.store.read { tx in
            var states: [AuthenticationPolicy.Factor: FactorState] = [:]
            for factor in AuthenticationPolicy.Factor.allCases { states[factor] = try tx.factorState(subjectID: subjectID, factor: factor) }
            return states
        }
    }

    // MARK: shared

    enum Gate: Sendable, Equatable {
        case locked(Int)
        case frozen
        case passed
        case failed
        case passedWith(Int)
        case failedWith(Int)
    }

    /// One failure more: the new count, the lock it causes, their audit entries, and a security
    /// notice on `noticeChannels` when this failure starts a lock (see the rules above). For a
    /// one-time-code factor `counters` are the factor's counters as the caller has them (read
    /// when nil); they are written with the new state and the failure's time.
    static func recordFailure(
        _ tx: any StoreWriting,
        audit: Auditor,
        subjectID: String,
        factor: AuthenticationPolicy.Factor,
        state: FactorState,
        lockout: AuthenticationPolicy.Lockout,
        action: String,
        noticeChannels: [OutboundMessage.Channel] = [],
        counters: FactorCounters? = nil
    ) throws {
        let next = lockout.after(state, failureAt: audit.now)
        if factor == .password {
            try tx.setFactorState(subjectID: subjectID, factor: factor, next)
        } else {
            // A one-time code: the new state and the failure's time (for the suspicious-login
            // burst rule) in the factor's one row, with the counters the caller already holds.
            var c = try counters ?? tx.factorCounters(subjectID: subjectID, factor: factor)
            c.state = next
            c.addFailure(at: audit.now)
            try tx.saveFactorCounters(subjectID: subjectID, factor: factor, c)
        }
        try audit.record(action, .failure, ["consecutive_failures": .int(Int64(next.consecutiveFailures))])
        if lockout.lockBegins(from: state, to: next) {
            var details: [String: JSONValue] = ["factor": .string(factor.rawValue)]
            details["locked_until"] = next.lockedIndefinitely ? "unlocked_by_agent" : .string(Timestamp.format(next.lockedUntil ?? audit.now))
            try SecurityNotice.enqueue("factor_locked", subjectID: subjectID, details: details, channels: noticeChannels, in: tx, at: audit.now)
        }
        if next.lockedIndefinitely {
            try audit.record(
                "\(factor.rawValue).locked",
                .success,
                ["until": "unlocked_by_agent", "consecutive_failures": .int(Int64(next.consecutiveFailures))]
            )
        } else if let until = next.lockedUntil {
            try audit.record(
                "\(factor.rawValue).locked",
                .success,
                ["seconds": .int(Int64(until.timeIntervalSince(audit.now).rounded())), "consecutive_failures": .int(Int64(next.consecutiveFailures))]
            )
        }
    }
}

/// Audit entries about one subject within one transaction.
struct Auditor {
    let tx: any StoreWriting
    let principal: Principal
    let subjectID: String
    let request: RequestInfo
    let now: Date
    /// Added to every entry's details (a case's `case_id`, so the entry is filed under it).
    var extra: [String: AuditValue] = [:]

    func record(_ action: String, _ outcome: AuditRecord.Outcome, _ details: [String: AuditValue] = [:]) throws {
        let details = details.merging(extra) { own, _ in own }
        try tx.appendAudit(
            AuditRecord(
                action: action,
                actor: principal.actor,
                target: .init(type: "subject", id: subjectID),
                outcome: outcome,
                requestID: request.requestID,
                sourceIP: request.sourceIP,
                details: details,
                time: now
            )
        )
    }
}
