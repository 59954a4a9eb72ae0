import Foundation
import VigilCrypto

/// A support case as the queue shows it: no personal data (the summary and contact are
/// encrypted and shown only on the case itself).
public struct CaseSummary: Sendable, Equatable {
    public var id: String
    public var subjectID: String?
    public var channel: CaseChannel
    public var category: CaseCategory
    public var priority: CasePriority
    public var status: String
    public var openedAt: Date
    public var firstResponseDue: Date
    public var resolutionDue: Date
    public var firstRespondedAt: Date?
    public var assignee: String?
    public var triageRules: [String]

    public init(
        id: String,
        subjectID: String?,
        channel: CaseChannel,
        category: CaseCategory,
        priority: CasePriority,
        status: String,
        openedAt: Date,
        firstResponseDue: Date,
        resolutionDue: Date,
        firstRespondedAt: Date?,
        assignee: String?,
        triageRules: [String]
    ) {
        self.id = id
        self.subjectID = subjectID
        self.channel = channel
        self.category = category
        self.priority = priority
        self.status = status
        self.openedAt = openedAt
        self.firstResponseDue = firstResponseDue
        self.resolutionDue = resolutionDue
        self.firstRespondedAt = firstRespondedAt
        self.assignee = assignee
        self.triageRules = triageRules
    }

    /// The clock that runs now: first response until it happened, then resolution.
    public var nextDue: Date { firstRespondedAt == nil ? firstResponseDue : resolutionDue }

    public func breached(at now: Date) -> Bool { status != "closed" && nextDue < now }
}

public struct CaseQueueFilter: Sendable, Equatable {
    public var status: String?
    public var priority: CasePriority?
    public var channel: CaseChannel?
    public var category: CaseCategory?
    /// An agent id; "" for unassigned cases.
    public var assignee: String?
    public var breachedAt: Date?
    public var limit: Int

    public init(
        status: String? = nil,
        priority: CasePriority? = nil,
        channel: CaseChannel? = nil,
        category: CaseCategory? = nil,
        assignee: String? = nil,
        breachedAt: Date? = nil,
        limit: Int = 100
    ) {
        self.status = status
        self.priority = priority
        self.channel = channel
        self.category = category
        self.assignee = assignee
        self.breachedAt = breachedAt
        self.limit = limit
    }
}

public protocol CaseReading: CaseWorkflowReading {
    func caseSummary(id: String) throws -> CaseSummary?
    /// The decrypted summary text (agents only).
    func caseText(id: String) throws -> String?
    /// Open and in-progress cases by the nearest due time (the clock that runs now), filtered.
    func caseQueue(_ filter: CaseQueueFilter) throws -> [CaseSummary]
}

public protocol CaseWriting: CaseReading, CaseWorkflowWriting {
    func insertCase(_ c: CaseSummary, summary: String, contact: String?) throws
    /// Assigns a case that is not closed; false when there is no such open case.
    func assignCase(id: String, to agentID: String, at time: Date) throws -> Bool
}

/// Intake, triage and the queue (issue 6, items 2–3).
///
/// Rules:
/// - the priority comes from the triage rules of `Policies/sla.yaml` (category, channel and the
///   signals known about the subject: frozen account, locked factor, a takeover the caller
///   reports); the due times from the priority's targets on a clock that never pauses (24/7);
/// - the summary and contact are personal data: encrypted, never in the queue or the audit log;
/// - the queue is ordered by the clock that runs now (first response until answered, then
///   resolution), most urgent first.
public struct CaseService: Sendable {
    let deps: VigilDependencies

    public init(_ deps: VigilDependencies) { self.deps = deps }

    public struct Intake: Sendable {
        public var channel: CaseChannel
        public var category: CaseCategory
        public var summary: String
        public var contact: String?
        public var subjectID: String?
        public var takeoverReported: Bool

        public init(
            channel: CaseChannel,
            category: CaseCategory,
            summary: String,
            contact: String?,
            subjectID: String?,
            takeoverReported: Bool
        ) {
            self.channel = channel
            self.category = category
            self.summary = summary
            self.contact = contact
            self.subjectID = subjectID
            self.takeoverReported = takeoverReported
        }
    }

    /// Who may open cases: service clients with `cases:write`, and agents (not auditors).
    public static func requireIntake(_ principal: Principal) throws {
        switch principal {
        case .service: try principal.require(.casesWrite)
        case .agent: try principal.require(role: [.agent, .supervisor, .admin])
        }
    }

    /// Files a case. With an `Idempotency-Key` (per caller), a retry of the same intake gets the
    /// case it filed (`replayed`) and writes nothing; the key with another intake is a 409. Channel
    /// integrations retry, and a retried intake must not put the same person in the queue twice.
    public func open(
        _ intake: Intake,
        idempotencyKey: String? = nil,
        by principal: Principal,
        request: RequestInfo
    ) async throws
        -> (summary: CaseSummary, replayed: Bool)
    {
        try Self.requireIntake(principal)
        try IdempotencyMatch.validate(idempotencyKey)
        let summary = intake.summary.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !summary.isEmpty, summary.count <= 4000 else {
            throw VigilError.invalidField(field: "summary", reason: "must be 1-4000 characters")
        }
        if let contact = intake.contact, contact.isEmpty || contact.count > 320 {
            throw VigilError.invalidField(field: "contact", reason: "must be 1-320 characters")
        }
        var intake = intake
        intake.summary = summary
        let now = deps.clock.now()
        let deps = self.deps
        let id = Self.newCaseID()
        let scope = "cases:\(principal.actor.id)"
        let fingerprint = IdempotencyMatch.fingerprint([
            intake.channel.rawValue, intake.category.rawValue, intake.summary, intake.contact ?? "\u{0}", intake.subjectID ?? "\u{0}",
            intake.takeoverReported ? "1" : "0",
        ])
        return try await deps.store.write { [intake] tx in
            if let key = idempotencyKey {
                switch try tx.idempotencyMatch(scope: scope, key: key, fingerprint: fingerprint) {
                case .conflict: throw VigilError.idempotencyConflict
                case .replay(let caseID):
                    guard let filed = try tx.caseSummary(id: caseID) else {
                        throw VigilError.dataIntegrity(reason: "an idempotency record names a missing case")
                    }
                    return (filed, true)
                case .new: break
                }
            }
            let filed = try Self.file(intake, id: id, in: tx, deps: deps, actor: principal.actor, request: request, now: now)
            if let key = idempotencyKey {
                try tx.saveIdempotency(scope: scope, key: key, fingerprint: fingerprint, resourceID: id, at: now)
            }
            return (filed, false)
        }
    }

    public static func newCaseID() -> String { "case_" + ByteEncoding.hex(SecureRandom.bytes(8)) }

    /// Files a case in the caller's transaction: triage from the subject's signals, due times,
    /// the encrypted summary and contact, and `case.opened`. Also used by a suspicious-login
    /// freeze, which opens its P1 case in the transaction that freezes the account.
    static func file(
        _ intake: Intake,
        id: String,
        in tx: any StoreWriting,
        deps: VigilDependencies,
        actor: AuditActor,
        request: RequestInfo,
        now: Date
    ) throws -> CaseSummary {
        let sla = deps.policies.sla
        var signals: Set<TriageSignal> = intake.takeoverReported ? [.takeoverReported] : []
        if let subjectID = intake.subjectID {
            guard try tx.subjectExists(id: subjectID) else { throw VigilError.notFound(resource: "subject") }
            if try tx.accountFreeze(subjectID: subjectID) != nil { signals.insert(.accountFrozen) }
            if let changed = try tx.lastCredentialChange(subjectID: subjectID),
                changed > now.addingTimeInterval(-TimeInterval(sla.recentChangeWindowHours * 3600))
            {
                signals.insert(.recentCredentialChange)
            }
            for factor in AuthenticationPolicy.Factor.allCases {
                let state = try tx.factorState(subjectID: subjectID, factor: factor)
                if state.lockedIndefinitely || (state.lockedUntil.map { $0 > now } ?? false) { signals.insert(.factorLocked) }
            }
        }
        let triage = sla.triage(category: intake.category, channel: intake.channel, signals: signals)
        let due = sla.deadlines(for: triage.priority, openedAt: now)
        let c = CaseSummary(
            id: id,
            subjectID: intake.subjectID,
            channel: intake.channel,
            category: intake.category,
            priority: triage.priority,
            status: "open",
            openedAt: now,
            firstResponseDue: due.firstResponse,
            resolutionDue: due.resolution,
            firstRespondedAt: nil,
            assignee: nil,
            triageRules: triage.rules
        )
        try tx.insertCase(c, summary: intake.summary, contact: intake.contact)
        try tx.appendAudit(
            AuditRecord(
                action: "case.opened",
                actor: actor,
                target: .init(type: "case", id: id),
                requestID: request.requestID,
                sourceIP: request.sourceIP,
                details: [
                    "case_id": .string(id), "channel": .string(intake.channel.rawValue), "category": .string(intake.category.rawValue),
                    "priority": .string(triage.priority.rawValue), "triage_rules": .string(triage.rules.joined(separator: ",")),
                    "signals": .string(signals.map(\.rawValue).sorted().joined(separator: ",")),
                ],
                time: now
            )
        )
        return c
    }

    public func queue(_ filter: CaseQueueFilter, by principal: Principal) async throws -> [CaseSummary] {
        try principal.require(role: [.agent, .supervisor, .admin, .auditor])
        return try await deps.store.read { try $0.caseQueue(filter) }
    }

    /// Assigns a case: to oneself (any agent), or to another agent (supervisors and admins).
    public func assign(id: String, to target: String?, by principal: Principal, request: RequestInfo) async throws -> CaseSummary {
        try principal.require(role: [.agent, .supervisor, .admin])
        guard case .agent(let me, let role) = principal else { throw VigilError.unauthenticated }
        let assignee = target ?? me
        if assignee != me && role == .agent { throw VigilError.forbidden(needed: "role admin|supervisor") }
        let now = deps.clock.now()
        return try await deps.store.write { tx in
            guard let agent = try tx.agentCredentials(id: assignee), !agent.disabled, agent.role != .auditor else {
                throw VigilError.invalidField(field: "agent_id", reason: "must be an active agent who works cases")
            }
            guard try tx.assignCase(id: id, to: assignee, at: now), let c = try tx.caseSummary(id: id) else {
                throw VigilError.notFound(resource: "open case")
            }
            try tx.appendAudit(
                AuditRecord(
                    action: "case.assigned",
                    actor: principal.actor,
                    target: .init(type: "case", id: id),
                    requestID: request.requestID,
                    sourceIP: request.sourceIP,
                    details: ["case_id": .string(id), "assignee": .string(assignee)],
                    time: now
                )
            )
            return c
        }
    }

    /// Assigns the most urgent unassigned open case to the caller.
    public func takeNext(by principal: Principal, request: RequestInfo) async throws -> CaseSummary {
        try principal.require(role: [.agent, .supervisor, .admin])
        guard case .agent(let me, _) = principal else { throw VigilError.unauthenticated }
        let now = deps.clock.now()
        return try await deps.store.write { tx in
            guard let next = try tx.caseQueue(CaseQueueFilter(status: "open", assignee: "", limit: 1)).first else {
                throw VigilError.notFound(resource: "unassigned case")
            }
            guard try tx.assignCase(id: next.id, to: me, at: now), let c = try tx.caseSummary(id: next.id) else {
                throw VigilError.notFound(resource: "unassigned case")
            }
            try tx.appendAudit(
                AuditRecord(
                    action: "case.assigned",
                    actor: principal.actor,
                    target: .init(type: "case", id: next.id),
                    requestID: request.requestID,
                    sourceIP: request.sourceIP,
                    details: ["case_id": .string(next.id), "assignee": .string(me), "how": "take_next"],
                    time: now
                )
            )
            return c
        }
    }
}
