import Foundation
import Hummingbird
import VigilCore

/// Support-agent accounts and console sessions.
///
/// | method | path                            | who                          | audit |
/// |--------|---------------------------------|------------------------------|-------|
/// | POST   | /v1/agent/setup                 | anyone with a setup token    | `agent.setup.started` |
/// | POST   | /v1/agent/setup/complete        | anyone with a setup token    | `agent.setup.completed` |
/// | POST   | /v1/agent/sessions              | an agent: email, password, TOTP | `agent.login.succeeded` / `.failed` |
/// | DELETE | /v1/agent/sessions/current      | an agent session             | `agent.session.revoked` |
/// | GET    | /v1/agent/me                    | an agent session (any role)  | none |
///
/// Agent sessions are `Authorization: Bearer vgs_…`; service API keys (`vgl_…`) are refused
/// here, and agent sessions are refused on service routes.
struct AgentController {
    let api: APIContext

    struct SetupBody: Decodable {
        let setup_token: String
        let password: String
    }
    struct CompleteBody: Decodable {
        let setup_token: String
        let code: String
    }
    struct LoginBody: Decodable {
        let email: String
        let password: String
        let code: String
    }
    struct SetupResponse: Encodable, Sendable {
        let agent_id: String
        let totp_secret: String
        let otpauth_uri: String
        let qr_svg: String
    }
    struct Completed: Encodable, Sendable {
        let agent_id: String
        let active: Bool
    }
    struct Session: Encodable, Sendable {
        let session_token: String
        let expires_at: String
        let role: String
        let idle_timeout_seconds: Int
    }
    struct Me: Encodable, Sendable {
        let agent_id: String
        let role: String
    }
    struct Revoked: Encodable, Sendable {
        let revoked: Bool
    }

    func register(on router: Router<VigilRequestContext>) {
        let agents = AgentService(api.deps.core)
        router.post("/v1/agent/setup") { request, context in
            let body = try await api.decode(SetupBody.self, from: request)
            let s = try await agents.beginSetup(setupToken: body.setup_token, password: body.password, request: context.requestInfo)
            return JSONResponse(.ok, SetupResponse(agent_id: s.agentID, totp_secret: s.secret, otpauth_uri: s.uri, qr_svg: s.qrSVG))
        }
        router.post("/v1/agent/setup/complete") { request, context in
            let body = try await api.decode(CompleteBody.self, from: request)
            let id = try await agents.completeSetup(setupToken: body.setup_token, code: body.code, request: context.requestInfo)
            return JSONResponse(.ok, Completed(agent_id: id, active: true))
        }
        router.post("/v1/agent/sessions") { request, context in
            let body = try await api.decode(LoginBody.self, from: request)
            let s = try await agents.login(email: body.email, password: body.password, code: body.code, request: context.requestInfo)
            return JSONResponse(
                .created,
                Session(
                    session_token: s.token,
                    expires_at: Timestamp.format(s.expiresAt),
                    role: s.role.rawValue,
                    idle_timeout_seconds: Int(AgentService.idleTimeout)
                )
            )
        }
        router.delete("/v1/agent/sessions/current") { request, context in
            try await agents.logout(bearer: APIContext.bearer(request), request: context.requestInfo)
            return JSONResponse(.ok, Revoked(revoked: true))
        }
        router.get("/v1/agent/me") { request, _ in
            let principal = try await api.agent(request, roles: Set(AgentRole.allCases))
            guard case .agent(let id, let role) = principal else { throw VigilError.unauthenticated }
            return JSONResponse(.ok, Me(agent_id: id, role: role.rawValue))
        }
    }
}
