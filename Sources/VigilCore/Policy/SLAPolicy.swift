import Foundation
import Yams

/// The channels a support case comes in through (DESIGN.md).
public enum CaseChannel: String, PolicyName, Codable {
    case wechat
    case email
    case inApp = "in_app"
    case phone
    case api
}

/// The categories a support case is filed under (DESIGN.md).
public enum CaseCategory: String, PolicyName, Codable {
    case accountSecurity = "account_security"
    case suspiciousLogin = "suspicious_login"
    case passwordReset = "password_reset"
    case lost2FA = "lost_2fa"
    case transfer
    case refund
    case depositWithdrawal = "deposit_withdrawal"
    case other
}

/// Case priority; `P1` is the most urgent and sorts first (`P1 < P2`).
public enum CasePriority: String, PolicyName, Comparable, Codable {
    case p1 = "P1"
    case p2 = "P2"
    case p3 = "P3"
    case p4 = "P4"

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Facts about a case's subject that triage rules can match on.
public enum TriageSignal: String, PolicyName {
    /// The requester says someone else controls the account.
    case takeoverReported = "takeover_reported"
    /// The subject is frozen (for example by a suspicious-login decision).
    case accountFrozen = "account_frozen"
    /// A password, second factor or contact changed within `recentChangeWindowHours`.
    case recentCredentialChange = "recent_credential_change"
    /// A factor is locked by lockout.
    case factorLocked = "factor_locked"
}

/// `sla.yaml`: 24/7 targets per priority and the triage rules. There is no business-hours
/// setting: SLA clocks never pause, and the loader accepts only `coverage: 24/7`.
public struct SLAPolicy: Sendable, Equatable {
    /// The zone reports use, besides UTC, for response times by hour of day.
    public var supportTimeZone: TimeZone
    public var channels: [CaseChannel]
    public var categories: [CaseCategory]
    public var priorities: Exhaustive<CasePriority, Target>
    public var defaultPriority: CasePriority
    public var recentChangeWindowHours: Int
    public var triageRules: [TriageRule]

    public init(
        supportTimeZone: TimeZone,
        channels: [CaseChannel],
        categories: [CaseCategory],
        priorities: Exhaustive<CasePriority, Target>,
        defaultPriority: CasePriority,
        recentChangeWindowHours: Int,
        triageRules: [TriageRule]
    ) {
        self.supportTimeZone = supportTimeZone
        self.channels = channels
        self.categories = categories
        self.priorities = priorities
        self.defaultPriority = defaultPriority
        self.recentChangeWindowHours = recentChangeWindowHours
        self.triageRules = triageRules
    }

    /// `priorities.<P>`: minutes on the 24/7 clock.
    public struct Target: Sendable, Equatable {
        public var firstResponseMinutes: Int
        public var resolutionMinutes: Int

        public init(firstResponseMinutes: Int, resolutionMinutes: Int) {
            self.firstResponseMinutes = firstResponseMinutes
            self.resolutionMinutes = resolutionMinutes
        }
    }

    /// `triage[n]`: matches when every condition it has holds (nil: no condition on that).
    public struct TriageRule: Sendable, Equatable {
        public var name: String
        public var categories: [CaseCategory]?
        public var channels: [CaseChannel]?
        /// At least one of them must be present.
        public var signals: [TriageSignal]?
        public var priority: CasePriority

        public init(name: String, categories: [CaseCategory]?, channels: [CaseChannel]?, signals: [TriageSignal]?, priority: CasePriority) {
            self.name = name
            self.categories = categories
            self.channels = channels
            self.signals = signals
            self.priority = priority
        }

        public func matches(category: CaseCategory, channel: CaseChannel, signals present: Set<TriageSignal>) -> Bool {
            (categories?.contains(category) ?? true)
                && (channels?.contains(channel) ?? true)
                && (signals?.contains(where: present.contains) ?? true)
        }
    }

    /// A triage result: the priority and the names of every rule that matched, in file order.
    public struct Triage: Sendable, Equatable {
        public var priority: CasePriority
        public var rules: [String]

        public init(priority: CasePriority, rules: [String]) {
            self.priority = priority
            self.rules = rules
        }
    }

    /// The most urgent priority of all matching rules, else `defaultPriority`.
    public func triage(category: CaseCategory, channel: CaseChannel, signals: Set<TriageSignal>) -> Triage {
        let matching = triageRules.filter { $0.matches(category: category, channel: channel, signals: signals) }
        return Triage(priority: matching.map(\.priority).min() ?? defaultPriority, rules: matching.map(\.name))
    }

    /// When the first response and the resolution are due for a case opened at `openedAt`.
    /// The clock runs 24/7: no pause for nights, weekends or holidays.
    public func deadlines(for priority: CasePriority, openedAt: Date) -> (firstResponse: Date, resolution: Date) {
        let target = priorities[priority]
        return (
            openedAt.addingTimeInterval(TimeInterval(target.firstResponseMinutes * 60)),
            openedAt.addingTimeInterval(TimeInterval(target.resolutionMinutes * 60))
        )
    }
}

// MARK: - Reading and validation

extension SLAPolicy {
    static let fileName = "sla.yaml"

    static func read(_ root: PolicyMapping) -> SLAPolicy? {
        var coverage = root.string("coverage")
        if let value = coverage, value != "24/7" {
            root.report(.invalidValue, "coverage", "'\(value)' is not one of 24/7: SLA clocks never pause for nights or weekends")
            coverage = nil
        }
        let zone = root.string("support_time_zone").flatMap { name -> TimeZone? in
            let known = name == "UTC" || TimeZone.knownTimeZoneIdentifiers.contains(name)
            guard known, let zone = TimeZone(identifier: name) else {
                root.report(.invalidValue, "support_time_zone", "'\(name)' is not an IANA time zone name (e.g. Asia/Shanghai, Europe/Berlin, UTC)")
                return nil
            }
            return zone
        }
        let channels = nonEmpty(root, "channels", as: CaseChannel.self)
        let categories = nonEmpty(root, "categories", as: CaseCategory.self)
        let priorities = readPriorities(root)
        let defaultPriority = root.choice("default_priority", as: CasePriority.self)
        let window = root.int("recent_change_window_hours", in: 1...720)
        let triage = root.required("triage").flatMap { node in
            readTriage(node, root, channels: channels, categories: categories)
        }
        guard coverage != nil, let zone, let channels, let categories, let priorities, let defaultPriority, let window, let triage else {
            return nil
        }
        return SLAPolicy(
            supportTimeZone: zone,
            channels: channels,
            categories: categories,
            priorities: priorities,
            defaultPriority: defaultPriority,
            recentChangeWindowHours: window,
            triageRules: triage
        )
    }

    private static func nonEmpty<E: PolicyName>(_ m: PolicyMapping, _ key: String, as type: E.Type) -> [E]? {
        guard let values = m.choices(key, as: type) else { return nil }
        guard !values.isEmpty else {
            m.report(.invalidValue, key, "must list at least one value")
            return nil
        }
        return values
    }

    private static func readPriorities(_ root: PolicyMapping) -> Exhaustive<CasePriority, Target>? {
        root.mapping("priorities") { section -> Exhaustive<CasePriority, Target>? in
            let targets: Exhaustive<CasePriority, Target>? = section.exhaustive { (priority: CasePriority, m) -> Target? in
                let first = m.int("first_response_minutes", in: 1...10080)
                let resolution = m.int("resolution_minutes", in: 1...43200)
                if let first, let resolution, first > resolution {
                    m.report(.conflict, "first_response_minutes", "\(first) is longer than resolution_minutes (\(resolution))")
                    return nil
                }
                guard let first, let resolution else { return nil }
                return Target(firstResponseMinutes: first, resolutionMinutes: resolution)
            }
            guard let targets else { return nil }
            var ordered = true
            for (more, less) in zip(CasePriority.allCases, CasePriority.allCases.dropFirst()) {
                let (a, b) = (targets[more], targets[less])
                let path = "\(less.rawValue).first_response_minutes"
                if b.firstResponseMinutes < a.firstResponseMinutes {
                    section.reader.report(
                        .conflict,
                        at: section.path(path),
                        "\(b.firstResponseMinutes) is shorter than \(more.rawValue)'s (\(a.firstResponseMinutes)): a less urgent priority must not have a tighter target"
                    )
                    ordered = false
                }
                if b.resolutionMinutes < a.resolutionMinutes {
                    section.reader.report(
                        .conflict,
                        at: section.path("\(less.rawValue).resolution_minutes"),
                        "\(b.resolutionMinutes) is shorter than \(more.rawValue)'s (\(a.resolutionMinutes)): a less urgent priority must not have a tighter target"
                    )
                    ordered = false
                }
            }
            return ordered ? targets : nil
        }
    }

    private static func readTriage(_ node: Node, _ root: PolicyMapping, channels: [CaseChannel]?, categories: [CaseCategory]?) -> [TriageRule]? {
        var names: Set<String> = []
        return root.reader.list(node, at: root.path("triage")) { item, path in
            root.reader.mapping(item, at: path) { m -> TriageRule? in
                var name = m.string("name")
                if let value = name {
                    if !value.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) {
                        m.report(.invalidValue, "name", "'\(value)' must be snake_case (a–z, 0–9, _)")
                        name = nil
                    } else if !names.insert(value).inserted {
                        m.report(.invalidValue, "name", "'\(value)' is used by an earlier rule")
                        name = nil
                    }
                }
                let ruleCategories = condition(m, "categories", as: CaseCategory.self, listed: categories, listName: "categories")
                let ruleChannels = condition(m, "channels", as: CaseChannel.self, listed: channels, listName: "channels")
                let ruleSignals = condition(m, "signals", as: TriageSignal.self, listed: nil, listName: nil)
                let priority = m.choice("priority", as: CasePriority.self)
                let hasCondition = [m.optional("categories"), m.optional("channels"), m.optional("signals")].contains { $0 != nil }
                if !hasCondition {
                    m.reader.report(.missingKey, at: path, "a triage rule needs at least one of categories, channels, signals", node: item)
                }
                guard hasCondition, let name, let priority, let ruleCategories, let ruleChannels, let ruleSignals else { return nil }
                return TriageRule(
                    name: name,
                    categories: ruleCategories.value,
                    channels: ruleChannels.value,
                    signals: ruleSignals.value,
                    priority: priority
                )
            }
        }
    }

    /// An optional condition list: absent → `Present(value: nil)`; invalid → nil.
    private struct Present<T> { var value: T? }

    private static func condition<E: PolicyName>(
        _ m: PolicyMapping,
        _ key: String,
        as type: E.Type,
        listed: [E]?,
        listName: String?
    ) -> Present<[E]>? {
        guard let node = m.optional(key) else { return Present(value: nil) }
        guard let values = m.reader.choices(node, at: m.path(key), as: type) else { return nil }
        guard !values.isEmpty else {
            m.report(.invalidValue, key, "must list at least one value (leave the key out for no condition)")
            return nil
        }
        if let listed, let listName, let missing = values.first(where: { !listed.contains($0) }) {
            m.report(.invalidValue, key, "'\(missing.rawValue)' is not in \(listName), so the rule could never match it")
            return nil
        }
        return Present(value: values)
    }
}
