import Foundation
import VigilCrypto

/// What a service client's API key may do.
public enum Scope: String, Sendable, CaseIterable, Codable {
    case subjectsWrite = "subjects:write"
    case credentialsVerify = "credentials:verify"
    case recoveryWrite = "recovery:write"
    case reportsWrite = "reports:write"
    case casesWrite = "cases:write"
    case auditRead = "audit:read"

    /// Parses a comma-separated list; throws naming the first unknown scope.
    public static func parseList(_ text: String) throws(VigilError) -> [Scope] {
        var scopes: [Scope] = []
        for part in text.split(separator: ",") {
            let name = part.trimmingCharacters(in: .whitespaces)
            guard let scope = Scope(rawValue: name) else {
                throw .invalidField(
                    field: "scopes",
                    reason: "unknown scope; known scopes: \(Scope.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            if !scopes.contains(scope) { scopes.append(scope) }
        }
        guard !scopes.isEmpty else { throw .invalidField(field: "scopes", reason: "must name at least one scope") }
        return scopes
    }
}

/// An API key as stored: the secret part only as SHA-256 (it is 256 random bits, so a fast
/// hash is enough: there is nothing to brute-force).
public struct APIKeyRecord: Sendable, Equatable {
    public var id: String
    public var name: String
    public var secretHash: [UInt8]
    public var scopes: [Scope]
    public var createdAt: Date
    public var revokedAt: Date?

    public init(id: String, name: String, secretHash: [UInt8], scopes: [Scope], createdAt: Date, revokedAt: Date?) {
        self.id = id
        self.name = name
        self.secretHash = secretHash
        self.scopes = scopes
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}

/// The text form of an API key: `vgl_<id>_<secret>`, where `id` is 16 lower-case base32
/// characters (80 bits, public, the row key) and `secret` is 43 base64url characters
/// (256 random bits). The prefix makes leaked keys easy to find with secret scanners.
public struct APIKeyToken: Sendable, CustomStringConvertible {
    public static let prefix = "vgl_"
    public let id: String
    private let secret: [UInt8]

    /// A new random key.
    public static func generate() -> APIKeyToken {
        let id = ByteEncoding.base32(SecureRandom.bytes(10)).lowercased()
        return APIKeyToken(id: id, secret: SecureRandom.bytes(32))
    }

    private init(id: String, secret: [UInt8]) {
        self.id = id
        self.secret = secret
    }

    /// Parses a presented key; nil when it is not of the form (the caller answers
    /// `unauthenticated` without saying why).
    public static func parse(_ text: String) -> APIKeyToken? {
        guard text.hasPrefix(prefix), text.utf8.count == prefix.utf8.count + 16 + 1 + 43 else { return nil }
        let rest = text.dropFirst(prefix.count)
        let id = String(rest.prefix(16))
        guard rest.dropFirst(16).first == "_", id.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x32 && $0 <= 0x37) })
        else { return nil }
        let secretText = String(rest.dropFirst(17))
        // Canonical encoding only: the last character carries 2 unused bits, and a lenient
        // decoder would accept four spellings of one key.
        guard let secret = ByteEncoding.fromBase64URL(secretText), secret.count == 32,
            ByteEncoding.base64URL(secret) == secretText
        else { return nil }
        return APIKeyToken(id: id, secret: secret)
    }

    public var secretHash: [UInt8] { SHA256.hash(secret) }

    /// The full key text. Shown once, to the operator who created it.
    public func revealOnce() -> String { "\(Self.prefix)\(id)_\(ByteEncoding.base64URL(secret))" }

    /// Redacted: only the public id.
    public var description: String { "\(Self.prefix)\(id)_<redacted>" }

    /// Constant-time check of this token's secret against a stored hash.
    public func matches(_ record: APIKeyRecord) -> Bool {
        ConstantTime.equals(secretHash, record.secretHash)
    }
}

/// Who is calling, once authenticated.
public enum Principal: Sendable, Equatable {
    case service(keyID: String, name: String, scopes: [Scope])
    /// A support agent with a console session; agents have roles, not scopes.
    case agent(id: String, role: AgentRole)

    public var actor: AuditActor {
        switch self {
        case .service(let id, _, _): AuditActor(type: .service, id: id)
        case .agent(let id, _): AuditActor(type: .agent, id: id)
        }
    }

    /// Service routes need a scope; an agent never has one.
    public func require(_ scope: Scope) throws(VigilError) {
        switch self {
        case .service(_, _, let scopes):
            guard scopes.contains(scope) else { throw .forbidden(needed: scope.rawValue) }
        case .agent:
            throw .forbidden(needed: scope.rawValue)
        }
    }

    /// Agent routes need one of `roles`; a service client never has one.
    public func require(role roles: Set<AgentRole>) throws(VigilError) {
        switch self {
        case .agent(_, let role):
            guard roles.contains(role) else { throw .forbidden(needed: "role " + roles.map(\.rawValue).sorted().joined(separator: "|")) }
        case .service:
            throw .forbidden(needed: "an agent session")
        }
    }
}
