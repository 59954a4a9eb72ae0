import Foundation
import Hummingbird
import VigilCore

/// Working a case: re-triage, notes, verifications, actions and approvals, revealing contact
/// data, closing and feedback (`docs/cases.md`).
///
/// | method | path                                          | who                                             | audit |
/// |--------|-----------------------------------------------|-------------------------------------------------|-------|
/// | POST   | /v1/cases/{id}/triage                         | agent, supervisor, admin                        | `case.retriaged` |
/// | POST   | /v1/cases/{id}/subject                        | agent, supervisor, admin                        | `case.subject_linked` |
/// | POST   | /v1/cases/{id}/notes                          | agent, supervisor, admin                        | `case.note_added` |
/// | POST   | /v1/cases/{id}/verifications                  | agent, supervisor, admin                        | `case.verification_*` |
/// | POST   | /v1/cases/{id}/verifications/{vid}/code       | agent, supervisor, admin                        | `case.verification_*` |
/// | POST   | /v1/cases/{id}/actions                        | agent, supervisor, admin                        | `case.action_requested` (+ `_executed`) |
/// | POST   | /v1/cases/{id}/actions/{aid}/approve          | supervisor, admin — not the requester           | `case.action_approved`, `_executed` |
/// | POST   | /v1/cases/{id}/actions/{aid}/reject           | supervisor, admin                               | `case.action_rejected` |
/// | POST   | /v1/cases/{id}/contact/reveal                 | agent, supervisor, admin (with a reason)        | `case.contact_revealed` |
/// | POST   | /v1/cases/{id}/close                          | agent, supervisor, admin                        | `case.closed` |
/// | POST   | /v1/cases/{id}/feedback                       | service client `cases:write`; agent, supervisor, admin | `case.feedback` |
/// | GET    | /v1/approvals                                 | supervisor, admin                               | none |
struct CaseWorkflowController {
    let api: APIContext

    struct TriageBody: Decodable {
        let priority: CasePriority
        let reason: String
    }
    struct NoteBody: Decodable {
        let kind: CaseNoteKind?
        let body: String
    }
    struct VerificationBody: Decodable {
        let check: RecoveryPolicy.VerificationCheck
        let code: String?
        let recovery_code: String?
        let passed: Bool?
        let note: String?
    }
    struct CodeBody: Decodable {
        let code: String
    }
    struct ActionBody: Decodable {
        struct Contact: Decodable {
            let email: String?
            let phone: String?
        }
        let action: RecoveryPolicy.Action
        let reason: String
        let new_contact: Contact?
    }
    struct SubjectBody: Decodable {
        let identifier: String
    }
    struct ReasonBody: Decodable {
        let reason: String
    }
    struct CloseBody: Decodable {
        let resolution: CaseResolution
        let note: String?
    }
    struct FeedbackBody: Decodable {
        let score: Int
        let comment: String?
    }

    struct NoteJSON: Encodable, Sendable {
        let note_id: String
        let kind: String
        let author: String
        let body: String?
        let created_at: String
        init(_ n: CaseNote, personal: Bool = true) {
            note_id = n.id
            kind = n.kind.rawValue
            author = n.author
            body = personal ? n.body : nil
            created_at = Timestamp.format(n.createdAt)
        }
    }

    struct VerificationJSON: Encodable, Sendable {
        let verification_id: String
        let check: String
        let status: String
        let agent_id: String
        let attempts: Int
        let attempts_remaining: Int?
        let code_expires_at: String?
        let created_at: String
        let completed_at: String?
        let counts_until: String?
        init(_ v: CaseVerification, policy: RecoveryPolicy) {
            verification_id = v.id
            check = v.check.rawValue
            status = v.status.rawValue
            agent_id = v.agentID
            attempts = v.attempts
            attempts_remaining = v.status == .pending ? policy.verificationChecks[v.check].code.map { max(0, $0.maxAttempts - v.attempts) } : nil
            code_expires_at = v.status == .pending ? v.codeExpiresAt.map(Timestamp.format) : nil
            created_at = Timestamp.format(v.createdAt)
            completed_at = v.completedAt.map(Timestamp.format)
            counts_until =
                v.status == .passed
                ? v.completedAt.map { Timestamp.format($0.addingTimeInterval(TimeInterval(policy.verificationChecks[v.check].validMinutes * 60))) }
                : nil
        }
    }

    struct ActionJSON: Encodable, Sendable {
        struct Contact: Encodable, Sendable {
            let email: String?
            let phone: String?
        }
        let action_id: String
        let action: String
        let status: String
        let four_eyes: Bool
        let requested_by: String
        let requested_at: String
        let reason: String?
        let new_contact: Contact?
        let checks: [String]
        let decided_by: String?
        let decided_at: String?
        let executed_at: String?
        let withdrawals_held_until: String?
        init(_ a: CaseAction, policy: RecoveryPolicy, personal: Bool = true) {
            action_id = a.id
            action = a.action.rawValue
            status = a.status.rawValue
            four_eyes = policy.actions[a.action].fourEyes
            requested_by = a.requestedBy
            requested_at = Timestamp.format(a.requestedAt)
            reason = personal ? a.reason : nil
            new_contact = personal ? a.contactChange.map { Contact(email: $0.email, phone: $0.phone) } : nil
            checks = a.checks.map(\.rawValue)
            decided_by = a.decidedBy
            decided_at = a.decidedAt.map(Timestamp.format)
            executed_at = a.executedAt.map(Timestamp.format)
            withdrawals_held_until = a.holdUntil.map(Timestamp.format)
        }
    }

    struct Approvals: Encodable, Sendable {
        struct Item: Encodable, Sendable {
            let case_id: String
            let action: ActionJSON
        }
        let approvals: [Item]
    }

    struct ContactJSON: Encodable, Sendable {
        let case_contact: String?
        let subject_email: String?
        let subject_phone: String?
    }

    struct Accepted: Encodable, Sendable {
        let case_id: String
        let score: Int
    }

    func register(on router: Router<VigilRequestContext>) {
        let work = CaseWorkflowService(api.deps.core)
        let policy = api.deps.core.policies.recovery
        let workers: Set<AgentRole> = [.agent, .supervisor, .admin]
        let approvers: Set<AgentRole> = [.supervisor, .admin]
        let clock = api.deps.core.clock

        router.post("/v1/cases/:id/triage") { request, context in
            let principal = try await api.agent(request, roles: workers)
            let b = try await api.decode(TriageBody.self, from: request)
            let c = try await work.retriage(
                caseID: try context.parameters.require("id"),
                priority: b.priority,
                reason: b.reason,
                by: principal,
                request: context.requestInfo
            )
            return JSONResponse(.ok, CaseController.CaseJSON(c, now: clock.now()))
        }
        router.post("/v1/cases/:id/subject") { request, context in
            let principal = try await api.agent(request, roles: workers)
            let b = try await api.decode(SubjectBody.self, from: request)
            let c = try await work.linkSubject(
                caseID: try context.parameters.require("id"),
                identifier: b.identifier,
                by: principal,
                request: context.requestInfo
            )
            return JSONResponse(.ok, CaseController.CaseJSON(c, now: clock.now()))
        }
        router.post("/v1/cases/:id/notes") { request, context in
            let principal = try await api.agent(request, roles: workers)
            let b = try await api.decode(NoteBody.self, from: request)
            let n = try await work.addNote(
                caseID: try context.parameters.require("id"),
                kind: b.kind ?? .internal,
                body: b.body,
                by: principal,
                request: context.requestInfo
            )
            return JSONResponse(.created, NoteJSON(n))
        }
        router.post("/v1/cases/:id/verifications") { request, context in
            let principal = try await api.agent(request, roles: workers)
            let b = try await api.decode(VerificationBody.self, from: request)
            let v = try await work.verify(
                caseID: try context.parameters.require("id"),
                .init(check: b.check, code: b.code, recoveryCode: b.recovery_code, passed: b.passed, note: b.note),
                by: principal,
                request: context.requestInfo
            )
            return JSONResponse(.created, VerificationJSON(v, policy: policy))
        }
        router.post("/v1/cases/:id/verifications/:vid/code") { request, context in
            let principal = try await api.agent(request, roles: workers)
            let b = try await api.decode(CodeBody.self, from: request)
            let v = try await work.submitCode(
                caseID: try context.parameters.require("id"),
                verificationID: try context.parameters.require("vid"),
                code: b.code,
                by: principal,
                request: context.requestInfo
            )
            return JSONResponse(.ok, VerificationJSON(v, policy: policy))
        }
        router.post("/v1/cases/:id/actions") { request, context in
            let principal = try await api.agent(request, roles: workers)
            let b = try await api.decode(ActionBody.self, from: request)
            let a = try await work.requestAction(
                caseID: try context.parameters.require("id"),
                .init(action: b.action, reason: b.reason, contactChange: b.new_contact.map { .init(email: $0.email, phone: $0.phone) }),
                by: principal,
                request: context.requestInfo
            )
            return JSONResponse(a.status == .executed ? .ok : .accepted, ActionJSON(a, policy: policy))
        }
        router.post("/v1/cases/:id/actions/:aid/approve") { request, context in
            let principal = try await api.agent(request, roles: approvers)
            let a = try await work.approve(
                caseID: try context.parameters.require("id"),
                actionID: try context.parameters.require("aid"),
                by: principal,
                request: context.requestInfo
            )
            return JSONResponse(.ok, ActionJSON(a, policy: policy))
        }
        router.post("/v1/cases/:id/actions/:aid/reject") { request, context in
            let principal = try await api.agent(request, roles: approvers)
            let b = try await api.decode(ReasonBody.self, from: request)
            let a = try await work.reject(
                caseID: try context.parameters.require("id"),
                actionID: try context.parameters.require("aid"),
                reason: b.reason,
                by: principal,
                request: context.requestInfo
            )
            return JSONResponse(.ok, ActionJSON(a, policy: policy))
        }
        router.post("/v1/cases/:id/contact/reveal") { request, context in
            let principal = try await api.agent(request, roles: workers)
            let b = try await api.decode(ReasonBody.self, from: request)
            let c = try await work.revealContact(
                caseID: try context.parameters.require("id"),
                reason: b.reason,
                by: principal,
                request: context.requestInfo
            )
            return JSONResponse(.ok, ContactJSON(case_contact: c.caseContact, subject_email: c.subjectEmail, subject_phone: c.subjectPhone))
        }
        router.post("/v1/cases/:id/close") { request, context in
            let principal = try await api.agent(request, roles: workers)
            let b = try await api.decode(CloseBody.self, from: request)
            let c = try await work.close(
                caseID: try context.parameters.require("id"),
                resolution: b.resolution,
                note: b.note,
                by: principal,
                request: context.requestInfo
            )
            return JSONResponse(.ok, CaseController.CaseJSON(c, now: clock.now()))
        }
        router.post("/v1/cases/:id/feedback") { request, context in
            let principal = try await CaseController(api: api).caller(request)
            try CaseService.requireIntake(principal)
            let b = try await api.decode(FeedbackBody.self, from: request)
            let id = try context.parameters.require("id")
            try await work.feedback(caseID: id, score: b.score, comment: b.comment, by: principal, request: context.requestInfo)
            return JSONResponse(.created, Accepted(case_id: id, score: b.score))
        }
        router.get("/v1/approvals") { request, _ in
            let principal = try await api.agent(request, roles: approvers)
            let list = try await work.pendingApprovals(by: principal)
            return JSONResponse(.ok, Approvals(approvals: list.map { .init(case_id: $0.caseID, action: ActionJSON($0, policy: policy)) }))
        }
    }
}
