import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import VigilCore
import VigilHTTP
import VigilTestSupport

/// The fuzzing findings (issue 18), each a regression test.
@Suite("A robust API: methods, strict bodies, parse errors")
struct RobustAPIHTTPTests {
    @Test("a known path with a wrong method is 405 method_not_allowed with Allow; HEAD works where GET does")
    func methods() async throws {
        let service = try TestService()
        try await service.test { client in
            let post = try await client.execute(uri: "/healthz", method: .post, headers: [:], body: nil)
            try expectErrorShape(post, status: .methodNotAllowed, code: "method_not_allowed")
            #expect(post.headers[.allow] == "GET, HEAD")
            let delete = try await client.execute(uri: "/v1/subjects", method: .delete, headers: [:], body: nil)
            try expectErrorShape(delete, status: .methodNotAllowed, code: "method_not_allowed")
            #expect(delete.headers[.allow] == "POST")
            // A path with a parameter, and one whose last segment is a route of its own.
            let put = try await client.execute(uri: "/v1/cases/case_0123/assign", method: .put, headers: [:], body: nil)
            #expect(put.status == .methodNotAllowed, "\(put.status) \(String(buffer: put.body))")
            #expect(put.headers[.allow] == "POST")
            try expectErrorShape(try await client.get("/v2/nothing"), status: .notFound, code: "not_found")

            let get = try await client.get("/healthz")
            let head = try await client.execute(uri: "/healthz", method: .head, headers: [:], body: nil)
            #expect(head.status == .ok)
            #expect(head.body.readableBytes == 0)
            #expect(head.headers[.contentLength] == String(get.body.readableBytes))
            #expect(head.headers[.contentType] == get.headers[.contentType])
            #expect(head.headers[HTTPField.Name("X-Request-Id")!] != nil)
            let spec = try await client.execute(uri: "/openapi.yaml", method: .head, headers: [:], body: nil)
            #expect(spec.status == .ok && spec.body.readableBytes == 0)
        }
    }
}

extension RobustAPIHTTPTests {
    @Test("a null code with an empty recovery code is 400 and counts nothing; both at once are 400; the messages read as sentences")
    func strictSecondFactorBody() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .credentialsVerify])
        try await service.test { client in
            let e = try await service.enrol(client, subject: "deadbeef-1801", key: key)
            for _ in 0..<25 {  // more than the lockout's free failures and the rate limit
                let r = try await client.post("/v1/subjects/deadbeef-1801/totp/verify", key: key, json: #"{"code":null,"recovery_code":""}"#)
                try expectErrorShape(r, status: .badRequest, code: "invalid_field", field: "code")
                #expect(try (json(r)["error"] as? [String: Any])?["message"] as? String == "code is required, or else recovery_code (not empty)")
            }
            let both = try await client.post(
                "/v1/subjects/deadbeef-1801/totp/verify",
                key: key,
                json: #"{"code":"123456","recovery_code":"abcd-efgh"}"#
            )
            try expectErrorShape(both, status: .badRequest, code: "invalid_field", field: "recovery_code")
            try expectErrorShape(
                try await client.post("/v1/subjects/deadbeef-1801/totp/verify", key: key, json: #"{"code":""}"#),
                status: .badRequest,
                code: "invalid_field",
                field: "code"
            )
            service.clock.advance(seconds: 30)
            let ok = try await client.post(
                "/v1/subjects/deadbeef-1801/totp/verify",
                key: key,
                json: #"{"code":"\#(try oathtool(secret: e.secret, at: service.clock.now()))"}"#
            )
            #expect(try json(ok)["valid"] as? Bool == true)
        }
        let actions = try await service.auditActions()
        #expect(!actions.contains { $0.hasSuffix(".failed") || $0.hasSuffix(".rate_limited") || $0.hasSuffix(".locked") })
    }

    @Test("queue parameters are refused like bad status values: limit=-1, limit=abc, breached=maybe, an unknown filter")
    func strictQueueParameters() async throws {
        let service = try TestService()
        try await service.test { client in
            let agent = try await activeAgent(service, client, email: "q@vigil.example", role: .agent)
            for (query, field) in [
                ("limit=-1", "limit"), ("limit=abc", "limit"), ("limit=0", "limit"), ("limit=501", "limit"), ("breached=maybe", "breached"),
                ("statuz=open", "statuz"), ("status=opn", "status"), ("priority=P9", "priority"),
            ] {
                try expectErrorShape(
                    try await client.send(.get, "/v1/cases?\(query)", bearer: agent.session),
                    status: .badRequest,
                    code: "invalid_field",
                    field: field
                )
            }
            for query in ["limit=1", "limit=500", "breached=false", "breached=true&status=open"] {
                #expect(try await client.send(.get, "/v1/cases?\(query)", bearer: agent.session).status == .ok, "\(query)")
            }
        }
    }
}

/// Sends `bytes` on a fresh TCP connection to 127.0.0.1:`port` and returns what the server
/// wrote until it closed the connection or `timeout` seconds passed.
func rawExchange(port: Int, _ bytes: String, timeout: Int = 5) throws -> String {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ToolFailure(message: "socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw ToolFailure(message: "connect() failed") }
    var limit = timeval(tv_sec: timeout, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    let out = Array(bytes.utf8)
    _ = out.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var received: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        received += chunk[0..<n]
    }
    return String(decoding: received, as: UTF8.self)
}

@Suite("A robust API over real sockets")
struct RobustAPISocketTests {
    @Test("a malformed chunked body is 400 bad_request in the one error shape with a request id, not a 500")
    func malformedChunkedBody() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite])
        try await service.test(.live) { client in
            let port = try #require(client.port)
            let reply = try rawExchange(
                port: port,
                "POST /v1/subjects HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(key)\r\nContent-Type: application/json\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\nzzzz\r\n\r\n"
            )
            #expect(reply.hasPrefix("HTTP/1.1 400"), "\(reply.prefix(200))")
            let body = String(reply.split(separator: "\r\n\r\n", maxSplits: 1).last ?? "")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
            let error = try #require(object["error"] as? [String: Any])
            #expect(error["code"] as? String == "bad_request")
            #expect((error["request_id"] as? String)?.hasPrefix("req_") == true)
            #expect(reply.lowercased().contains("x-request-id: \((error["request_id"] as? String ?? "-").lowercased())"))
        }
        #expect(!service.logs.text.contains("unhandled error"))
    }
}

@Suite("Identifiers that cannot be confused")
struct IdentifierHTTPTests {
    @Test(
        "case variants and fullwidth forms of a registered email or phone are 409 without saying whose; Cyrillic look-alikes register but are flagged"
    )
    func caseVariantsAndLookAlikes() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .casesWrite])
        try await service.test { client in
            func register(_ id: String, email: String? = nil, phone: String? = nil) async throws -> TestResponse {
                var body: [String: String] = ["subject_id": id]
                if let email { body["email"] = email }
                if let phone { body["phone"] = phone }
                return try await client.post("/v1/subjects", key: key, json: String(decoding: try JSONEncoder().encode(body), as: UTF8.self))
            }
            #expect(try await register("deadbeef-1805", email: "ada@example.org", phone: "+4915112345678").status == .created)
            for (id, email) in [
                ("case-variant", "ADA@EXAMPLE.ORG"), ("mixed-case", "Ada@Example.org"), ("fullwidth", "ａｄａ@ｅｘａｍｐｌｅ.ｏｒｇ"),
                ("padded", "  ada@example.org "),
            ] {
                let r = try await register(id, email: email)
                try expectErrorShape(r, status: .conflict, code: "conflict")
                let message = try #require((try json(r)["error"] as? [String: Any])?["message"] as? String)
                #expect(message == "the email belongs to another account")
                #expect(!message.contains("deadbeef"))
            }
            for phone in ["+49 151 1234 5678", "+49-151-12345678", "＋４９１５１１２３４５６７８"] {
                try expectErrorShape(try await register("phone-variant", phone: phone), status: .conflict, code: "conflict")
            }
            // A Cyrillic "а" (U+0430) is another address: it registers, and agents see the flag.
            #expect(try await register("deadbeef-1806", email: "\u{0430}da@example.org").status == .created)
            let filed = try await client.post(
                "/v1/cases",
                key: key,
                json: #"{"channel":"email","category":"account_security","summary":"is this me?"}"#
            )
            let caseID = try #require(try json(filed)["case_id"] as? String)
            let agent = try await activeAgent(service, client, email: "id@vigil.example", role: .agent)
            let linked = try await client.send(
                .post,
                "/v1/cases/\(caseID)/subject",
                bearer: agent.session,
                json: #"{"identifier":"\#u{0430}da@example.org"}"#
            )
            #expect(try json(linked)["subject_id"] as? String == "deadbeef-1806")
            let detail = try json(try await client.send(.get, "/v1/cases/\(caseID)", bearer: agent.session))
            let state = try #require(detail["subject_state"] as? [String: Any])
            #expect(state["identifier_warnings"] as? [String] == ["email_mixed_scripts", "email_non_ascii"])
        }
        #expect(IdentifierWarning.of(email: "ada@example.org").isEmpty)
        #expect(IdentifierWarning.of(email: "zhao@例子.example") == [.emailNonASCII])  // one script per label
        #expect(IdentifierWarning.of(email: "pаypal@example.org") == [.emailMixedScripts, .emailNonASCII])
        #expect(try SubjectRegistration.normaliseEmail("ＡＤＡ＠Example.ORG") == "ada@example.org")
        #expect(try SubjectRegistration.normalisePhone("＋４９ １５１ １２３４５６７８") == "+4915112345678")
    }
}
