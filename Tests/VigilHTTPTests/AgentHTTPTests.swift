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

extension TestClientProtocol {
    func send(_ method: HTTPRequest.Method, _ path: String, bearer: String?, json: String? = nil) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let bearer { headers[.authorization] = "Bearer \(bearer)" }
        return try await execute(uri: path, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
    }
}

/// An agent taken through setup and login with codes from oathtool; returns the session token.
func activeAgent(
    _ service: TestService,
    _ client: some TestClientProtocol,
    email: String,
    role: AgentRole,
    password: String = "a supervisor's long passphrase"
) async throws -> (id: String, secret: String, session: String) {
    let (id, setup) = try await AgentService(service.deps.core).create(email: email, role: role, actor: .cli("test"))
    let s = try await client.send(.post, "/v1/agent/setup", bearer: nil, json: #"{"setup_token":"\#(setup)","password":"\#(password)"}"#)
    #expect(s.status == .ok)
    let secret = try #require(try json(s)["totp_secret"] as? String)
    let c = try await client.send(
        .post,
        "/v1/agent/setup/complete",
        bearer: nil,
        json: #"{"setup_token":"\#(setup)","code":"\#(try oathtool(secret: secret, at: service.clock.now()))"}"#
    )
    #expect(c.status == .ok)
    service.clock.advance(seconds: 30)
    let l = try await client.send(
        .post,
        "/v1/agent/sessions",
        bearer: nil,
        json: #"{"email":"\#(email)","password":"\#(password)","code":"\#(try oathtool(secret: secret, at: service.clock.now()))"}"#
    )
    #expect(l.status == .created)
    return (id, secret, try #require(try json(l)["session_token"] as? String))
}

@Suite("Agents and console sessions over HTTP")
struct AgentHTTPTests {
    @Test("setup with the one-time token, login with password and TOTP, /v1/agent/me, logout revokes at once")
    func lifecycle() async throws {
        let service = try TestService()
        try await service.test { client in
            let agent = try await activeAgent(service, client, email: "sam.support@vigil.example", role: .supervisor)
            #expect(agent.session.hasPrefix("vgs_"))
            let me = try await client.send(.get, "/v1/agent/me", bearer: agent.session)
            #expect(try json(me)["role"] as? String == "supervisor")
            #expect(try json(me)["agent_id"] as? String == agent.id)
            #expect(try await client.send(.delete, "/v1/agent/sessions/current", bearer: agent.session).status == .ok)
            try expectErrorShape(try await client.send(.get, "/v1/agent/me", bearer: agent.session), status: .unauthorized, code: "unauthenticated")
        }
        let actions = try await service.auditActions()
        for a in ["agent.created", "agent.setup.started", "agent.setup.completed", "agent.login.succeeded", "agent.session.revoked"] {
            #expect(actions.contains(a), "\(a)")
        }
    }

    @Test("a wrong password, a wrong or replayed code and an unknown email all get the same 401")
    func uniformFailures() async throws {
        let service = try TestService()
        try await service.test { client in
            let agent = try await activeAgent(service, client, email: "ana.agent@vigil.example", role: .agent)
            service.clock.advance(seconds: 30)
            let code = try oathtool(secret: agent.secret, at: service.clock.now())
            var bodies: Set<String> = []
            for body in [
                #"{"email":"ana.agent@vigil.example","password":"not the passphrase","code":"\#(code)"}"#,
                #"{"email":"ana.agent@vigil.example","password":"a supervisor's long passphrase","code":"000000"}"#,
                #"{"email":"nobody@vigil.example","password":"a supervisor's long passphrase","code":"\#(code)"}"#,
            ] {
                let r = try await client.send(.post, "/v1/agent/sessions", bearer: nil, json: body)
                try expectErrorShape(r, status: .unauthorized, code: "unauthenticated")
                var object = try json(r)
                var error = object["error"] as? [String: Any]
                error?["request_id"] = nil
                object["error"] = error
                bodies.insert(String(decoding: try JSONSerialization.data(withJSONObject: object, options: .sortedKeys), as: UTF8.self))
            }
            #expect(bodies.count == 1)
            // The login just before used the current step: the same code again is a replay.
            let ok = try await client.send(
                .post,
                "/v1/agent/sessions",
                bearer: nil,
                json: #"{"email":"ana.agent@vigil.example","password":"a supervisor's long passphrase","code":"\#(code)"}"#
            )
            #expect(ok.status == .created)
            let replay = try await client.send(
                .post,
                "/v1/agent/sessions",
                bearer: nil,
                json: #"{"email":"ana.agent@vigil.example","password":"a supervisor's long passphrase","code":"\#(code)"}"#
            )
            try expectErrorShape(replay, status: .unauthorized, code: "unauthenticated")
        }
    }

    @Test("agents and service clients cannot use each other's routes")
    func separation() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .credentialsVerify, .auditRead])
        try await service.test { client in
            let agent = try await activeAgent(service, client, email: "al.admin@vigil.example", role: .admin)
            try expectErrorShape(try await client.send(.get, "/v1/agent/me", bearer: key), status: .unauthorized, code: "unauthenticated")
            try expectErrorShape(
                try await client.post("/v1/subjects", key: agent.session, json: #"{"subject_id":"deadbeef-0990"}"#),
                status: .unauthorized,
                code: "unauthenticated"
            )
            try expectErrorShape(try await client.get("/v1/audit/export", key: agent.session), status: .unauthorized, code: "unauthenticated")
        }
    }

    @Test("a session ends after 30 idle minutes, and at once when the agent is disabled")
    func idleAndDisabled() async throws {
        let service = try TestService()
        try await service.test { client in
            let a = try await activeAgent(service, client, email: "ida.idle@vigil.example", role: .agent)
            service.clock.advance(seconds: 29 * 60)
            #expect(try await client.send(.get, "/v1/agent/me", bearer: a.session).status == .ok)
            service.clock.advance(seconds: 31 * 60)
            try expectErrorShape(try await client.send(.get, "/v1/agent/me", bearer: a.session), status: .unauthorized, code: "unauthenticated")

            let b = try await activeAgent(service, client, email: "dan.disabled@vigil.example", role: .agent)
            #expect(try await client.send(.get, "/v1/agent/me", bearer: b.session).status == .ok)
            try await AgentService(service.deps.core).disable(id: b.id, actor: .cli("test"))
            try expectErrorShape(try await client.send(.get, "/v1/agent/me", bearer: b.session), status: .unauthorized, code: "unauthenticated")
        }
    }

    @Test("a setup token works until TOTP is activated, then never again; a bad one is 400 invalid_token")
    func setupTokenSingleUse() async throws {
        let service = try TestService()
        try await service.test { client in
            let (_, setup) = try await AgentService(service.deps.core).create(email: "sue.setup@vigil.example", role: .auditor, actor: .cli("test"))
            try expectErrorShape(
                try await client.send(.post, "/v1/agent/setup", bearer: nil, json: #"{"setup_token":"AAAA","password":"a long passphrase here"}"#),
                status: .badRequest,
                code: "invalid_token",
                field: "token"
            )
            let s = try await client.send(
                .post,
                "/v1/agent/setup",
                bearer: nil,
                json: #"{"setup_token":"\#(setup)","password":"a long passphrase here"}"#
            )
            let secret = try #require(try json(s)["totp_secret"] as? String)
            let code = try oathtool(secret: secret, at: service.clock.now())
            #expect(
                try await client.send(.post, "/v1/agent/setup/complete", bearer: nil, json: #"{"setup_token":"\#(setup)","code":"\#(code)"}"#).status
                    == .ok
            )
            try expectErrorShape(
                try await client.send(
                    .post,
                    "/v1/agent/setup",
                    bearer: nil,
                    json: #"{"setup_token":"\#(setup)","password":"another long passphrase"}"#
                ),
                status: .badRequest,
                code: "invalid_token",
                field: "token"
            )
        }
    }
}
