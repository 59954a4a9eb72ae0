import Foundation
import HTTPTypes
import Hummingbird
import VigilCore

/// Suspicious-login reports.
///
/// | method | path                     | who                               | audit |
/// |--------|--------------------------|-----------------------------------|-------|
/// | POST   | /v1/suspicious-logins    | service client, `reports:write`   | `suspicious_login.reported`, `account.frozen` |
///
/// `Idempotency-Key` (optional): the same key and body answer with the stored report (201,
/// `Idempotent-Replayed: true`) and write nothing; the same key with another body is 409
/// `idempotency_conflict`. Keys are scoped by API key.
///
/// Policy: `Policies/recovery.yaml` (`suspicious_login`).
struct SuspiciousLoginController {
    let api: APIContext

    struct Body: Decodable {
        let subject_id: String
        let occurred_at: String
        let ip: String
        let user_agent: String
        let device_id: String
        let country: String
        let source: String
        let reason: String?
    }

    struct ReportResponse: Encodable, Sendable {
        let report_id: String
        let subject_id: String
        let decision: String
        let score: Int
        let rules: [String]
        /// The P1 case a freeze opened (or the case of the freeze already in force); null otherwise.
        let case_id: String?
        let case_requested: Bool

        func encode(to encoder: any Encoder) throws {
            enum Keys: String, CodingKey { case report_id, subject_id, decision, score, rules, case_id, case_requested }
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(report_id, forKey: .report_id)
            try c.encode(subject_id, forKey: .subject_id)
            try c.encode(decision, forKey: .decision)
            try c.encode(score, forKey: .score)
            try c.encode(rules, forKey: .rules)
            if let case_id { try c.encode(case_id, forKey: .case_id) } else { try c.encodeNil(forKey: .case_id) }
            try c.encode(case_requested, forKey: .case_requested)
        }
    }

    func register(on router: Router<VigilRequestContext>) {
        let service = SuspiciousLoginService(api.deps.core)
        let clock = api.deps.core.clock
        router.post("/v1/suspicious-logins") { request, context in
            let principal = try await api.service(request, scope: .reportsWrite)
            let body = try await api.decode(Body.self, from: request)
            let report = try LoginReport.validated(
                subjectID: body.subject_id,
                occurredAt: body.occurred_at,
                ip: body.ip,
                userAgent: body.user_agent,
                deviceID: body.device_id,
                country: body.country,
                source: body.source,
                reason: body.reason,
                now: clock.now()
            )
            let result = try await service.report(
                report,
                idempotencyKey: request.headers[APIContext.idempotencyKey],
                by: principal,
                request: context.requestInfo
            )
            let stored = result.report
            var response = try JSONResponse(
                .created,
                ReportResponse(
                    report_id: stored.id,
                    subject_id: stored.report.subjectID,
                    decision: stored.outcome.decision.rawValue,
                    score: stored.outcome.score,
                    rules: stored.outcome.rules.map(\.rawValue),
                    case_id: result.caseID,
                    case_requested: result.caseRequested
                )
            ).response(from: request, context: context)
            if result.replayed { response.headers[APIContext.replayed] = "true" }
            return response
        }
    }
}
