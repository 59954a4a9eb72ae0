/// One problem found in a policy folder: which file, where in it, and why.
///
/// `description` is the line `vigil policy check` prints, for example
/// `authentication.yaml: lockout.totp.max_consecutive_failures: 500 is out of range (1…100, NIST SP 800-63B §5.2.2)`.
public struct PolicyIssue: Sendable, Hashable, CustomStringConvertible {
    /// What kind of problem it is; the `reason` says it in words.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// A required policy file is not in the folder (or the folder is missing).
        case missingFile = "missing_file"
        /// A `.yaml`/`.yml` file in the folder that no policy reads (a misspelt name?).
        case unexpectedFile = "unexpected_file"
        /// The file cannot be read, is not UTF-8, or is not well-formed YAML.
        case syntax
        /// A key the schema does not have (a typo, or a key from another file).
        case unknownKey = "unknown_key"
        /// A required key is absent.
        case missingKey = "missing_key"
        /// The value has the wrong shape (a string where a number belongs, a list for a mapping…).
        case wrongType = "wrong_type"
        /// A number outside its allowed range.
        case outOfRange = "out_of_range"
        /// A value that is not one of those allowed (an enum value, a template, a time zone…).
        case invalidValue = "invalid_value"
        /// Values that are fine alone but contradict each other (min above max, …).
        case conflict
    }

    /// The policy file's name, e.g. `authentication.yaml` (for a missing folder: its path).
    public var file: String
    /// Dotted path to the value, e.g. `lockout.totp.max_consecutive_failures`, with `[n]` for
    /// list items (`triage[2].priority`); empty when the issue concerns the whole file.
    public var keyPath: String
    public var kind: Kind
    /// Why the value is refused, citing the rule's source where there is one.
    public var reason: String
    /// 1-based line in the file, when known.
    public var line: Int?

    public init(file: String, keyPath: String, kind: Kind, reason: String, line: Int? = nil) {
        self.file = file
        self.keyPath = keyPath
        self.kind = kind
        self.reason = reason
        self.line = line
    }

    public var description: String {
        keyPath.isEmpty ? "\(file): \(reason)" : "\(file): \(keyPath): \(reason)"
    }
}

/// A policy folder was rejected: every issue found in every file, in file order, then in the
/// order the keys appear. A policy set is accepted whole or not at all.
public struct PolicyValidationFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var issues: [PolicyIssue]

    public init(issues: [PolicyIssue]) {
        self.issues = issues
    }

    /// One issue a line.
    public var description: String {
        issues.map(\.description).joined(separator: "\n")
    }
}
