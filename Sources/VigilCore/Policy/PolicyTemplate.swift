import Foundation

/// `{name}` placeholders in policy strings (the TOTP label, the reset link).
enum PolicyTemplate {
    /// The placeholder names in `template`, in order; nil when a brace is unbalanced or nested.
    static func placeholders(in template: String) -> [String]? {
        var names: [String] = []
        var current: String?
        for character in template {
            switch (character, current) {
            case ("{", nil): current = ""
            case ("}", let name?):
                names.append(name)
                current = nil
            case ("{", _?), ("}", nil): return nil
            case (_, let name?): current = name + String(character)
            case (_, nil): continue
            }
        }
        return current == nil ? names : nil
    }

    /// Nil when `template` uses only `allowed` placeholders and each of `required` exactly once;
    /// otherwise the reason it is refused.
    static func check(_ template: String, allowed: Set<String>, required: [String]) -> String? {
        let allowedList = allowed.sorted().map { "{\($0)}" }.joined(separator: ", ")
        guard let names = placeholders(in: template) else {
            return "'\(template)' has an unbalanced '{' or '}'"
        }
        if let unknown = names.first(where: { !allowed.contains($0) }) {
            return "'\(template)' uses unknown placeholder {\(unknown)} (allowed: \(allowedList))"
        }
        for name in required where names.filter({ $0 == name }).count != 1 {
            return "'\(template)' must contain {\(name)} exactly once"
        }
        return nil
    }

    /// `template` with each `{name}` replaced by `values[name]`.
    static func fill(_ template: String, with values: [String: String]) -> String {
        var result = template
        for (name, value) in values {
            result = result.replacingOccurrences(of: "{\(name)}", with: value)
        }
        return result
    }

    /// A plain file name: no directory part, not hidden, not `.` or `..`.
    static func isBareFileName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix(".") && !name.contains("/") && !name.contains("\\")
            && !name.contains(where: { $0.isNewline || $0 == "\0" })
    }
}
