import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import VigilCore
import VigilHTTP
import VigilStore
import VigilTestSupport

private func utc(_ text: String) throws -> Date { try #require(Timestamp.parse(text)) }

/// Opens a case over HTTP with the clock at `time`; returns its id.
private func openCase(
    _ service: TestService,
    _ client: some TestClientProtocol,
    key: String,
    at time: String,
    _ body: String,
    sourceLocation: SourceLocation = #_sourceLocation
) async throws -> String {
    service.clock.set(try utc(time))
    let r = try await client.post("/v1/cases", key: key, json: body)
    #expect(r.status == .created, sourceLocation: sourceLocation)
    return try #require(try json(r)["case_id"] as? String, sourceLocation: sourceLocation)
}

private func group(_ report: [String: Any], _ dimension: String, _ key: String) throws -> [String: Any] {
    let groups = try #require(report[dimension] as? [[String: Any]])
    return try #require(groups.first { $0["key"] as? String == key })
}

/// Keys of the groups of `dimension` that hold cases, with their counts.
private func occupied(_ report: [String: Any], _ dimension: String) -> [String: Int] {
    let groups = report[dimension] as? [[String: Any]] ?? []
    return Dictionary(
        uniqueKeysWithValues: groups.compactMap { g in
            guard let key = g["key"] as? String, let n = g["cases"] as? Int, n > 0 else { return nil }
            return (key, n)
        }
    )
}

@Suite("The SLA report over HTTP")
struct ReportHTTPTests {
    @Test("cases opened over a weekend night, answered, closed and rated, read back by a supervisor; agents 403, anonymous and API keys 401")
    func weekendReport() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.casesWrite])
        let summaries = ["my phone fell in the river", "someone else logged in", "where is my transfer", "question about limits"]
        try await service.test { client in
            // Friday 23:50 UTC (Saturday 07:50 in Shanghai): P1, answered after 8 min, closed after 3 h, rated 5.
            let a = try await openCase(
                service,
                client,
                key: key,
                at: "2026-11-27T23:50:00Z",
                #"{"channel":"wechat","category":"suspicious_login","summary":"\#(summaries[0])","contact":"wechat:river-7"}"#
            )
            // Saturday 00:10: P1 by takeover signs, answered after 30 min (due 15), closed after 5 h (due 4), rated 2.
            let b = try await openCase(
                service,
                client,
                key: key,
                at: "2026-11-28T00:10:00Z",
                #"{"channel":"phone","category":"other","summary":"\#(summaries[1])","takeover_reported":true}"#
            )
            // Saturday 01:00: P2, never answered, never closed.
            _ = try await openCase(
                service,
                client,
                key: key,
                at: "2026-11-28T01:00:00Z",
                #"{"channel":"email","category":"transfer","summary":"\#(summaries[2])"}"#
            )
            // Sunday 22:30 (Monday 06:30 in Shanghai): P3, first response due Monday 02:30.
            _ = try await openCase(
                service,
                client,
                key: key,
                at: "2026-11-29T22:30:00Z",
                #"{"channel":"in_app","category":"other","summary":"\#(summaries[3])"}"#
            )
            // Outside ?from=2026-11-27&to=2026-11-29 (whole UTC days, the end excluded at Monday 00:00).
            _ = try await openCase(service, client, key: key, at: "2026-11-30T00:00:00Z", #"{"channel":"email","category":"refund","summary":"x"}"#)
            _ = try await openCase(service, client, key: key, at: "2026-11-26T23:59:59Z", #"{"channel":"email","category":"refund","summary":"y"}"#)

            // Replies, closes and feedback straight through the store, at the times they happened.
            let times = try (
                utc("2026-11-27T23:58:00Z"), utc("2026-11-28T02:50:00Z"), utc("2026-11-28T00:40:00Z"), utc("2026-11-28T05:10:00Z")
            )
            let done = try await service.store.write { tx in
                [
                    try tx.markFirstResponse(caseID: a, at: times.0),
                    try tx.closeCase(id: a, resolution: .recovered, at: times.1),
                    try tx.recordCaseFeedback(id: a, CaseFeedback(score: 5, comment: "thanks", at: times.1)),
                    try tx.markFirstResponse(caseID: b, at: times.2),
                    try tx.closeCase(id: b, resolution: .verificationFailed, at: times.3),
                    try tx.recordCaseFeedback(id: b, CaseFeedback(score: 2, comment: nil, at: times.3)),
                ]
            }
            #expect(done == [true, true, true, true, true, true])

            service.clock.set(try utc("2026-11-30T01:00:00Z"))  // Monday; each agent's setup below takes 30 s
            let agent = try await activeAgent(service, client, email: "aiden.agent@vigil.example", role: .agent)
            let supervisor = try await activeAgent(service, client, email: "sam.supervisor@vigil.example", role: .supervisor)
            let auditor = try await activeAgent(service, client, email: "audrey.auditor@vigil.example", role: .auditor)
            let admin = try await activeAgent(service, client, email: "ada.admin@vigil.example", role: .admin)

            let path = "/v1/reports/sla?from=2026-11-27&to=2026-11-29"
            let response = try await client.send(.get, path, bearer: supervisor.session)
            #expect(response.status == .ok)
            let body = String(buffer: response.body)
            for secret in summaries + ["river-7", a, b, agent.id, supervisor.id] { #expect(!body.contains(secret), "\(secret)") }
            let report = try json(response)
            #expect(report["from"] as? String == "2026-11-27T00:00:00.000Z")
            #expect(report["to"] as? String == "2026-11-30T00:00:00.000Z")
            #expect(report["generated_at"] as? String == "2026-11-30T01:02:00.000Z")
            #expect(report["support_time_zone"] as? String == "Asia/Shanghai")
            #expect(report["percentile_method"] as? String == "nearest_rank")

            let overall = try #require(report["overall"] as? [String: Any])
            #expect(overall["cases"] as? Int == 4)
            #expect(overall["open"] as? Int == 2)
            let fr = try #require(overall["first_response"] as? [String: Any])
            #expect(fr["measured"] as? Int == 2)
            #expect(fr["p50_seconds"] as? Double == 480)
            #expect(fr["p90_seconds"] as? Double == 1800)
            #expect(fr["met"] as? Int == 1)
            #expect(fr["breached"] as? Int == 2)  // b late, the P2 never answered
            #expect(fr["breached_open"] as? Int == 1)
            #expect(fr["pending"] as? Int == 1)  // the Sunday-night P3
            let res = try #require(overall["resolution"] as? [String: Any])
            #expect(res["p50_seconds"] as? Double == 10_800)
            #expect(res["p90_seconds"] as? Double == 18_000)
            #expect(res["met"] as? Int == 1)
            #expect(res["breached"] as? Int == 2)  // b closed late, the P2 open past Sunday 01:00
            #expect(res["breached_open"] as? Int == 1)
            let csat = try #require(overall["csat"] as? [String: Any])
            #expect(csat["ratings"] as? Int == 2)
            #expect(csat["mean"] as? Double == 3.5)
            #expect(csat["distribution"] as? [String: Int] == ["1": 0, "2": 1, "3": 0, "4": 0, "5": 1])
            let codes = try #require(overall["resolution_codes"] as? [String: Int])
            #expect(codes["recovered"] == 1 && codes["verification_failed"] == 1 && codes["resolved"] == 0)

            #expect(occupied(report, "by_priority") == ["P1": 2, "P2": 1, "P3": 1])
            let p2 = try group(report, "by_priority", "P2")
            #expect((p2["first_response"] as? [String: Any])?["breached_open"] as? Int == 1)
            #expect((p2["resolution"] as? [String: Any])?["breached_open"] as? Int == 1)
            #expect(occupied(report, "by_channel") == ["wechat": 1, "phone": 1, "email": 1, "in_app": 1])
            #expect(occupied(report, "by_category") == ["suspicious_login": 1, "other": 2, "transfer": 1])
            #expect(occupied(report, "by_hour_utc") == ["23": 1, "00": 1, "01": 1, "22": 1])
            #expect(occupied(report, "by_hour_support_time_zone") == ["07": 1, "08": 1, "09": 1, "06": 1])

            // The default range is the last 30 days: all six cases.
            let recent = try json(try await client.send(.get, "/v1/reports/sla", bearer: auditor.session))
            #expect((recent["overall"] as? [String: Any])?["cases"] as? Int == 6)
            #expect(recent["to"] as? String == "2026-11-30T01:02:00.000Z")
            // An offset, percent-encoded: Saturday 00:00 UTC to Sunday 00:00 UTC.
            let saturday = try json(
                try await client.send(.get, "/v1/reports/sla?from=2026-11-28T08:00:00%2B08:00&to=2026-11-29T00:00:00Z", bearer: admin.session)
            )
            #expect((saturday["overall"] as? [String: Any])?["cases"] as? Int == 2)
            let plain = try json(
                try await client.send(.get, "/v1/reports/sla?from=2026-11-28T08:00:00+08:00&to=2026-11-29T00:00:00Z", bearer: admin.session)
            )
            #expect((plain["overall"] as? [String: Any])?["cases"] as? Int == 2)  // a literal + is not a space here

            try expectErrorShape(try await client.send(.get, path, bearer: agent.session), status: .forbidden, code: "forbidden")
            try expectErrorShape(try await client.send(.get, path, bearer: nil), status: .unauthorized, code: "unauthenticated")
            try expectErrorShape(try await client.get(path, key: key), status: .unauthorized, code: "unauthenticated")
            try expectErrorShape(
                try await client.send(.get, "/v1/reports/sla?from=yesterday", bearer: nil),
                status: .unauthorized,
                code: "unauthenticated"
            )
        }
    }

    @Test("a bad range is 400 invalid_field naming from or to")
    func badRanges() async throws {
        let service = try TestService()
        service.clock.set(try utc("2026-11-30T01:00:00Z"))
        try await service.test { client in
            let supervisor = try await activeAgent(service, client, email: "sam.supervisor@vigil.example", role: .supervisor)
            for (query, field) in [
                ("from=yesterday", "from"),
                ("from=2026-02-30", "from"),
                ("to=2026-11-30T25:00:00Z", "to"),
                ("from=2026-11-29&to=2026-11-01", "to"),
                ("from=2026-11-29T00:00:00Z&to=2026-11-29T00:00:00Z", "to"),
                ("from=2025-01-01&to=2026-11-29", "to"),
            ] {
                try expectErrorShape(
                    try await client.send(.get, "/v1/reports/sla?\(query)", bearer: supervisor.session),
                    status: .badRequest,
                    code: "invalid_field",
                    field: field
                )
            }
            let year = try await client.send(.get, "/v1/reports/sla?from=2025-11-30&to=2026-11-29", bearer: supervisor.session)
            #expect(year.status == .ok)  // 365 whole days
        }
    }
}
