import Foundation
import VigilCrypto

/// Working a case (issue 6, items 2 and 4–6): re-triage, notes, verification of the requester
/// by `Policies/recovery.yaml`, actions with their prerequisites, four eyes and cooling-off,
/// revealing contact data with a reason, closing, and feedback. `docs/cases.md` is the guide.
///
/// Rules:
/// - one use case is one transaction with its audit entries; every entry names the case in
///   `details.case_id`, so the store files it under the case for the case file;
/// - free text (notes, reasons, comments) and contact data are personal data: encrypted by
///   the store, never in the audit log; auditors read cases without any of it;
/// - an action's `requires` is met by checks that passed on this case and still count; it is
///   checked when the action is asked for and again when it runs;
/// - a four-eyes action runs only when a supervisor or admin approves it who is neither the
///   requester nor an agent whose attestation (`transaction_knowledge`, `id_document`) counts
///   towards it; such an approval is refused (403 `four_eyes`) and audited as denied; the
///   requester must still be active when it is approved;
/// - an action's `requires` may demand a check Vigil verified itself (`machine_verified`), so
///   attestations alone never carry it; attestations of a disabled agent count for nothing;
/// - actions, attestations and contact reveals on a case are for its assignee; supervisors and
///   admins may work any case (403 otherwise);
/// - one-time codes for `email_otp` / `sms_otp` go to the subject's registered contact only,
///   and are kept as a keyed hash;
/// - a closed case takes no more work, only feedback; closing cancels pending actions.
public struct CaseWorkflowService: Sendable {
    let deps: VigilDependencies

    public init(_ deps: VigilDependencies) { self.deps = deps }

    static let workers: Set<AgentRole> = [.agent, .supervisor, .admin]
    /// Codes of one kind (email, SMS) sent to one subject per hour, over all its cases.
    static let codesPerHour = 3
    static let approvers: Set<AgentRole> = [.supervisor, .admin]

    var recovery: RecoveryPolicy { deps.policies.recovery }

    /// The agent behind `principal`, when it has one of `roles`.
    static func agent(_ principal: Principal, _ roles: Set<AgentRole>) throws -> String {
        try principal.require(role: roles)
        guard case .agent(let id, _) = principal else { throw VigilError.unauthenticated }
        return id
    }

    /// Audit entries of one case, inside one transaction.
    struct CaseAudit {
        let tx: any StoreWriting
        let principal: Principal
        let caseID: String
        let request: RequestInfo
        let now: Date

        func record(_ action: String, _ outcome: AuditRecord.Outcome = .success, _ details: [String: AuditValue] = [:]) throws {
            try append(action, outcome, target: .init(type: "case", id: caseID), details)
        }

        /// An entry about the case's subject (the change an action made), filed under the case.
        func subject(_ subjectID: String, _ action: String, _ details: [String: AuditValue] = [:]) throws {
            try append(action, .success, target: .init(type: "subject", id: subjectID), details)
        }

        private func append(_ action: String, _ outcome: AuditRecord.Outcome, target: AuditRecord.Target, _ details: [String: AuditValue]) throws {
            var details = details
            details["case_id"] = .string(caseID)
            try tx.appendAudit(
                AuditRecord(
                    action: action,
                    actor: principal.actor,
                    target: target,
                    outcome: outcome,
                    requestID: request.requestID,
                    sourceIP: request.sourceIP,
                    details: details,
                    time: now
                )
            )
        }
    }

    /// The case, which must exist and not be closed.
    static func openCase(_ tx: any StoreReading, _ id: String) throws -> CaseSummary {
        guard let c = try tx.caseSummary(id: id) else { throw VigilError.notFound(resource: "case") }
        guard c.status != "closed" else { throw VigilError.conflict(reason: "the case is closed") }
        return c
    }

    static func subject(of c: CaseSummary) throws -> String {
        guard let s = c.subjectID else { throw VigilError.conflict(reason: "the case names no subject; file one with subject_id") }
        return s
    }

    /// Actions, attestations and contact reveals are for the case's assignee; supervisors and
    /// admins may work any case.
    static func requireAssignee(_ c: CaseSummary, _ principal: Principal) throws {
        guard case .agent(let id, let role) = principal, role == .agent else { return }
        guard c.assignee == id else { throw VigilError.notAssignee }
    }

    static func text(_ value: String, field: String, min: Int = 1, max: Int = 4000) throws -> String {
        let t = value.trimmingCharacters(in: .whitespacesAndNewlines)
        guard t.count >= min, t.count <= max, !t.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && $0 != "\n" })
        else { throw VigilError.invalidField(field: field, reason: "must be \(min)-\(max) characters of text") }
        return t
    }

    // MARK: re-triage

    /// A new priority set by an agent: the due times are recomputed from the intake time.
    public func retriage(
        caseID: String,
        priority: CasePriority,
        reason: String,
        by principal: Principal,
        request: RequestInfo
    )
        async throws -> CaseSummary
    {
        let me = try Self.agent(principal, Self.workers)
        let reason = try Self.text(reason, field: "reason", min: 3, max: 1000)
        let now = deps.clock.now()
        let sla = deps.policies.sla
        return try await deps.store.write { tx in
            let c = try Self.openCase(tx, caseID)
            let due = sla.deadlines(for: priority, openedAt: c.openedAt)
            guard try tx.retriageCase(id: caseID, priority: priority, firstResponseDue: due.firstResponse, resolutionDue: due.resolution)
            else { throw VigilError.conflict(reason: "the case is closed") }
            let note = CaseNote(id: Self.newID("note"), caseID: caseID, kind: .internal, author: me, body: reason, createdAt: now)
            try tx.insertCaseNote(note)
            try CaseAudit(tx: tx, principal: principal, caseID: caseID, request: request, now: now)
                .record(
                    "case.retriaged",
                    .success,
                    ["from": .string(c.priority.rawValue), "to": .string(priority.rawValue), "note_id": .string(note.id)]
                )
            guard let updated = try tx.caseSummary(id: caseID) else { throw VigilError.notFound(resource: "case") }
            return updated
        }
    }

    // MARK: the subject

    /// Names the wallet user a case is about, when the requester could not (a WeChat message from
    /// someone who knows only their email): by subject id, registered email or phone. Once.
    public func linkSubject(caseID: String, identifier: String, by principal: Principal, request: RequestInfo) async throws -> CaseSummary {
        _ = try Self.agent(principal, Self.workers)
        let identifier = identifier.trimmingCharacters(in: .whitespaces)
        guard !identifier.isEmpty, identifier.count <= 320 else {
            throw VigilError.invalidField(field: "identifier", reason: "must be a subject id, email or phone")
        }
        let now = deps.clock.now()
        return try await deps.store.write { tx in
            let c = try Self.openCase(tx, caseID)
            guard c.subjectID == nil else { throw VigilError.conflict(reason: "the case already names its subject") }
            guard let subjectID = try PasswordResetService.resolve(identifier, tx) else { throw VigilError.notFound(resource: "subject") }
            guard try tx.linkCaseSubject(caseID: caseID, subjectID: subjectID) else {
                throw VigilError.conflict(reason: "the case already names its subject")
            }
            // Flag what could make the account pass for another one (the agent sees it on the case).
            let warnings = (try tx.subject(id: subjectID)?.email).map { IdentifierWarning.of(email: $0) } ?? []
            try CaseAudit(tx: tx, principal: principal, caseID: caseID, request: request, now: now)
                .subject(
                    subjectID,
                    "case.subject_linked",
                    warnings.isEmpty ? [:] : ["identifier_warnings": .string(warnings.map(\.rawValue).sorted().joined(separator: ","))]
                )
            guard let linked = try tx.caseSummary(id: caseID) else { throw VigilError.notFound(resource: "case") }
            return linked
        }
    }

    // MARK: notes

    /// A note: internal, or a reply sent to the requester (the first reply is the first response).
    public func addNote(
        caseID: String,
        kind: CaseNoteKind,
        body: String,
        by principal: Principal,
        request: RequestInfo
    ) async throws
        -> CaseNote
    {
        let me = try Self.agent(principal, Self.workers)
        guard kind != .revealReason else { throw VigilError.invalidField(field: "kind", reason: "must be internal or reply") }
        let body = try Self.text(body, field: "body")
        let now = deps.clock.now()
        return try await deps.store.write { tx in
            _ = try Self.openCase(tx, caseID)
            let note = CaseNote(id: Self.newID("note"), caseID: caseID, kind: kind, author: me, body: body, createdAt: now)
            try tx.insertCaseNote(note)
            let audit = CaseAudit(tx: tx, principal: principal, caseID: caseID, request: request, now: now)
            var details: [String: AuditValue] = ["note_id": .string(note.id), "kind": .string(kind.rawValue)]
            if kind == .reply, try tx.markFirstResponse(caseID: caseID, at: now) { details["first_response"] = "true" }
            try audit.record("case.note_added", .success, details)
            return note
        }
    }

    // MARK: verification

    /// What the agent submits to record a check.
    public struct CheckInput: Sendable {
        public var check: RecoveryPolicy.VerificationCheck
        /// The TOTP code the requester reads out (`totp`).
        public var code: String?
        /// A recovery code the requester reads out (`recovery_code`).
        public var recoveryCode: String?
        /// The agent's finding for `transaction_knowledge` and `id_document`.
        public var passed: Bool?
        /// What was checked (`transaction_knowledge`, `id_document`): an encrypted note.
        public var note: String?

        public init(
            check: RecoveryPolicy.VerificationCheck,
            code: String? = nil,
            recoveryCode: String? = nil,
            passed: Bool? = nil,
            note: String? = nil
        ) {
            self.check = check
            self.code = code
            self.recoveryCode = recoveryCode
            self.passed = passed
            self.note = note
        }
    }

    /// Records a check. `email_otp` / `sms_otp` send a code and stay pending until
    /// `submitCode`; the others complete at once.
    public func verify(
        caseID: String,
        _ input: CheckInput,
        by principal: Principal,
        request: RequestInfo
    ) async throws
        -> CaseVerification
    {
        let me = try Self.agent(principal, Self.workers)
        let check = input.check
        let rule = recovery.verificationChecks[check]
        switch check {
        case .emailOTP, .smsOTP:
            guard input.code == nil, input.recoveryCode == nil, input.passed == nil else {
                throw VigilError.invalidField(
                    field: "check",
                    reason: "sends a code by itself: give only the check, then submit the code the requester reads back"
                )
            }
        case .totp:
            guard let code = input.code, !code.isEmpty else { throw VigilError.invalidField(field: "code", reason: "is required for totp") }
        case .recoveryCode:
            guard let code = input.recoveryCode, !code.isEmpty else {
                throw VigilError.invalidField(field: "recovery_code", reason: "is required for recovery_code")
            }
        case .transactionKnowledge, .idDocument:
            guard input.passed != nil else { throw VigilError.invalidField(field: "passed", reason: "is required for \(check.rawValue)") }
            guard input.note != nil else {
                throw VigilError.invalidField(field: "note", reason: "is required for \(check.rawValue): say what was checked")
            }
        }
        let note = try input.note.map { try Self.text($0, field: "note") }
        let now = deps.clock.now()
        let deps = self.deps
        let id = Self.newID("ver")
        let code = rule.code.map { Self.numericCode(digits: $0.digits) }
        let outcome: (CaseVerification, SecondFactorService.Gate?) = try await deps.store.write { tx in
            let c = try Self.openCase(tx, caseID)
            let subjectID = try Self.subject(of: c)
            if !check.isMachineVerified { try Self.requireAssignee(c, principal) }
            let audit = CaseAudit(tx: tx, principal: principal, caseID: caseID, request: request, now: now)
            var v = CaseVerification(id: id, caseID: caseID, check: check, status: .pending, agentID: me, createdAt: now)
            switch check {
            case .emailOTP, .smsOTP:
                guard let code, let format = rule.code else { throw VigilError.unavailable(reason: "no code format for \(check.rawValue)") }
                // Support is not a relay: a few codes an hour to the user's own contact, over all of
                // the user's cases (opening more cases sends no more).
                if try tx.verificationCodesSent(subjectID: subjectID, check: check, since: now.addingTimeInterval(-3600)) >= Self.codesPerHour {
                    throw VigilError.rateLimited(retryAfterSeconds: 3600)
                }
                let subject = try tx.subject(id: subjectID)
                let recipient: OutboundMessage.Recipient? =
                    check == .emailOTP ? subject?.email.map { .email($0) } : subject?.phone.map { .phone($0) }
                guard let recipient else {
                    throw VigilError.conflict(reason: "the subject has no registered \(check == .emailOTP ? "email" : "phone") to send a code to")
                }
                v.codeHash = tx.verificationCodeDigest(code, verificationID: id)
                v.codeExpiresAt = now.addingTimeInterval(TimeInterval(format.ttlSeconds))
                try tx.insertCaseVerification(v)
                for channel in deps.noticeChannels {
                    try tx.enqueueMessage(
                        OutboundMessage(
                            kind: .verificationCode,
                            subjectID: subjectID,
                            channel: channel,
                            recipient: recipient,
                            payload: [
                                "code": .string(code), "purpose": "support_verification",
                                "expires_in_seconds": .int(Int64(format.ttlSeconds)),
                            ],
                            createdAt: now
                        )
                    )
                }
                try audit.record(
                    "case.verification_started",
                    .success,
                    ["verification_id": .string(id), "check": .string(check.rawValue)]
                )
                return (v, nil)
            case .totp, .recoveryCode:
                let gate = try SecondFactorService.checkSecondFactor(
                    tx,
                    deps: deps,
                    subjectID: subjectID,
                    code: check == .totp ? input.code : nil,
                    recoveryCode: check == .recoveryCode ? input.recoveryCode : nil,
                    principal: principal,
                    request: request,
                    now: now,
                    honourFreeze: false,
                    auditDetails: ["case_id": .string(caseID), "verification_id": .string(id)]
                )
                switch gate {
                case .passed, .passedWith: v.status = .passed
                case .failed, .failedWith: v.status = .failed
                case .locked, .frozen: return (v, gate)  // nothing recorded but the audit entry
                }
            case .transactionKnowledge, .idDocument:
                v.status = input.passed == true ? .passed : .failed
            }
            v.completedAt = now
            try tx.insertCaseVerification(v)
            var details: [String: AuditValue] = ["verification_id": .string(id), "check": .string(check.rawValue)]
            if let note {
                let n = CaseNote(id: Self.newID("note"), caseID: caseID, kind: .internal, author: me, body: note, createdAt: now)
                try tx.insertCaseNote(n)
                details["note_id"] = .string(n.id)
            }
            try audit.record(v.status == .passed ? "case.verification_passed" : "case.verification_failed", .success, details)
            return (v, nil)
        }
        switch outcome.1 {
        case .locked(let retry): throw VigilError.rateLimited(retryAfterSeconds: retry)
        case .frozen: throw VigilError.accountFrozen
        default: return outcome.0
        }
    }

    /// The code the requester read back for a pending `email_otp` / `sms_otp` check.
    public func submitCode(
        caseID: String,
        verificationID: String,
        code: String,
        by principal: Principal,
        request: RequestInfo
    ) async throws
        -> CaseVerification
    {
        _ = try Self.agent(principal, Self.workers)
        let now = deps.clock.now()
        let policy = recovery
        let code = code.filter { !" -".contains($0) }
        return try await deps.store.write { tx in
            _ = try Self.openCase(tx, caseID)
            guard var v = try tx.caseVerification(id: verificationID), v.caseID == caseID else {
                throw VigilError.notFound(resource: "verification")
            }
            guard v.status == .pending, let format = policy.verificationChecks[v.check].code, let expected = v.codeHash else {
                throw VigilError.conflict(reason: "the verification is not waiting for a code")
            }
            let audit = CaseAudit(tx: tx, principal: principal, caseID: caseID, request: request, now: now)
            let details: [String: AuditValue] = ["verification_id": .string(v.id), "check": .string(v.check.rawValue)]
            v.attempts += 1
            let expired = (v.codeExpiresAt ?? now) <= now
            let matches = !expired && ConstantTime.equals(tx.verificationCodeDigest(code, verificationID: v.id), expected)
            if matches {
                v.status = .passed
            } else if expired || v.attempts >= format.maxAttempts {
                v.status = .failed
            }
            if v.status != .pending {
                v.completedAt = now
                v.codeHash = nil  // used up: nothing left to guess
            }
            try tx.updateCaseVerification(v)
            switch v.status {
            case .passed: try audit.record("case.verification_passed", .success, details)
            case .failed:
                var d = details
                d["why"] = expired ? "expired" : "attempts_exhausted"
                try audit.record("case.verification_failed", .success, d)
            case .pending:
                try audit.record("case.verification_code_wrong", .failure, details.merging(["attempts": .int(Int64(v.attempts))]) { a, _ in a })
            }
            return v
        }
    }

    // MARK: actions

    /// The checks that count on the case: the newest completed check of each kind, when it passed
    /// and is still valid. A later failure (a forged document found on a second look) takes an
    /// earlier pass back.
    static func passedChecks(
        _ tx: any StoreReading,
        caseID: String,
        policy: RecoveryPolicy,
        now: Date
    ) throws -> Set<RecoveryPolicy.VerificationCheck> {
        Set(try countedChecks(tx, caseID: caseID, policy: policy, now: now).keys)
    }

    /// The checks that count, each with the verification that makes it count. An attestation by
    /// an agent who has since been disabled counts for nothing (neither as a pass nor as the
    /// newer failure that takes a pass back).
    static func countedChecks(
        _ tx: any StoreReading,
        caseID: String,
        policy: RecoveryPolicy,
        now: Date
    ) throws -> [RecoveryPolicy.VerificationCheck: CaseVerification] {
        var disabled: [String: Bool] = [:]
        func isDisabled(_ agentID: String) throws -> Bool {
            if let known = disabled[agentID] { return known }
            let d = try tx.agentCredentials(id: agentID)?.disabled ?? true
            disabled[agentID] = d
            return d
        }
        var newest: [RecoveryPolicy.VerificationCheck: CaseVerification] = [:]
        for v in try tx.caseVerifications(caseID: caseID) where v.status != .pending {
            if !v.check.isMachineVerified, try isDisabled(v.agentID) { continue }
            if let seen = newest[v.check], (seen.completedAt ?? .distantPast) > (v.completedAt ?? .distantPast) { continue }
            newest[v.check] = v
        }
        return newest.filter { $0.value.counts(at: now, policy: policy) }
    }

    static func requirePrerequisites(_ action: RecoveryPolicy.Action, passed: Set<RecoveryPolicy.VerificationCheck>, policy: RecoveryPolicy) throws {
        guard !policy.isSatisfied(action, by: passed) else { return }
        let r = policy.actions[action].requires
        let weight = passed.reduce(0) { $0 + policy.verificationChecks[$1].weight }
        var missing: [String] = []
        if weight < r.minWeight { missing.append("weight \(weight) of \(r.minWeight)") }
        let absent = r.allOf.filter { !passed.contains($0) }
        if !absent.isEmpty { missing.append("all of " + absent.map(\.rawValue).joined(separator: ", ")) }
        if r.machineVerified, !passed.contains(where: \.isMachineVerified) {
            missing.append("a check Vigil verified (email_otp, sms_otp, totp or recovery_code)")
        }
        if !r.anyOf.isEmpty && !r.anyOf.contains(where: passed.contains) {
            missing.append("one of " + r.anyOf.map(\.rawValue).joined(separator: ", "))
        }
        throw VigilError.prerequisitesNotMet(action: action.rawValue, missing: missing.joined(separator: "; "))
    }

    /// What an agent asks for.
    public struct ActionInput: Sendable {
        public var action: RecoveryPolicy.Action
        public var reason: String
        public var contactChange: CaseAction.ContactChange?
        public init(action: RecoveryPolicy.Action, reason: String, contactChange: CaseAction.ContactChange? = nil) {
            self.action = action
            self.reason = reason
            self.contactChange = contactChange
        }
    }

    /// Asks for an action: it runs at once unless the policy wants four eyes, then it waits.
    public func requestAction(caseID: String, _ input: ActionInput, by principal: Principal, request: RequestInfo) async throws -> CaseAction {
        let me = try Self.agent(principal, Self.workers)
        let reason = try Self.text(input.reason, field: "reason", min: 10, max: 2000)
        var change: CaseAction.ContactChange?
        if input.action == .changeContact {
            guard let c = input.contactChange, c.email != nil || c.phone != nil else {
                throw VigilError.invalidField(field: "new_contact", reason: "must name an email or a phone for change_contact")
            }
            change = .init(
                email: try c.email.map { try SubjectRegistration.normaliseEmail($0) },
                phone: try c.phone.map { try SubjectRegistration.normalisePhone($0) }
            )
        } else if input.contactChange != nil {
            throw VigilError.invalidField(field: "new_contact", reason: "is only for change_contact")
        }
        let now = deps.clock.now()
        let deps = self.deps
        let policy = recovery
        let rule = policy.actions[input.action]
        return try await deps.store.write { [change] tx in
            let c = try Self.openCase(tx, caseID)
            let subjectID = try Self.subject(of: c)
            try Self.requireAssignee(c, principal)
            if try tx.caseActions(caseID: caseID).contains(where: { $0.action == input.action && $0.status == .pendingApproval }) {
                throw VigilError.conflict(reason: "the same action already waits for approval on this case")
            }
            let passed = try Self.passedChecks(tx, caseID: caseID, policy: policy, now: now)
            try Self.requirePrerequisites(input.action, passed: passed, policy: policy)
            try Self.checkApplicable(input.action, subjectID: subjectID, tx: tx)
            if let change { try Self.checkContactFree(change, subjectID: subjectID, tx: tx) }
            var a = CaseAction(
                id: Self.newID("act"),
                caseID: caseID,
                action: input.action,
                status: .pendingApproval,
                requestedBy: me,
                requestedAt: now,
                reason: reason,
                contactChange: change,
                checks: passed.sorted { $0.rawValue < $1.rawValue }
            )
            let audit = CaseAudit(tx: tx, principal: principal, caseID: caseID, request: request, now: now)
            try tx.insertCaseAction(a)
            try audit.record(
                "case.action_requested",
                .success,
                [
                    "action_id": .string(a.id), "action": .string(a.action.rawValue),
                    "checks": .string(a.checks.map(\.rawValue).joined(separator: ",")), "four_eyes": .string(rule.fourEyes ? "true" : "false"),
                ]
            )
            if !rule.fourEyes {
                a = try Self.execute(a, subjectID: subjectID, deps: deps, audit: audit, from: .pendingApproval)
            }
            return a
        }
    }

    /// A new contact must not be another account's: look-ups by email or phone (resets, cases)
    /// would become ambiguous, and a victim's address could be moved onto an attacker's account.
    static func checkContactFree(_ change: CaseAction.ContactChange, subjectID: String, tx: any StoreReading) throws {
        if let email = change.email, let owner = try tx.subjectID(email: email), owner != subjectID {
            throw VigilError.conflict(reason: "the new email belongs to another account")
        }
        if let phone = change.phone, let owner = try tx.subjectID(phone: phone), owner != subjectID {
            throw VigilError.conflict(reason: "the new phone belongs to another account")
        }
    }

    /// Refuses actions that would do nothing (no TOTP to reset, not frozen, already frozen).
    static func checkApplicable(_ action: RecoveryPolicy.Action, subjectID: String, tx: any StoreReading) throws {
        switch action {
        case .resetTOTP:
            guard try tx.totpCredential(subjectID: subjectID) != nil else {
                throw VigilError.conflict(reason: "the subject has no TOTP to reset")
            }
        case .unfreeze:
            guard try tx.accountFreeze(subjectID: subjectID) != nil else { throw VigilError.conflict(reason: "the account is not frozen") }
        case .freeze:
            guard try tx.accountFreeze(subjectID: subjectID) == nil else { throw VigilError.conflict(reason: "the account is already frozen") }
        case .sendResetLink:
            let s = try tx.subject(id: subjectID)
            guard s?.email != nil || s?.phone != nil else { throw VigilError.conflict(reason: "the subject has no registered contact") }
            // A frozen account changes no credential: unfreeze it first (under four eyes).
            guard try tx.accountFreeze(subjectID: subjectID) == nil else { throw VigilError.accountFrozen }
        case .changeContact, .endSessions:
            break
        }
    }

    /// Approves a pending action and runs it (supervisors and admins, never the requester).
    public func approve(caseID: String, actionID: String, by principal: Principal, request: RequestInfo) async throws -> CaseAction {
        let me = try Self.agent(principal, Self.approvers)
        let now = deps.clock.now()
        let deps = self.deps
        let policy = recovery
        let result: Approval = try await deps.store.write { tx in
            let c = try Self.openCase(tx, caseID)
            let subjectID = try Self.subject(of: c)
            guard var a = try tx.caseAction(id: actionID), a.caseID == caseID else { throw VigilError.notFound(resource: "action") }
            guard a.status == .pendingApproval else { throw VigilError.conflict(reason: "the action is not waiting for approval") }
            let audit = CaseAudit(tx: tx, principal: principal, caseID: caseID, request: request, now: now)
            let details: [String: AuditValue] = ["action_id": .string(a.id), "action": .string(a.action.rawValue)]
            if a.requestedBy == me {
                try audit.record("case.action_approved", .denied, details.merging(["reason": "own_request"]) { x, _ in x })
                return .fourEyes
            }
            // A request of an agent disabled since (disabling cancels them; this is the backstop).
            if try tx.agentCredentials(id: a.requestedBy)?.disabled ?? true {
                a.status = .cancelled
                a.decidedBy = me
                a.decidedAt = now
                guard try tx.updateCaseAction(a, from: .pendingApproval) else {
                    throw VigilError.conflict(reason: "the action was decided meanwhile")
                }
                try audit.record("case.action_approved", .denied, details.merging(["reason": "requester_disabled"]) { x, _ in x })
                try audit.record("case.action_cancelled", .success, details.merging(["reason": "requester_disabled"]) { x, _ in x })
                return .requesterDisabled
            }
            // The checks must still count when the action runs, not only when it was asked for.
            let counted = try Self.countedChecks(tx, caseID: caseID, policy: policy, now: now)
            // Two people: the approver attested none of the checks the action relies on.
            if counted.values.contains(where: { !$0.check.isMachineVerified && $0.agentID == me }) {
                try audit.record("case.action_approved", .denied, details.merging(["reason": "attested_a_check"]) { x, _ in x })
                return .fourEyes
            }
            try Self.requirePrerequisites(a.action, passed: Set(counted.keys), policy: policy)
            try Self.checkApplicable(a.action, subjectID: subjectID, tx: tx)
            a.decidedBy = me
            a.decidedAt = now
            try audit.record("case.action_approved", .success, details)
            return .executed(try Self.execute(a, subjectID: subjectID, deps: deps, audit: audit, from: .pendingApproval))
        }
        switch result {
        case .executed(let a): return a
        case .fourEyes: throw VigilError.fourEyes
        case .requesterDisabled: throw VigilError.conflict(reason: "the agent who asked for the action is disabled; it was cancelled")
        }
    }

    enum Approval: Sendable {
        case executed(CaseAction)
        case fourEyes
        case requesterDisabled
    }

    /// Rejects a pending action (supervisors and admins).
    public func reject(caseID: String, actionID: String, reason: String, by principal: Principal, request: RequestInfo) async throws -> CaseAction {
        let me = try Self.agent(principal, Self.approvers)
        let reason = try Self.text(reason, field: "reason", min: 3, max: 2000)
        let now = deps.clock.now()
        return try await deps.store.write { tx in
            _ = try Self.openCase(tx, caseID)
            guard var a = try tx.caseAction(id: actionID), a.caseID == caseID else { throw VigilError.notFound(resource: "action") }
            guard a.status == .pendingApproval else { throw VigilError.conflict(reason: "the action is not waiting for approval") }
            a.status = .rejected
            a.decidedBy = me
            a.decidedAt = now
            guard try tx.updateCaseAction(a, from: .pendingApproval) else { throw VigilError.conflict(reason: "the action was decided meanwhile") }
            let note = CaseNote(id: Self.newID("note"), caseID: caseID, kind: .internal, author: me, body: reason, createdAt: now)
            try tx.insertCaseNote(note)
            try CaseAudit(tx: tx, principal: principal, caseID: caseID, request: request, now: now)
                .record(
                    "case.action_rejected",
                    .success,
                    ["action_id": .string(a.id), "action": .string(a.action.rawValue), "note_id": .string(note.id)]
                )
            return a
        }
    }

    /// Runs an action on the case's subject in the caller's transaction.
    static func execute(
        _ action: CaseAction,
        subjectID: String,
        deps: VigilDependencies,
        audit: CaseAudit,
        from: CaseAction.Status
    ) throws
        -> CaseAction
    {
        var a = action
        let tx = audit.tx
        let now = audit.now
        let rule = deps.policies.recovery.actions[a.action]
        let ids: [String: AuditValue] = ["action_id": .string(a.id)]
        var credentialsChanged = false
        switch a.action {
        case .sendResetLink:
            let p = deps.policies.recovery.passwordReset
            let token = SecureRandom.bytes(32)
            try tx.voidResetTokens(subjectID: subjectID, at: now)
            try tx.issueResetToken(
                hash: SHA256.hash(token),
                subjectID: subjectID,
                at: now,
                expires: now.addingTimeInterval(TimeInterval(p.tokenTTLSeconds))
            )
            try ResetMessages.sendLink(p.link(token: ByteEncoding.base64URL(token)), subjectID: subjectID, deps: deps, tx: tx, at: now)
            try audit.subject(subjectID, "password_reset.token_issued", ids.merging(["ttl_seconds": .int(Int64(p.tokenTTLSeconds))]) { x, _ in x })
        case .resetTOTP:
            _ = try tx.removeTOTP(subjectID: subjectID)
            try tx.setFactorState(subjectID: subjectID, factor: .totp, .clear)
            try audit.subject(subjectID, "totp.reset", ids)
            try SecurityNotice.enqueue("totp_removed", subjectID: subjectID, channels: deps.noticeChannels, in: tx, at: now)
            credentialsChanged = true
        case .freeze:
            _ = try tx.freezeAccount(AccountFreeze(subjectID: subjectID, frozenAt: now, reportID: a.id))
            try audit.subject(subjectID, "account.frozen", ids)
            try AccountFreezes.voidOutstanding(
                subjectID: subjectID,
                tx: tx,
                principal: audit.principal,
                request: audit.request,
                now: now,
                caseID: audit.caseID,
                details: ids
            )
            try SecurityNotice.enqueue("account_frozen", subjectID: subjectID, channels: deps.noticeChannels, in: tx, at: now)
            credentialsChanged = true
        case .unfreeze:
            guard try tx.unfreezeAccount(subjectID: subjectID) else { throw VigilError.conflict(reason: "the account is not frozen") }
            try audit.subject(subjectID, "account.unfrozen", ids)
            try SecurityNotice.enqueue("account_unfrozen", subjectID: subjectID, channels: deps.noticeChannels, in: tx, at: now)
        case .changeContact:
            guard let change = a.contactChange else { throw VigilError.dataIntegrity(reason: "change_contact action without a new contact") }
            try checkContactFree(change, subjectID: subjectID, tx: tx)  // again: another account may have taken it meanwhile
            let old = try tx.subject(id: subjectID)
            try tx.updateSubjectContact(subjectID: subjectID, email: change.email, phone: change.phone, at: now)
            var changed: [String] = []
            if change.email != nil { changed.append("email") }
            if change.phone != nil { changed.append("phone") }
            try audit.subject(subjectID, "subject.contact_changed", ids.merging(["fields": .string(changed.joined(separator: ","))]) { x, _ in x })
            // The old contact hears of it (someone who took it over must not do this quietly),
            // and the new one too.
            var recipients: [OutboundMessage.Recipient] = []
            if change.email != nil, let e = old?.email { recipients.append(.email(e)) }
            if change.phone != nil, let p = old?.phone { recipients.append(.phone(p)) }
            if let e = change.email { recipients.append(.email(e)) }
            if let p = change.phone { recipients.append(.phone(p)) }
            for recipient in recipients {
                for channel in deps.noticeChannels {
                    try tx.enqueueMessage(
                        OutboundMessage(
                            kind: .securityNotice,
                            subjectID: subjectID,
                            channel: channel,
                            recipient: recipient,
                            payload: [
                                "event": "contact_changed", "fields": .string(changed.joined(separator: ",")),
                                "occurred_at": .string(Timestamp.format(now)),
                            ],
                            createdAt: now
                        )
                    )
                }
            }
            credentialsChanged = true
        case .endSessions:
            try audit.subject(subjectID, "subject.sessions_ended", ids)
            credentialsChanged = true
        }
        if rule.coolingOffHours > 0 {
            let until = now.addingTimeInterval(TimeInterval(rule.coolingOffHours * 3600))
            try tx.holdWithdrawals(subjectID: subjectID, until: until, at: now)
            a.holdUntil = try tx.withdrawalHold(subjectID: subjectID) ?? until
        }
        if credentialsChanged || a.holdUntil != nil {
            var payload: [String: JSONValue] = ["event": "credentials.changed", "reason": .string("support_" + a.action.rawValue)]
            if let hold = a.holdUntil { payload["withdrawals_frozen_until"] = .string(Timestamp.format(hold)) }
            for channel in deps.noticeChannels {
                try tx.enqueueMessage(
                    OutboundMessage(kind: .credentialsChanged, subjectID: subjectID, channel: channel, payload: payload, createdAt: now)
                )
            }
        }
        a.status = .executed
        a.executedAt = now
        guard try tx.updateCaseAction(a, from: from) else { throw VigilError.conflict(reason: "the action was decided meanwhile") }
        var details: [String: AuditValue] = ["action_id": .string(a.id), "action": .string(a.action.rawValue)]
        if let hold = a.holdUntil { details["hold_until"] = .string(Timestamp.format(hold)) }
        try audit.record("case.action_executed", .success, details)
        return a
    }

    // MARK: personal data

    /// The decrypted contact data of a case, for an agent who gives a reason.
    public struct Contact: Sendable, Equatable {
        public var caseContact: String?
        public var subjectEmail: String?
        public var subjectPhone: String?
    }

    public func revealContact(caseID: String, reason: String, by principal: Principal, request: RequestInfo) async throws -> Contact {
        let me = try Self.agent(principal, Self.workers)
        let reason = try Self.text(reason, field: "reason", min: 10, max: 500)
        let now = deps.clock.now()
        return try await deps.store.write { tx in
            guard let c = try tx.caseSummary(id: caseID) else { throw VigilError.notFound(resource: "case") }
            try Self.requireAssignee(c, principal)
            let note = CaseNote(id: Self.newID("note"), caseID: caseID, kind: .revealReason, author: me, body: reason, createdAt: now)
            try tx.insertCaseNote(note)
            try CaseAudit(tx: tx, principal: principal, caseID: caseID, request: request, now: now)
                .record("case.contact_revealed", .success, ["note_id": .string(note.id)])
            let subject = try c.subjectID.flatMap { try tx.subject(id: $0) }
            return Contact(caseContact: try tx.caseContact(id: caseID), subjectEmail: subject?.email, subjectPhone: subject?.phone)
        }
    }

    // MARK: close and feedback

    public func close(
        caseID: String,
        resolution: CaseResolution,
        note: String?,
        by principal: Principal,
        request: RequestInfo
    ) async throws
        -> CaseSummary
    {
        let me = try Self.agent(principal, Self.workers)
        let note = try note.map { try Self.text($0, field: "note") }
        let now = deps.clock.now()
        return try await deps.store.write { tx in
            let c = try Self.openCase(tx, caseID)
            let audit = CaseAudit(tx: tx, principal: principal, caseID: caseID, request: request, now: now)
            for var a in try tx.caseActions(caseID: caseID) where a.status == .pendingApproval {
                a.status = .cancelled
                a.decidedAt = now
                a.decidedBy = me
                guard try tx.updateCaseAction(a, from: .pendingApproval) else { continue }
                try audit.record("case.action_cancelled", .success, ["action_id": .string(a.id), "action": .string(a.action.rawValue)])
            }
            var details: [String: AuditValue] = ["resolution": .string(resolution.rawValue)]
            if let note {
                let n = CaseNote(id: Self.newID("note"), caseID: caseID, kind: .internal, author: me, body: note, createdAt: now)
                try tx.insertCaseNote(n)
                details["note_id"] = .string(n.id)
            }
            // The same judgement as the SLA report (docs/reports.md): closed without a reply counts as
            // a breach once the first response was due.
            let firstResponse =
                c.firstRespondedAt.map { $0 <= c.firstResponseDue ? "met" : "breached" } ?? (now > c.firstResponseDue ? "breached" : "none")
            details["first_response"] = .string(firstResponse)
            details["resolution_sla"] = .string(now <= c.resolutionDue ? "met" : "breached")
            guard try tx.closeCase(id: caseID, resolution: resolution, at: now) else { throw VigilError.conflict(reason: "the case is closed") }
            try audit.record("case.closed", .success, details)
            guard let closed = try tx.caseSummary(id: caseID) else { throw VigilError.notFound(resource: "case") }
            return closed
        }
    }

    /// The requester's rating from the channel (service clients with `cases:write`), or typed in by
    /// an agent who took it by phone. Once per case, after it is closed.
    public func feedback(caseID: String, score: Int, comment: String?, by principal: Principal, request: RequestInfo) async throws {
        try CaseService.requireIntake(principal)
        guard (1...5).contains(score) else { throw VigilError.invalidField(field: "score", reason: "must be 1-5") }
        let comment = try comment.map { try Self.text($0, field: "comment", max: 2000) }
        let now = deps.clock.now()
        try await deps.store.write { tx in
            guard try tx.caseSummary(id: caseID) != nil else { throw VigilError.notFound(resource: "case") }
            guard try tx.recordCaseFeedback(id: caseID, CaseFeedback(score: score, comment: comment, at: now)) else {
                throw VigilError.conflict(reason: "feedback is taken once, after the case is closed")
            }
            try CaseAudit(tx: tx, principal: principal, caseID: caseID, request: request, now: now)
                .record("case.feedback", .success, ["score": .int(Int64(score))])
        }
    }

    // MARK: reading

    /// Everything about a case an agent works with; auditors get it without personal data.
    public struct Detail: Sendable {
        public var summary: CaseSummary
        /// Nil for auditors.
        public var text: String?
        public var notes: [CaseNote]
        public var verifications: [CaseVerification]
        public var actions: [CaseAction]
        public var resolution: (code: CaseResolution, closedAt: Date)?
        public var feedback: CaseFeedback?
        public var passedChecks: Set<RecoveryPolicy.VerificationCheck>
        public var showsPersonalData: Bool
        /// The subject's security state, for the agent's judgement (nil when the case names none).
        public var subjectState: SubjectState?
        /// Delivery status of the newest messages to the subject (no recipient, no content).
        public var messages: [OutboxMessageStatus]
    }

    /// What an agent needs to know about the subject's credentials: no personal data.
    public struct SubjectState: Sendable {
        public var frozenSince: Date?
        public var withdrawalsHeldUntil: Date?
        public var hasTOTP: Bool
        public var recoveryCodesRemaining: Int
        public var factors: [AuthenticationPolicy.Factor: FactorState]
        /// What could make the account's email look like another's (mixed scripts, non-ASCII).
        public var identifierWarnings: [IdentifierWarning] = []
    }

    public func detail(caseID: String, by principal: Principal) async throws -> Detail {
        try principal.require(role: Set(AgentRole.allCases))
        var personal = false
        if case .agent(_, let role) = principal { personal = role != .auditor }
        let now = deps.clock.now()
        let policy = recovery
        return try await deps.store.read { [personal] tx in
            guard let c = try tx.caseSummary(id: caseID) else { throw VigilError.notFound(resource: "case") }
            var notes = try tx.caseNotes(caseID: caseID)
            var actions = try tx.caseActions(caseID: caseID)
            var feedback = try tx.caseFeedback(id: caseID)
            if !personal {
                notes = notes.map {
                    var n = $0
                    n.body = ""
                    return n
                }
                actions = actions.map {
                    var a = $0
                    a.reason = ""
                    a.contactChange = nil
                    return a
                }
                feedback?.comment = nil
            }
            var state: SubjectState?
            if let subjectID = c.subjectID {
                var factors: [AuthenticationPolicy.Factor: FactorState] = [:]
                for factor in AuthenticationPolicy.Factor.allCases { factors[factor] = try tx.factorState(subjectID: subjectID, factor: factor) }
                state = SubjectState(
                    frozenSince: try tx.accountFreeze(subjectID: subjectID)?.frozenAt,
                    withdrawalsHeldUntil: try tx.withdrawalHold(subjectID: subjectID).flatMap { $0 > now ? $0 : nil },
                    hasTOTP: try tx.totpCredential(subjectID: subjectID) != nil,
                    recoveryCodesRemaining: try tx.recoveryCodesRemaining(subjectID: subjectID),
                    factors: factors,
                    identifierWarnings: try tx.subject(id: subjectID)?.email.map {
                        IdentifierWarning.of(email: $0).sorted { $0.rawValue < $1.rawValue }
                    } ?? []
                )
            }
            return Detail(
                summary: c,
                text: personal ? try tx.caseText(id: caseID) : nil,
                notes: notes,
                verifications: try tx.caseVerifications(caseID: caseID),
                actions: actions,
                resolution: try tx.caseResolution(id: caseID),
                feedback: feedback,
                passedChecks: try Self.passedChecks(tx, caseID: caseID, policy: policy, now: now),
                showsPersonalData: personal,
                subjectState: state,
                messages: try c.subjectID.map { try tx.outboxMessages(subjectID: $0, limit: 50) } ?? []
            )
        }
    }

    /// Actions waiting for a supervisor, oldest first (supervisors and admins).
    public func pendingApprovals(by principal: Principal) async throws -> [CaseAction] {
        try principal.require(role: Self.approvers)
        return try await deps.store.read { try $0.pendingApprovals(limit: 200) }
    }

    // MARK: helpers

    static func newID(_ prefix: String) -> String { prefix + "_" + ByteEncoding.hex(SecureRandom.bytes(8)) }

    /// `digits` decimal digits, uniformly random.
    static func numericCode(digits: Int) -> String {
        String((0..<digits).map { _ in Character(String(SecureRandom.uniform(10))) })
    }
}

extension OutboundMessage.Kind {
    /// A one-time code that lets support verify the requester controls a registered contact.
    public static let verificationCode = OutboundMessage.Kind(rawValue: "verification_code")
}
