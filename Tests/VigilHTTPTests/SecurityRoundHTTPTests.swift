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

/// The adversarial review's attacks (issue 11), each replayed against the service: every test
/// performs the attack as the review described it and now gets the refusal. Each was run on the
/// commit before its fix and failed there at the line marked "the attack".
@Suite("Security round: the review's attacks, replayed")
struct SecurityRoundHTTPTests {
    // MARK: item 1 — a freeze stops every credential change

    @Test("a frozen account gets no reset token, a token from before the freeze answers 423, the password cannot be set; pending codes die")
    func freezeStopsCredentialChanges() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .recoveryWrite, .reportsWrite, .casesWrite, .credentialsVerify])
        try await service.test { client in
            let created = try await client.post(
                "/v1/subjects",
                key: key,
                json: #"{"subject_id":"deadbeef-1101","email":"victim@example.org"}"#
            )
            #expect(created.status == .created)
            #expect(try await client.setPassword("deadbeef-1101", "the owner's own passphrase", key: key).status == .ok)
            let hashBefore = try #require(try await service.storedPasswordHash("deadbeef-1101"))
            // A reset link is out (the attacker asked for it and controls the mailbox, say)...
            _ = try await client.post("/v1/password-resets", key: key, json: #"{"identifier":"victim@example.org"}"#)
            let before = token(fromLink: try #require(try await service.resetLinks()["deadbeef-1101"]))
            // ... and an agent has an email code pending on a case of the account.
            let caseID = try #require(
                try json(
                    try await client.post(
                        "/v1/cases",
                        key: key,
                        json: #"{"channel":"email","category":"password_reset","summary":"help","subject_id":"deadbeef-1101"}"#
                    )
                )["case_id"] as? String
            )
            let agent = try await activeAgent(service, client, email: "f1@vigil.example", role: .agent)
            _ = try await client.send(.post, "/v1/cases/\(caseID)/assign", bearer: agent.session, json: #"{"agent_id":"\#(agent.id)"}"#)
            let started = try await client.send(.post, "/v1/cases/\(caseID)/verifications", bearer: agent.session, json: #"{"check":"email_otp"}"#)
            #expect(started.status == .created)
            let verificationID = try #require(try json(started)["verification_id"] as? String)
            let sent = try await service.drainOutbox().filter { $0.kind == .verificationCode }
            guard case .string(let code)? = try #require(sent.last).payload["code"] else {
                Issue.record("no code sent")
                return
            }

            // The owner says "this was not me": the account freezes.
            var denied = Login(subject: "deadbeef-1101", at: service.clock.now().addingTimeInterval(-30), source: "user")
            denied.reason = "not_me"
            #expect(try decided(try await client.report(denied, key: key)).decision == "freeze")

            // The attack: the link from before the freeze sets the attacker's password. Now 423.
            try expectErrorShape(
                try await client.post(
                    "/v1/password-resets/confirm",
                    key: key,
                    json: try confirmBody(token: before, password: "the attacker's new passphrase")
                ),
                status: .init(code: 423),
                code: "account_frozen"
            )
            // A new request still answers the same 202, but no token is issued.
            service.clock.advance(seconds: TimeInterval(service.policies.recovery.passwordReset.resendCooldownSeconds + 1))
            let again = try await client.post("/v1/password-resets", key: key, json: #"{"identifier":"victim@example.org"}"#)
            #expect(again.status == .accepted)
            #expect(try await service.resetLinks()["deadbeef-1101"] == nil)
            // Setting the password directly is refused too.
            try expectErrorShape(
                try await client.setPassword("deadbeef-1101", "the attacker's new passphrase", key: key),
                status: .init(code: 423),
                code: "account_frozen"
            )
            // The code pending before the freeze is dead.
            try expectErrorShape(
                try await client.send(
                    .post,
                    "/v1/cases/\(caseID)/verifications/\(verificationID)/code",
                    bearer: agent.session,
                    json: #"{"code":"\#(code)"}"#
                ),
                status: .conflict,
                code: "conflict"
            )
            // A support reset link is refused while frozen as well, even with the requester verified.
            let fresh = try await client.send(.post, "/v1/cases/\(caseID)/verifications", bearer: agent.session, json: #"{"check":"email_otp"}"#)
            let freshID = try #require(try json(fresh)["verification_id"] as? String)
            guard case .string(let freshCode)? = try await service.drainOutbox().last(where: { $0.kind == .verificationCode })?.payload["code"]
            else {
                Issue.record("no code sent")
                return
            }
            let passed = try await client.send(
                .post,
                "/v1/cases/\(caseID)/verifications/\(freshID)/code",
                bearer: agent.session,
                json: #"{"code":"\#(freshCode)"}"#
            )
            #expect(try json(passed)["status"] as? String == "passed")
            try expectErrorShape(
                try await client.send(
                    .post,
                    "/v1/cases/\(caseID)/actions",
                    bearer: agent.session,
                    json: #"{"action":"send_reset_link","reason":"the user asked for a new link"}"#
                ),
                status: .init(code: 423),
                code: "account_frozen"
            )
            #expect(try await service.storedPasswordHash("deadbeef-1101") == hashBefore)
            #expect(
                try await service.caseAuditEntries(caseID).contains {
                    $0["action"] as? String == "case.verification_failed" && ($0["details"] as? [String: Any])?["why"] as? String == "account_frozen"
                }
            )
            // The case file still holds every section to its entries.
            let file = try await client.caseFile(caseID, session: agent.session)
            #expect(throws: Never.self) { try CaseFileVerifier.verify(file.bytes, keys: service.deps.auditVerifierKeys).get() }
            #expect(try service.pythonVerifiesCaseFile(file.bytes).hasPrefix("ok: case \(caseID)"))
        }
        let entries = try await service.auditEntries().split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        func outcome(_ action: String) -> [String] { entries.filter { $0["action"] as? String == action }.compactMap { $0["outcome"] as? String } }
        #expect(!entries.contains { $0["action"] as? String == "password_reset.completed" })
        #expect(outcome("password_reset.confirm_frozen") == ["denied"])
        #expect(outcome("password_reset.frozen") == ["denied"])
        #expect(outcome("password.set").contains("denied"))
        let voided = try #require(entries.first { $0["action"] as? String == "account.freeze_voided" })
        let details = voided["details"] as? [String: Any]
        #expect(details?["reset_tokens"] as? Int == 1)
        #expect(details?["verification_codes"] as? Int == 1)
        // The freeze, its voiding and the case entry are one transaction: adjacent in the log.
        let actions = entries.compactMap { $0["action"] as? String }
        let frozenAt = try #require(actions.firstIndex(of: "account.frozen"))
        #expect(actions[frozenAt + 1] == "account.freeze_voided")
    }

    // MARK: item 2 — reset limits per account and end-user address, never for everyone

    @Test("20 resets for made-up identifiers from one end-user address do not stop a real user's reset from another address")
    func resetLimitsPerEndUser() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .recoveryWrite])
        let perSource = service.policies.recovery.passwordReset.maxRequestsPerSourcePerHour
        try await service.test { client in
            _ = try await client.post(
                "/v1/subjects",
                key: key,
                json: #"{"subject_id":"deadbeef-1102","email":"real.user@example.org","phone":"+4915112345678"}"#
            )
            // The attack: more made-up identifiers than the per-source limit, all through the
            // wallet backend (one TCP peer), from one end user.
            for i in 0..<max(20, perSource + 1) {
                let r = try await client.post(
                    "/v1/password-resets",
                    key: key,
                    json: #"{"identifier":"made-up-\#(i)@example.org","client_ip":"198.51.100.66"}"#
                )
                #expect(r.status == .accepted)
            }
            #expect(try await service.resetLinks().isEmpty)
            // The real user, from their own address: the token is issued (read from the outbox).
            _ = try await client.post(
                "/v1/password-resets",
                key: key,
                json: #"{"identifier":"real.user@example.org","client_ip":"203.0.113.9"}"#
            )
            #expect(try await service.resetLinks()["deadbeef-1102"] != nil)
            // The same end user who sent the made-up ones is limited, even for a real account.
            service.clock.advance(seconds: TimeInterval(service.policies.recovery.passwordReset.resendCooldownSeconds + 1))
            _ = try await client.post(
                "/v1/password-resets",
                key: key,
                json: #"{"identifier":"real.user@example.org","client_ip":"198.51.100.66"}"#
            )
            #expect(try await service.resetLinks()["deadbeef-1102"] == nil)
            // A client_ip that is not an address is refused, naming the field.
            try expectErrorShape(
                try await client.post("/v1/password-resets", key: key, json: #"{"identifier":"x@example.org","client_ip":"not an ip"}"#),
                status: .badRequest,
                code: "invalid_field",
                field: "client_ip"
            )
        }
        let actions = try await service.auditActions()
        // Made-up identifiers are audited `unmatched` (counted all the same); the one refusal is the real account from the abusing address.
        #expect(actions.filter { $0 == "password_reset.rate_limited" }.count == 1)
    }

    @Test("a subject's email, phone (however spaced) and id share one reset bucket; IPv6 addresses count in one form")
    func resetBucketPerAccount() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .recoveryWrite])
        let perIdentifier = service.policies.recovery.passwordReset.maxRequestsPerIdentifierPerHour
        let cooldown = TimeInterval(service.policies.recovery.passwordReset.resendCooldownSeconds + 1)
        try await service.test { client in
            _ = try await client.post(
                "/v1/subjects",
                key: key,
                json: #"{"subject_id":"deadbeef-1103","email":"bucket@example.org","phone":"+4915112340000"}"#
            )
            let spellings = ["bucket@example.org", "+49 151 1234 0000", "+4915112340000", "deadbeef-1103", "BUCKET@example.org"]
            var issued = 0
            for i in 0..<(perIdentifier + 2) {
                let identifier = spellings[i % spellings.count]
                // A new end-user address each time: only the account's bucket can stop these.
                _ = try await client.post(
                    "/v1/password-resets",
                    key: key,
                    json: #"{"identifier":"\#(identifier)","client_ip":"2001:db8::\#(i + 1)"}"#
                )
                if try await service.resetLinks()["deadbeef-1103"] != nil { issued += 1 }
                service.clock.advance(seconds: cooldown)
            }
            #expect(issued == perIdentifier)
        }
        #expect(LoginReport.normalisedIPAddress("2001:0db8:0000:0000:0000:0000:0000:0001") == "2001:db8::1")
        #expect(LoginReport.normalisedIPAddress("198.51.100.7") == "198.51.100.7")
        #expect(LoginReport.normalisedIPAddress("198.51.100.07") == nil)
    }
}

extension TestClientProtocol {
    func agentLogin(_ email: String, _ password: String, code: String) async throws -> TestResponse {
        try await send(.post, "/v1/agent/sessions", bearer: nil, json: #"{"email":"\#(email)","password":"\#(password)","code":"\#(code)"}"#)
    }
}

/// A six-digit code that is none of the codes of `secret` in the window around `date`.
func wrongCode(secret: String, at date: Date) throws -> String {
    let valid = try Set([-30.0, 0, 30].map { try oathtool(secret: secret, at: date.addingTimeInterval($0)) })
    var candidate = 123_456
    while valid.contains(String(format: "%06d", candidate)) { candidate += 1 }
    return String(format: "%06d", candidate)
}

@Suite("Security round: console logins lock")
struct AgentLockoutHTTPTests {
    static let password = "the night shift's passphrase"

    // MARK: item 3 — agent console logins lock

    @Test(
        "100 wrong TOTP logins never let the 101st with the right code in while locked; the agent and the admins are told; vigil agent list shows it"
    )
    func totpGuessingLocks() async throws {
        let service = try TestService(origin: try TestService.shippedPolicies().audit.origin)
        let lockout = service.policies.authentication.lockout[.totp]
        let email = "night.agent@vigil.example"
        try await service.test { client in
            let admin = try await activeAgent(service, client, email: "root.admin@vigil.example", role: .admin)
            let agent = try await activeAgent(service, client, email: email, role: .agent, password: Self.password)
            _ = try await service.drainOutbox()
            // The attack: the stolen password and TOTP guesses, each after the longest delay, so
            // that every guess the policy lets through is counted.
            for _ in 0..<100 {
                service.clock.advance(seconds: TimeInterval(lockout.maxDelaySeconds + 1))
                let r = try await client.agentLogin(email, Self.password, code: try wrongCode(secret: agent.secret, at: service.clock.now()))
                try expectErrorShape(r, status: .unauthorized, code: "unauthenticated")
            }
            service.clock.advance(seconds: TimeInterval(lockout.maxDelaySeconds + 1))
            let right = try await client.agentLogin(email, Self.password, code: try oathtool(secret: agent.secret, at: service.clock.now()))
            try expectErrorShape(right, status: .unauthorized, code: "unauthenticated")
            // The lock notices went to the agent and to the admin.
            let notices = try await service.drainOutbox().filter { $0.kind == .agentNotice }
            #expect(notices.contains { $0.recipient == .email(email) && $0.payload["locked_until"] == "unlocked_by_operator" })
            #expect(notices.contains { $0.recipient == .email("root.admin@vigil.example") && $0.payload["agent_id"] == .string(agent.id) })
            #expect(notices.allSatisfy { $0.subjectID == agent.id || $0.subjectID == admin.id })
        }
        let entries = try await service.auditEntries().split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        let failed = entries.filter { $0["action"] as? String == "agent.login.failed" }
        // Counted up to the lock, never beyond 100; every later attempt is refused uncounted.
        #expect(failed.count == lockout.maxConsecutiveFailures)
        #expect(failed.count <= 100)
        #expect(failed.allSatisfy { ($0["details"] as? [String: Any])?["factor"] as? String == "totp" })
        #expect(entries.filter { $0["action"] as? String == "agent.login.locked" }.count == 101 - lockout.maxConsecutiveFailures)
        let lastSuccess = try #require(entries.lastIndex { $0["action"] as? String == "agent.login.succeeded" })
        let firstFailure = try #require(entries.firstIndex { $0["action"] as? String == "agent.login.failed" })
        #expect(lastSuccess < firstFailure)  // the setup's logins only
        // The operator's view.
        let agentID = try #require(try await AgentService(service.deps.core).list().first { $0.role == .agent }?.id)
        let listed = try run(try vigilBinary(), ["agent", "list"] + (try service.cliArguments()))
        let line = try #require(listed.split(separator: "\n").first { $0.hasPrefix(agentID) })
        #expect(line.contains("locked (totp, \(lockout.maxConsecutiveFailures) failures, until unlocked)"))
    }

    @Test("password and TOTP failures count apart; a replayed step is a TOTP failure with its own audit entry; an unlock is audited")
    func factorsApartAndUnlock() async throws {
        let service = try TestService()
        let email = "day.agent@vigil.example"
        let pw = service.policies.authentication.lockout[.password]
        try await service.test { client in
            let agent = try await activeAgent(service, client, email: email, role: .agent, password: Self.password)
            // The code activeAgent logged in with, replayed at once.
            let used = try oathtool(secret: agent.secret, at: service.clock.now())
            try expectErrorShape(try await client.agentLogin(email, Self.password, code: used), status: .unauthorized, code: "unauthenticated")
            // Wrong passwords up to the first delay: then even everything right is refused.
            for _ in 0..<(pw.freeFailures + 1) {
                service.clock.advance(seconds: 1)
                let r = try await client.agentLogin(
                    email,
                    "not the passphrase at all",
                    code: try oathtool(secret: agent.secret, at: service.clock.now())
                )
                try expectErrorShape(r, status: .unauthorized, code: "unauthenticated")
            }
            service.clock.advance(seconds: 5)  // within the first delay
            let blocked = try await client.agentLogin(email, Self.password, code: try oathtool(secret: agent.secret, at: service.clock.now()))
            try expectErrorShape(blocked, status: .unauthorized, code: "unauthenticated")
            let listed = try await AgentService(service.deps.core).list().first { $0.id == agent.id }
            #expect(listed?.failures[.password]?.consecutiveFailures == pw.freeFailures + 1)
            #expect(listed?.failures[.totp]?.consecutiveFailures == 1)
            #expect(try await AgentService(service.deps.core).unlock(id: agent.id, actor: .cli("agent unlock")))
            service.clock.advance(seconds: 30)
            let ok = try await client.agentLogin(email, Self.password, code: try oathtool(secret: agent.secret, at: service.clock.now()))
            #expect(ok.status == .created)
        }
        let entries = try await service.auditEntries().split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        let failed = entries.filter { $0["action"] as? String == "agent.login.failed" }.compactMap { $0["details"] as? [String: Any] }
        #expect(failed.first?["factor"] as? String == "totp" && failed.first?["reason"] as? String == "replayed")
        #expect(failed.dropFirst().allSatisfy { $0["factor"] as? String == "password" })
        #expect(entries.contains { $0["action"] as? String == "agent.locked" })
        #expect(entries.contains { $0["action"] as? String == "agent.login.locked" && $0["outcome"] as? String == "denied" })
        #expect(entries.contains { $0["action"] as? String == "agent.unlocked" })
    }
}

extension TestService {
    /// What the independent Python verifier (scripts/verify_case_file.py) says of a case file.
    func pythonVerifiesCaseFile(_ bytes: [UInt8]) throws -> String {
        let folder = dir.file("casefile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: folder + "/case.json"))
        try (Fixtures.auditSigner().verifierKey.text + "\n").write(toFile: folder + "/audit-signing.pub", atomically: true, encoding: .utf8)
        let script = Self.repoRoot.appendingPathComponent("scripts/verify_case_file.py").path
        return try run("python3", [script, folder + "/case.json", "--public-key", folder + "/audit-signing.pub"])
    }

    /// An `email_otp` (or `sms_otp`) check on the case, passed with the code read from the outbox.
    func passEmailCode(_ client: some TestClientProtocol, caseID: String, session: String, check: String = "email_otp") async throws {
        let started = try await client.send(.post, "/v1/cases/\(caseID)/verifications", bearer: session, json: #"{"check":"\#(check)"}"#)
        #expect(started.status == .created)
        let id = try #require(try json(started)["verification_id"] as? String)
        guard case .string(let code)? = try await drainOutbox().last(where: { $0.kind == .verificationCode })?.payload["code"] else {
            Issue.record("no code was sent")
            return
        }
        let passed = try await client.send(.post, "/v1/cases/\(caseID)/verifications/\(id)/code", bearer: session, json: #"{"code":"\#(code)"}"#)
        #expect(try json(passed)["status"] as? String == "passed")
    }

    /// Assigns the case to the agent behind `session` (an agent takes a case before working it).
    func assign(_ client: some TestClientProtocol, caseID: String, to agent: (id: String, secret: String, session: String)) async throws {
        let r = try await client.send(.post, "/v1/cases/\(caseID)/assign", bearer: agent.session, json: #"{"agent_id":"\#(agent.id)"}"#)
        #expect(r.status == .ok)
    }
}

@Suite("Security round: four eyes that mean two people checked")
struct FourEyesHTTPTests {
    /// A subject with a registered email and an active TOTP, and a case about it.
    static func subjectWithCase(_ service: TestService, _ client: some TestClientProtocol, key: String, id: String) async throws -> String {
        #expect(try await client.post("/v1/subjects", key: key, json: #"{"subject_id":"\#(id)","email":"\#(id)@example.org"}"#).status == .created)
        let enrolment = try json(try await client.post("/v1/subjects/\(id)/totp", key: key, json: ""))
        let secret = try #require(enrolment["secret"] as? String)
        let code = try oathtool(secret: secret, at: service.clock.now())
        #expect(try await client.post("/v1/subjects/\(id)/totp/activate", key: key, json: #"{"code":"\#(code)"}"#).status == .ok)
        let filed = try await client.post(
            "/v1/cases",
            key: key,
            json: #"{"channel":"phone","category":"lost_2fa","summary":"lost my phone","subject_id":"\#(id)"}"#
        )
        return try #require(try json(filed)["case_id"] as? String)
    }

    static func attest(_ client: some TestClientProtocol, _ caseID: String, _ session: String, _ check: String) async throws -> TestResponse {
        try await client.send(
            .post,
            "/v1/cases/\(caseID)/verifications",
            bearer: session,
            json: #"{"check":"\#(check)","passed":true,"note":"checked against the KYC record"}"#
        )
    }

    static func ask(_ client: some TestClientProtocol, _ caseID: String, _ session: String, _ action: String) async throws -> TestResponse {
        try await client.send(
            .post,
            "/v1/cases/\(caseID)/actions",
            bearer: session,
            json: #"{"action":"\#(action)","reason":"the requester was verified on the phone"}"#
        )
    }

    // MARK: item 4 — a disabled agent leaves nothing live

    @Test("disabling an agent cancels its pending reset_totp (no approval runs it) and its attestations stop counting")
    func disabledAgentLeavesNothingLive() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .casesWrite, .credentialsVerify])
        try await service.test { client in
            let caseID = try await Self.subjectWithCase(service, client, key: key, id: "deadbeef-1104")
            let rogue = try await activeAgent(service, client, email: "leaving@vigil.example", role: .agent)
            let boss = try await activeAgent(service, client, email: "boss@vigil.example", role: .supervisor)
            try await service.assign(client, caseID: caseID, to: rogue)
            #expect(try await Self.attest(client, caseID, rogue.session, "id_document").status == .created)
            #expect(try await Self.attest(client, caseID, rogue.session, "transaction_knowledge").status == .created)
            try await service.passEmailCode(client, caseID: caseID, session: rogue.session)
            let asked = try await Self.ask(client, caseID, rogue.session, "reset_totp")
            #expect(asked.status == .accepted)
            let actionID = try #require(try json(asked)["action_id"] as? String)

            let cancelled = try await AgentService(service.deps.core).disable(id: rogue.id, actor: .cli("agent disable"))
            #expect(cancelled.map(\.id) == [actionID])
            // The attack: the supervisor approves the disabled agent's request and it runs.
            try expectErrorShape(
                try await client.send(.post, "/v1/cases/\(caseID)/actions/\(actionID)/approve", bearer: boss.session),
                status: .conflict,
                code: "conflict"
            )
            #expect(try await service.store.read { try $0.totpCredential(subjectID: "deadbeef-1104") } != nil)
            let detail = try json(try await client.send(.get, "/v1/cases/\(caseID)", bearer: boss.session))
            let actions = try #require(detail["actions"] as? [[String: Any]])
            #expect(actions.first { $0["action_id"] as? String == actionID }?["status"] as? String == "cancelled")
            // The disabled agent's attestations no longer count: a new request on the case,
            // with a fresh email code of the supervisor's own, falls short.
            try await service.passEmailCode(client, caseID: caseID, session: boss.session)
            try expectErrorShape(
                try await Self.ask(client, caseID, boss.session, "reset_totp"),
                status: .conflict,
                code: "prerequisites_not_met"
            )
            let entries = try await service.caseAuditEntries(caseID)
            let why = entries.first { $0["action"] as? String == "case.action_cancelled" }?["details"] as? [String: Any]
            #expect(why?["reason"] as? String == "requester_disabled")
            let file = try await client.caseFile(caseID, session: boss.session)
            #expect(throws: Never.self) { try CaseFileVerifier.verify(file.bytes, keys: service.deps.auditVerifierKeys).get() }
            #expect(try service.pythonVerifiesCaseFile(file.bytes).hasPrefix("ok: case \(caseID)"))
        }
    }

    // MARK: item 5 — four eyes that mean two people checked

    @Test("attestations alone do not carry a high-risk action; the approver cannot be an attester; only the assignee works a case")
    func twoPeopleChecked() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .casesWrite, .credentialsVerify, .reportsWrite])
        try await service.test { client in
            let caseID = try await Self.subjectWithCase(service, client, key: key, id: "deadbeef-1105")
            let agent = try await activeAgent(service, client, email: "assignee@vigil.example", role: .agent)
            let other = try await activeAgent(service, client, email: "bystander@vigil.example", role: .agent)
            let s1 = try await activeAgent(service, client, email: "attesting.sup@vigil.example", role: .supervisor)
            let s2 = try await activeAgent(service, client, email: "second.sup@vigil.example", role: .supervisor)
            try await service.assign(client, caseID: caseID, to: agent)
            // The attack, part 1: one agent self-attests the document and the transactions and
            // reaches the weight of reset_totp (5) — no check Vigil verified.
            #expect(try await Self.attest(client, caseID, agent.session, "id_document").status == .created)
            #expect(try await Self.attest(client, caseID, agent.session, "transaction_knowledge").status == .created)
            try expectErrorShape(try await Self.ask(client, caseID, agent.session, "reset_totp"), status: .conflict, code: "prerequisites_not_met")

            // Part 2: the supervisor who attested a check approves the action built on it.
            #expect(try await Self.attest(client, caseID, s1.session, "id_document").status == .created)
            try await service.passEmailCode(client, caseID: caseID, session: agent.session)
            let asked = try await Self.ask(client, caseID, agent.session, "reset_totp")
            #expect(asked.status == .accepted)
            let actionID = try #require(try json(asked)["action_id"] as? String)
            try expectErrorShape(
                try await client.send(.post, "/v1/cases/\(caseID)/actions/\(actionID)/approve", bearer: s1.session),
                status: .forbidden,
                code: "four_eyes"
            )
            let ok = try await client.send(.post, "/v1/cases/\(caseID)/actions/\(actionID)/approve", bearer: s2.session)
            #expect(try json(ok)["status"] as? String == "executed")

            // Part 3: an agent who is not the assignee attests, acts and reveals on the case.
            try expectErrorShape(try await Self.attest(client, caseID, other.session, "transaction_knowledge"), status: .forbidden, code: "forbidden")
            try expectErrorShape(try await Self.ask(client, caseID, other.session, "end_sessions"), status: .forbidden, code: "forbidden")
            try expectErrorShape(
                try await client.send(
                    .post,
                    "/v1/cases/\(caseID)/contact/reveal",
                    bearer: other.session,
                    json: #"{"reason":"I want to call the user back"}"#
                ),
                status: .forbidden,
                code: "forbidden"
            )
            let approvals = try await service.caseAuditEntries(caseID).filter { $0["action"] as? String == "case.action_approved" }
            #expect(approvals.compactMap { $0["outcome"] as? String } == ["denied", "success"])
            #expect((approvals.first?["details"] as? [String: Any])?["reason"] as? String == "attested_a_check")
        }
    }
}
