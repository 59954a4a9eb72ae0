import Foundation
import VigilCrypto

/// Password rules (NIST SP 800-63B §5.1.1.2; SP 800-63B-4 §3.1.1.2). The numbers come from
/// `Policies/authentication.yaml` (`password`); the rules themselves are not settings:
/// - the password is normalised with NFKC (Unicode compatibility composition) before anything
///   else, at set and at verify alike, and the normalised UTF-8 bytes are what argon2id hashes
///   — all of them, never truncated;
/// - lengths count Unicode code points of the normalised form (not bytes, UTF-16 units or
///   grapheme clusters): at least `min_length` when the subject has an active TOTP, at least
///   `single_factor_min_length` when the password is its only factor, at most `max_length`;
/// - no composition rules (no "a digit and a symbol"), no hints, no expiry; every character,
///   spaces and emoji included, is allowed;
/// - refused when its lower-cased normalised form is on the blocklist, or when it contains
///   the subject id (compared case-insensitively; ids shorter than 4 characters are not
///   checked, as they would refuse ordinary words);
/// - a refusal names the field and the rule, never the value.
public struct PasswordRules: Sendable {
    public let policy: AuthenticationPolicy.Password
    public let blocklist: PasswordBlocklist

    /// Subject ids shorter than this are not searched for in passwords.
    public static let minimumIDLengthChecked = 4
    /// The longest password a verify accepts: the highest `max_length` any policy may set, so
    /// lowering `max_length` never locks out a password set under an older policy.
    public static let verifyCeiling = 1024

    public init(policy: AuthenticationPolicy.Password, blocklist: PasswordBlocklist) {
        self.policy = policy
        self.blocklist = blocklist
    }

    /// Checks a new password for `subjectID`; returns it normalised, ready to hash.
    public func check(_ typed: String, subjectID: String, hasSecondFactor: Bool) throws -> PasswordCandidate {
        let normalised = PasswordCandidate.normalise(typed)
        let length = normalised.unicodeScalars.count
        try checkLength(length, hasSecondFactor: hasSecondFactor)
        guard length <= policy.maxLength else {
            throw VigilError.invalidField(
                field: "password",
                reason: "must be at most \(policy.maxLength) characters (Unicode code points after NFKC)"
            )
        }
        let folded = normalised.lowercased()
        if blocklist.contains(normalisedLowercased: folded) {
            throw VigilError.invalidField(field: "password", reason: "is a commonly used password (on the blocklist); choose another")
        }
        if subjectID.count >= Self.minimumIDLengthChecked, folded.contains(PasswordCandidate.normalise(subjectID).lowercased()) {
            throw VigilError.invalidField(field: "password", reason: "must not contain the subject id")
        }
        return try PasswordCandidate(normalised: normalised, codePoints: length)
    }

    /// The minimum length again, for a use case that re-reads whether the subject has a second
    /// factor inside its transaction.
    public func checkLength(_ codePoints: Int, hasSecondFactor: Bool) throws {
        let minimum = policy.minimumLength(hasSecondFactor: hasSecondFactor)
        guard codePoints >= minimum else {
            let why = hasSecondFactor ? "" : " when the password is the only factor"
            throw VigilError.invalidField(
                field: "password",
                reason: "must be at least \(minimum) characters (Unicode code points after NFKC)\(why)"
            )
        }
    }

    /// A password offered at verify: normalised the same way, with no rule but the ceiling.
    public static func candidate(forVerifying typed: String) throws -> PasswordCandidate {
        let normalised = PasswordCandidate.normalise(typed)
        let length = normalised.unicodeScalars.count
        guard length <= verifyCeiling else {
            throw VigilError.invalidField(field: "password", reason: "must be at most \(verifyCeiling) characters")
        }
        return try PasswordCandidate(normalised: normalised, codePoints: length)
    }
}

/// A password after NFKC normalisation, its UTF-8 bytes in a `SecretBytes` that is zeroed on
/// release. It does not print, encode or compare itself.
///
/// Per-request memory, not `sodium_malloc` pages (as for a TOTP secret decrypted for one
/// verification): the mmap/mprotect/mlock/munmap of guarded pages take the process's memory-map
/// lock, which the argon2id workers hold for milliseconds while libsodium maps and populates
/// 19 MiB per hash, so under a busy pool every request that made a candidate stalled there — on
/// the threads that also answer TOTP verifies.
public struct PasswordCandidate: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    let secret: SecretBytes
    /// Unicode code points of the normalised form.
    public let codePoints: Int

    init(normalised: String, codePoints: Int) throws {
        var bytes = Array(normalised.utf8)
        defer { for i in bytes.indices { bytes[i] = 0 } }
        secret = try SecretBytes(transient: bytes)
        self.codePoints = codePoints
    }

    /// NFKC (`precomposedStringWithCompatibilityMapping`).
    static func normalise(_ s: String) -> String { s.precomposedStringWithCompatibilityMapping }

    public var description: String { "PasswordCandidate(<redacted \(codePoints) code points>)" }
    public var debugDescription: String { description }
}

/// The list of common and breached passwords refused at set (`password.blocklist` in the
/// authentication policy, a file in the policy folder). Entries are compared after NFKC and
/// lower-casing, on both sides.
///
/// File format: UTF-8, one password a line; blank lines and lines starting with `#` are
/// skipped (so a password starting with `#` cannot be listed). Loaded once at start-up; a
/// missing, unreadable or empty file stops the start (fail closed).
public struct PasswordBlocklist: Sendable {
    private let entries: Set<String>

    /// Number of distinct entries.
    public var count: Int { entries.count }

    /// A list from given entries (tests).
    public init(_ entries: some Sequence<String>) {
        self.entries = Set(entries.map { PasswordCandidate.normalise($0).lowercased() })
    }

    /// Why a blocklist could not be loaded.
    public enum LoadError: Error, Equatable, CustomStringConvertible {
        case missing(path: String)
        case unreadable(path: String)
        case empty(path: String)

        public var description: String {
            switch self {
            case .missing(let path): "password blocklist \(path) not found"
            case .unreadable(let path): "password blocklist \(path) is not readable UTF-8 text"
            case .empty(let path): "password blocklist \(path) has no entries"
            }
        }
    }

    /// Loads the file the policy names from the policy folder.
    public static func load(policiesDirectory: URL, policy: AuthenticationPolicy.Password) throws(LoadError) -> PasswordBlocklist {
        try load(file: policiesDirectory.appendingPathComponent(policy.blocklist))
    }

    /// Loads a blocklist file.
    public static func load(file: URL) throws(LoadError) -> PasswordBlocklist {
        guard FileManager.default.fileExists(atPath: file.path) else { throw .missing(path: file.path) }
        guard let data = try? Data(contentsOf: file), String(data: data, encoding: .utf8) != nil else {
            throw .unreadable(path: file.path)
        }
        let lines = data.split(separator: UInt8(ascii: "\n"))
            .map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        let list = PasswordBlocklist(lines)
        guard list.count > 0 else { throw .empty(path: file.path) }
        return list
    }

    /// True when `password` (as typed) is on the list.
    public func contains(_ password: String) -> Bool {
        entries.contains(PasswordCandidate.normalise(password).lowercased())
    }

    func contains(normalisedLowercased: String) -> Bool { entries.contains(normalisedLowercased) }
}
