import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import VigilAudit
import VigilCore
import VigilHTTP
import VigilStore
import VigilTestSupport

/// One login as the tests report it; times are offsets from the test clock's start.
struct Login {
    var subject: String
    var at: Date
    var country = "DE"
    var device = "device-A"
    var source = "risk_engine"
    var ip = "203.0.113.7"
    var userAgent = "WalletApp/3.2 (Android 14)"
    var reason: String?

    var json: String {
        var o: [String: Any] = [
            "subject_id": subject, "occurred_at": Timestamp.format(at), "ip": ip, "user_agent": userAgent,
            "device_id": device, "country": country, "source": source,
        ]
        if let reason { o["reason"] = reason }
        return String(decoding: (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
    }
}

/// The decision part of a response.
struct Decided: Equatable {
    var decision: String
    var score: Int
    var rules: [String]
}

extension TestClientProtocol {
    func report(_ login: Login, key: String, idempotencyKey: String? = nil) async throws -> TestResponse {
        try await report(json: login.json, key: key, idempotencyKey: idempotencyKey)
    }

    func report(json: String, key: String?, idempotencyKey: String? = nil) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let key { headers[.authorization] = "Bearer \(key)" }
        if let idempotencyKey { headers[HTTPField.Name("Idempotency-Key")!] = idempotencyKey }
        return try await execute(uri: "/v1/suspicious-logins", method: .post, headers: headers, body: ByteBuffer(string: json))
    }
}

func decided(_ r: TestResponse, sourceLocation: SourceLocation = #_sourceLocation) throws -> Decided {
    #expect(r.status == .created, sourceLocation: sourceLocation)
    let body = try json(r)
    // A freeze names its P1 case; any other decision has none.
    if body["decision"] as? String == "freeze" {
        #expect((body["case_id"] as? String)?.hasPrefix("case_") == true, sourceLocation: sourceLocation)
    } else {
        #expect(body.keys.contains("case_id") && body["case_id"] is NSNull, sourceLocation: sourceLocation)
    }
    return Decided(
        decision: body["decision"] as? String ?? "",
        score: body["score"] as? Int ?? -1,
        rules: body["rules"] as? [String] ?? ["?"]
    )
}

extension TestService {
    func registerSubject(_ client: some TestClientProtocol, _ id: String, key: String) async throws {
        let r = try await client.post("/v1/subjects", key: key, json: #"{"subject_id":"\#(id)"}"#)
        #expect(r.status == .created)
    }

    /// `n` failed recovery codes for `subject` (at most 4 in a row before the policy's delay).
    func failRecoveryCodes(_ client: some TestClientProtocol, subject: String, key: String, count n: Int) async throws {
        for _ in 0..<n {
            let r = try await client.post(
                "/v1/subjects/\(subject)/totp/verify",
                key: key,
                json: #"{"recovery_code":"aaaa-bbbb-cccc-dddd"}"#
            )
            #expect(r.status == .ok)
        }
    }
}

@Suite("Suspicious-login reports over HTTP")
struct SuspiciousLoginHTTPTests {
    let day: TimeInterval = 86_400

    @Test("a subject's first report sets the baseline; a new device alone is allow (score 1)")
    func newDeviceAlone() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .reportsWrite])
        try await service.test { client in
            try await service.registerSubject(client, "s-dev", key: key)
            let t0 = service.clock.now()
            #expect(
                try decided(try await client.report(Login(subject: "s-dev", at: t0), key: key)) == Decided(decision: "allow", score: 0, rules: [])
            )
            service.clock.advance(seconds: day)
            let same = Login(subject: "s-dev", at: service.clock.now())
            #expect(try decided(try await client.report(same, key: key)) == Decided(decision: "allow", score: 0, rules: []))
            var other = same
            other.device = "device-B"
            #expect(try decided(try await client.report(other, key: key)) == Decided(decision: "allow", score: 1, rules: ["new_device"]))
            // Older than lookback_days (90): device-A counts as new again.
            service.clock.advance(seconds: 100 * day)
            var late = Login(subject: "s-dev", at: service.clock.now().addingTimeInterval(-1 * day))
            late.device = "device-C"
            _ = try await client.report(late, key: key)
            let back = Login(subject: "s-dev", at: service.clock.now())
            #expect(try decided(try await client.report(back, key: key)).rules == ["new_device"])
        }
    }

    @Test("a new country alone is step_up (score 2)")
    func newCountryAlone() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .reportsWrite])
        try await service.test { client in
            try await service.registerSubject(client, "s-ctry", key: key)
            _ = try await client.report(Login(subject: "s-ctry", at: service.clock.now()), key: key)
            service.clock.advance(seconds: day)
            var france = Login(subject: "s-ctry", at: service.clock.now())
            france.country = "fr"  // case does not matter
            #expect(try decided(try await client.report(france, key: key)) == Decided(decision: "step_up", score: 2, rules: ["new_country"]))
        }
    }

    @Test("impossible travel alone is step_up; with a new country it freezes (combination)")
    func impossibleTravel() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .reportsWrite])
        try await service.test { client in
            try await service.registerSubject(client, "s-trv", key: key)
            let t0 = service.clock.now()
            _ = try await client.report(Login(subject: "s-trv", at: t0), key: key)
            // Germany → United States a day later (~7,600 km in 24 h): possible; a new country.
            service.clock.advance(seconds: day)
            var us = Login(subject: "s-trv", at: service.clock.now())
            us.country = "US"
            #expect(try decided(try await client.report(us, key: key)) == Decided(decision: "step_up", score: 2, rules: ["new_country"]))
            // Back in Germany one hour later: both countries are known, the trip is not possible.
            service.clock.advance(seconds: 3600)
            let back = Login(subject: "s-trv", at: service.clock.now())
            #expect(
                try decided(try await client.report(back, key: key)) == Decided(decision: "step_up", score: 3, rules: ["impossible_travel"])
            )
            // Germany → Belgium (~400 km) within minutes: under min_distance_km, not judged.
            service.clock.advance(seconds: 600)
            var belgium = Login(subject: "s-trv", at: service.clock.now())
            belgium.country = "BE"
            #expect(try decided(try await client.report(belgium, key: key)).rules == ["new_country"])
            // Japan 30 minutes later: a new country reached impossibly fast → freeze.
            service.clock.advance(seconds: 1800)
            var japan = Login(subject: "s-trv", at: service.clock.now())
            japan.country = "JP"
            #expect(
                try decided(try await client.report(japan, key: key))
                    == Decided(decision: "freeze", score: 5, rules: ["new_country", "impossible_travel"])
            )
            // A late report about an earlier login is judged against the login after it, too.
            var late = Login(subject: "s-trv", at: t0.addingTimeInterval(day + 1800))
            late.country = "AU"
            #expect(try decided(try await client.report(late, key: key)).rules.contains("impossible_travel"))
            // Frozen logins never become history: Japan two days later is still a new country.
            service.clock.advance(seconds: 2 * day)
            var japanAgain = Login(subject: "s-trv", at: service.clock.now())
            japanAgain.country = "JP"
            #expect(try decided(try await client.report(japanAgain, key: key)).rules == ["new_country"])
        }
    }

    @Test("a burst of failed second factors alone is step_up; from a new device it freezes (combination)")
    func secondFactorBurst() async throws {
        var policies = try TestService.shippedPolicies()
        policies.setRateLimit(limit: 100)
        let service = try TestService(policies: policies)
        let key = try await service.apiKey([.subjectsWrite, .reportsWrite, .credentialsVerify])
        try await service.test { client in
            try await service.registerSubject(client, "s-burst", key: key)
            try await service.registerSubject(client, "s-burst2", key: key)
            _ = try await client.report(Login(subject: "s-burst", at: service.clock.now()), key: key)
            // Four failures (count is 5): nothing fires.
            try await service.failRecoveryCodes(client, subject: "s-burst", key: key, count: 4)
            #expect(try decided(try await client.report(Login(subject: "s-burst", at: service.clock.now()), key: key)).rules == [])
            // The fifth within window_minutes (after the 60 s delay the fourth caused): alone
            // step_up, from a new device freeze.
            service.clock.advance(seconds: 61)
            try await service.failRecoveryCodes(client, subject: "s-burst", key: key, count: 1)
            #expect(
                try decided(try await client.report(Login(subject: "s-burst", at: service.clock.now()), key: key))
                    == Decided(decision: "step_up", score: 3, rules: ["failed_second_factor_burst"])
            )
            var newDevice = Login(subject: "s-burst", at: service.clock.now())
            newDevice.device = "device-Z"
            #expect(
                try decided(try await client.report(newDevice, key: key))
                    == Decided(decision: "freeze", score: 4, rules: ["new_device", "failed_second_factor_burst"])
            )
            // Another subject's failures do not count; failures older than the window do not either.
            #expect(try decided(try await client.report(Login(subject: "s-burst2", at: service.clock.now()), key: key)).rules == [])
            service.clock.advance(seconds: 11 * 60)
            #expect(try decided(try await client.report(Login(subject: "s-burst", at: service.clock.now()), key: key)).rules == [])
        }
    }

    @Test("'this was not me' freezes: the account refuses TOTP and recovery codes, a P1 case is pending, both audited")
    func userDenied() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .reportsWrite, .credentialsVerify])
        try await service.test { client in
            let enrolled = try await service.enrol(client, subject: "s-deny", key: key)
            service.clock.advance(seconds: 60)
            var denied = Login(subject: "s-deny", at: service.clock.now().addingTimeInterval(-30), source: "user")
            denied.reason = "not_me"
            let r = try await client.report(denied, key: key)
            #expect(try decided(r) == Decided(decision: "freeze", score: 6, rules: ["user_denied"]))
            let body = try json(r)
            #expect(body["case_requested"] as? Bool == true)
            let reportID = try #require(body["report_id"] as? String)

            let core = SuspiciousLoginService(service.deps.core)
            let freeze = try #require(try await core.freeze(subjectID: "s-deny"))
            #expect(freeze.reportID == reportID)
            #expect(freeze.frozenAt == service.clock.now())
            let cases = try await core.pendingCases(subjectID: "s-deny")
            #expect(cases.count == 1)
            #expect(cases.first?.priority == "P1" && cases.first?.category == "suspicious_login" && cases.first?.reportID == reportID)
            // The case is open in the queue, P1, in the same transaction as the freeze.
            let caseID = try #require(body["case_id"] as? String)
            #expect(cases.first?.id == caseID)
            let opened = try #require(try await service.store.read { try $0.caseSummary(id: caseID) })
            #expect(opened.priority == .p1 && opened.category == .suspiciousLogin && opened.status == "open" && opened.subjectID == "s-deny")
            #expect(opened.triageRules.contains("suspicious_login"))

            // A correct TOTP code is refused while frozen.
            service.clock.advance(seconds: 60)
            let code = try oathtool(secret: enrolled.secret, at: service.clock.now())
            let v = try await client.post("/v1/subjects/s-deny/totp/verify", key: key, json: #"{"code":"\#(code)"}"#)
            try expectErrorShape(v, status: HTTPResponse.Status(code: 423), code: "account_frozen")
            let rc = try await client.post("/v1/subjects/s-deny/totp/verify", key: key, json: #"{"recovery_code":"abcd-efgh"}"#)
            try expectErrorShape(rc, status: HTTPResponse.Status(code: 423), code: "account_frozen")
            // Nor can the second factor be changed while frozen: no enrolment, no new recovery codes.
            let enrolWhileFrozen = try await client.post("/v1/subjects/s-deny/totp", key: key, json: "")
            try expectErrorShape(enrolWhileFrozen, status: HTTPResponse.Status(code: 423), code: "account_frozen")
            let codesWhileFrozen = try await client.post("/v1/subjects/s-deny/recovery-codes", key: key, json: "")
            try expectErrorShape(codesWhileFrozen, status: HTTPResponse.Status(code: 423), code: "account_frozen")

            // A second freeze keeps the first (one account.frozen entry).
            _ = try await client.report(denied, key: key)
            #expect(try await core.freeze(subjectID: "s-deny")?.reportID == reportID)
            let actions = try await service.auditActions()
            #expect(actions.filter { $0 == "suspicious_login.reported" }.count == 2)
            #expect(actions.filter { $0 == "account.frozen" }.count == 1)
            #expect(actions.contains("totp.verify.frozen") && actions.contains("recovery_code.verify.frozen"))
        }
    }

    @Test("Idempotency-Key: a retry gets the same report and writes nothing; another body is 409; keys are per API key")
    func idempotency() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .reportsWrite])
        let other = try await service.apiKey([.reportsWrite], name: "risk-engine-2")
        try await service.test { client in
            try await service.registerSubject(client, "s-idem", key: key)
            let login = Login(subject: "s-idem", at: service.clock.now(), source: "user")
            let first = try await client.report(login, key: key, idempotencyKey: "retry-1")
            let firstBody = try json(first)
            #expect(first.headers[HTTPField.Name("Idempotent-Replayed")!] == nil)
            let reported = { (actions: [String]) in actions.filter { $0 == "suspicious_login.reported" }.count }
            #expect(reported(try await service.auditActions()) == 1)

            service.clock.advance(seconds: 5)
            let again = try await client.report(login, key: key, idempotencyKey: "retry-1")
            #expect(again.status == .created)
            #expect(again.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            let againBody = try json(again)
            #expect(againBody["report_id"] as? String == firstBody["report_id"] as? String)
            #expect(againBody["decision"] as? String == "freeze")
            #expect(againBody["case_requested"] as? Bool == true)
            #expect(reported(try await service.auditActions()) == 1)

            var changed = login
            changed.device = "device-B"
            try expectErrorShape(
                try await client.report(changed, key: key, idempotencyKey: "retry-1"),
                status: .conflict,
                code: "idempotency_conflict"
            )
            // The same key from another API key is another request.
            let fromOther = try json(try await client.report(login, key: other, idempotencyKey: "retry-1"))
            #expect(fromOther["report_id"] as? String != firstBody["report_id"] as? String)
            // Without a key every request is a report.
            let a = try json(try await client.report(login, key: key))
            let b = try json(try await client.report(login, key: key))
            #expect(a["report_id"] as? String != b["report_id"] as? String)
        }
    }

    @Test("concurrent retries with one Idempotency-Key make one report and one audit entry")
    func concurrentRetries() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .reportsWrite])
        try await service.test { client in
            try await service.registerSubject(client, "s-race", key: key)
            let login = Login(subject: "s-race", at: service.clock.now())
            let ids = try await withThrowingTaskGroup(of: String?.self) { group in
                for _ in 0..<12 {
                    group.addTask { try json(try await client.report(login, key: key, idempotencyKey: "race-1"))["report_id"] as? String }
                }
                var all: [String?] = []
                for try await id in group { all.append(id) }
                return all
            }
            #expect(ids.count == 12 && Set(ids).count == 1 && ids.first??.hasPrefix("slr_") == true)
            #expect(try await service.auditActions().filter { $0 == "suspicious_login.reported" }.count == 1)
        }
    }

    @Test("bad input is a 400 naming the field; unknown subject 404; scopes enforced")
    func validationAndScopes() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .reportsWrite])
        let verifier = try await service.apiKey([.credentialsVerify, .subjectsWrite], name: "verifier")
        try await service.test { client in
            try await service.registerSubject(client, "s-val", key: key)
            let good = Login(subject: "s-val", at: service.clock.now())
            func expectField(_ edit: (inout [String: Any]) -> Void, _ field: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
                var o = try #require(try JSONSerialization.jsonObject(with: Data(good.json.utf8)) as? [String: Any])
                edit(&o)
                let body = String(decoding: try JSONSerialization.data(withJSONObject: o), as: UTF8.self)
                try expectErrorShape(
                    try await client.report(json: body, key: key),
                    status: .badRequest,
                    code: "invalid_field",
                    field: field,
                    sourceLocation: sourceLocation
                )
            }
            try await expectField({ $0["ip"] = nil }, "ip")
            try await expectField({ $0["ip"] = "999.1.1.1" }, "ip")
            try await expectField({ $0["ip"] = 42 }, "ip")
            try await expectField({ $0["country"] = "Germany" }, "country")
            try await expectField({ $0["country"] = "XX" }, "country")
            try await expectField({ $0["country"] = "ß" }, "country")  // upper-cases to "SS"
            try await expectField({ $0["occurred_at"] = "yesterday" }, "occurred_at")
            try await expectField({ $0["occurred_at"] = Timestamp.format(service.clock.now().addingTimeInterval(3600)) }, "occurred_at")
            try await expectField({ $0["source"] = "admin" }, "source")
            try await expectField({ $0["device_id"] = "" }, "device_id")
            try await expectField({ $0["user_agent"] = nil }, "user_agent")
            try await expectField({ $0["subject_id"] = nil }, "subject_id")
            try await expectField({ $0["reason"] = String(repeating: "x", count: 2001) }, "reason")
            try expectErrorShape(
                try await client.report(good, key: key, idempotencyKey: String(repeating: "k", count: 256)),
                status: .badRequest,
                code: "invalid_field",
                field: "Idempotency-Key"
            )
            try expectErrorShape(try await client.report(json: "{", key: key), status: .badRequest, code: "malformed_body")
            var ghost = good
            ghost.subject = "nobody"
            try expectErrorShape(try await client.report(ghost, key: key), status: .notFound, code: "not_found")
            // An IPv6 address is accepted.
            var v6 = good
            v6.ip = "2001:db8::1"
            #expect(try await client.report(v6, key: key).status == .created)

            try expectErrorShape(try await client.report(good, key: verifier), status: .forbidden, code: "forbidden")
            try expectErrorShape(try await client.report(json: good.json, key: nil), status: .unauthorized, code: "unauthenticated")
        }
    }

    @Test("IP, user agent, device id and reason never appear in the clear in the database or the audit log")
    func encryptedAtRest() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .reportsWrite])
        let login = Login(
            subject: "s-enc",
            at: service.clock.now(),
            device: "device-marker-7f3a",
            source: "user",
            ip: "198.51.100.77",
            userAgent: "MarkerAgent/9.9 (unique-ua-marker)",
            reason: "reason-marker-phishing"
        )
        try await service.test { client in
            try await service.registerSubject(client, "s-enc", key: key)
            let r = try json(try await client.report(login, key: key, idempotencyKey: "enc-1"))
            let id = try #require(r["report_id"] as? String)
            // The repository decrypts what it stored.
            let stored = try #require(try await service.store.read { try $0.loginReport(id: id) })
            #expect(stored.report.ip == login.ip && stored.report.userAgent == login.userAgent && stored.report.deviceID == login.device)
            #expect(stored.report.reason == login.reason && stored.report.country == "DE")
        }
        var bytes = Data()
        for suffix in ["", "-wal"] {
            if let d = FileManager.default.contents(atPath: service.dir.file("vigil.sqlite") + suffix) { bytes.append(d) }
        }
        #expect(!bytes.isEmpty)
        for needle in [login.ip, "MarkerAgent", "unique-ua-marker", login.device, "reason-marker"] {
            #expect(bytes.range(of: Data(needle.utf8)) == nil, "\(needle) is stored in the clear")
        }
        let status = try await service.store.keyStatus()
        #expect(status.versions.reduce(0) { $0 + $1.fields } >= 4)
    }
}

@Suite("Frozen accounts")
struct FrozenAccountTests {
    @Test("after a freeze the right password gets 423 account_frozen, and the refusal is audited")
    func passwordRefusedWhileFrozen() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .reportsWrite, .credentialsVerify])
        try await service.test { client in
            try await client.register("deadbeef-0901", key: key)
            #expect(try await client.setPassword("deadbeef-0901", "correct horse battery staple", key: key).status == .ok)
            #expect(try await client.isValidPassword("deadbeef-0901", "correct horse battery staple", key: key))
            var denied = Login(subject: "deadbeef-0901", at: service.clock.now(), source: "user")
            denied.reason = "not_me"
            #expect(try decided(try await client.report(denied, key: key)).decision == "freeze")
            let r = try await client.verifyPassword("deadbeef-0901", "correct horse battery staple", key: key)
            try expectErrorShape(r, status: HTTPResponse.Status(code: 423), code: "account_frozen")
        }
        #expect(try await service.auditActions().contains("password.verify.frozen"))
        let events = try await service.drainOutbox().filter { $0.kind == .securityNotice }.compactMap { message -> String? in
            if case .string(let event)? = message.payload["event"] { return event }
            return nil
        }
        #expect(events.contains("account_frozen"))
    }

    @Test("changing a password sends the user a security notice through the outbox")
    func passwordChangeNotice() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .credentialsVerify])
        try await service.test { client in
            try await client.register("deadbeef-0902", key: key)
            #expect(try await client.setPassword("deadbeef-0902", "correct horse battery staple", key: key).status == .ok)
            #expect(try await client.setPassword("deadbeef-0902", "another horse battery staple", key: key).status == .ok)
        }
        let events = try await service.drainOutbox().filter { $0.subjectID == "deadbeef-0902" }.compactMap { message -> String? in
            if case .string(let event)? = message.payload["event"] { return event }
            return nil
        }
        #expect(events == ["password_changed"])
    }
}
