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

@Suite("Case intake, triage, SLA clocks and the queue over HTTP")
struct CaseHTTPTests {
    /// Friday 2026-11-27 23:50:00 UTC: a case opened now runs across midnight into the weekend.
    static let fridayNight = Date(timeIntervalSince1970: 1_795_823_400)

    @Test("triage sets the priority from sla.yaml and the due times run 24/7, across midnight and the weekend")
    func triageAndClock() async throws {
        let service = try TestService()
        service.clock.set(Self.fridayNight)
        #expect(Timestamp.format(service.clock.now()) == "2026-11-27T23:50:00.000Z")
        let key = try await service.apiKey([.casesWrite, .subjectsWrite])
        try await service.test { client in
            let p1 = try json(
                try await client.post(
                    "/v1/cases",
                    key: key,
                    json: #"{"channel":"wechat","category":"suspicious_login","summary":"someone logged in from abroad"}"#
                )
            )
            #expect(p1["priority"] as? String == "P1")
            #expect(p1["first_response_due"] as? String == "2026-11-28T00:05:00.000Z")  // Saturday, 15 minutes later
            #expect(p1["resolution_due"] as? String == "2026-11-28T03:50:00.000Z")
            #expect(p1["triage_rules"] as? [String] == ["suspicious_login"])

            let p4ish = try json(
                try await client.post("/v1/cases", key: key, json: #"{"channel":"email","category":"other","summary":"a question"}"#)
            )
            #expect(p4ish["priority"] as? String == "P3")  // default_priority
            #expect(p4ish["resolution_due"] as? String == "2026-11-30T23:50:00.000Z")  // 4320 min: through Saturday and Sunday

            let takeover = try json(
                try await client.post(
                    "/v1/cases",
                    key: key,
                    json: #"{"channel":"phone","category":"other","summary":"not me","takeover_reported":true}"#
                )
            )
            #expect(takeover["priority"] as? String == "P1")
            #expect(takeover["triage_rules"] as? [String] == ["takeover_signs"])

            try expectErrorShape(
                try await client.post("/v1/cases", key: key, json: #"{"channel":"fax","category":"other","summary":"x"}"#),
                status: .badRequest,
                code: "invalid_field",
                field: "channel"
            )
            try expectErrorShape(
                try await client.post("/v1/cases", key: key, json: #"{"channel":"email","category":"other","summary":"  "}"#),
                status: .badRequest,
                code: "invalid_field",
                field: "summary"
            )
        }
    }

    @Test("a frozen subject's case is P1 by signal")
    func frozenSignal() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.casesWrite, .subjectsWrite, .reportsWrite])
        try await service.test { client in
            try await client.register("deadbeef-0950", key: key)
            var denied = Login(subject: "deadbeef-0950", at: service.clock.now(), source: "user")
            denied.reason = "not_me"
            _ = try await client.report(denied, key: key)
            let c = try json(
                try await client.post(
                    "/v1/cases",
                    key: key,
                    json: #"{"channel":"in_app","category":"other","summary":"locked out","subject_id":"deadbeef-0950"}"#
                )
            )
            #expect(c["priority"] as? String == "P1")
        }
    }

    @Test("the queue is ordered by the clock that runs now, filters work, breached shows after the deadline, take-next assigns")
    func queue() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.casesWrite])
        try await service.test { client in
            let agent = try await activeAgent(service, client, email: "quinn.queue@vigil.example", role: .agent)
            let auditor = try await activeAgent(service, client, email: "audrey.auditor@vigil.example", role: .auditor)
            var ids: [String: String] = [:]
            for (name, category) in [("refund", "refund"), ("suspicious", "suspicious_login"), ("transfer", "transfer")] {
                let r = try json(
                    try await client.post("/v1/cases", key: key, json: #"{"channel":"email","category":"\#(category)","summary":"case \#(name)"}"#)
                )
                ids[name] = r["case_id"] as? String
            }
            let listed = try json(try await client.send(.get, "/v1/cases", bearer: agent.session))["cases"] as? [[String: Any]] ?? []
            #expect(listed.compactMap { $0["case_id"] as? String } == [ids["suspicious"], ids["transfer"], ids["refund"]].compactMap { $0 })
            #expect(listed.allSatisfy { $0["summary"] == nil || $0["summary"] is NSNull })

            let p2 = try json(try await client.send(.get, "/v1/cases?priority=P2", bearer: agent.session))["cases"] as? [[String: Any]] ?? []
            #expect(p2.compactMap { $0["case_id"] as? String } == [ids["transfer"]].compactMap { $0 })

            service.clock.advance(seconds: 20 * 60)  // past P1's 15-minute first response, not P2's 60
            let breached = try json(try await client.send(.get, "/v1/cases?breached=true", bearer: agent.session))["cases"] as? [[String: Any]] ?? []
            #expect(breached.compactMap { $0["case_id"] as? String } == [ids["suspicious"]].compactMap { $0 })

            let taken = try json(try await client.send(.post, "/v1/cases/take-next", bearer: agent.session))
            #expect(taken["case_id"] as? String == ids["suspicious"])
            #expect(taken["assignee"] as? String == agent.id)
            #expect(taken["status"] as? String == "in_progress")

            let detail = try json(try await client.send(.get, "/v1/cases/\(ids["suspicious"]!)", bearer: agent.session))
            #expect(detail["summary"] as? String == "case suspicious")
            let hidden = try json(try await client.send(.get, "/v1/cases/\(ids["suspicious"]!)", bearer: auditor.session))
            #expect(hidden["summary"] == nil || hidden["summary"] is NSNull)

            try expectErrorShape(try await client.send(.post, "/v1/cases/take-next", bearer: auditor.session), status: .forbidden, code: "forbidden")
            try expectErrorShape(try await client.get("/v1/cases", key: key), status: .unauthorized, code: "unauthenticated")
            try expectErrorShape(
                try await client.send(.post, "/v1/cases/\(ids["refund"]!)/assign", bearer: agent.session, json: #"{"agent_id":"\#(auditor.id)"}"#),
                status: .forbidden,
                code: "forbidden"
            )
        }
        let actions = try await service.auditActions()
        #expect(actions.filter { $0 == "case.opened" }.count == 3)
        #expect(actions.contains("case.assigned"))
        #expect(!(try await service.auditEntries()).contains("case suspicious"))
    }
}
