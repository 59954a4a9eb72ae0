import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import VigilCore
import VigilCrypto
import VigilHTTP
import VigilStore
import VigilTestSupport

extension TestService {
    /// Runs the reset worker once, then delivers the outbox, and returns the reset links the
    /// messages carried, by subject.
    func resetLinks() async throws -> [String: String] {
        _ = try await PasswordResetService(deps.core).processPending()
        var links: [String: String] = [:]
        for message in try await drainOutbox() where message.kind == .passwordReset {
            if case .string(let link)? = message.payload["link"] { links[message.subjectID] = link }
        }
        return links
    }
}

func token(fromLink link: String) -> String {
    String(link.split(separator: "token=").last ?? "")
}

func confirmBody(token: String, password: String, totp: String? = nil, recovery: String? = nil) throws -> String {
    var body: [String: String] = ["token": token, "new_password": password]
    if let totp { body["totp_code"] = totp }
    if let recovery { body["recovery_code"] = recovery }
    return String(decoding: try JSONEncoder().encode(body), as: UTF8.self)
}

@Suite("Password resets over HTTP")
struct PasswordResetHTTPTests {
    @Test("the request answers 202 with the same body for known and unknown identifiers; only the known one gets a link")
    func sameAnswer() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .recoveryWrite, .credentialsVerify])
        try await service.test { client in
            _ = try await client.post("/v1/subjects", key: key, json: #"{"subject_id":"deadbeef-0801","email":"reset.me@example.org"}"#)
            var bodies: Set<String> = []
            for identifier in ["reset.me@example.org", "nobody@example.org", "+4915100000000", "deadbeef-0801", "deadbeef-9999"] {
                let r = try await client.post("/v1/password-resets", key: key, json: #"{"identifier":"\#(identifier)"}"#)
                #expect(r.status == .accepted)
                bodies.insert(String(buffer: r.body))
            }
            #expect(bodies.count == 1)
            let links = try await service.resetLinks()
            #expect(Set(links.keys) == ["deadbeef-0801"])
            #expect(links["deadbeef-0801"]?.hasPrefix("https://wallet.example/reset?token=") == true)
        }
    }

    @Test("a token confirms once; reused, tampered, expired or voided tokens are 'invalid or expired'")
    func tokens() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .recoveryWrite, .credentialsVerify])
        try await service.test { client in
            _ = try await client.post("/v1/subjects", key: key, json: #"{"subject_id":"deadbeef-0802","email":"tok@example.org"}"#)
            _ = try await client.post("/v1/password-resets", key: key, json: #"{"identifier":"tok@example.org"}"#)
            let first = token(fromLink: try #require(try await service.resetLinks()["deadbeef-0802"]))
            #expect(ByteEncoding.fromBase64URL(first)?.count == 32)

            // A tampered token.
            let flipped = String(first.dropLast(2)) + (first.dropLast().hasSuffix("A") ? "BA" : "AA")
            try expectErrorShape(
                try await client.post(
                    "/v1/password-resets/confirm",
                    key: key,
                    json: try confirmBody(token: flipped, password: "a long new passphrase")
                ),
                status: .badRequest,
                code: "invalid_token",
                field: "token"
            )

            // A newer request voids the older token (after the resend cooldown).
            service.clock.advance(seconds: TimeInterval(service.policies.recovery.passwordReset.resendCooldownSeconds + 1))
            _ = try await client.post("/v1/password-resets", key: key, json: #"{"identifier":"tok@example.org"}"#)
            let second = token(fromLink: try #require(try await service.resetLinks()["deadbeef-0802"]))
            try expectErrorShape(
                try await client.post(
                    "/v1/password-resets/confirm",
                    key: key,
                    json: try confirmBody(token: first, password: "a long new passphrase")
                ),
                status: .badRequest,
                code: "invalid_token",
                field: "token"
            )

            // The current token works once, holds withdrawals, and cannot be reused.
            let ok = try await client.post(
                "/v1/password-resets/confirm",
                key: key,
                json: try confirmBody(token: second, password: "a long new passphrase")
            )
            #expect(ok.status == .ok)
            let until = try #require(try json(ok)["withdrawals_frozen_until"] as? String)
            #expect(
                Timestamp.parse(until)
                    == service.clock.now().addingTimeInterval(TimeInterval(service.policies.recovery.passwordReset.coolingOffHours * 3600))
            )
            #expect(try await client.isValidPassword("deadbeef-0802", "a long new passphrase", key: key))
            try expectErrorShape(
                try await client.post("/v1/password-resets/confirm", key: key, json: try confirmBody(token: second, password: "another passphrase!")),
                status: .badRequest,
                code: "invalid_token",
                field: "token"
            )

            // Expiry, with the injected clock.
            service.clock.advance(seconds: TimeInterval(service.policies.recovery.passwordReset.resendCooldownSeconds + 1))
            _ = try await client.post("/v1/password-resets", key: key, json: #"{"identifier":"deadbeef-0802"}"#)
            let third = token(fromLink: try #require(try await service.resetLinks()["deadbeef-0802"]))
            service.clock.advance(seconds: TimeInterval(service.policies.recovery.passwordReset.tokenTTLSeconds + 1))
            try expectErrorShape(
                try await client.post("/v1/password-resets/confirm", key: key, json: try confirmBody(token: third, password: "a third passphrase")),
                status: .badRequest,
                code: "invalid_token",
                field: "token"
            )
        }
    }

    @Test("a token is bound to its subject: A's token changes A's password only, and B's token stays usable")
    func boundToSubject() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .recoveryWrite, .credentialsVerify])
        try await service.test { client in
            for (id, email) in [("deadbeef-0810", "alice.reset@example.org"), ("deadbeef-0811", "bob.reset@example.org")] {
                _ = try await client.post("/v1/subjects", key: key, json: #"{"subject_id":"\#(id)","email":"\#(email)"}"#)
                #expect(try await client.setPassword(id, "the original passphrase", key: key).status == .ok)
                _ = try await client.post("/v1/password-resets", key: key, json: #"{"identifier":"\#(email)"}"#)
            }
            let links = try await service.resetLinks()
            let alice = token(fromLink: try #require(links["deadbeef-0810"]))
            let bob = token(fromLink: try #require(links["deadbeef-0811"]))
            #expect(alice != bob)
            let r = try await client.post(
                "/v1/password-resets/confirm",
                key: key,
                json: try confirmBody(token: alice, password: "alice's new passphrase")
            )
            #expect(try json(r)["subject_id"] as? String == "deadbeef-0810")
            #expect(try await client.isValidPassword("deadbeef-0810", "alice's new passphrase", key: key))
            #expect(try await client.isValidPassword("deadbeef-0811", "the original passphrase", key: key))
            #expect(try await !client.isValidPassword("deadbeef-0811", "alice's new passphrase", key: key))
            let b = try await client.post(
                "/v1/password-resets/confirm",
                key: key,
                json: try confirmBody(token: bob, password: "bob's new passphrase")
            )
            #expect(try json(b)["subject_id"] as? String == "deadbeef-0811")
        }
    }

    @Test("two racing confirms of one token: exactly one wins")
    func racingConfirms() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .recoveryWrite, .credentialsVerify])
        try await service.test { client in
            _ = try await client.post("/v1/subjects", key: key, json: #"{"subject_id":"deadbeef-0803","email":"race@example.org"}"#)
            _ = try await client.post("/v1/password-resets", key: key, json: #"{"identifier":"race@example.org"}"#)
            let t = token(fromLink: try #require(try await service.resetLinks()["deadbeef-0803"]))
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for i in 0..<4 {
                    group.addTask {
                        try await client.post(
                            "/v1/password-resets/confirm",
                            key: key,
                            json: try confirmBody(token: t, password: "racing passphrase number \(i)")
                        ).status
                    }
                }
                var all: [HTTPResponse.Status] = []
                for try await s in group { all.append(s) }
                return all
            }
            #expect(statuses.filter { $0 == .ok }.count == 1)
            #expect(statuses.filter { $0 == .badRequest }.count == 3)
        }
    }

    @Test("a reset never bypasses TOTP: without a code it is refused, a wrong code is refused, the right one works")
    func secondFactorRequired() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .recoveryWrite, .credentialsVerify])
        try await service.test { client in
            let e = try await service.enrol(client, subject: "deadbeef-0804", key: key)
            _ = try await client.post("/v1/password-resets", key: key, json: #"{"identifier":"deadbeef-0804"}"#)
            let t = token(fromLink: try #require(try await service.resetLinks()["deadbeef-0804"]))
            try expectErrorShape(
                try await client.post("/v1/password-resets/confirm", key: key, json: try confirmBody(token: t, password: "a long new passphrase")),
                status: .badRequest,
                code: "invalid_field",
                field: "totp_code"
            )
            service.clock.advance(seconds: 60)
            try expectErrorShape(
                try await client.post(
                    "/v1/password-resets/confirm",
                    key: key,
                    json: try confirmBody(token: t, password: "a long new passphrase", totp: "000000")
                ),
                status: .unprocessableContent,
                code: "invalid_code",
                field: "code"
            )
            let code = try oathtool(secret: e.secret, at: service.clock.now())
            let ok = try await client.post(
                "/v1/password-resets/confirm",
                key: key,
                json: try confirmBody(token: t, password: "a long new passphrase", totp: code)
            )
            #expect(ok.status == .ok)
        }
        let actions = try await service.auditActions()
        #expect(actions.contains("password_reset.completed"))
        #expect(actions.contains("withdrawals.held"))
    }
}
