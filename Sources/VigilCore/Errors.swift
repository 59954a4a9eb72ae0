/// Domain errors. Each has a stable `code`; the HTTP layer maps them to statuses in one
/// place (`VigilHTTP/ErrorMapping.swift`) with messages from a fixed table. Associated values
/// never carry secrets or personal data: only field names, resource kinds and numbers.
public enum VigilError: Error, Equatable, Sendable {
    /// The request body or a parameter is invalid; `field` names the JSON path.
    case invalidField(field: String, reason: String)
    /// The body is not JSON, or not the JSON shape expected.
    case malformedBody(reason: String)
    /// No such resource (or the caller may not know whether it exists).
    case notFound(resource: String)
    /// The resource already exists.
    case alreadyExists(resource: String)
    /// No credentials, or credentials that are invalid, expired or revoked.
    case unauthenticated
    /// Valid credentials without the needed scope or role.
    case forbidden(needed: String)
    /// Too many attempts; try again after `retryAfterSeconds`.
    case rateLimited(retryAfterSeconds: Int)
    /// A dependency (database, key material) is not available.
    case unavailable(reason: String)
    /// Stored data failed authentication or could not be decoded.
    case dataIntegrity(reason: String)
    /// A one-time code offered to prove something (an enrolment) was not valid.
    case invalidCode
    /// A reset token that is unknown, used, voided or expired — which of these is never said.
    case invalidToken
    /// A bounded resource (the argon2id pool's queue) is full; retry after `retryAfterSeconds`.
    /// Answered at once instead of queueing without bound.
    case overloaded(retryAfterSeconds: Int)
    /// An `Idempotency-Key` reused with a different request.
    case idempotencyConflict
    /// The account is frozen (a suspicious-login decision) until an agent unfreezes it.
    case accountFrozen
    /// The resource is not in a state that allows this (a closed case, a decided action);
    /// `reason` is a fixed phrase of ours, never data.
    case conflict(reason: String)
    /// The verification checks that passed on the case do not meet the action's `requires`.
    case prerequisitesNotMet(action: String, missing: String)
    /// A high-risk action needs a supervisor other than the agent who asked for it.
    case fourEyes
    /// Actions, attestations and contact reveals on a case are for its assignee (supervisors
    /// and admins may work any case).
    case notAssignee

    /// Stable, snake_case code for clients and logs.
    public var code: String {
        switch self {
        case .invalidField: "invalid_field"
        case .malformedBody: "malformed_body"
        case .notFound: "not_found"
        case .alreadyExists: "already_exists"
        case .unauthenticated: "unauthenticated"
        case .forbidden: "forbidden"
        case .rateLimited: "rate_limited"
        case .unavailable: "unavailable"
        case .dataIntegrity: "data_integrity"
        case .invalidCode: "invalid_code"
        case .invalidToken: "invalid_token"
        case .overloaded: "overloaded"
        case .idempotencyConflict: "idempotency_conflict"
        case .accountFrozen: "account_frozen"
        case .conflict: "conflict"
        case .prerequisitesNotMet: "prerequisites_not_met"
        case .fourEyes: "four_eyes"
        case .notAssignee: "forbidden"
        }
    }
}
