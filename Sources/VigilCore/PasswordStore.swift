import Foundation

/// A subject's password verifier: an argon2id string in libsodium's self-describing format
/// (`$argon2id$v=19$m=…,t=…,p=1$salt$hash`). It is a slow, salted hash, not personal data,
/// and it is only ever handed to libsodium.
public struct PasswordRecord: Sendable, Equatable {
    public var hash: String
    /// When a password was first set for the subject.
    public var createdAt: Date
    /// When the password was last set or its hash last replaced (rehash).
    public var updatedAt: Date

    public init(hash: String, createdAt: Date, updatedAt: Date) {
        self.hash = hash
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// Password storage.
public protocol PasswordReading {
    func password(subjectID: String) throws -> PasswordRecord?
}

public protocol PasswordWriting: PasswordReading {
    /// Sets or replaces the subject's password hash; true when it replaced one.
    func setPassword(subjectID: String, hash: String, at time: Date) throws -> Bool
    /// Replaces the hash only while it is still `expected`, so a rehash never undoes a password
    /// change that committed in between; true when it replaced it.
    func rehashPassword(subjectID: String, from expected: String, to hash: String, at time: Date) throws -> Bool
}
