/// The names a policy section is keyed by: a closed set of snake_case strings.
public protocol PolicyName: RawRepresentable, CaseIterable, Hashable, Sendable where RawValue == String {}

/// A value for every case of `Key`: the shape of policy sections that must name each case
/// (every lockout factor, every verification check, every retention kind…). Reading it never
/// needs a fallback, because the loader refuses a file that leaves a case out.
public struct Exhaustive<Key: PolicyName, Value: Sendable>: Sendable {
    private var values: [Key: Value]

    /// A map with `value(key)` for every key.
    public init(_ value: (Key) throws -> Value) rethrows {
        var values: [Key: Value] = [:]
        for key in Key.allCases {
            values[key] = try value(key)
        }
        self.values = values
    }

    /// Nil unless `values` has every key.
    init?(_ values: [Key: Value]) {
        guard Key.allCases.allSatisfy({ values[$0] != nil }) else { return nil }
        self.values = values
    }

    public subscript(key: Key) -> Value {
        get {
            guard let value = values[key] else { preconditionFailure("Exhaustive map without \(key)") }
            return value
        }
        set { values[key] = newValue }
    }

    /// Every key with its value, in `Key.allCases` order.
    public var entries: [(key: Key, value: Value)] {
        Key.allCases.map { (key: $0, value: self[$0]) }
    }
}

extension Exhaustive: Equatable where Value: Equatable {}
