import Foundation

/// A wallet user as the wallet backend registers them. `subjectID` is the backend's own
/// opaque id; `email`, `phone` and `displayName` are personal data and are stored encrypted.
public struct SubjectRegistration: Sendable, Equatable {
    public var subjectID: String
    public var email: String?
    public var phone: String?
    public var displayName: String?

    public init(subjectID: String, email: String?, phone: String?, displayName: String?) {
        self.subjectID = subjectID
        self.email = email
        self.phone = phone
        self.displayName = displayName
    }

    /// Validates and normalises. Rules:
    /// - `subject_id`: 1–128 characters of `A–Z a–z 0–9 . _ : -` (an opaque id, not a person's data);
    /// - `email`: trimmed, lower-cased, one `@` with text on both sides, at most 254 bytes;
    /// - `phone`: E.164: `+` then 8–15 digits; spaces, dashes and parentheses are removed first;
    /// - `display_name`: trimmed, 1–200 characters, no control characters.
    /// Error reasons name the rule, never echo the value.
    public func validated() throws(VigilError) -> SubjectRegistration {
        guard Self.isValidSubjectID(subjectID) else {
            throw .invalidField(field: "subject_id", reason: "must be 1-128 characters of letters, digits and . _ : -")
        }
        var out = self
        if let email {
            out.email = try Self.normaliseEmail(email)
        }
        if let phone {
            out.phone = try Self.normalisePhone(phone)
        }
        if let name = displayName {
            let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty, trimmed.count <= 200,
                !trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else {
                throw .invalidField(field: "display_name", reason: "must be 1-200 characters without control characters")
            }
            out.displayName = trimmed
        }
        return out
    }

    public static func isValidSubjectID(_ id: String) -> Bool {
        guard !id.isEmpty, id.utf8.count <= 128 else { return false }
        return id.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2e || c == 0x5f
                || c == 0x3a || c == 0x2d
        }
    }

    /// One form per address, used for storage, the blind index and every look-up: NFKC (so
    /// fullwidth and other compatibility forms of ASCII are the ASCII address), trimmed, and
    /// case-folded — the domain always (DNS is case-insensitive), the local part too (Vigil's
    /// rule: RFC 5321 allows case-sensitive local parts, but no mailbox provider a wallet user
    /// has treats `Ada` and `ada` as two people, and two accounts that differ only in case are
    /// the confusion this rule exists to prevent). Look-alikes from other scripts (Cyrillic `а`
    /// for Latin `a`) stay distinct addresses; `identifierWarnings` flags them to agents.
    public static func normaliseEmail(_ email: String) throws(VigilError) -> String {
        let e = email.precomposedStringWithCompatibilityMapping.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        let parts = e.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."),
            !parts[1].hasSuffix("."), e.utf8.count <= 254,
            !e.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 })
        else {
            throw .invalidField(field: "email", reason: "must be an email address")
        }
        return e
    }

    /// E.164: NFKC first (fullwidth digits and plus become ASCII), then spaces, dashes, dots and
    /// parentheses removed: `+49 151 …`, `+49-151-…` and `+49151…` are one number.
    public static func normalisePhone(_ phone: String) throws(VigilError) -> String {
        let stripped = phone.precomposedStringWithCompatibilityMapping.filter { !" -().".contains($0) }
        guard stripped.hasPrefix("+") else {
            throw .invalidField(field: "phone", reason: "must be in E.164 form, e.g. +4915112345678")
        }
        let digits = stripped.dropFirst()
        guard (8...15).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw .invalidField(field: "phone", reason: "must be in E.164 form, e.g. +4915112345678")
        }
        return stripped
    }
}

/// Warnings about an identifier that a person could confuse with another, for agents who match
/// a requester to an account. No personal data: names of rules only.
public enum IdentifierWarning: String, Sendable, Hashable, CaseIterable {
    /// Letters of more than one script in one part of the address (Latin with Cyrillic or
    /// Greek…): the classic look-alike of another address.
    case emailMixedScripts = "email_mixed_scripts"
    /// Letters outside ASCII: the address may look like an ASCII one it is not.
    case emailNonASCII = "email_non_ascii"

    /// The warnings for a normalised email address.
    public static func of(email: String) -> Set<IdentifierWarning> {
        var warnings: Set<IdentifierWarning> = []
        if email.unicodeScalars.contains(where: { $0.properties.isAlphabetic && !$0.isASCII }) { warnings.insert(.emailNonASCII) }
        // The local part as a whole, the domain label by label (`пример.example` is two scripts
        // in two labels, which is how internationalised domains look, not a look-alike).
        let parts = email.split(separator: "@", maxSplits: 1)
        let pieces = (parts.first.map { [$0] } ?? []) + (parts.count > 1 ? parts[1].split(separator: ".") : [])
        for piece in pieces where Set(piece.unicodeScalars.compactMap(Self.script)).count > 1 {
            warnings.insert(.emailMixedScripts)
        }
        return warnings
    }

    /// A coarse script of a letter, by Unicode block (Swift exposes no Script property); nil
    /// for what is not a letter (digits and punctuation mix with any script).
    static func script(_ u: Unicode.Scalar) -> String? {
        guard u.properties.isAlphabetic else { return nil }
        switch u.value {
        case 0x0041...0x024F, 0x1E00...0x1EFF, 0xFF21...0xFF5A: return "latin"
        case 0x0370...0x03FF, 0x1F00...0x1FFF: return "greek"
        case 0x0400...0x052F, 0x2DE0...0x2DFF, 0xA640...0xA69F: return "cyrillic"
        case 0x0530...0x058F: return "armenian"
        case 0x0590...0x05FF: return "hebrew"
        case 0x0600...0x06FF, 0x0750...0x077F: return "arabic"
        case 0x3040...0x30FF, 0x3400...0x9FFF, 0xAC00...0xD7AF: return "cjk"
        default: return "other"
        }
    }
}

/// A stored subject with its personal data decrypted, for the few places allowed to see it.
public struct Subject: Sendable, Equatable {
    public var subjectID: String
    public var email: String?
    public var phone: String?
    public var displayName: String?
    public var createdAt: Date

    public init(subjectID: String, email: String?, phone: String?, displayName: String?, createdAt: Date) {
        self.subjectID = subjectID
        self.email = email
        self.phone = phone
        self.displayName = displayName
        self.createdAt = createdAt
    }
}
