/// Errors from the audit module. Messages name what is wrong, never secret material.
public enum AuditError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Bytes or text that do not follow the format (docs/audit-format.md).
    case malformed(String)
    /// An entry field that breaks a rule of the entry format.
    case invalidEntry(String)
    /// A proof that does not verify, or a request for a proof that cannot exist.
    case invalidProof(String)
    /// A signed note carries no valid signature from any of the trusted keys.
    case unverifiedNote(String)
    /// A file could not be read or written.
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case .malformed(let what): "malformed \(what)"
        case .invalidEntry(let what): "invalid audit entry: \(what)"
        case .invalidProof(let what): "invalid proof: \(what)"
        case .unverifiedNote(let what): "unverified note: \(what)"
        case .io(let path, let reason): "\(path): \(reason)"
        }
    }
}
