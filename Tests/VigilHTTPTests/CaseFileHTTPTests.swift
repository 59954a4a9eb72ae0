import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import VigilAudit
import VigilCore
import VigilCrypto
import VigilHTTP
import VigilStore
import VigilTestSupport

/// Distinctive personal data filed on the cases below: none of it may reach a case file.
enum Canary {
    static let summary = "CANARY-SUMMARY lost my phone on the 23:40 ferry"
    static let contact = "canary.contact+casefile@example.org"
    static let note = "CANARY-NOTE told them to expect an SMS"
    static let reason = "CANARY-REASON user lost the phone holding the TOTP app"
    static let comment = "CANARY-COMMENT quick and kind, thanks"
    static let all = [summary, contact, note, reason, comment]
}

extension TestClientProtocol {
    func caseFile(_ id: String, session: String?, format: String? = nil) async throws -> TestResponse {
        try await send(.get, "/v1/cases/\(id)/file" + (format.map { "?format=\($0)" } ?? ""), bearer: session)
    }

    /// Opens a case as the wallet backend, with the canary summary and contact.
    func openCase(key: String, category: String = "lost_2fa") async throws -> String {
        let r = try await post(
            "/v1/cases",
            key: key,
            json: #"{"channel":"in_app","category":"\#(category)","summary":"\#(Canary.summary)","contact":"\#(Canary.contact)"}"#
        )
        #expect(r.status == .created)
        return try #require(try json(r)["case_id"] as? String)
    }
}

extension TestResponse {
    var bytes: [UInt8] { body.getBytes(at: body.readerIndex, length: body.readableBytes) ?? [] }
}

@Suite("The case file over HTTP")
struct CaseFileHTTPTests {
    @Test("an agent's case file verifies offline and lists intake, assignment and its own export, with no personal data")
    func roundTrip() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.casesWrite])
        try await service.test { client in
            let ana = try await activeAgent(service, client, email: "ana.agent@vigil.example", role: .agent)
            let id = try await client.openCase(key: key)
            service.clock.advance(seconds: 90)
            #expect(try await client.send(.post, "/v1/cases/take-next", bearer: ana.session).status == .ok)
            service.clock.advance(seconds: 30)

            let r = try await client.caseFile(id, session: ana.session)
            #expect(r.status == .ok)
            #expect(r.headers[.contentType] == "application/json; charset=utf-8")
            let summary = try CaseFileVerifier.verify(r.bytes, keys: service.deps.auditVerifierKeys).get()
            #expect(summary.caseID == id && summary.entries == 3 && !summary.html)

            let file = try CaseFileVerifier.decode(r.bytes)
            #expect(try file.parsedEntries().map(\.action) == ["case.opened", "case.assigned", "case.file_exported"])
            #expect(file.record.status == "in_progress" && file.record.assignee == ana.id && file.record.priority == "P2")
            #expect(file.record.targetHash != nil)
            #expect(file.sla == CaseFile.SLA(firstResponse: "pending", resolution: "pending"))
            #expect(file.generatedAt == Timestamp.format(service.clock.now()))
            // Every proof is against one checkpoint that covers the file's own export entry.
            #expect(file.checkpoint.checkpoint.size == (file.entries.last?.seq ?? 0) + 1)
            let text = String(decoding: r.bytes, as: UTF8.self)
            for canary in Canary.all { #expect(!text.contains(canary), "\(canary)") }

            // An hour later (the agent active every 25 minutes) the first response is overdue.
            var later = file
            for _ in 0..<3 {
                service.clock.advance(seconds: 25 * 60)
                later = try CaseFileVerifier.decode(try await client.caseFile(id, session: ana.session).bytes)
            }
            #expect(later.sla == CaseFile.SLA(firstResponse: "breached", resolution: "pending"))
            #expect(later.entries.count == 6)

            try expectErrorShape(try await client.caseFile("case_0000000000000000", session: ana.session), status: .notFound, code: "not_found")
            try expectErrorShape(
                try await client.caseFile(id, session: ana.session, format: "pdf"),
                status: .badRequest,
                code: "invalid_field",
                field: "format"
            )
        }
        let exported = try await service.auditActions().filter { $0 == "case.file_exported" }
        #expect(exported.count == 4)
    }

    @Test("verifications, a four-eyes action, the first reply, the close and CSAT are in the file, each backed by its entries")
    func workedCase() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.casesWrite])
        try await service.test { client in
            let ana = try await activeAgent(service, client, email: "ana.agent@vigil.example", role: .agent)
            let sue = try await activeAgent(service, client, email: "sue.supervisor@vigil.example", role: .supervisor)
            let id = try await client.openCase(key: key)
            #expect(try await client.send(.post, "/v1/cases/\(id)/assign", bearer: ana.session).status == .ok)
            try await Self.work(service, caseID: id, agent: ana.id, supervisor: sue.id)

            let r = try await client.caseFile(id, session: sue.session)
            #expect(r.status == .ok)
            let summary = try CaseFileVerifier.verify(r.bytes, keys: service.deps.auditVerifierKeys).get()
            let file = try CaseFileVerifier.decode(r.bytes)
            #expect(summary.entries == file.entries.count)
            #expect(
                try file.parsedEntries().map(\.action) == [
                    "case.opened", "case.assigned", "case.note_added", "case.verification_passed", "case.verification_started",
                    "case.verification_passed", "case.action_requested", "case.action_approved", "case.action_approved",
                    "case.action_executed", "totp.reset", "case.closed", "case.feedback", "case.file_exported",
                ]
            )
            #expect(file.record.status == "closed" && file.record.resolution == "recovered" && file.record.csatScore == 5)
            #expect(file.sla == CaseFile.SLA(firstResponse: "met", resolution: "met"))
            #expect(file.verifications.map(\.status) == ["passed", "passed"])
            #expect(file.verifications.map(\.check) == ["transaction_knowledge", "sms_otp"])
            let action = try #require(file.actions.first)
            #expect(action.status == "executed" && action.requestedBy == ana.id && action.decidedBy == sue.id)
            #expect(action.checks == ["transaction_knowledge", "sms_otp"])

            let page = try await client.caseFile(id, session: sue.session, format: "html")
            for text in [String(decoding: r.bytes, as: UTF8.self), String(decoding: page.bytes, as: UTF8.self)] {
                for canary in Canary.all { #expect(!text.contains(canary), "\(canary)") }
            }
            #expect(try CaseFileVerifier.verify(page.bytes, keys: service.deps.auditVerifierKeys).get().html)
        }
    }

    @Test("the printable page verifies, embeds the file, is locked down by its CSP, and shows no personal data")
    func html() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.casesWrite])
        try await service.test { client in
            let audrey = try await activeAgent(service, client, email: "audrey.auditor@vigil.example", role: .auditor)
            let id = try await client.openCase(key: key)
            let r = try await client.caseFile(id, session: audrey.session, format: "html")
            #expect(r.status == .ok)
            #expect(r.headers[.contentType] == "text/html; charset=utf-8")
            let csp = try #require(r.headers[HTTPField.Name("Content-Security-Policy")!])
            #expect(csp.hasPrefix("default-src 'none'; style-src 'sha256-") && csp.hasSuffix("'; frame-ancestors 'none'"))
            let summary = try CaseFileVerifier.verify(r.bytes, keys: service.deps.auditVerifierKeys).get()
            #expect(summary.html && summary.caseID == id && summary.entries == 2)
            let text = String(decoding: r.bytes, as: UTF8.self)
            #expect(text.contains(#"<script type="application/json" id="vigil-case-file">"#))
            #expect(text.contains("<td>\(id)</td>"))
            for canary in Canary.all { #expect(!text.contains(canary), "\(canary)") }
            // Any changed byte of the page is refused (a sample across it).
            var accepted: [Int] = []
            for i in stride(from: 0, to: r.bytes.count, by: 41) {
                var changed = r.bytes
                changed[i] ^= 0x20
                if case .success = CaseFileVerifier.verify(changed, keys: service.deps.auditVerifierKeys) { accepted.append(i) }
            }
            #expect(accepted.isEmpty, "\(accepted)")
        }
    }

    @Test("agents, supervisors, admins and auditors may read a case file; service keys and anonymous callers may not")
    func roles() async throws {
        let service = try TestService()
        let key = try await service.apiKey(Scope.allCases)
        try await service.test { client in
            let id = try await client.openCase(key: key)
            for (n, role) in AgentRole.allCases.enumerated() {
                let agent = try await activeAgent(service, client, email: "agent\(n)@vigil.example", role: role)
                let r = try await client.caseFile(id, session: agent.session)
                #expect(r.status == .ok, "\(role)")
                #expect(throws: Never.self) { try CaseFileVerifier.verify(r.bytes, keys: service.deps.auditVerifierKeys).get() }
            }
            try expectErrorShape(try await client.caseFile(id, session: key), status: .unauthorized, code: "unauthenticated")
            try expectErrorShape(try await client.caseFile(id, session: nil), status: .unauthorized, code: "unauthenticated")
            try expectErrorShape(try await client.caseFile(id, session: nil, format: "html"), status: .unauthorized, code: "unauthenticated")
        }
        let entries = try await service.auditEntries()
        #expect(entries.components(separatedBy: "\"action\":\"case.file_exported\"").count - 1 == AgentRole.allCases.count)
    }

    @Test("a changed byte, another key, an entry of another case or a dropped entry is rejected")
    func tampering() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.casesWrite])
        let keys = service.deps.auditVerifierKeys
        try await service.test { client in
            let ana = try await activeAgent(service, client, email: "ana.agent@vigil.example", role: .agent)
            let mine = try await client.openCase(key: key)
            let other = try await client.openCase(key: key, category: "refund")
            #expect(try await client.send(.post, "/v1/cases/\(mine)/assign", bearer: ana.session).status == .ok)
            let served = try await client.caseFile(mine, session: ana.session)
            try #require(served.status == .ok)
            let bytes = served.bytes
            #expect(throws: Never.self) { try CaseFileVerifier.verify(bytes, keys: keys).get() }

            // A sample of positions across every section, and whitespace anywhere.
            var accepted: [Int] = []
            for i in Set(stride(from: 0, to: bytes.count, by: 7)).union(bytes.count - 100..<bytes.count).sorted() {
                var changed = bytes
                changed[i] ^= 0x01
                if case .success = CaseFileVerifier.verify(changed, keys: keys) { accepted.append(i) }
            }
            for i in stride(from: 1, to: bytes.count, by: 53) {
                var changed = bytes
                changed.insert(0x20, at: i)
                if case .success = CaseFileVerifier.verify(changed, keys: keys) { accepted.append(i) }
            }
            #expect(accepted.isEmpty, "\(accepted)")

            // Another key.
            let stranger = try NoteSigner(name: "vigil-audit", key: Ed25519.SigningKey.generate())
            #expect(throws: CaseFileFailure(.unknownKey, "the file is signed by no trusted key (key ids \(keys[0].keyID))")) {
                try CaseFileVerifier.verify(bytes, keys: [stranger.verifierKey]).get()
            }

            // The other case's case.opened, proven against this file's checkpoint, slipped in
            // and the file signed again with the real key: still refused.
            var file = try CaseFileVerifier.decode(bytes)
            let otherSeq = try await service.store.read { try $0.caseAuditSeqs(caseID: other) }.first ?? 0
            let size = file.checkpoint.checkpoint.size
            let foreign = try await service.store.read { try $0.auditEntries(seqs: [otherSeq], provenIn: size) }
            file.entries = (file.entries + foreign).sorted { $0.seq < $1.seq }
            let forged = try file.signed(with: [Fixtures.auditSigner()]).fileBytes()
            let failure = try #require(CaseFileVerifier.verify(forged, keys: keys).failure)
            #expect(failure.reason == .foreignEntry, "\(failure)")

            // The assignment dropped, the file signed again: the assignee has no entry.
            file = try CaseFileVerifier.decode(bytes)
            file.entries.remove(at: 1)
            let dropped = try #require(CaseFileVerifier.verify(try file.signed(with: [Fixtures.auditSigner()]).fileBytes(), keys: keys).failure)
            #expect(dropped.reason == .inconsistent && dropped.detail.contains("assignee"), "\(dropped)")
        }
    }

    @Test(
        "lost phone through the real workflow: the case file lists every step, verifies offline, holds no personal data, and a changed byte is refused"
    )
    func workflowEndToEnd() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .casesWrite, .credentialsVerify])
        let keys = service.deps.auditVerifierKeys
        let secrets = [
            "CANARY-SUMMARY", "canary-chat-5521", "CANARY-REPLY", "CANARY-TRIAGE", "CANARY-REVEAL", "CANARY-DEPOSITS", "CANARY-RESET",
            "CANARY-CHANGE", "canary.new@example.org", "CANARY-COMMENT", "mei.casefile@example.org", "+8613800138088", "user-88",
        ]
        try await service.test { client in
            #expect(
                try await client.post(
                    "/v1/subjects",
                    key: key,
                    json: #"{"subject_id":"user-88","email":"mei.casefile@example.org","phone":"+8613800138088"}"#
                ).status == .created
            )
            let secret = try #require(try json(try await client.post("/v1/subjects/user-88/totp", key: key, json: ""))["secret"] as? String)
            let code = try oathtool(secret: secret, at: service.clock.now())
            #expect(try await client.post("/v1/subjects/user-88/totp/activate", key: key, json: #"{"code":"\#(code)"}"#).status == .ok)
            let codes = try #require(try json(try await client.post("/v1/subjects/user-88/recovery-codes", key: key, json: ""))["codes"] as? [String])
            _ = try await service.drainOutbox()
            let opened = try await client.post(
                "/v1/cases",
                key: key,
                json:
                    #"{"channel":"in_app","category":"lost_2fa","summary":"CANARY-SUMMARY lost phone","contact":"canary-chat-5521","subject_id":"user-88"}"#
            )
            let id = try #require(try json(opened)["case_id"] as? String)
            let ana = try await activeAgent(service, client, email: "ana.file@vigil.example", role: .agent)
            let sue = try await activeAgent(service, client, email: "sue.file@vigil.example", role: .supervisor)
            let audrey = try await activeAgent(service, client, email: "audrey.file@vigil.example", role: .auditor)
            func post(_ path: String, _ session: String, _ body: String) async throws -> TestResponse {
                try await client.send(.post, "/v1/cases/\(id)" + path, bearer: session, json: body)
            }
            #expect(try await client.send(.post, "/v1/cases/take-next", bearer: ana.session).status == .ok)
            #expect(try await post("/triage", ana.session, #"{"priority":"P1","reason":"CANARY-TRIAGE takeover signs"}"#).status == .ok)
            #expect(try await post("/notes", ana.session, #"{"kind":"reply","body":"CANARY-REPLY we will verify you"}"#).status == .created)
            #expect(try await post("/contact/reveal", ana.session, #"{"reason":"CANARY-REVEAL to call the requester back"}"#).status == .ok)
            let started = try json(try await post("/verifications", ana.session, #"{"check":"email_otp"}"#))
            let vid = try #require(started["verification_id"] as? String)
            let sent = try await service.drainOutbox().first { $0.kind == .verificationCode }
            guard case .string(let emailed)? = sent?.payload["code"] else {
                Issue.record("no code sent")
                return
            }
            _ = try await post("/verifications/\(vid)/code", ana.session, #"{"code":"\#(emailed == "000000" ? "111111" : "000000")"}"#)
            #expect(try json(try await post("/verifications/\(vid)/code", ana.session, #"{"code":"\#(emailed)"}"#))["status"] as? String == "passed")
            _ = try await post("/verifications", ana.session, #"{"check":"recovery_code","recovery_code":"\#(codes[0])"}"#)
            _ = try await post("/verifications", ana.session, #"{"check":"transaction_knowledge","passed":true,"note":"CANARY-DEPOSITS named them"}"#)
            let reset = try json(try await post("/actions", ana.session, #"{"action":"reset_totp","reason":"CANARY-RESET lost the phone"}"#))
            let resetID = try #require(reset["action_id"] as? String)
            // A supervisor's own request, refused to that supervisor (audited as denied), left pending: the close cancels it.
            let change = try json(
                try await post(
                    "/actions",
                    sue.session,
                    #"{"action":"change_contact","reason":"CANARY-CHANGE new address","new_contact":{"email":"canary.new@example.org"}}"#
                )
            )
            let changeID = try #require(change["action_id"] as? String)
            try expectErrorShape(try await post("/actions/\(changeID)/approve", sue.session, "{}"), status: .forbidden, code: "four_eyes")
            service.clock.advance(seconds: 30)
            #expect(try json(try await post("/actions/\(resetID)/approve", sue.session, "{}"))["status"] as? String == "executed")
            service.clock.advance(seconds: 600)
            #expect(try await post("/close", ana.session, #"{"resolution":"recovered"}"#).status == .ok)
            #expect(
                try await client.post("/v1/cases/\(id)/feedback", key: key, json: #"{"score":4,"comment":"CANARY-COMMENT kind"}"#).status == .created
            )

            let r = try await client.caseFile(id, session: audrey.session)
            #expect(r.status == .ok)
            let summary = try CaseFileVerifier.verify(r.bytes, keys: keys).get()
            let file = try CaseFileVerifier.decode(r.bytes)
            let logged = try await service.caseAuditEntries(id).compactMap { $0["action"] as? String }
            #expect(try file.parsedEntries().map(\.action) == logged)
            #expect(logged.last == "case.file_exported" && summary.entries == logged.count)
            for step in [
                "case.opened", "case.assigned", "case.retriaged", "case.note_added", "case.contact_revealed", "case.verification_started",
                "case.verification_code_wrong", "case.verification_passed", "case.action_requested", "case.action_approved",
                "totp.reset", "case.action_executed", "case.action_cancelled", "case.closed", "case.feedback",
            ] {
                #expect(logged.contains(step), "\(step)")
            }
            #expect(file.record.priority == "P1" && file.record.status == "closed" && file.record.resolution == "recovered")
            #expect(file.record.csatScore == 4 && file.record.assignee == ana.id)
            #expect(file.verifications.map(\.check) == ["email_otp", "recovery_code", "transaction_knowledge"])
            #expect(file.verifications.allSatisfy { $0.status == "passed" })
            let byID = Dictionary(uniqueKeysWithValues: file.actions.map { ($0.id, $0) })
            #expect(byID[resetID]?.status == "executed" && byID[resetID]?.requestedBy == ana.id && byID[resetID]?.decidedBy == sue.id)
            #expect(byID[changeID]?.status == "cancelled" && byID[changeID]?.decidedBy == ana.id)

            let page = try await client.caseFile(id, session: audrey.session, format: "html")
            #expect(try CaseFileVerifier.verify(page.bytes, keys: keys).get().html)
            for text in [String(decoding: r.bytes, as: UTF8.self), String(decoding: page.bytes, as: UTF8.self)] {
                for s in secrets + [emailed] { #expect(!text.contains(s), "\(s)") }
            }
            var accepted: [Int] = []
            for (bytes, step) in [(r.bytes, 37), (page.bytes, 97)] {
                for i in stride(from: 0, to: bytes.count, by: step) {
                    var changed = bytes
                    changed[i] ^= 0x01
                    if case .success = CaseFileVerifier.verify(changed, keys: keys) { accepted.append(i) }
                }
            }
            #expect(accepted.isEmpty, "\(accepted)")
        }
    }

    /// Works case `caseID` straight through the store, as the workflow does (each step changes
    /// the case and appends its audit entry in one transaction, at the same time), with times
    /// and ids the test picks.
    static func work(_ service: TestService, caseID: String, agent: String, supervisor: String) async throws {
        let store = service.store
        func step(_ seconds: Double, _ body: @escaping @Sendable (any StoreWriting, Date) throws -> Void) async throws {
            service.clock.advance(seconds: seconds)
            let now = service.clock.now()
            try await store.write { tx in try body(tx, now) }
        }
        @Sendable func entry(
            _ action: String,
            _ actor: String,
            _ details: [String: AuditValue],
            outcome: AuditRecord.Outcome = .success,
            type: AuditActor.Kind = .agent,
            at now: Date
        ) -> AuditRecord {
            var details = details
            details["case_id"] = .string(caseID)
            return AuditRecord(
                action: action,
                actor: AuditActor(type: type, id: actor),
                target: .init(type: "case", id: caseID),
                outcome: outcome,
                details: details,
                time: now
            )
        }
        try await step(60) { tx, now in
            try tx.insertCaseNote(CaseNote(id: "note_1", caseID: caseID, kind: .reply, author: agent, body: Canary.note, createdAt: now))
            _ = try tx.markFirstResponse(caseID: caseID, at: now)
            try tx.appendAudit(entry("case.note_added", agent, ["note_id": "note_1", "kind": "reply"], at: now))
        }
        try await step(60) { tx, now in
            try tx.insertCaseVerification(
                CaseVerification(
                    id: "ver_1",
                    caseID: caseID,
                    check: .transactionKnowledge,
                    status: .passed,
                    agentID: agent,
                    createdAt: now,
                    completedAt: now
                )
            )
            try tx.appendAudit(entry("case.verification_passed", agent, ["verification_id": "ver_1", "check": "transaction_knowledge"], at: now))
        }
        try await step(60) { tx, now in
            try tx.insertCaseVerification(
                CaseVerification(id: "ver_2", caseID: caseID, check: .smsOTP, status: .pending, agentID: agent, codeHash: [1, 2, 3], createdAt: now)
            )
            try tx.appendAudit(entry("case.verification_started", agent, ["verification_id": "ver_2", "check": "sms_otp"], at: now))
        }
        try await step(60) { tx, now in
            var v = try #require(try tx.caseVerification(id: "ver_2"))
            v.status = .passed
            v.attempts = 1
            v.completedAt = now
            try tx.updateCaseVerification(v)
            try tx.appendAudit(entry("case.verification_passed", agent, ["verification_id": "ver_2", "check": "sms_otp"], at: now))
        }
        try await step(60) { tx, now in
            try tx.insertCaseAction(
                CaseAction(
                    id: "act_1",
                    caseID: caseID,
                    action: .resetTOTP,
                    status: .pendingApproval,
                    requestedBy: agent,
                    requestedAt: now,
                    reason: Canary.reason,
                    checks: [.transactionKnowledge, .smsOTP]
                )
            )
            try tx.appendAudit(
                entry(
                    "case.action_requested",
                    agent,
                    ["action_id": "act_1", "action": "reset_totp", "checks": "transaction_knowledge,sms_otp", "four_eyes": 1],
                    at: now
                )
            )
        }
        try await step(30) { tx, now in
            try tx.appendAudit(
                entry(
                    "case.action_approved",
                    agent,
                    ["action_id": "act_1", "action": "reset_totp", "reason": "own_request"],
                    outcome: .denied,
                    at: now
                )
            )
        }
        try await step(60) { tx, now in
            var a = try #require(try tx.caseAction(id: "act_1"))
            a.status = .executed
            a.decidedBy = supervisor
            a.decidedAt = now
            a.executedAt = now
            a.holdUntil = now.addingTimeInterval(86_400)
            #expect(try tx.updateCaseAction(a, from: .pendingApproval))
            try tx.appendAudit(entry("case.action_approved", supervisor, ["action_id": "act_1", "action": "reset_totp"], at: now))
            try tx.appendAudit(
                entry(
                    "case.action_executed",
                    supervisor,
                    ["action_id": "act_1", "action": "reset_totp", "hold_until": .string(Timestamp.format(now.addingTimeInterval(86_400)))],
                    at: now
                )
            )
            try tx.appendAudit(
                AuditRecord(
                    action: "totp.reset",
                    actor: AuditActor(type: .agent, id: supervisor),
                    target: .init(type: "subject", id: "deadbeef-0777"),
                    details: ["case_id": .string(caseID), "action_id": "act_1"],
                    time: now
                )
            )
        }
        try await step(60) { tx, now in
            #expect(try tx.closeCase(id: caseID, resolution: .recovered, at: now))
            try tx.appendAudit(entry("case.closed", agent, ["resolution": "recovered", "first_response": "met", "resolution_sla": "met"], at: now))
        }
        try await step(60) { tx, now in
            #expect(try tx.recordCaseFeedback(id: caseID, CaseFeedback(score: 5, comment: Canary.comment, at: now)))
            try tx.appendAudit(entry("case.feedback", "ak_wallet", ["score": 5], type: .service, at: now))
        }
    }
}

extension Result {
    var failure: Failure? { if case .failure(let f) = self { f } else { nil } }
}
