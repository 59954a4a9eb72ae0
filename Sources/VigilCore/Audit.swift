import Foundation

/// Who did something, as the audit log records it: never a person's identifier, only the
/// id of an API key, an agent account, or the system.
public struct AuditActor: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case service, agent, system
    }
    public var type: Kind
    public var id: String

    public init(type: Kind, id: String) {
        self.type = type
        self.id = id
    }

    public static let system = AuditActor(type: .system, id: "vigil")
    public static func cli(_ verb: String) -> AuditActor { AuditActor(type: .system, id: "cli:\(verb)") }
}

/// An event to record. The store turns it into a canonical audit entry inside the same
/// transaction as the change; `target.id` and `sourceIP` are replaced by keyed hashes there,
/// so no identifier of a person reaches the log.
public struct AuditRecord: Sendable, Equatable {
    public struct Target: Sendable, Equatable {
        public var type: String
        /// The plaintext identifier; hashed by the store before it is written.
        public var id: String
        public init(type: String, id: String) {
            self.type = type
            self.id = id
        }
    }

    public enum Outcome: String, Sendable {
        case success, failure, denied
    }

    public var action: String
    public var actor: AuditActor
    public var target: Target?
    public var outcome: Outcome
    public var requestID: String?
    public var sourceIP: String?
    /// Details without personal data: counts, versions, scope names, reasons.
    public var details: [String: AuditValue]
    public var time: Date

    public init(
        action: String,
        actor: AuditActor,
        target: Target? = nil,
        outcome: Outcome = .success,
        requestID: String? = nil,
        sourceIP: String? = nil,
        details: [String: AuditValue] = [:],
        time: Date
    ) {
        self.action = action
        self.actor = actor
        self.target = target
        self.outcome = outcome
        self.requestID = requestID
        self.sourceIP = sourceIP
        self.details = details
        self.time = time
    }
}

/// A value in audit details: text or a whole number (no floats, so the canonical form is exact).
public enum AuditValue: Sendable, Equatable {
    case string(String)
    case int(Int64)
}

extension AuditValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
}

/// Context of one request, passed to use cases for the audit trail.
public struct RequestInfo: Sendable {
    public var requestID: String?
    public var sourceIP: String?
    public init(requestID: String?, sourceIP: String?) {
        self.requestID = requestID
        self.sourceIP = sourceIP
    }
}
