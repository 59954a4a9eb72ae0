import Foundation
import Hummingbird
import HummingbirdCore
import VigilCore

/// Support cases: intake, the queue, one case, assignment (the workflow is in
/// `CaseWorkflowController`).
///
/// | method | path                    | who                                                        | audit |
/// |--------|-------------------------|------------------------------------------------------------|-------|
/// | POST   | /v1/cases               | service client `cases:write`, or agent/supervisor/admin    | `case.opened` |
/// | GET    | /v1/cases               | agent, supervisor, admin, auditor (no personal data)       | none |
/// | GET    | /v1/cases/{id}          | agent, supervisor, admin; auditor (no personal data)       | none |
/// | POST   | /v1/cases/{id}/assign   | agent (to self), supervisor/admin (to anyone)              | `case.assigned` |
/// | POST   | /v1/cases/take-next     | agent, supervisor, admin                                   | `case.assigned` |
///
/// `POST /v1/cases` takes an optional `Idempotency-Key` (per caller): a retry with the same body
/// gets the case it filed (201, `Idempotent-Replayed: true`); another body under the key is 409.
///
/// Policy: `Policies/sla.yaml` (triage rules, targets per priority, 24/7 clock).
struct CaseController {
    let api: APIContext

    struct OpenBody: Decodable {
        let channel: CaseChannel
        let category: CaseCategory
        let summary: String
        let contact: String?
        let subject_id: String?
        let takeover_reported: Bool?
    }

    struct AssignBody: Decodable {
        let agent_id: String?
    }

    struct CaseJSON: Encodable, Sendable {
        let case_id: String
        let subject_id: String?
        let channel: String
        let category: String
        let priority: String
        let status: String
        let opened_at: String
        let first_response_due: String
        let resolution_due: String
        let next_due: String
        let breached: Bool
        let assignee: String?
        let triage_rules: [String]
        let summary: String?

        init(_ c: CaseSummary, now: Date, summary: String? = nil) {
            case_id = c.id
            subject_id = c.subjectID
            channel = c.channel.rawValue
            category = c.category.rawValue
            priority = c.priority.rawValue
            status = c.status
            opened_at = Timestamp.format(c.openedAt)
            first_response_due = Timestamp.format(c.firstResponseDue)
            resolution_due = Timestamp.format(c.resolutionDue)
            next_due = Timestamp.format(c.nextDue)
            breached = c.breached(at: now)
            assignee = c.assignee
            triage_rules = c.triageRules
            self.summary = summary
        }
    }

    /// One case with its story: notes, checks, actions, resolution and feedback. Auditors get
    /// it without personal data (no summary, note bodies, reasons, contacts or comment).
    struct DetailJSON: Encodable, Sendable {
        let `case`: CaseJSON
        let notes: [CaseWorkflowController.NoteJSON]
        let verifications: [CaseWorkflowController.VerificationJSON]
        let passed_checks: [String]
        let actions: [CaseWorkflowController.ActionJSON]
        let resolution: String?
        let closed_at: String?
        let feedback_score: Int?
        let feedback_comment: String?
        let subject_state: SubjectStateJSON?
        let messages: [OutboxController.Message]

        struct SubjectStateJSON: Encodable, Sendable {
            struct Factor: Encodable, Sendable {
                let consecutive_failures: Int
                let locked_until: String?
                let locked_until_agent_unlocks: Bool
            }
            let frozen: Bool
            let frozen_since: String?
            let withdrawals_held_until: String?
            let has_totp: Bool
            let recovery_codes_remaining: Int
            let factors: [String: Factor]
            /// `email_mixed_scripts`, `email_non_ascii`: the account's email could pass for another.
            let identifier_warnings: [String]
        }

        init(_ d: CaseWorkflowService.Detail, now: Date, policy: RecoveryPolicy) {
            `case` = CaseJSON(d.summary, now: now, summary: d.text)
            notes = d.notes.map { CaseWorkflowController.NoteJSON($0, personal: d.showsPersonalData) }
            verifications = d.verifications.map { CaseWorkflowController.VerificationJSON($0, policy: policy) }
            passed_checks = d.passedChecks.map(\.rawValue).sorted()
            actions = d.actions.map { CaseWorkflowController.ActionJSON($0, policy: policy, personal: d.showsPersonalData) }
            resolution = d.resolution?.code.rawValue
            closed_at = d.resolution.map { Timestamp.format($0.closedAt) }
            feedback_score = d.feedback?.score
            feedback_comment = d.feedback?.comment
            subject_state = d.subjectState.map { st in
                SubjectStateJSON(
                    frozen: st.frozenSince != nil,
                    frozen_since: st.frozenSince.map(Timestamp.format),
                    withdrawals_held_until: st.withdrawalsHeldUntil.map(Timestamp.format),
                    has_totp: st.hasTOTP,
                    recovery_codes_remaining: st.recoveryCodesRemaining,
                    factors: Dictionary(
                        uniqueKeysWithValues: st.factors.map { factor, f in
                            (
                                factor.rawValue,
                                SubjectStateJSON.Factor(
                                    consecutive_failures: f.consecutiveFailures,
                                    locked_until: f.lockedUntil.flatMap { $0 > now ? Timestamp.format($0) : nil },
                                    locked_until_agent_unlocks: f.lockedIndefinitely
                                )
                            )
                        }
                    ),
                    identifier_warnings: st.identifierWarnings.map(\.rawValue)
                )
            }
            messages = d.messages.map(OutboxController.Message.init)
        }

        /// The case's fields at the top level, as the queue lists them, then its story.
        func encode(to encoder: any Encoder) throws {
            enum Keys: String, CodingKey {
                case notes, verifications, passed_checks, actions, resolution, closed_at, feedback_score, feedback_comment
                case subject_state, messages
            }
            try `case`.encode(to: encoder)
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(notes, forKey: .notes)
            try c.encode(verifications, forKey: .verifications)
            try c.encode(passed_checks, forKey: .passed_checks)
            try c.encode(actions, forKey: .actions)
            try c.encode(resolution, forKey: .resolution)
            try c.encode(closed_at, forKey: .closed_at)
            try c.encode(feedback_score, forKey: .feedback_score)
            try c.encode(feedback_comment, forKey: .feedback_comment)
            try c.encode(subject_state, forKey: .subject_state)
            try c.encode(messages, forKey: .messages)
        }
    }

    struct Queue: Encodable, Sendable {
        let cases: [CaseJSON]
    }

    /// A service key or an agent session, whichever the bearer is.
    func caller(_ request: Request) async throws -> Principal {
        let bearer = APIContext.bearer(request)
        if bearer?.hasPrefix(AgentService.sessionPrefix) == true {
            return try await AgentService(api.deps.core).authenticate(bearer: bearer)
        }
        return try await api.apiKeys.authenticate(bearer: bearer)
    }

    /// The queue's page size: 1…500, 100 when absent.
    static func limit(_ text: String?) throws -> Int {
        guard let text else { return 100 }
        guard let n = Int(text), (1...500).contains(n) else {
            throw VigilError.invalidField(field: "limit", reason: "must be a whole number from 1 to 500")
        }
        return n
    }

    /// A `true` / `false` query flag; nil when absent.
    static func flag(_ text: String?, _ name: String) throws -> Bool? {
        switch text {
        case nil: return nil
        case "true": return true
        case "false": return false
        default: throw VigilError.invalidField(field: name, reason: "must be true or false")
        }
    }

    /// Refuses query parameters the route does not know (a misspelt filter would list everything).
    static func onlyKnown(_ q: FlatDictionary<Substring, Substring>, _ known: Set<String>) throws {
        for (name, _) in q where !known.contains(String(name)) {
            throw VigilError.invalidField(field: String(name), reason: "is not a parameter of this route")
        }
    }

    func register(on router: Router<VigilRequestContext>) {
        let cases = CaseService(api.deps.core)
        router.post("/v1/cases") { request, context in
            let principal = try await caller(request)
            try CaseService.requireIntake(principal)  // before the body: a caller without the right learns nothing more
            let b = try await api.decode(OpenBody.self, from: request)
            let (c, replayed) = try await cases.open(
                .init(
                    channel: b.channel,
                    category: b.category,
                    summary: b.summary,
                    contact: b.contact,
                    subjectID: b.subject_id,
                    takeoverReported: b.takeover_reported ?? false
                ),
                idempotencyKey: request.headers[APIContext.idempotencyKey],
                by: principal,
                request: context.requestInfo
            )
            var response = try JSONResponse(.created, CaseJSON(c, now: api.deps.core.clock.now())).response(from: request, context: context)
            if replayed { response.headers[APIContext.replayed] = "true" }
            return response
        }
        router.get("/v1/cases") { request, _ in
            try Self.onlyKnown(request.uri.queryParameters, ["status", "priority", "channel", "category", "assignee", "breached", "limit"])
            let principal = try await api.agent(request, roles: Set(AgentRole.allCases))
            let q = request.uri.queryParameters
            func parse<T: RawRepresentable>(_ name: String, _: T.Type) throws -> T? where T.RawValue == String {
                guard let text = q.get(name) else { return nil }
                guard let value = T(rawValue: text) else { throw VigilError.invalidField(field: name, reason: "is not a known value") }
                return value
            }
            let now = api.deps.core.clock.now()
            let filter = CaseQueueFilter(
                status: q.get("status"),
                priority: try parse("priority", CasePriority.self),
                channel: try parse("channel", CaseChannel.self),
                category: try parse("category", CaseCategory.self),
                assignee: q.get("assignee"),
                breachedAt: try Self.flag(q.get("breached"), "breached") == true ? now : nil,
                limit: try Self.limit(q.get("limit"))
            )
            if let s = filter.status, !["open", "in_progress", "closed"].contains(s) {
                throw VigilError.invalidField(field: "status", reason: "must be open, in_progress or closed")
            }
            let list = try await cases.queue(filter, by: principal)
            return JSONResponse(.ok, Queue(cases: list.map { CaseJSON($0, now: now) }))
        }
        router.post("/v1/cases/take-next") { request, context in
            let principal = try await api.agent(request, roles: [.agent, .supervisor, .admin])
            let c = try await cases.takeNext(by: principal, request: context.requestInfo)
            return JSONResponse(.ok, CaseJSON(c, now: api.deps.core.clock.now()))
        }
        router.get("/v1/cases/:id") { request, context in
            let principal = try await api.agent(request, roles: Set(AgentRole.allCases))
            let d = try await CaseWorkflowService(api.deps.core).detail(caseID: try context.parameters.require("id"), by: principal)
            return JSONResponse(.ok, DetailJSON(d, now: api.deps.core.clock.now(), policy: api.deps.core.policies.recovery))
        }
        router.post("/v1/cases/:id/assign") { request, context in
            let principal = try await api.agent(request, roles: [.agent, .supervisor, .admin])
            var body: AssignBody?
            if request.headers[.contentLength].flatMap(Int.init) ?? 0 > 0 { body = try await api.decode(AssignBody.self, from: request) }
            let c = try await cases.assign(
                id: try context.parameters.require("id"),
                to: body?.agent_id,
                by: principal,
                request: context.requestInfo
            )
            return JSONResponse(.ok, CaseJSON(c, now: api.deps.core.clock.now()))
        }
    }
}
