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

    public static func normaliseEmail(_ email: String) throws(VigilError) -> String {
        let e = email.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        let parts = e.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."),
            !parts[1].hasSuffix("."), e.utf8.count <= 254,
            !e.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 })
        else {
            throw .invalidField(field: "email", reason: "must be an email address")
        }
        return e
    }

    public static func normalisePhone(_ phone: String) throws(VigilError) -> String {
        let stripped = phone.filter { !" -().".contains($0) }
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
