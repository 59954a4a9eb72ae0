import Yams

// Rules of this file:
// - Policy files are walked as a Yams `Node` tree, not decoded with Codable, so that a key
//   the schema does not read is reported (Codable ignores it) and so that every problem in
//   a file is collected, not just the first.
// - Values are typed strictly: YAML 1.1's surprises (`yes` as true, `010` as octal 8,
//   `1:30` as 90) are refused with a reason instead of being accepted as something else.
// - Every key a schema reads is required unless read with `optional`.

/// Collects the issues of one policy file while its parser walks the YAML tree.
final class PolicyReader {
    let file: String
    private(set) var issues: [PolicyIssue] = []

    init(file: String) {
        self.file = file
    }

    var hasIssues: Bool { !issues.isEmpty }

    func report(_ kind: PolicyIssue.Kind, at path: String, _ reason: String, node: Node? = nil, line: Int? = nil) {
        issues.append(PolicyIssue(file: file, keyPath: path, kind: kind, reason: reason, line: line ?? node?.mark?.line))
    }

    // MARK: Documents

    /// The single YAML document in `bytes`, or nil with a syntax issue.
    func compose(_ bytes: [UInt8]) -> Node? {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            report(.syntax, at: "", "is not valid UTF-8 text")
            return nil
        }
        do {
            guard let root = try Yams.compose(yaml: text) else {
                report(.syntax, at: "", "is empty")
                return nil
            }
            return root
        } catch let error as YamlError {
            let (reason, line) = Self.describe(error)
            report(.syntax, at: "", reason, line: line)
        } catch {
            report(.syntax, at: "", "is not valid YAML")
        }
        return nil
    }

    private static func describe(_ error: YamlError) -> (String, Int?) {
        func at(_ mark: Mark) -> String { "line \(mark.line), column \(mark.column)" }
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let while_ = context.map { " (\($0.text))" } ?? ""
            return ("YAML syntax error at \(at(mark)): \(problem)\(while_)", mark.line)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            return ("YAML error at \(at(context.mark)): duplicate key \(keys) in one mapping", context.mark.line)
        case .reader(let problem, _, _, _):
            return ("YAML error: \(problem)", nil)
        default:
            return ("is not valid YAML", nil)
        }
    }

    // MARK: Containers

    /// Runs `body` over the mapping at `node`, then reports every key `body` did not read.
    func mapping<T>(_ node: Node, at path: String, _ body: (PolicyMapping) -> T?) -> T? {
        guard case .mapping(let mapping) = node else {
            report(.wrongType, at: path, "expected a mapping, found \(Self.found(node))", node: node)
            return nil
        }
        let reader = PolicyMapping(reader: self, path: path, node: node, mapping: mapping)
        let result = body(reader)
        reader.reportUnreadKeys()
        return result
    }

    /// The items of the list at `node`, each with its key path (`path[i]`).
    func list(_ node: Node, at path: String) -> [(node: Node, path: String)]? {
        guard case .sequence(let sequence) = node else {
            report(.wrongType, at: path, "expected a list, found \(Self.found(node))", node: node)
            return nil
        }
        return sequence.enumerated().map { (node: $0.element, path: "\(path)[\($0.offset)]") }
    }

    /// Each item of the list at `node` converted by `element`; nil when the list or any item is invalid
    /// (every item is still checked, so all issues are reported).
    func list<T>(_ node: Node, at path: String, _ element: (Node, String) -> T?) -> [T]? {
        guard let items = list(node, at: path) else { return nil }
        let values = items.map { element($0.node, $0.path) }
        let valid = values.compactMap { $0 }
        return valid.count == values.count ? valid : nil
    }

    /// A list of distinct `E` values.
    func choices<E: RawRepresentable<String> & CaseIterable & Hashable>(_ node: Node, at path: String, as type: E.Type) -> [E]? {
        guard let items = list(node, at: path) else { return nil }
        var values: [E] = []
        var valid = true
        for item in items {
            guard let value = choice(item.node, at: item.path, as: type) else {
                valid = false
                continue
            }
            if values.contains(value) {
                report(.invalidValue, at: item.path, "'\(value.rawValue)' is listed more than once", node: item.node)
                valid = false
            } else {
                values.append(value)
            }
        }
        return valid ? values : nil
    }

    // MARK: Scalars

    /// A decimal integer within `range`; `source` names the rule the range comes from.
    func int(_ node: Node, at path: String, in range: ClosedRange<Int>, _ source: String? = nil) -> Int? {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any, Self.tag(of: node) == .int else {
            report(.wrongType, at: path, "expected an integer, found \(Self.found(node))", node: node)
            return nil
        }
        guard Self.isDecimal(scalar.string) else {
            report(.wrongType, at: path, "expected a decimal integer, found \(scalar.string)", node: node)
            return nil
        }
        guard let value = Int(scalar.string), range.contains(value) else {
            report(.outOfRange, at: path, "\(scalar.string) is out of range (\(Self.range(range, source)))", node: node)
            return nil
        }
        return value
    }

    /// An integer that must be one of `allowed`.
    func int(_ node: Node, at path: String, oneOf allowed: [Int], _ source: String? = nil) -> Int? {
        guard let value = int(node, at: path, in: Int.min...Int.max) else { return nil }
        guard allowed.contains(value) else {
            let list = allowed.map(String.init).joined(separator: ", ")
            report(.invalidValue, at: path, "\(value) is not one of \(list)\(source.map { " (\($0))" } ?? "")", node: node)
            return nil
        }
        return value
    }

    /// A finite decimal number (integer or fraction) within `range`.
    func number(_ node: Node, at path: String, in range: ClosedRange<Double>, _ source: String? = nil) -> Double? {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any,
            Self.tag(of: node) == .int || Self.tag(of: node) == .float
        else {
            report(.wrongType, at: path, "expected a number, found \(Self.found(node))", node: node)
            return nil
        }
        guard let value = Double(scalar.string), value.isFinite else {
            report(.wrongType, at: path, "expected a decimal number, found \(scalar.string)", node: node)
            return nil
        }
        guard range.contains(value) else {
            report(.outOfRange, at: path, "\(scalar.string) is out of range (\(Self.range(range, source)))", node: node)
            return nil
        }
        return value
    }

    /// `true` or `false` (YAML 1.1's yes/no/on/off are refused: they read as words).
    func bool(_ node: Node, at path: String) -> Bool? {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else {
            report(.wrongType, at: path, "expected true or false, found \(Self.found(node))", node: node)
            return nil
        }
        switch scalar.string {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default:
            report(.wrongType, at: path, "expected true or false, found \(Self.found(node))", node: node)
            return nil
        }
    }

    /// A non-empty string. A plain scalar that YAML reads as something else (`2024`, `true`,
    /// `null`) is refused: quote it to mean text.
    func string(_ node: Node, at path: String) -> String? {
        guard case .scalar(let scalar) = node else {
            report(.wrongType, at: path, "expected a string, found \(Self.found(node))", node: node)
            return nil
        }
        let isPlain = scalar.style == .plain || scalar.style == .any
        guard !isPlain || Self.tag(of: node) == .str else {
            report(.wrongType, at: path, "expected a string, found \(Self.found(node)) (quote it to use it as text)", node: node)
            return nil
        }
        guard !scalar.string.isEmpty else {
            report(.invalidValue, at: path, "must not be empty", node: node)
            return nil
        }
        return scalar.string
    }

    /// One of the raw values of `E`.
    func choice<E: RawRepresentable<String> & CaseIterable>(_ node: Node, at path: String, as type: E.Type, _ source: String? = nil) -> E? {
        guard let text = string(node, at: path) else { return nil }
        guard let value = E(rawValue: text) else {
            let allowed = E.allCases.map(\.rawValue).joined(separator: ", ")
            report(.invalidValue, at: path, "'\(text)' is not one of \(allowed)\(source.map { " (\($0))" } ?? "")", node: node)
            return nil
        }
        return value
    }

    // MARK: Wording

    /// How a value is named in a reason: `"text"`, `12`, `true`, `null`, `a mapping`, `a list`.
    static func found(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            let isPlain = scalar.style == .plain || scalar.style == .any
            if !isPlain { return "the string \"\(scalar.string)\"" }
            switch tag(of: node) {
            case .null: return "null"
            case .str: return "the string \"\(scalar.string)\""
            default: return scalar.string
            }
        }
    }

    /// The resolved YAML tag of a node (`Tag.name` is internal to Yams; its description is the name).
    static func tag(of node: Node) -> Tag.Name {
        Tag.Name(rawValue: node.tag.description)
    }

    static func range<T: Comparable>(_ range: ClosedRange<T>, _ source: String?) -> String {
        let bounds = "\(range.lowerBound)…\(range.upperBound)"
        return source.map { "\(bounds), \($0)" } ?? bounds
    }

    private static func isDecimal(_ text: String) -> Bool {
        var digits = Substring(text)
        if digits.first == "-" || digits.first == "+" { digits = digits.dropFirst() }
        guard let first = digits.first, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
        return first != "0" || digits.count == 1
    }
}

/// One YAML mapping being read: remembers which keys were asked for, so the rest can be
/// reported as unknown (with a suggestion when one is close to a known key).
final class PolicyMapping {
    let reader: PolicyReader
    let path: String
    let node: Node
    private let entries: [(key: String, keyNode: Node, value: Node)]
    private var requested: [String] = []

    init(reader: PolicyReader, path: String, node: Node, mapping: Node.Mapping) {
        self.reader = reader
        self.path = path
        self.node = node
        var entries: [(key: String, keyNode: Node, value: Node)] = []
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else {
                reader.report(.wrongType, at: path, "a key must be a name, found \(PolicyReader.found(key))", node: key)
                continue
            }
            entries.append((key: scalar.string, keyNode: key, value: value))
        }
        self.entries = entries
    }

    /// The key path of `key` in this mapping.
    func path(_ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    /// The keys present in the file, in order (for sections whose keys are names, e.g. `priorities`).
    var keys: [String] { entries.map(\.key) }

    /// The value of a required key; nil with a `missing_key` issue when absent.
    func required(_ key: String) -> Node? {
        requested.append(key)
        guard let entry = entries.first(where: { $0.key == key }) else {
            reader.report(.missingKey, at: path(key), "required key is missing", node: node)
            return nil
        }
        return entry.value
    }

    /// The value of an optional key, or nil.
    func optional(_ key: String) -> Node? {
        requested.append(key)
        return entries.first(where: { $0.key == key })?.value
    }

    /// Reports an issue about `key`'s value (at its line), e.g. a rule between two keys.
    func report(_ kind: PolicyIssue.Kind, _ key: String, _ reason: String) {
        let value = entries.first(where: { $0.key == key })?.value
        reader.report(kind, at: path(key), reason, node: value ?? node)
    }

    func reportUnreadKeys() {
        for entry in entries where !requested.contains(entry.key) {
            var reason = "unknown key"
            if let suggestion = Self.closest(to: entry.key, among: requested) {
                reason += " (did you mean '\(suggestion)'?)"
            }
            reader.report(.unknownKey, at: path(entry.key), reason, node: entry.keyNode)
        }
    }

    // MARK: Typed reads of required keys

    func int(_ key: String, in range: ClosedRange<Int>, _ source: String? = nil) -> Int? {
        required(key).flatMap { reader.int($0, at: path(key), in: range, source) }
    }

    func int(_ key: String, oneOf allowed: [Int], _ source: String? = nil) -> Int? {
        required(key).flatMap { reader.int($0, at: path(key), oneOf: allowed, source) }
    }

    func number(_ key: String, in range: ClosedRange<Double>, _ source: String? = nil) -> Double? {
        required(key).flatMap { reader.number($0, at: path(key), in: range, source) }
    }

    func bool(_ key: String) -> Bool? {
        required(key).flatMap { reader.bool($0, at: path(key)) }
    }

    func string(_ key: String) -> String? {
        required(key).flatMap { reader.string($0, at: path(key)) }
    }

    func choice<E: RawRepresentable<String> & CaseIterable>(_ key: String, as type: E.Type, _ source: String? = nil) -> E? {
        required(key).flatMap { reader.choice($0, at: path(key), as: type, source) }
    }

    func choices<E: RawRepresentable<String> & CaseIterable & Hashable>(_ key: String, as type: E.Type) -> [E]? {
        required(key).flatMap { reader.choices($0, at: path(key), as: type) }
    }

    func mapping<T>(_ key: String, _ body: (PolicyMapping) -> T?) -> T? {
        required(key).flatMap { reader.mapping($0, at: path(key), body) }
    }

    /// A mapping with one entry for every case of `Key`, each read by `body`; unknown names are
    /// reported as unknown keys, absent ones as missing keys.
    func exhaustive<Key: PolicyName, Value: Sendable>(_ key: String, _ body: (Key, PolicyMapping) -> Value?) -> Exhaustive<Key, Value>? {
        mapping(key) { section in section.exhaustive(body) }
    }

    /// This mapping read as one entry (a mapping) for every case of `Key`.
    func exhaustive<Key: PolicyName, Value: Sendable>(_ body: (Key, PolicyMapping) -> Value?) -> Exhaustive<Key, Value>? {
        var values: [Key: Value] = [:]
        for name in Key.allCases {
            if let value = mapping(name.rawValue, { body(name, $0) }) {
                values[name] = value
            }
        }
        return Exhaustive(values)
    }

    /// This mapping read as one scalar for every case of `Key`.
    func exhaustiveScalars<Key: PolicyName, Value: Sendable>(_ read: (Key, Node, String) -> Value?) -> Exhaustive<Key, Value>? {
        var values: [Key: Value] = [:]
        for name in Key.allCases {
            if let node = required(name.rawValue), let value = read(name, node, path(name.rawValue)) {
                values[name] = value
            }
        }
        return Exhaustive(values)
    }

    // MARK: Suggestions

    private static func closest(to key: String, among known: [String]) -> String? {
        let candidates = known.map { (name: $0, distance: editDistance(key, $0)) }
            .filter { $0.distance <= max(2, $0.name.count / 4) }
        return candidates.min(by: { $0.distance < $1.distance })?.name
    }

    private static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
