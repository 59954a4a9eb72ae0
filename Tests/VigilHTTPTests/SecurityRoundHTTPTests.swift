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
            #expect(try await service.caseAuditEntries(caseID).contains { $0["action"] as? String == "case.verification_voided" })
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
