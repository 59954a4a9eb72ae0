import Foundation
import Hummingbird
import VigilCore

/// Reports for the people who run the support desk (no personal data in any of them).
///
/// | method | path            | who                                                           | audit |
/// |--------|-----------------|---------------------------------------------------------------|-------|
/// | GET    | /v1/reports/sla | agent sessions: supervisor, admin, auditor (not `agent`)      | none  |
///
/// `?from=` and `?to=` are RFC 3339 times or dates (UTC days, `to` inclusive); the default is
/// the last 30 days, the longest range 366 days. Policy: `Policies/sla.yaml`
/// (`support_time_zone` for the second hour-of-day grouping). Rules: `SLAReport`.
struct ReportController {
    let api: APIContext

    func register(on router: Router<VigilRequestContext>) {
        let reports = SLAReportService(api.deps.core)
        router.get("/v1/reports/sla") { request, _ in
            let principal = try await api.agent(request, roles: SLAReportService.roles)
            let q = request.uri.queryParameters
            let range = try SLAReport.range(from: q.get("from"), to: q.get("to"), now: api.deps.core.clock.now())
            return JSONResponse(.ok, try await reports.report(from: range.from, to: range.to, by: principal))
        }
    }
}
