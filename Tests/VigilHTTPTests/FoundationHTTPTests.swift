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

@Suite("HTTP foundation")
struct FoundationHTTPTests {
    @Test("healthz answers with the security headers and a request id")
    func healthz() async throws {
        let service = try TestService()
        try await service.test { client in
            let r = try await client.get("/healthz")
            #expect(r.status == .ok)
            #expect(try json(r)["status"] as? String == "ok")
            #expect(r.headers[.cacheControl] == "no-store")
            #expect(r.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
            #expect(r.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")
            #expect(r.headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer")
            #expect(r.headers[HTTPField.Name("Content-Security-Policy")!] == "default-src 'none'; frame-ancestors 'none'")
            let id = try #require(r.headers[HTTPField.Name("X-Request-Id")!])
            #expect(id.hasPrefix("req_") && id.count == 20)
        }
    }

    @Test("readyz reports each check")
    func readyz() async throws {
        let service = try TestService()
        try await service.test { client in
            let r = try await client.get("/readyz")
            #expect(r.status == .ok)
            #expect(try json(r)["checks"] as? [String: String] == ["database": "ok", "keys": "ok", "policies": "ok"])
        }
    }

    @Test("an unknown route is a JSON 404")
    func unknownRoute() async throws {
        let service = try TestService()
        try await service.test { client in
            try expectErrorShape(try await client.get("/v1/nothing-here"), status: .notFound, code: "not_found")
        }
    }

    @Test("a registered subject gets 201, a second registration of the same id 409")
    func registerSubject() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite])
        try await service.test { client in
            let body = #"{"subject_id":"deadbeef-0001","email":"Ada@Example.org","phone":"+4915112345678","display_name":"Ada"}"#
            let r = try await client.post("/v1/subjects", key: key, json: body)
            #expect(r.status == .created)
            #expect(try json(r)["subject_id"] as? String == "deadbeef-0001")
            #expect(try json(r)["created_at"] as? String == "2009-02-13T23:31:30.000Z")
            try expectErrorShape(try await client.post("/v1/subjects", key: key, json: body), status: .conflict, code: "already_exists")
        }
        #expect(try await service.store.read { try $0.subject(id: "deadbeef-0001")?.email } == "ada@example.org")
    }

    @Test("bad input gets the right 4xx in the one error shape, writes nothing, and the server keeps serving")
    func badInput() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite])
        try await service.test { client in
            try expectErrorShape(
                try await client.post("/v1/subjects", key: key, json: #"{"subject_id": "#),
                status: .badRequest,
                code: "malformed_body"
            )
            try expectErrorShape(try await client.post("/v1/subjects", key: key, json: "not json"), status: .badRequest, code: "malformed_body")
            try expectErrorShape(try await client.post("/v1/subjects", key: key, json: ""), status: .badRequest, code: "malformed_body")
            try expectErrorShape(
                try await client.post("/v1/subjects", key: key, json: #"{"subject_id": 12}"#),
                status: .badRequest,
                code: "invalid_field",
                field: "subject_id"
            )
            try expectErrorShape(
                try await client.post("/v1/subjects", key: key, json: #"{"subject_id": "deadbeef-0009", "email": ["a"]}"#),
                status: .badRequest,
                code: "invalid_field",
                field: "email"
            )
            try expectErrorShape(
                try await client.post("/v1/subjects", key: key, json: #"{"email": "a@example.org"}"#),
                status: .badRequest,
                code: "invalid_field",
                field: "subject_id"
            )
            try expectErrorShape(
                try await client.post("/v1/subjects", key: key, json: #"{"subject_id": "deadbeef-0009", "email": "not-an-email"}"#),
                status: .badRequest,
                code: "invalid_field",
                field: "email"
            )
            try expectErrorShape(
                try await client.post("/v1/subjects", key: key, json: #"{"subject_id": "deadbeef-0009", "phone": "12345"}"#),
                status: .badRequest,
                code: "invalid_field",
                field: "phone"
            )
            try expectErrorShape(
                try await client.post("/v1/subjects", key: key, json: #"{"subject_id": "has spaces/and slashes"}"#),
                status: .badRequest,
                code: "invalid_field",
                field: "subject_id"
            )
            let huge = #"{"subject_id": "deadbeef-0009", "display_name": ""# + String(repeating: "x", count: 20_000) + #""}"#
            try expectErrorShape(try await client.post("/v1/subjects", key: key, json: huge), status: .contentTooLarge, code: "payload_too_large")
            #expect(try await client.get("/healthz").status == .ok)
        }
        #expect(try await service.store.read { try $0.subject(id: "deadbeef-0009") } == nil)
    }

    @Test("a field error never echoes the value the client sent")
    func errorsDoNotEcho() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite])
        try await service.test { client in
            let r = try await client.post("/v1/subjects", key: key, json: #"{"subject_id": "deadbeef-0009", "email": "canary-8e1f5 at nowhere"}"#)
            try expectErrorShape(r, status: .badRequest, code: "invalid_field", field: "email")
            #expect(!String(buffer: r.body).contains("canary-8e1f5"))
        }
    }

    @Test("missing, malformed, unknown, wrong-secret and revoked API keys get 401; a wrong scope gets 403")
    func authentication() async throws {
        let service = try TestService()
        let good = try await service.apiKey([.subjectsWrite])
        let auditOnly = try await service.apiKey([.auditRead], name: "auditor")
        let revoked = try await service.apiKey([.subjectsWrite], name: "old-backend")
        try await service.revoke(revoked)
        // One character changed in the middle of the secret, and a non-canonical last character.
        let middle = good.index(good.startIndex, offsetBy: 40)
        let wrongSecret = good.replacingCharacters(in: middle...middle, with: good[middle] == "A" ? "B" : "A")
        let nonCanonical = String(good.dropLast()) + (good.hasSuffix("A") ? "B" : "A")
        let unknownID = "vgl_" + String(repeating: "a", count: 16) + String(good.dropFirst(20))
        let body = #"{"subject_id": "deadbeef-0100"}"#
        try await service.test { client in
            try expectErrorShape(try await client.post("/v1/subjects", key: nil, json: body), status: .unauthorized, code: "unauthenticated")
            for bad in ["", "garbage", "vgl_short", wrongSecret, nonCanonical, unknownID, revoked] {
                let r = try await client.post("/v1/subjects", key: bad, json: body)
                try expectErrorShape(r, status: .unauthorized, code: "unauthenticated")
                #expect(r.headers[.wwwAuthenticate] == "Bearer")
            }
            var basic: HTTPFields = [.authorization: "Basic dXNlcjpwYXNz"]
            basic[.contentType] = "application/json"
            try expectErrorShape(
                try await client.execute(uri: "/v1/subjects", method: .post, headers: basic, body: ByteBuffer(string: body)),
                status: .unauthorized,
                code: "unauthenticated"
            )
            try expectErrorShape(try await client.post("/v1/subjects", key: auditOnly, json: body), status: .forbidden, code: "forbidden")
            #expect(try await client.post("/v1/subjects", key: good, json: body).status == .created)
        }
    }

    @Test("a revoked key stops working at the next request")
    func revokeTakesEffectAtOnce() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite])
        try await service.test { client in
            #expect(try await client.post("/v1/subjects", key: key, json: #"{"subject_id": "deadbeef-0200"}"#).status == .created)
            try await service.revoke(key)
            try expectErrorShape(
                try await client.post("/v1/subjects", key: key, json: #"{"subject_id": "deadbeef-0201"}"#),
                status: .unauthorized,
                code: "unauthenticated"
            )
        }
    }

    @Test("no personal value or key reaches a log line")
    func logsCarryNoSecrets() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite])
        try await service.test { client in
            let body = #"{"subject_id":"deadbeef-0300","email":"canary.7f3a@example.org","phone":"+4915177770001","display_name":"Canary Sevenfour"}"#
            #expect(try await client.post("/v1/subjects", key: key, json: body).status == .created)
            _ = try await client.post("/v1/subjects", key: key, json: body)
            _ = try await client.post("/v1/subjects", key: key + "x", json: body)
        }
        let logs = service.logs.text
        #expect(logs.contains("request"))
        for needle in ["canary.7f3a", "4915177770001", "Canary Sevenfour", String(key.dropFirst(21)), "deadbeef-0300"] {
            #expect(!logs.contains(needle), "a log line carries a secret or personal value")
        }
    }

    @Test("the OpenAPI document is served and describes exactly the router's routes")
    func openAPIMatchesRoutes() async throws {
        let service = try TestService()
        let document = try String(contentsOf: TestService.openAPIURL, encoding: .utf8)
        var described: Set<String> = []
        var currentPath: String?
        for line in document.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                currentPath = String(line.dropFirst(2).dropLast())
            } else if line.hasPrefix("    "), !line.hasPrefix("     "), let path = currentPath {
                let word = line.trimmingCharacters(in: .whitespaces).split(separator: ":").first.map(String.init) ?? ""
                if ["get", "post", "put", "patch", "delete"].contains(word) { described.insert("\(word.uppercased()) \(path)") }
            } else if !line.hasPrefix(" ") && !line.isEmpty {
                currentPath = nil
            }
        }
        // Router paths print parameters as `:id` or `{id}` depending on the version; OpenAPI uses `{id}`.
        let normalisedRoutes = Set(
            service.router().routes.map { route in
                let path = route.path.description.split(separator: "/").map { segment in
                    segment.hasPrefix(":") ? "{\(segment.dropFirst())}" : String(segment)
                }.joined(separator: "/")
                return "\(route.method.rawValue) /\(path)"
            }
        )
        #expect(!described.isEmpty)
        #expect(described == normalisedRoutes)
        try await service.test { client in
            let r = try await client.get("/openapi.yaml")
            #expect(r.status == .ok)
            #expect(String(buffer: r.body) == document)
        }
    }
}
