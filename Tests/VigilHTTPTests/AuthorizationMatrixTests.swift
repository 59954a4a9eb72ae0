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

/// Every route × every kind of caller, with the status each must get.
///
/// The requests are deliberately not valid work (an empty JSON object, ids that do not
/// exist), so a caller who passes authentication and authorisation gets the answer of
/// validation (400) or lookup (404) — never a change — and the matrix shows that both checks
/// come before either. The routes must be exactly the router's: a new route fails this test
/// until it has its row.
@Suite("Authorisation matrix: every route × every role, service client and anonymous caller")
struct AuthorizationMatrixTests {
    enum Caller: String, CaseIterable {
        case anonymous
        /// A service API key with every scope.
        case service
        /// Service API keys with one scope each: every other service route refuses them (403).
        case auditReadKey = "key-audit:read"
        case casesWriteKey = "key-cases:write"
        case agent, supervisor, auditor, admin
    }

    /// `METHOD path` → the status of each caller, in `Caller.allCases` order:
    /// anonymous, service (every scope), key-audit:read, key-cases:write, agent, supervisor,
    /// auditor, admin.
    ///
    /// Open to every caller: the probes, the API description, and the agent setup and login
    /// steps (their proof is in the body: a setup token, or password and TOTP). 401 where the
    /// bearer is of the wrong kind (an API key on an agent route, a session on a service route).
    static let expected: [String: [Int]] = [
        "DELETE /v1/agent/sessions/current": [401, 401, 401, 401, 200, 200, 200, 200],
        "GET /healthz": [200, 200, 200, 200, 200, 200, 200, 200],
        "GET /openapi.yaml": [200, 200, 200, 200, 200, 200, 200, 200],
        "GET /readyz": [200, 200, 200, 200, 200, 200, 200, 200],
        "GET /v1/agent/me": [401, 401, 401, 401, 200, 200, 200, 200],
        "GET /v1/approvals": [401, 401, 401, 401, 403, 200, 403, 200],
        "GET /v1/audit/export": [401, 200, 200, 403, 401, 401, 401, 401],
        "GET /v1/cases": [401, 401, 401, 401, 200, 200, 200, 200],
        "GET /v1/cases/{id}": [401, 401, 401, 401, 404, 404, 404, 404],
        "GET /v1/cases/{id}/file": [401, 401, 401, 401, 404, 404, 404, 404],
        "GET /v1/reports/sla": [401, 401, 401, 401, 403, 200, 200, 200],
        "GET /v1/subjects/{id}/messages": [401, 404, 403, 403, 401, 401, 401, 401],
        "POST /v1/agent/sessions": [400, 400, 400, 400, 400, 400, 400, 400],
        "POST /v1/agent/setup": [400, 400, 400, 400, 400, 400, 400, 400],
        "POST /v1/agent/setup/complete": [400, 400, 400, 400, 400, 400, 400, 400],
        "POST /v1/cases": [401, 400, 403, 400, 400, 400, 403, 400],
        "POST /v1/cases/take-next": [401, 401, 401, 401, 404, 404, 403, 404],
        "POST /v1/cases/{id}/actions": [401, 401, 401, 401, 400, 400, 403, 400],
        "POST /v1/cases/{id}/actions/{aid}/approve": [401, 401, 401, 401, 403, 404, 403, 404],
        "POST /v1/cases/{id}/actions/{aid}/reject": [401, 401, 401, 401, 403, 400, 403, 400],
        "POST /v1/cases/{id}/assign": [401, 401, 401, 401, 404, 404, 403, 404],
        "POST /v1/cases/{id}/close": [401, 401, 401, 401, 400, 400, 403, 400],
        "POST /v1/cases/{id}/contact/reveal": [401, 401, 401, 401, 400, 400, 403, 400],
        "POST /v1/cases/{id}/feedback": [401, 400, 403, 400, 400, 400, 403, 400],
        "POST /v1/cases/{id}/notes": [401, 401, 401, 401, 400, 400, 403, 400],
        "POST /v1/cases/{id}/subject": [401, 401, 401, 401, 400, 400, 403, 400],
        "POST /v1/cases/{id}/triage": [401, 401, 401, 401, 400, 400, 403, 400],
        "POST /v1/cases/{id}/verifications": [401, 401, 401, 401, 400, 400, 403, 400],
        "POST /v1/cases/{id}/verifications/{vid}/code": [401, 401, 401, 401, 400, 400, 403, 400],
        "POST /v1/password-resets": [401, 400, 403, 403, 401, 401, 401, 401],
        "POST /v1/password-resets/confirm": [401, 400, 403, 403, 401, 401, 401, 401],
        "POST /v1/subjects": [401, 400, 403, 403, 401, 401, 401, 401],
        "POST /v1/subjects/{id}/password": [401, 400, 403, 403, 401, 401, 401, 401],
        "POST /v1/subjects/{id}/password/verify": [401, 400, 403, 403, 401, 401, 401, 401],
        "POST /v1/subjects/{id}/recovery-codes": [401, 404, 403, 403, 401, 401, 401, 401],
        "POST /v1/subjects/{id}/totp": [401, 404, 403, 403, 401, 401, 401, 401],
        "POST /v1/subjects/{id}/totp/activate": [401, 400, 403, 403, 401, 401, 401, 401],
        "POST /v1/subjects/{id}/totp/verify": [401, 400, 403, 403, 401, 401, 401, 401],
        "POST /v1/suspicious-logins": [401, 400, 403, 403, 401, 401, 401, 401],
    ]

    /// The path to request for a route pattern: unknown ids everywhere.
    static func concrete(_ pattern: String) -> String {
        pattern.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            switch segment {
            case "{id}", ":id": "nope-404"
            case "{vid}", ":vid": "ver_0000000000000000"
            case "{aid}", ":aid": "act_0000000000000000"
            default: String(segment)
            }
        }.joined(separator: "/")
    }

    @Test("each route answers each caller with the expected status; the matrix covers exactly the router's routes")
    func matrix() async throws {
        let service = try TestService()
        let allScopes = try await service.apiKey(Scope.allCases)
        let auditRead = try await service.apiKey([.auditRead])
        let casesWrite = try await service.apiKey([.casesWrite])
        let routes = service.router().routes.map { route -> String in
            let path = route.path.description.split(separator: "/").map { s in s.hasPrefix(":") ? "{\(s.dropFirst())}" : String(s) }
                .joined(separator: "/")
            return "\(route.method.rawValue) /\(path)"
        }
        try await service.test { client in
            var bearer: [Caller: String?] = [.anonymous: nil, .service: allScopes, .auditReadKey: auditRead, .casesWriteKey: casesWrite]
            for (caller, role) in [(Caller.agent, AgentRole.agent), (.supervisor, .supervisor), (.auditor, .auditor), (.admin, .admin)] {
                bearer[caller] = try await activeAgent(service, client, email: "\(caller.rawValue)@matrix.example", role: role).session
            }
            var observed: [String: [Int]] = [:]
            // Logging out ends the session: that route goes last.
            for route in routes.sorted(by: { ($0.hasPrefix("DELETE") ? 1 : 0, $0) < ($1.hasPrefix("DELETE") ? 1 : 0, $1) }) {
                let parts = route.split(separator: " ", maxSplits: 1)
                let method = HTTPRequest.Method(rawValue: String(parts[0]))!
                let path = Self.concrete(String(parts[1]))
                var row: [Int] = []
                for caller in Caller.allCases {
                    var headers: HTTPFields = [:]
                    if let b = bearer[caller] ?? nil { headers[.authorization] = "Bearer \(b)" }
                    var body: ByteBuffer?
                    if method == .post {
                        headers[.contentType] = "application/json"
                        body = ByteBuffer(string: "{}")
                    }
                    let r = try await client.execute(uri: path, method: method, headers: headers, body: body)
                    row.append(Int(r.status.code))
                }
                observed[route] = row
            }
            let callers = Caller.allCases.map(\.rawValue).joined(separator: ", ")
            let table = observed.keys.sorted().map { "\"\($0)\": \(observed[$0]!)," }.joined(separator: "\n")
            #expect(Set(observed.keys) == Set(Self.expected.keys), "routes without a row, or rows without a route; observed (\(callers)):\n\(table)")
            for (route, row) in observed.sorted(by: { $0.key < $1.key }) {
                guard let want = Self.expected[route] else { continue }
                #expect(row == want, "\(route): got \(row), want \(want) (\(callers))")
            }
        }
    }
}
