import Foundation
import Hummingbird
import VigilCore

/// Passwords.
///
/// | method | path                              | who                                  | audit |
/// |--------|-----------------------------------|--------------------------------------|-------|
/// | POST   | /v1/subjects/{id}/password        | service client, `subjects:write`     | `password.set`, `password.changed` (when replacing) |
/// | POST   | /v1/subjects/{id}/password/verify | service client, `credentials:verify` | `password.verify.succeeded` / `.failed` / `.locked` / `.rate_limited`, `password.locked`, `password.rehashed` |
///
/// Policy: `Policies/authentication.yaml` (`password`, `lockout.password`,
/// `rate_limits.password_verify`) and the blocklist file it names. argon2id runs on the
/// bounded `PasswordHasher` pool: 503 `overloaded` with `Retry-After` when its queue is full.
/// Neither route ever echoes the password, in a response or an error.
struct PasswordController {
    let api: APIContext

    struct PasswordBody: Decodable {
        let password: String
    }

    struct SetResponse: Encodable, Sendable {
        let subject_id: String
        let replaced_previous: Bool
    }

    struct VerifyResponse: Encodable, Sendable {
        let valid: Bool
    }

    func register(on router: Router<VigilRequestContext>) {
        let service = PasswordService(api.deps.core)
        router.post("/v1/subjects/:id/password") { request, context in
            let principal = try await api.service(request, scope: .subjectsWrite)
            let id = try context.parameters.require("id")
            let body = try await api.decode(PasswordBody.self, from: request)
            let result = try await service.setPassword(subjectID: id, password: body.password, by: principal, request: context.requestInfo)
            return JSONResponse(.ok, SetResponse(subject_id: id, replaced_previous: result.replacedPrevious))
        }
        router.post("/v1/subjects/:id/password/verify") { request, context in
            let principal = try await api.service(request, scope: .credentialsVerify)
            let id = try context.parameters.require("id")
            let body = try await api.decode(PasswordBody.self, from: request)
            let valid = try await service.verify(subjectID: id, password: body.password, by: principal, request: context.requestInfo)
            return JSONResponse(.ok, VerifyResponse(valid: valid))
        }
    }
}
