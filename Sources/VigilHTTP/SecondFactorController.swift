import Foundation
import Hummingbird
import VigilCore

/// TOTP and recovery codes.
///
/// | method | path                                 | who                                  | audit |
/// |--------|--------------------------------------|--------------------------------------|-------|
/// | POST   | /v1/subjects/{id}/totp               | service client, `subjects:write`     | `totp.enrolment.started` |
/// | POST   | /v1/subjects/{id}/totp/activate      | service client, `subjects:write`     | `totp.activated`, `totp.activation.failed`, `totp.locked` |
/// | POST   | /v1/subjects/{id}/totp/verify        | service client, `credentials:verify` | `totp.verify.succeeded` / `.failed` / `.locked` / `.rate_limited`, `recovery_code.used`, `recovery_code.verify.*` |
/// | POST   | /v1/subjects/{id}/recovery-codes     | service client, `subjects:write`     | `recovery_codes.regenerated` |
///
/// Policy: `Policies/authentication.yaml` (`totp`, `recovery_codes`, `lockout`, `rate_limits`).
struct SecondFactorController {
    let api: APIContext

    struct CodeBody: Decodable {
        let code: String
    }

    struct VerifyBody: Decodable {
        let code: String?
        let recovery_code: String?
    }

    /// The body from a flat object (`FlatJSON`); unknown members are ignored, as `JSONDecoder` does.
    static func verifyBody(_ members: [String: String?]) -> VerifyBody? {
        VerifyBody(code: members["code"] ?? nil, recovery_code: members["recovery_code"] ?? nil)
    }

    struct EnrolmentResponse: Encodable, Sendable {
        let subject_id: String
        let secret: String
        let otpauth_uri: String
        let qr_svg: String
        let algorithm: String
        let digits: Int
        let period: Int
        let expires_at: String
    }

    struct Activated: Encodable, Sendable {
        let subject_id: String
        let activated: Bool
    }

    struct VerifyResponse: Encodable, Sendable {
        let valid: Bool
        let method: String
        let recovery_codes_remaining: Int

        /// What `JSONResponse` writes for this value (sorted keys, no spaces); `method` is
        /// one of Vigil's own method names, which need no escaping.
        var json: [UInt8] {
            var out: [UInt8] = []
            out.reserveCapacity(80)
            out.append(contentsOf: #"{"method":""#.utf8)
            out.append(contentsOf: method.utf8)
            out.append(contentsOf: #"","recovery_codes_remaining":"#.utf8)
            out.append(contentsOf: String(recovery_codes_remaining).utf8)
            out.append(contentsOf: (valid ? #","valid":true}"# : #","valid":false}"#).utf8)
            return out
        }
    }

    struct RecoveryCodes: Encodable, Sendable {
        let subject_id: String
        let codes: [String]
        let count: Int
    }

    func register(on router: Router<VigilRequestContext>) {
        let service = SecondFactorService(api.deps.core)
        router.post("/v1/subjects/:id/totp") { request, context in
            let principal = try await api.service(request, scope: .subjectsWrite)
            let id = try context.parameters.require("id")
            let e = try await service.startEnrolment(subjectID: id, by: principal, request: context.requestInfo)
            return JSONResponse(
                .created,
                EnrolmentResponse(
                    subject_id: id,
                    secret: e.secret,
                    otpauth_uri: e.uri,
                    qr_svg: e.qrSVG,
                    algorithm: e.algorithm,
                    digits: e.digits,
                    period: e.period,
                    expires_at: Timestamp.format(e.expiresAt)
                )
            )
        }
        router.post("/v1/subjects/:id/totp/activate") { request, context in
            let principal = try await api.service(request, scope: .subjectsWrite)
            let id = try context.parameters.require("id")
            let body = try await api.decode(CodeBody.self, from: request)
            try await service.activate(subjectID: id, code: body.code, by: principal, request: context.requestInfo)
            return JSONResponse(.ok, Activated(subject_id: id, activated: true))
        }
        router.post("/v1/subjects/:id/totp/verify") { request, context in
            let principal = try await api.service(request, scope: .credentialsVerify)
            let id = try context.parameters.require("id")
            let body = try await api.decode(VerifyBody.self, from: request, flat: Self.verifyBody)
            let v = try await service.verify(
                subjectID: id,
                code: body.code,
                recoveryCode: body.recovery_code,
                by: principal,
                request: context.requestInfo
            )
            return RawJSONResponse(
                status: .ok,
                bytes: VerifyResponse(valid: v.valid, method: v.method, recovery_codes_remaining: v.recoveryCodesRemaining).json
            )
        }
        router.post("/v1/subjects/:id/recovery-codes") { request, context in
            let principal = try await api.service(request, scope: .subjectsWrite)
            let id = try context.parameters.require("id")
            let codes = try await service.regenerateRecoveryCodes(subjectID: id, by: principal, request: context.requestInfo)
            return JSONResponse(.created, RecoveryCodes(subject_id: id, codes: codes, count: codes.count))
        }
    }
}
