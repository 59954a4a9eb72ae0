import Foundation
import Hummingbird
import VigilCore

/// Password resets.
///
/// | method | path                        | who                            | audit |
/// |--------|-----------------------------|--------------------------------|-------|
/// | POST   | /v1/password-resets         | service client, `recovery:write` | `password_reset.requested` (then, by the worker: `.token_issued`, `.unmatched`, `.rate_limited`, `.cooldown`) |
/// | POST   | /v1/password-resets/confirm | service client, `recovery:write` | `password_reset.completed`, `password.changed`, `withdrawals.held` |
///
/// The request always answers 202 with the same body, whether or not the identifier names an
/// account: the handler only queues the request, and the worker does the rest off the
/// response path. Policy: `Policies/recovery.yaml` `password_reset`.
struct PasswordResetController {
    let api: APIContext

    struct RequestBody: Decodable {
        let identifier: String
        /// The end user's address as the wallet backend saw it: the per-address limit counts it.
        let client_ip: String?
    }

    struct ConfirmBody: Decodable {
        let token: String
        let new_password: String
        let totp_code: String?
        let recovery_code: String?
    }

    struct Accepted: Encodable, Sendable {
        let status: String
        let message: String
    }

    struct Confirmed: Encodable, Sendable {
        let reset: Bool
        let subject_id: String
        let withdrawals_frozen_until: String
    }

    func register(on router: Router<VigilRequestContext>) {
        let service = PasswordResetService(api.deps.core)
        router.post("/v1/password-resets") { request, context in
            let principal = try await api.service(request, scope: .recoveryWrite)
            let body = try await api.decode(RequestBody.self, from: request)
            try await service.request(identifier: body.identifier, clientIP: body.client_ip, by: principal, request: context.requestInfo)
            return JSONResponse(
                .accepted,
                Accepted(status: "accepted", message: "if the identifier belongs to an account, a reset link is on its way")
            )
        }
        router.post("/v1/password-resets/confirm") { request, context in
            let principal = try await api.service(request, scope: .recoveryWrite)
            let body = try await api.decode(ConfirmBody.self, from: request)
            let done = try await service.confirm(
                token: body.token,
                newPassword: body.new_password,
                totpCode: body.totp_code,
                recoveryCode: body.recovery_code,
                by: principal,
                request: context.requestInfo
            )
            return JSONResponse(
                .ok,
                Confirmed(reset: true, subject_id: done.subjectID, withdrawals_frozen_until: Timestamp.format(done.withdrawalsFrozenUntil))
            )
        }
    }
}
