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
            guard case .string(let code)? = try #require(sent.last).payload["code"] else { Issue.record("no code sent"); return }

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
            else { Issue.record("no code sent"); return }
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
