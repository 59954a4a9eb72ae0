import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import VigilCore

/// The one place where errors become HTTP responses (STYLE.md practice 5).
///
/// Rules:
/// - every error response has the shape `{"error": {"code", "message", "request_id"}}`
///   (plus `field` for a field error);
/// - messages come from this file's fixed table or from `VigilError` reasons, which name
///   fields and rules, never values the client sent;
/// - anything not known here is a bare 500 `internal_error`, logged with the request id and
///   the error's type only.
struct APIErrorBody: Encodable {
    struct Inner: Encodable {
        let code: String
        let message: String
        let field: String?
        let request_id: String
    }
    let error: Inner
}

struct MappedError {
    let status: HTTPResponse.Status
    let code: String
    let message: String
    let field: String?
    var headers: HTTPFields = [:]
}

enum ErrorMapping {
    static func map(_ error: any Error) -> MappedError? {
        switch error {
        case let error as VigilError:
            return map(error)
        case let error as HTTPError:
            switch error.status {
            case .notFound:
                return MappedError(status: .notFound, code: "not_found", message: "no such route", field: nil)
            case .contentTooLarge:
                return MappedError(status: .contentTooLarge, code: "payload_too_large", message: "the request body is too large", field: nil)
            case .methodNotAllowed:
                return MappedError(status: .methodNotAllowed, code: "method_not_allowed", message: "method not allowed", field: nil)
            case .badRequest:
                return MappedError(status: .badRequest, code: "bad_request", message: "the request is malformed", field: nil)
            default:
                return nil
            }
        case let error as DecodingError:
            return map(VigilError.from(error))
        case is HTTPParserError:
            // Bytes the HTTP parser refused inside a request (a malformed chunked body): the
            // client's fault, answered in the one error shape.
            return MappedError(status: .badRequest, code: "bad_request", message: "the request could not be parsed as HTTP/1.1", field: nil)
        case is NIOTooManyBytesError:
            return MappedError(status: .contentTooLarge, code: "payload_too_large", message: "the request body is too large", field: nil)
        default:
            return nil
        }
    }

    static func map(_ error: VigilError) -> MappedError {
        switch error {
        case .invalidField(let field, let reason):
            return MappedError(status: .badRequest, code: error.code, message: "\(field) \(reason)", field: field)
        case .malformedBody(let reason):
            return MappedError(status: .badRequest, code: error.code, message: reason, field: nil)
        case .notFound(let resource):
            return MappedError(status: .notFound, code: error.code, message: "\(resource) not found", field: nil)
        case .alreadyExists(let resource):
            return MappedError(status: .conflict, code: error.code, message: "\(resource) already exists", field: nil)
        case .unauthenticated:
            var m = MappedError(
                status: .unauthorized,
                code: error.code,
                message: "missing, invalid or revoked credentials",
                field: nil
            )
            m.headers[.wwwAuthenticate] = "Bearer"
            return m
        case .forbidden(let needed):
            return MappedError(status: .forbidden, code: error.code, message: "this credential lacks the \(needed) permission", field: nil)
        case .rateLimited(let seconds):
            var m = MappedError(status: .tooManyRequests, code: error.code, message: "too many attempts; retry later", field: nil)
            m.headers[.retryAfter] = String(max(1, seconds))
            return m
        case .unavailable:
            var m = MappedError(status: .serviceUnavailable, code: error.code, message: "temporarily unavailable", field: nil)
            m.headers[.retryAfter] = "1"
            return m
        case .overloaded(let seconds):
            var m = MappedError(status: .serviceUnavailable, code: error.code, message: "the service is busy; retry later", field: nil)
            m.headers[.retryAfter] = String(max(1, seconds))
            return m
        case .invalidToken:
            return MappedError(status: .badRequest, code: error.code, message: "the token is invalid or expired", field: "token")
        case .invalidCode:
            return MappedError(status: .unprocessableContent, code: error.code, message: "the code is not valid", field: "code")
        case .idempotencyConflict:
            return MappedError(
                status: .conflict,
                code: error.code,
                message: "this Idempotency-Key was used with a different request",
                field: nil
            )
        case .accountFrozen:
            return MappedError(
                status: .init(code: 423, reasonPhrase: "Locked"),
                code: error.code,
                message: "the account is frozen; contact support",
                field: nil
            )
        case .conflict(let reason):
            return MappedError(status: .conflict, code: error.code, message: reason, field: nil)
        case .prerequisitesNotMet(let action, let missing):
            return MappedError(
                status: .conflict,
                code: error.code,
                message: "the checks passed on this case do not allow \(action): \(missing)",
                field: nil
            )
        case .fourEyes:
            return MappedError(
                status: .forbidden,
                code: error.code,
                message: "a high-risk action needs the approval of a supervisor who neither asked for it nor attested a check it relies on",
                field: nil
            )
        case .notAssignee:
            return MappedError(
                status: .forbidden,
                code: error.code,
                message: "only the case's assignee, a supervisor or an admin may do this; take the case first",
                field: nil
            )
        case .dataIntegrity:
            // The detail goes to the log (with the request id), not to the client.
            return MappedError(status: .internalServerError, code: "internal_error", message: "internal error", field: nil)
        }
    }

    static func response(for mapped: MappedError, requestID: String) -> Response {
        let body = APIErrorBody(
            error: .init(code: mapped.code, message: mapped.message, field: mapped.field, request_id: requestID)
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(body)) ?? Data("{\"error\":{\"code\":\"internal_error\"}}".utf8)
        var headers = mapped.headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: mapped.status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension VigilError {
    /// A decoding failure, named by its JSON path; never echoes the value.
    static func from(_ error: DecodingError) -> VigilError {
        func path(_ codingPath: [any CodingKey], _ last: (any CodingKey)? = nil) -> String {
            let keys = codingPath + (last.map { [$0] } ?? [])
            let joined = keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return joined.hasPrefix(".") ? String(joined.dropFirst()) : joined
        }
        switch error {
        case .keyNotFound(let key, let ctx):
            return .invalidField(field: path(ctx.codingPath, key), reason: "is required")
        case .typeMismatch(let type, let ctx):
            return .invalidField(field: path(ctx.codingPath), reason: "must be \(jsonTypeName(type))")
        case .valueNotFound(let type, let ctx):
            return .invalidField(field: path(ctx.codingPath), reason: "must be \(jsonTypeName(type)), not null")
        case .dataCorrupted(let ctx):
            if ctx.codingPath.isEmpty { return .malformedBody(reason: "the request body is not valid JSON") }
            return .invalidField(field: path(ctx.codingPath), reason: "is invalid")
        @unknown default:
            return .malformedBody(reason: "the request body could not be read")
        }
    }

    private static func jsonTypeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type, is UInt32.Type: "an integer"
        case is Bool.Type: "a boolean"
        case is Double.Type: "a number"
        default: "an object"
        }
    }
}
