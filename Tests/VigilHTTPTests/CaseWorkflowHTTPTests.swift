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

extension TestService {
    /// The audit entries filed under a case, decoded, in log order.
    func caseAuditEntries(_ caseID: String) async throws -> [[String: Any]] {
        try await auditEntries().split(separator: "\n").compactMap { line -> [String: Any]? in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                (object["details"] as? [String: Any])?["case_id"] as? String == caseID
            else { return nil }
            return object
        }
    }
}

/// The `vigil` executable built next to the test bundle (`swift build --build-tests` builds it).
func vigilBinary() throws -> String {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vigil").path
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let candidates = [beside, root.appendingPathComponent(".build/debug/vigil").path]
    return try #require(candidates.first { FileManager.default.isExecutableFile(atPath: $0) }, "build the vigil executable first: swift build")
}

/// What a JSON response says, for short assertions.
private func field(_ r: TestResponse, _ name: String) throws -> String? { try json(r)[name] as? String }

@Suite("Working a case over HTTP: verification, four eyes, close, feedback")
struct CaseWorkflowHTTPTests {
    @Test(
        "lost phone, end to end: in-app case, checks per policy, TOTP reset asked by an agent, refused to the agent, approved by a supervisor, re-enrolment, close, feedback"
    )
    func lostPhone() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .casesWrite, .credentialsVerify])
        // A live server on a loopback port, over real HTTP/1.1.
        try await service.test(.ahc(.http)) { client in
            // The wallet user, with TOTP and recovery codes, then loses the phone.
            let r0 = try await client.post(
                "/v1/subjects",
                key: key,
                json: #"{"subject_id":"user-77","email":"mei@example.org","phone":"+8613800138000"}"#
            )
            #expect(r0.status == .created)
            let r1 = try await client.post("/v1/subjects/user-77/totp", key: key, json: "")
            let oldSecret = try #require(try json(r1)["secret"] as? String)
            let a0 = try await client.post(
                "/v1/subjects/user-77/totp/activate",
                key: key,
                json: #"{"code":"\#(try oathtool(secret: oldSecret, at: service.clock.now()))"}"#
            )
            #expect(a0.status == .ok)
            let codes = try #require(try json(try await client.post("/v1/subjects/user-77/recovery-codes", key: key, json: ""))["codes"] as? [String])
            _ = try await service.drainOutbox()

            // The user opens a case in the app (the wallet backend files it with its key).
            let opened = try await client.post(
                "/v1/cases",
                key: key,
                json:
                    #"{"channel":"in_app","category":"lost_2fa","summary":"I lost my phone with the authenticator","contact":"in-app chat 5521","subject_id":"user-77"}"#
            )
            #expect(opened.status == .created)
            let caseID = try #require(try field(opened, "case_id"))
            #expect(try field(opened, "priority") == "P2")

            let agent = try await activeAgent(service, client, email: "li.agent@vigil.example", role: .agent)
            let supervisor = try await activeAgent(service, client, email: "wu.supervisor@vigil.example", role: .supervisor)
            let taken = try await client.send(.post, "/v1/cases/take-next", bearer: agent.session)
            #expect(try field(taken, "case_id") == caseID)

            // First response: a reply to the requester.
            let reply = try await client.send(
                .post,
                "/v1/cases/\(caseID)/notes",
                bearer: agent.session,
                json: #"{"kind":"reply","body":"We will verify you and reset your authenticator."}"#
            )
            #expect(reply.status == .created)

            // Without checks, a TOTP reset is refused and says what is missing.
            let early = try await client.send(
                .post,
                "/v1/cases/\(caseID)/actions",
                bearer: agent.session,
                json: #"{"action":"reset_totp","reason":"lost phone, wants to enrol a new one"}"#
            )
            try expectErrorShape(early, status: .conflict, code: "prerequisites_not_met")

            // Email code to the registered address (not to anything the requester says).
            let started = try await client.send(.post, "/v1/cases/\(caseID)/verifications", bearer: agent.session, json: #"{"check":"email_otp"}"#)
            #expect(started.status == .created)
            #expect(try field(started, "status") == "pending")
            let vid = try #require(try field(started, "verification_id"))
            let sent = try await service.drainOutbox().filter { $0.kind == .verificationCode }
            #expect(sent.count == 1)
            #expect(sent.first?.recipient == .email("mei@example.org"))
            guard case .string(let emailed)? = sent.first?.payload["code"] else {
                Issue.record("no code in the message")
                return
            }
            let wrong = emailed == "000000" ? "111111" : "000000"
            let w = try json(
                try await client.send(.post, "/v1/cases/\(caseID)/verifications/\(vid)/code", bearer: agent.session, json: #"{"code":"\#(wrong)"}"#)
            )
            #expect(w["status"] as? String == "pending")
            #expect(w["attempts_remaining"] as? Int == 4)
            let right = try json(
                try await client.send(.post, "/v1/cases/\(caseID)/verifications/\(vid)/code", bearer: agent.session, json: #"{"code":"\#(emailed)"}"#)
            )
            #expect(right["status"] as? String == "passed")

            // A recovery code (used up), and the agent's check of recent transactions.
            let rc = try json(
                try await client.send(
                    .post,
                    "/v1/cases/\(caseID)/verifications",
                    bearer: agent.session,
                    json: #"{"check":"recovery_code","recovery_code":"\#(codes[0])"}"#
                )
            )
            #expect(rc["status"] as? String == "passed")
            let used = try await client.post("/v1/subjects/user-77/totp/verify", key: key, json: #"{"recovery_code":"\#(codes[0])"}"#)
            #expect(try json(used)["valid"] as? Bool == false)
            let tk = try json(
                try await client.send(
                    .post,
                    "/v1/cases/\(caseID)/verifications",
                    bearer: agent.session,
                    json: #"{"check":"transaction_knowledge","passed":true,"note":"named the last two deposits and their amounts"}"#
                )
            )
            #expect(tk["status"] as? String == "passed")

            // Now the agent may ask; it waits for four eyes.
            let asked = try await client.send(
                .post,
                "/v1/cases/\(caseID)/actions",
                bearer: agent.session,
                json: #"{"action":"reset_totp","reason":"lost phone, verified by email code, recovery code and deposits"}"#
            )
            #expect(asked.status == .accepted)
            let actionID = try #require(try field(asked, "action_id"))
            #expect(try field(asked, "status") == "pending_approval")
            #expect(try json(asked)["checks"] as? [String] == ["email_otp", "recovery_code", "transaction_knowledge"])

            // The agent who asked cannot approve it.
            let own = try await client.send(.post, "/v1/cases/\(caseID)/actions/\(actionID)/approve", bearer: agent.session)
            try expectErrorShape(own, status: .forbidden, code: "forbidden")
            let pending = try json(try await client.send(.get, "/v1/approvals", bearer: supervisor.session))["approvals"] as? [[String: Any]]
            #expect(pending?.compactMap { $0["case_id"] as? String } == [caseID])

            // Before approval the old authenticator still works; after it, it is gone.
            service.clock.advance(seconds: 30)
            let approved = try await client.send(.post, "/v1/cases/\(caseID)/actions/\(actionID)/approve", bearer: supervisor.session)
            #expect(approved.status == .ok)
            #expect(try field(approved, "status") == "executed")
            #expect(try field(approved, "decided_by") == supervisor.id)
            let hold = try #require(try field(approved, "withdrawals_held_until"))
            #expect(hold == Timestamp.format(service.clock.now().addingTimeInterval(48 * 3600)))
            let gone = try await client.post(
                "/v1/subjects/user-77/totp/verify",
                key: key,
                json: #"{"code":"\#(try oathtool(secret: oldSecret, at: service.clock.now()))"}"#
            )
            #expect(gone.status == .notFound)
            let messages = try await service.drainOutbox()
            #expect(messages.contains { $0.kind == .securityNotice && $0.payload["event"] == .string("totp_removed") })
            #expect(messages.contains { $0.kind == .credentialsChanged && $0.payload["withdrawals_frozen_until"] == .string(hold) })

            // The user enrols again, with a new secret.
            let e = try await client.post("/v1/subjects/user-77/totp", key: key, json: "")
            let newSecret = try #require(try json(e)["secret"] as? String)
            #expect(newSecret != oldSecret)
            let act = try await client.post(
                "/v1/subjects/user-77/totp/activate",
                key: key,
                json: #"{"code":"\#(try oathtool(secret: newSecret, at: service.clock.now()))"}"#
            )
            #expect(act.status == .ok)

            // Close with a resolution; feedback from the channel, once.
            service.clock.advance(seconds: 600)
            let closed = try await client.send(.post, "/v1/cases/\(caseID)/close", bearer: agent.session, json: #"{"resolution":"recovered"}"#)
            #expect(try field(closed, "status") == "closed")
            let noMore = try await client.send(.post, "/v1/cases/\(caseID)/notes", bearer: agent.session, json: #"{"body":"late"}"#)
            try expectErrorShape(noMore, status: .conflict, code: "conflict")
            let fb = try await client.post("/v1/cases/\(caseID)/feedback", key: key, json: #"{"score":5,"comment":"fast and careful"}"#)
            #expect(fb.status == .created)
            try expectErrorShape(
                try await client.post("/v1/cases/\(caseID)/feedback", key: key, json: #"{"score":1}"#),
                status: .conflict,
                code: "conflict"
            )

            // The case tells its story to agents, and to auditors without personal data.
            let detail = try json(try await client.send(.get, "/v1/cases/\(caseID)", bearer: supervisor.session))
            #expect(detail["resolution"] as? String == "recovered")
            #expect(detail["feedback_score"] as? Int == 5)
            #expect(detail["feedback_comment"] as? String == "fast and careful")
            #expect((detail["verifications"] as? [[String: Any]])?.compactMap { $0["status"] as? String } == ["passed", "passed", "passed"])
            #expect((detail["notes"] as? [[String: Any]])?.first?["body"] as? String == "We will verify you and reset your authenticator.")
            // The subject's state and message delivery, for the agent (no personal data in either).
            let state = try #require(detail["subject_state"] as? [String: Any])
            #expect(state["has_totp"] as? Bool == true && state["frozen"] as? Bool == false)
            #expect(state["withdrawals_held_until"] as? String == hold)
            #expect(state["recovery_codes_remaining"] as? Int == 9)
            let delivered = try #require(detail["messages"] as? [[String: Any]])
            #expect(delivered.contains { $0["kind"] as? String == "verification_code" && $0["status"] as? String == "delivered" })
            #expect(!String(buffer: try await client.send(.get, "/v1/cases/\(caseID)", bearer: supervisor.session).body).contains(emailed))
            let auditor = try await activeAgent(service, client, email: "audit@vigil.example", role: .auditor)
            let seen = try await client.send(.get, "/v1/cases/\(caseID)", bearer: auditor.session)
            let text = String(buffer: seen.body)
            for secret in ["lost my phone", "in-app chat", "We will verify", "deposits", "fast and careful", "mei@example.org"] {
                #expect(!text.contains(secret))
            }

            // Every step is in the audit log under the case, in order.
            let entries = try await service.caseAuditEntries(caseID)
            let actions = entries.compactMap { $0["action"] as? String }
            #expect(
                actions == [
                    "case.opened", "case.assigned", "case.note_added", "case.verification_started", "case.verification_code_wrong",
                    "case.verification_passed", "recovery_code.used", "case.verification_passed", "case.verification_passed",
                    "case.action_requested", "case.action_approved", "totp.reset", "case.action_executed", "case.closed", "case.feedback",
                ]
            )
            let closing = try #require(entries.first { $0["action"] as? String == "case.closed" }?["details"] as? [String: Any])
            #expect(closing["first_response"] as? String == "met" && closing["resolution_sla"] as? String == "met")

            // The case file lists every step, and the real `vigil case verify` accepts it offline —
            // and refuses it after a changed byte.
            let fileResponse = try await client.send(.get, "/v1/cases/\(caseID)/file", bearer: auditor.session)
            #expect(fileResponse.status == .ok)
            let bytes = fileResponse.body.getBytes(at: fileResponse.body.readerIndex, length: fileResponse.body.readableBytes) ?? []
            let file = try CaseFileVerifier.decode(bytes)
            #expect(try file.parsedEntries().map(\.action) == actions + ["case.file_exported"])
            let dir = service.dir.file("casefile-\(UUID().uuidString)")
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let keyFile = dir + "/audit-signing.pub"
            try (Fixtures.auditSigner().verifierKey.text + "\n").write(toFile: keyFile, atomically: true, encoding: .utf8)
            try Data(bytes).write(to: URL(fileURLWithPath: dir + "/case.json"))
            let vigil = try vigilBinary()
            let ok = try run(vigil, ["case", "verify", dir + "/case.json", "--key", keyFile])
            #expect(ok.hasPrefix("ok: case \(caseID), \(actions.count + 1) entries"))
            var changed = bytes
            changed[changed.count / 2] ^= 0x01
            try Data(changed).write(to: URL(fileURLWithPath: dir + "/changed.json"))
            #expect(throws: ToolFailure.self) { try run(vigil, ["case", "verify", dir + "/changed.json", "--key", keyFile]) }
        }
    }

    @Test("four eyes: a supervisor cannot approve their own request (403 four_eyes, audited as denied); another supervisor can")
    func fourEyes() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .casesWrite, .reportsWrite])
        try await service.test { client in
            #expect(try await client.post("/v1/subjects", key: key, json: #"{"subject_id":"user-88","email":"u88@example.org"}"#).status == .created)
            // A freeze by "this was not me" opens the P1 case.
            var denied = Login(subject: "user-88", at: service.clock.now().addingTimeInterval(-30), source: "user")
            denied.reason = "not_me"
            let report = try json(try await client.report(denied, key: key))
            let caseID = try #require(report["case_id"] as? String)
            let s1 = try await activeAgent(service, client, email: "s1@vigil.example", role: .supervisor)
            let s2 = try await activeAgent(service, client, email: "s2@vigil.example", role: .supervisor)
            let doc = try await client.send(
                .post,
                "/v1/cases/\(caseID)/verifications",
                bearer: s1.session,
                json: #"{"check":"id_document","passed":true,"note":"passport checked against the KYC record"}"#
            )
            #expect(doc.status == .created)
            // unfreeze needs a check Vigil verified: a code to the registered email.
            try await service.passEmailCode(client, caseID: caseID, session: s1.session)
            let asked = try await client.send(
                .post,
                "/v1/cases/\(caseID)/actions",
                bearer: s1.session,
                json: #"{"action":"unfreeze","reason":"owner verified; the login was their own travel"}"#
            )
            #expect(asked.status == .accepted)
            let actionID = try #require(try field(asked, "action_id"))
            // One request of a kind waits at a time: a second could be approved after the first ran.
            try expectErrorShape(
                try await client.send(
                    .post,
                    "/v1/cases/\(caseID)/actions",
                    bearer: s1.session,
                    json: #"{"action":"unfreeze","reason":"asking a second time for the same"}"#
                ),
                status: .conflict,
                code: "conflict"
            )
            try expectErrorShape(
                try await client.send(.post, "/v1/cases/\(caseID)/actions/\(actionID)/approve", bearer: s1.session),
                status: .forbidden,
                code: "four_eyes"
            )
            // Still frozen, still pending.
            #expect(try await SuspiciousLoginService(service.deps.core).freeze(subjectID: "user-88") != nil)
            let ok = try await client.send(.post, "/v1/cases/\(caseID)/actions/\(actionID)/approve", bearer: s2.session)
            #expect(try field(ok, "status") == "executed")
            #expect(try await SuspiciousLoginService(service.deps.core).freeze(subjectID: "user-88") == nil)
            // A decided action cannot be decided again.
            try expectErrorShape(
                try await client.send(.post, "/v1/cases/\(caseID)/actions/\(actionID)/approve", bearer: s2.session),
                status: .conflict,
                code: "conflict"
            )
            let entries = try await service.caseAuditEntries(caseID)
            let approvals = entries.filter { $0["action"] as? String == "case.action_approved" }
            #expect(approvals.compactMap { $0["outcome"] as? String } == ["denied", "success"])
            #expect(entries.contains { $0["action"] as? String == "account.unfrozen" })
            #expect(entries.first?["action"] as? String == "case.opened")
        }
    }

    @Test("a credential changed within recent_change_window_hours makes a case P1 (takeover signs); after the window it does not")
    func recentCredentialChange() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .casesWrite])
        try await service.test { client in
            try await service.registerSubject(client, "user-55", key: key)
            let body = #"{"channel":"email","category":"other","summary":"a question about fees","subject_id":"user-55"}"#
            #expect(try field(try await client.post("/v1/cases", key: key, json: body), "priority") == "P3")
            #expect(
                try await client.post("/v1/subjects/user-55/password", key: key, json: #"{"password":"first long passphrase here"}"#).status == .ok
            )
            // Setting the first password is not a change.
            #expect(try field(try await client.post("/v1/cases", key: key, json: body), "priority") == "P3")
            service.clock.advance(seconds: 60)
            #expect(
                try await client.post("/v1/subjects/user-55/password", key: key, json: #"{"password":"second long passphrase here"}"#).status == .ok
            )
            let changed = try json(try await client.post("/v1/cases", key: key, json: body))
            #expect(changed["priority"] as? String == "P1")
            #expect(changed["triage_rules"] as? [String] == ["takeover_signs"])
            service.clock.advance(seconds: 72 * 3600 + 1)
            #expect(try field(try await client.post("/v1/cases", key: key, json: body), "priority") == "P3")
        }
    }

    @Test("Idempotency-Key on intake: a retried intake gets the same case and files nothing; another body under the key is 409")
    func idempotentIntake() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.casesWrite])
        let other = try await service.apiKey([.casesWrite])
        try await service.test { client in
            func file(_ body: String, key: String, idempotency: String?) async throws -> TestResponse {
                var headers: HTTPFields = [.contentType: "application/json", .authorization: "Bearer \(key)"]
                if let idempotency { headers[HTTPField.Name("Idempotency-Key")!] = idempotency }
                return try await client.execute(uri: "/v1/cases", method: .post, headers: headers, body: ByteBuffer(string: body))
            }
            let body = #"{"channel":"wechat","category":"refund","summary":"refund for order 12"}"#
            let first = try await file(body, key: key, idempotency: "wx-msg-001")
            #expect(first.status == .created)
            #expect(first.headers[HTTPField.Name("Idempotent-Replayed")!] == nil)
            let retry = try await file(body, key: key, idempotency: "wx-msg-001")
            #expect(retry.status == .created)
            #expect(retry.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(try field(retry, "case_id") == field(first, "case_id"))
            let changed = try await file(
                #"{"channel":"wechat","category":"refund","summary":"refund for order 13"}"#,
                key: key,
                idempotency: "wx-msg-001"
            )
            try expectErrorShape(changed, status: .conflict, code: "idempotency_conflict")
            // Keys are per caller: another client's same key is its own.
            let elsewhere = try await file(body, key: other, idempotency: "wx-msg-001")
            #expect(try field(elsewhere, "case_id") != field(first, "case_id"))
            try expectErrorShape(
                try await file(body, key: key, idempotency: "bad key"),
                status: .badRequest,
                code: "invalid_field",
                field: "Idempotency-Key"
            )
            let opened = try await service.auditActions().filter { $0 == "case.opened" }
            #expect(opened.count == 2)
        }
    }

    @Test("a case filed without its subject gets one by registered email; codes to the user are capped per case and hour")
    func linkSubjectAndCodeCap() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .casesWrite])
        try await service.test { client in
            #expect(try await client.post("/v1/subjects", key: key, json: #"{"subject_id":"user-66","email":"zhao@example.org"}"#).status == .created)
            let caseID = try #require(
                try field(
                    try await client.post("/v1/cases", key: key, json: #"{"channel":"wechat","category":"lost_2fa","summary":"cannot log in"}"#),
                    "case_id"
                )
            )
            let agent = try await activeAgent(service, client, email: "z@vigil.example", role: .agent)
            try expectErrorShape(
                try await client.send(.post, "/v1/cases/\(caseID)/verifications", bearer: agent.session, json: #"{"check":"email_otp"}"#),
                status: .conflict,
                code: "conflict"
            )
            try expectErrorShape(
                try await client.send(.post, "/v1/cases/\(caseID)/subject", bearer: agent.session, json: #"{"identifier":"nobody@example.org"}"#),
                status: .notFound,
                code: "not_found"
            )
            let linked = try await client.send(
                .post,
                "/v1/cases/\(caseID)/subject",
                bearer: agent.session,
                json: #"{"identifier":"Zhao@Example.org"}"#
            )
            #expect(try field(linked, "subject_id") == "user-66")
            try expectErrorShape(
                try await client.send(.post, "/v1/cases/\(caseID)/subject", bearer: agent.session, json: #"{"identifier":"user-66"}"#),
                status: .conflict,
                code: "conflict"
            )
            #expect(try await service.caseAuditEntries(caseID).contains { $0["action"] as? String == "case.subject_linked" })
            for _ in 0..<3 {
                let r = try await client.send(.post, "/v1/cases/\(caseID)/verifications", bearer: agent.session, json: #"{"check":"email_otp"}"#)
                #expect(r.status == .created)
            }
            let fourth = try await client.send(.post, "/v1/cases/\(caseID)/verifications", bearer: agent.session, json: #"{"check":"email_otp"}"#)
            try expectErrorShape(fourth, status: .tooManyRequests, code: "rate_limited")
            // Another case for the same user sends no more: the cap is per user, not per case.
            let second = try #require(
                try field(
                    try await client.post(
                        "/v1/cases",
                        key: key,
                        json: #"{"channel":"email","category":"lost_2fa","summary":"again","subject_id":"user-66"}"#
                    ),
                    "case_id"
                )
            )
            let viaSecond = try await client.send(.post, "/v1/cases/\(second)/verifications", bearer: agent.session, json: #"{"check":"email_otp"}"#)
            try expectErrorShape(viaSecond, status: .tooManyRequests, code: "rate_limited")
            #expect(try await service.drainOutbox().filter { $0.kind == .verificationCode }.count == 3)
            service.clock.advance(seconds: 3601)
            let later = try await activeAgent(service, client, email: "z2@vigil.example", role: .agent)
            #expect(
                try await client.send(.post, "/v1/cases/\(caseID)/verifications", bearer: later.session, json: #"{"check":"email_otp"}"#).status
                    == .created
            )
        }
    }

    @Test("a later failed check takes an earlier pass back; a new contact that is another account's is refused")
    func laterFailureAndTakenContact() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .casesWrite, .reportsWrite])
        try await service.test { client in
            #expect(try await client.post("/v1/subjects", key: key, json: #"{"subject_id":"user-a","email":"a@example.org"}"#).status == .created)
            #expect(try await client.post("/v1/subjects", key: key, json: #"{"subject_id":"user-b","email":"b@example.org"}"#).status == .created)
            let caseID = try #require(
                try field(
                    try await client.post(
                        "/v1/cases",
                        key: key,
                        json: #"{"channel":"phone","category":"account_security","summary":"new email","subject_id":"user-a"}"#
                    ),
                    "case_id"
                )
            )
            let agent = try await activeAgent(service, client, email: "x@vigil.example", role: .agent)
            try await service.assign(client, caseID: caseID, to: agent)
            func check(_ json: String) async throws -> TestResponse {
                try await client.send(.post, "/v1/cases/\(caseID)/verifications", bearer: agent.session, json: json)
            }
            #expect(try await check(#"{"check":"id_document","passed":true,"note":"passport"}"#).status == .created)
            #expect(try await check(#"{"check":"transaction_knowledge","passed":true,"note":"last deposit"}"#).status == .created)
            let started = try json(try await check(#"{"check":"email_otp"}"#))
            let vid = try #require(started["verification_id"] as? String)
            guard case .string(let code)? = try await service.drainOutbox().first(where: { $0.kind == .verificationCode })?.payload["code"] else {
                Issue.record("no code sent")
                return
            }
            let passed = try await client.send(
                .post,
                "/v1/cases/\(caseID)/verifications/\(vid)/code",
                bearer: agent.session,
                json: #"{"code":"\#(code)"}"#
            )
            #expect(try field(passed, "status") == "passed")
            func passedChecks() async throws -> [String] {
                try json(try await client.send(.get, "/v1/cases/\(caseID)", bearer: agent.session))["passed_checks"] as? [String] ?? []
            }
            #expect(try await passedChecks() == ["email_otp", "id_document", "transaction_knowledge"])

            // Weight 6 with a document: change_contact may be asked — but not for another account's address.
            let taken = try await client.send(
                .post,
                "/v1/cases/\(caseID)/actions",
                bearer: agent.session,
                json: #"{"action":"change_contact","reason":"the user lost access to the old mailbox","new_contact":{"email":"B@example.org"}}"#
            )
            try expectErrorShape(taken, status: .conflict, code: "conflict")

            // A second look finds the document forged: the pass no longer counts.
            service.clock.advance(seconds: 1)
            #expect(try await check(#"{"check":"id_document","passed":false,"note":"the passport photo was edited"}"#).status == .created)
            #expect(try await passedChecks() == ["email_otp", "transaction_knowledge"])
            let refused = try await client.send(
                .post,
                "/v1/cases/\(caseID)/actions",
                bearer: agent.session,
                json: #"{"action":"change_contact","reason":"the user lost access to the old mailbox","new_contact":{"email":"new@example.org"}}"#
            )
            try expectErrorShape(refused, status: .conflict, code: "prerequisites_not_met")

            // A freeze by a support action has no suspicious-login case: a later "not me" report opens one.
            let frozen = try await client.send(
                .post,
                "/v1/cases/\(caseID)/actions",
                bearer: agent.session,
                json: #"{"action":"freeze","reason":"document fraud suspected"}"#
            )
            #expect(try field(frozen, "status") == "executed")
            var denied = Login(subject: "user-a", at: service.clock.now().addingTimeInterval(-30), source: "user")
            denied.reason = "not_me"
            let report = try json(try await client.report(denied, key: key))
            let opened = try #require(report["case_id"] as? String)
            #expect(opened != caseID)
            #expect(try await service.store.read { try $0.caseSummary(id: opened) }?.priority == .p1)
        }
    }

    @Test("checks expire: a passed check stops counting after valid_minutes, so the approval is refused then")
    func checksExpire() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .casesWrite])
        try await service.test { client in
            #expect(try await client.post("/v1/subjects", key: key, json: #"{"subject_id":"user-99","phone":"+4915199999999"}"#).status == .created)
            let caseID = try #require(
                try field(
                    try await client.post(
                        "/v1/cases",
                        key: key,
                        json: #"{"channel":"phone","category":"account_security","summary":"new phone number","subject_id":"user-99"}"#
                    ),
                    "case_id"
                )
            )
            let agent = try await activeAgent(service, client, email: "a@vigil.example", role: .agent)
            try await service.assign(client, caseID: caseID, to: agent)
            for (check, note) in [("id_document", "ID card"), ("transaction_knowledge", "last deposit"), ("id_document", "again, other side")] {
                let r = try await client.send(
                    .post,
                    "/v1/cases/\(caseID)/verifications",
                    bearer: agent.session,
                    json: #"{"check":"\#(check)","passed":true,"note":"\#(note)"}"#
                )
                #expect(r.status == .created)
            }
            // id_document 3 + transaction_knowledge 2 = 5 < 6 for change_contact.
            try expectErrorShape(
                try await client.send(
                    .post,
                    "/v1/cases/\(caseID)/actions",
                    bearer: agent.session,
                    json: #"{"action":"change_contact","reason":"the user has a new phone number","new_contact":{"phone":"+8613900139000"}}"#
                ),
                status: .conflict,
                code: "prerequisites_not_met"
            )
            let r = try await client.send(.post, "/v1/cases/\(caseID)/verifications", bearer: agent.session, json: #"{"check":"email_otp"}"#)
            try expectErrorShape(r, status: .conflict, code: "conflict")  // no registered email to send to

            // Re-triage is audited and moves the clocks.
            let before = try json(try await client.send(.get, "/v1/cases/\(caseID)", bearer: agent.session))
            let rt = try json(
                try await client.send(
                    .post,
                    "/v1/cases/\(caseID)/triage",
                    bearer: agent.session,
                    json: #"{"priority":"P1","reason":"the caller reports ongoing withdrawals"}"#
                )
            )
            #expect(rt["priority"] as? String == "P1")
            #expect(rt["first_response_due"] as? String != before["first_response_due"] as? String)
            #expect(try await service.caseAuditEntries(caseID).contains { $0["action"] as? String == "case.retriaged" })

            // Revealing the contact needs a reason, and is audited.
            try expectErrorShape(
                try await client.send(.post, "/v1/cases/\(caseID)/contact/reveal", bearer: agent.session, json: #"{"reason":"x"}"#),
                status: .badRequest,
                code: "invalid_field",
                field: "reason"
            )
            let auditor = try await activeAgent(service, client, email: "c@vigil.example", role: .auditor)
            try expectErrorShape(
                try await client.send(
                    .post,
                    "/v1/cases/\(caseID)/contact/reveal",
                    bearer: auditor.session,
                    json: #"{"reason":"just curious about it"}"#
                ),
                status: .forbidden,
                code: "forbidden"
            )
            let shown = try await client.send(
                .post,
                "/v1/cases/\(caseID)/contact/reveal",
                bearer: agent.session,
                json: #"{"reason":"call back the requester on the phone line"}"#
            )
            #expect(shown.status == .ok)
            #expect(try await service.caseAuditEntries(caseID).contains { $0["action"] as? String == "case.contact_revealed" })

            // A freeze needs no check and runs at once; the 60-minute checks then lapse.
            let fr = try await client.send(
                .post,
                "/v1/cases/\(caseID)/actions",
                bearer: agent.session,
                json: #"{"action":"freeze","reason":"caller reports withdrawals they did not make"}"#
            )
            #expect(fr.status == .ok)
            #expect(try field(fr, "status") == "executed")
            let tk = try await client.send(
                .post,
                "/v1/cases/\(caseID)/verifications",
                bearer: agent.session,
                json: #"{"check":"transaction_knowledge","passed":true,"note":"knew the amounts"}"#
            )
            #expect(tk.status == .created)
            try await service.passEmailCode(client, caseID: caseID, session: agent.session, check: "sms_otp")
            let asked = try await client.send(
                .post,
                "/v1/cases/\(caseID)/actions",
                bearer: agent.session,
                json: #"{"action":"unfreeze","reason":"withdrawals were the user's own after all"}"#
            )
            #expect(asked.status == .accepted)
            let actionID = try #require(try field(asked, "action_id"))
            service.clock.advance(seconds: 61 * 60)
            let boss = try await activeAgent(service, client, email: "b@vigil.example", role: .admin)  // sessions idle out after 30 min
            try expectErrorShape(
                try await client.send(.post, "/v1/cases/\(caseID)/actions/\(actionID)/approve", bearer: boss.session),
                status: .conflict,
                code: "prerequisites_not_met"
            )
            // The id document counts for a day: still frozen, the action still waits.
            #expect(try await SuspiciousLoginService(service.deps.core).freeze(subjectID: "user-99") != nil)
            let rejected = try await client.send(
                .post,
                "/v1/cases/\(caseID)/actions/\(actionID)/reject",
                bearer: boss.session,
                json: #"{"reason":"verify again first"}"#
            )
            #expect(try field(rejected, "status") == "rejected")
        }
    }
}
