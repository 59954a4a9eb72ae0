import Foundation
import Yams

/// `recovery.yaml`: self-service password reset, delivery of notices, the checks agents record,
/// what each agent action requires, and the suspicious-login rules and decisions.
public struct RecoveryPolicy: Sendable, Equatable {
    public var passwordReset: PasswordReset
    public var outbox: Outbox
    public var verificationChecks: Exhaustive<VerificationCheck, CheckRule>
    public var actions: Exhaustive<Action, ActionRule>
    public var suspiciousLogin: SuspiciousLogin

    public init(
        passwordReset: PasswordReset,
        outbox: Outbox,
        verificationChecks: Exhaustive<VerificationCheck, CheckRule>,
        actions: Exhaustive<Action, ActionRule>,
        suspiciousLogin: SuspiciousLogin
    ) {
        self.passwordReset = passwordReset
        self.outbox = outbox
        self.verificationChecks = verificationChecks
        self.actions = actions
        self.suspiciousLogin = suspiciousLogin
    }

    /// Whether checks that passed (and are still valid) meet `action`'s `requires`.
    public func isSatisfied(_ action: Action, by passed: Set<VerificationCheck>) -> Bool {
        let requirement = actions[action].requires
        let weight = passed.reduce(0) { $0 + verificationChecks[$1].weight }
        return weight >= requirement.minWeight
            && requirement.allOf.allSatisfy(passed.contains)
            && (requirement.anyOf.isEmpty || requirement.anyOf.contains(where: passed.contains))
            && (!requirement.machineVerified || passed.contains(where: \.isMachineVerified))
    }

    /// `password_reset`. There is no setting for the second factor: a reset of a subject that has
    /// one always requires it, and the loader refuses `require_second_factor: false`.
    public struct PasswordReset: Sendable, Equatable {
        public var tokenTTLSeconds: Int
        public var resendCooldownSeconds: Int
        public var maxRequestsPerIdentifierPerHour: Int
        public var maxRequestsPerSourcePerHour: Int
        /// An https URL with one `{token}` placeholder.
        public var linkTemplate: String
        /// Hours withdrawals stay frozen after a completed reset.
        public var coolingOffHours: Int

        public init(
            tokenTTLSeconds: Int,
            resendCooldownSeconds: Int,
            maxRequestsPerIdentifierPerHour: Int,
            maxRequestsPerSourcePerHour: Int,
            linkTemplate: String,
            coolingOffHours: Int
        ) {
            self.tokenTTLSeconds = tokenTTLSeconds
            self.resendCooldownSeconds = resendCooldownSeconds
            self.maxRequestsPerIdentifierPerHour = maxRequestsPerIdentifierPerHour
            self.maxRequestsPerSourcePerHour = maxRequestsPerSourcePerHour
            self.linkTemplate = linkTemplate
            self.coolingOffHours = coolingOffHours
        }

        /// The reset link carrying `token` (already URL-safe).
        public func link(token: String) -> String {
            PolicyTemplate.fill(linkTemplate, with: ["token": token])
        }
    }

    /// `outbox`: retries of message delivery.
    public struct Outbox: Sendable, Equatable {
        public var maxAttempts: Int
        public var baseBackoffSeconds: Int
        public var maxBackoffSeconds: Int

        public init(maxAttempts: Int, baseBackoffSeconds: Int, maxBackoffSeconds: Int) {
            self.maxAttempts = maxAttempts
            self.baseBackoffSeconds = baseBackoffSeconds
            self.maxBackoffSeconds = maxBackoffSeconds
        }

        /// Seconds to wait after failed attempt `attempt` (1-based), or nil when the message is
        /// abandoned: min(base × 2^(attempt − 1), max).
        public func backoff(afterFailedAttempt attempt: Int) -> Int? {
            guard attempt >= 1, attempt < maxAttempts else { return nil }
            let delay = Double(baseBackoffSeconds) * pow(2, Double(attempt - 1))
            return Int(min(delay, Double(maxBackoffSeconds)))
        }
    }

    /// The checks an agent records for a requester.
    public enum VerificationCheck: String, PolicyName, Codable {
        case emailOTP = "email_otp"
        case smsOTP = "sms_otp"
        case totp
        case recoveryCode = "recovery_code"
        case transactionKnowledge = "transaction_knowledge"
        case idDocument = "id_document"

        /// Whether Vigil sends a one-time code for this check (and the policy sets its format).
        public var sendsCode: Bool { self == .emailOTP || self == .smsOTP }

        /// Whether Vigil itself verified the check (a code it sent or the enrolled second factor),
        /// rather than an agent attesting it.
        public var isMachineVerified: Bool {
            switch self {
            case .emailOTP, .smsOTP, .totp, .recoveryCode: true
            case .transactionKnowledge, .idDocument: false
            }
        }
    }

    /// `verification_checks.<check>`.
    public struct CheckRule: Sendable, Equatable {
        public var weight: Int
        /// How long a passed check counts towards an action.
        public var validMinutes: Int
        /// For checks that send a code (email, SMS); nil for the others.
        public var code: OneTimeCode?

        public init(weight: Int, validMinutes: Int, code: OneTimeCode?) {
            self.weight = weight
            self.validMinutes = validMinutes
            self.code = code
        }
    }

    /// A code sent by email or SMS to verify a requester.
    public struct OneTimeCode: Sendable, Equatable {
        public var digits: Int
        public var ttlSeconds: Int
        public var maxAttempts: Int

        public init(digits: Int, ttlSeconds: Int, maxAttempts: Int) {
            self.digits = digits
            self.ttlSeconds = ttlSeconds
            self.maxAttempts = maxAttempts
        }
    }

    /// The actions an agent can take on a case.
    public enum Action: String, PolicyName, Codable {
        case sendResetLink = "send_reset_link"
        case resetTOTP = "reset_totp"
        case freeze
        case unfreeze
        case changeContact = "change_contact"
        case endSessions = "end_sessions"

        /// High-risk actions always need a supervisor's approval and at least one passed check.
        public var isHighRisk: Bool {
            switch self {
            case .resetTOTP, .unfreeze, .changeContact: true
            case .sendResetLink, .freeze, .endSessions: false
            }
        }
    }

    /// `actions.<action>`.
    public struct ActionRule: Sendable, Equatable {
        public var requires: Requirement
        /// A supervisor other than the requesting agent approves before it runs.
        public var fourEyes: Bool
        /// Hours withdrawals stay frozen after the action (0: none).
        public var coolingOffHours: Int

        public init(requires: Requirement, fourEyes: Bool, coolingOffHours: Int) {
            self.requires = requires
            self.fourEyes = fourEyes
            self.coolingOffHours = coolingOffHours
        }
    }

    /// Passed checks must weigh at least `minWeight`, include all of `allOf`, one of `anyOf`
    /// (when it is not empty), and — when `machineVerified` — at least one check Vigil verified
    /// itself, so that agents' attestations alone never carry the action.
    public struct Requirement: Sendable, Equatable {
        public var minWeight: Int
        public var allOf: [VerificationCheck]
        public var anyOf: [VerificationCheck]
        public var machineVerified: Bool

        public init(minWeight: Int, allOf: [VerificationCheck], anyOf: [VerificationCheck], machineVerified: Bool = false) {
            self.minWeight = minWeight
            self.allOf = allOf
            self.anyOf = anyOf
            self.machineVerified = machineVerified
        }
    }

    /// `suspicious_login`: rules, their weights, and the decision table.
    public struct SuspiciousLogin: Sendable, Equatable {
        public var newDevice: Lookback
        public var newCountry: Lookback
        public var impossibleTravel: ImpossibleTravel
        public var failedSecondFactorBurst: Burst
        public var userDenied: Scoring
        /// A score at or above this steps up (1 ≤ stepUpAt < freezeAt).
        public var stepUpAt: Int
        /// A score at or above this freezes.
        public var freezeAt: Int
        public var combinations: [Combination]

        public init(
            newDevice: Lookback,
            newCountry: Lookback,
            impossibleTravel: ImpossibleTravel,
            failedSecondFactorBurst: Burst,
            userDenied: Scoring,
            stepUpAt: Int,
            freezeAt: Int,
            combinations: [Combination]
        ) {
            self.newDevice = newDevice
            self.newCountry = newCountry
            self.impossibleTravel = impossibleTravel
            self.failedSecondFactorBurst = failedSecondFactorBurst
            self.userDenied = userDenied
            self.stepUpAt = stepUpAt
            self.freezeAt = freezeAt
            self.combinations = combinations
        }

        /// The rules a report is judged by.
        public enum Rule: String, PolicyName {
            case newDevice = "new_device"
            case newCountry = "new_country"
            case impossibleTravel = "impossible_travel"
            case failedSecondFactorBurst = "failed_second_factor_burst"
            case userDenied = "user_denied"
        }

        /// Ranked: allow < step_up < freeze.
        public enum Decision: String, PolicyName, Comparable {
            case allow
            case stepUp = "step_up"
            case freeze

            private var rank: Int {
                switch self {
                case .allow: 0
                case .stepUp: 1
                case .freeze: 2
                }
            }

            public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }
        }

        /// What a rule adds when it fires.
        public struct Scoring: Sendable, Equatable {
            public var weight: Int
            public var minimumDecision: Decision

            public init(weight: Int, minimumDecision: Decision) {
                self.weight = weight
                self.minimumDecision = minimumDecision
            }
        }

        /// `new_device`, `new_country`: not seen for the subject within `lookbackDays`.
        public struct Lookback: Sendable, Equatable {
            public var scoring: Scoring
            public var lookbackDays: Int

            public init(scoring: Scoring, lookbackDays: Int) {
                self.scoring = scoring
                self.lookbackDays = lookbackDays
            }
        }

        /// `impossible_travel`: consecutive logins at least `minDistanceKm` apart, faster than `maxSpeedKmh`.
        public struct ImpossibleTravel: Sendable, Equatable {
            public var scoring: Scoring
            public var maxSpeedKmh: Int
            public var minDistanceKm: Int

            public init(scoring: Scoring, maxSpeedKmh: Int, minDistanceKm: Int) {
                self.scoring = scoring
                self.maxSpeedKmh = maxSpeedKmh
                self.minDistanceKm = minDistanceKm
            }
        }

        /// `failed_second_factor_burst`: at least `count` failed second factors within `windowMinutes`.
        public struct Burst: Sendable, Equatable {
            public var scoring: Scoring
            public var count: Int
            public var windowMinutes: Int

            public init(scoring: Scoring, count: Int, windowMinutes: Int) {
                self.scoring = scoring
                self.count = count
                self.windowMinutes = windowMinutes
            }
        }

        /// When every rule in `rules` fires, the decision is at least `decision`.
        public struct Combination: Sendable, Equatable {
            public var rules: [Rule]
            public var decision: Decision

            public init(rules: [Rule], decision: Decision) {
                self.rules = rules
                self.decision = decision
            }
        }

        /// A decision with the score it came from and the rules that fired.
        public struct Outcome: Sendable, Equatable {
            public var decision: Decision
            public var score: Int
            /// In `Rule.allCases` order.
            public var rules: [Rule]

            public init(decision: Decision, score: Int, rules: [Rule]) {
                self.decision = decision
                self.score = score
                self.rules = rules
            }
        }

        public func scoring(_ rule: Rule) -> Scoring {
            switch rule {
            case .newDevice: newDevice.scoring
            case .newCountry: newCountry.scoring
            case .impossibleTravel: impossibleTravel.scoring
            case .failedSecondFactorBurst: failedSecondFactorBurst.scoring
            case .userDenied: userDenied
            }
        }

        /// The decision for a report on which `fired` fired: the highest of the score's decision,
        /// each fired rule's minimum decision, and each combination whose rules all fired.
        public func decide(fired: Set<Rule>) -> Outcome {
            let score = fired.reduce(0) { $0 + scoring($1).weight }
            var decision: Decision = score >= freezeAt ? .freeze : score >= stepUpAt ? .stepUp : .allow
            for rule in fired {
                decision = max(decision, scoring(rule).minimumDecision)
            }
            for combination in combinations where combination.rules.allSatisfy(fired.contains) {
                decision = max(decision, combination.decision)
            }
            return Outcome(decision: decision, score: score, rules: Rule.allCases.filter(fired.contains))
        }
    }
}

// MARK: - Reading and validation

extension RecoveryPolicy {
    static let fileName = "recovery.yaml"

    static func read(_ root: PolicyMapping) -> RecoveryPolicy? {
        let reset = root.mapping("password_reset", PasswordReset.read)
        let outbox = root.mapping("outbox", Outbox.read)
        let checks = root.exhaustive("verification_checks", CheckRule.read)
        let actions = root.exhaustive("actions") { (action: Action, m) in ActionRule.read(action, m, checks: checks) }
        let suspicious = root.mapping("suspicious_login", SuspiciousLogin.read)
        guard let reset, let outbox, let checks, let actions, let suspicious else { return nil }
        return RecoveryPolicy(passwordReset: reset, outbox: outbox, verificationChecks: checks, actions: actions, suspiciousLogin: suspicious)
    }
}

extension RecoveryPolicy.PasswordReset {
    static func read(_ m: PolicyMapping) -> Self? {
        let owasp = "OWASP Forgot Password Cheat Sheet"
        let ttl = m.int("token_ttl_seconds", in: 60...3600, owasp)
        let cooldown = m.int("resend_cooldown_seconds", in: 0...3600, owasp)
        let perIdentifier = m.int("max_requests_per_identifier_per_hour", in: 1...20, owasp)
        let perSource = m.int("max_requests_per_source_per_hour", in: 1...1000, owasp)
        var link = m.string("link_template")
        if let template = link, let problem = Self.checkLink(template) {
            m.report(.invalidValue, "link_template", problem)
            link = nil
        }
        var secondFactor = m.bool("require_second_factor")
        if secondFactor == false {
            m.report(
                .invalidValue,
                "require_second_factor",
                "must be true: a password reset never bypasses the second factor (NIST SP 800-63B §6.1.2.3)"
            )
            secondFactor = nil
        }
        let coolingOff = m.int("cooling_off_hours", in: 1...720)
        var consistent = true
        if let ttl, let cooldown, cooldown > ttl {
            m.report(
                .conflict,
                "resend_cooldown_seconds",
                "\(cooldown) is greater than token_ttl_seconds (\(ttl)): an expired link could not be replaced"
            )
            consistent = false
        }
        guard consistent, secondFactor == true, let ttl, let cooldown, let perIdentifier, let perSource, let link, let coolingOff else {
            return nil
        }
        return Self(
            tokenTTLSeconds: ttl,
            resendCooldownSeconds: cooldown,
            maxRequestsPerIdentifierPerHour: perIdentifier,
            maxRequestsPerSourcePerHour: perSource,
            linkTemplate: link,
            coolingOffHours: coolingOff
        )
    }

    private static func checkLink(_ template: String) -> String? {
        if let problem = PolicyTemplate.check(template, allowed: ["token"], required: ["token"]) { return problem }
        let sample = PolicyTemplate.fill(template, with: ["token": "token"])
        guard let url = URLComponents(string: sample), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty else {
            return "'\(template)' is not an absolute URL"
        }
        let local = ["localhost", "127.0.0.1", "::1", "[::1]"].contains(host.lowercased())
        guard scheme == "https" || (scheme == "http" && local) else {
            return "'\(template)' must be an https URL (http only for localhost)"
        }
        return nil
    }
}

extension RecoveryPolicy.Outbox {
    static func read(_ m: PolicyMapping) -> Self? {
        let attempts = m.int("max_attempts", in: 1...50)
        let base = m.int("base_backoff_seconds", in: 1...3600)
        let maxBackoff = m.int("max_backoff_seconds", in: 1...86400)
        if let base, let maxBackoff, maxBackoff < base {
            m.report(.conflict, "max_backoff_seconds", "\(maxBackoff) is less than base_backoff_seconds (\(base))")
            return nil
        }
        guard let attempts, let base, let maxBackoff else { return nil }
        return Self(maxAttempts: attempts, baseBackoffSeconds: base, maxBackoffSeconds: maxBackoff)
    }
}

extension RecoveryPolicy.CheckRule {
    static func read(_ check: RecoveryPolicy.VerificationCheck, _ m: PolicyMapping) -> Self? {
        let weight = m.int("weight", in: 0...10)
        let valid = m.int("valid_minutes", in: 1...10080)
        var code: RecoveryPolicy.OneTimeCode?
        var codeValid = true
        if check.sendsCode {
            let digits = m.int("code_digits", in: 6...10)
            let ttl = m.int("code_ttl_seconds", in: 60...600, "NIST SP 800-63B §5.1.3.2")
            let attempts = m.int("max_attempts", in: 1...10)
            if let digits, let ttl, let attempts {
                code = RecoveryPolicy.OneTimeCode(digits: digits, ttlSeconds: ttl, maxAttempts: attempts)
            } else {
                codeValid = false
            }
        }
        guard codeValid, let weight, let valid else { return nil }
        return Self(weight: weight, validMinutes: valid, code: code)
    }
}

extension RecoveryPolicy.ActionRule {
    static func read(
        _ action: RecoveryPolicy.Action,
        _ m: PolicyMapping,
        checks: Exhaustive<RecoveryPolicy.VerificationCheck, RecoveryPolicy.CheckRule>?
    ) -> Self? {
        let requires = m.mapping("requires") { r -> RecoveryPolicy.Requirement? in
            let minWeight = r.int(
                "min_weight",
                in: action.isHighRisk ? 1...100 : 0...100,
                action.isHighRisk ? "a high-risk action needs a check" : nil
            )
            let allOf = r.choices("all_of", as: RecoveryPolicy.VerificationCheck.self)
            let anyOf = r.choices("any_of", as: RecoveryPolicy.VerificationCheck.self)
            let machineVerified = r.bool("machine_verified")
            if let minWeight, let checks {
                let total = RecoveryPolicy.VerificationCheck.allCases.reduce(0) { $0 + checks[$1].weight }
                if minWeight > total {
                    r.report(.conflict, "min_weight", "\(minWeight) cannot be reached: all verification_checks together weigh \(total)")
                    return nil
                }
            }
            guard let minWeight, let allOf, let anyOf, let machineVerified else { return nil }
            return RecoveryPolicy.Requirement(minWeight: minWeight, allOf: allOf, anyOf: anyOf, machineVerified: machineVerified)
        }
        var fourEyes = m.bool("four_eyes")
        if fourEyes == false, action.isHighRisk {
            m.report(.invalidValue, "four_eyes", "must be true: \(action.rawValue) is a high-risk action and needs a supervisor's approval")
            fourEyes = nil
        }
        let coolingOff = m.int("cooling_off_hours", in: 0...720)
        guard let requires, let fourEyes, let coolingOff else { return nil }
        return Self(requires: requires, fourEyes: fourEyes, coolingOffHours: coolingOff)
    }
}

extension RecoveryPolicy.SuspiciousLogin {
    static func read(_ m: PolicyMapping) -> Self? {
        let rules = m.mapping("rules") { r -> (Lookback, Lookback, ImpossibleTravel, Burst, Scoring)? in
            let newDevice = r.mapping("new_device", Lookback.read)
            let newCountry = r.mapping("new_country", Lookback.read)
            let travel = r.mapping("impossible_travel") { m -> ImpossibleTravel? in
                let scoring = Scoring.read(m)
                let speed = m.int("max_speed_kmh", in: 100...5000)
                let distance = m.int("min_distance_km", in: 0...20000)
                guard let scoring, let speed, let distance else { return nil }
                return ImpossibleTravel(scoring: scoring, maxSpeedKmh: speed, minDistanceKm: distance)
            }
            let burst = r.mapping("failed_second_factor_burst") { m -> Burst? in
                let scoring = Scoring.read(m)
                let count = m.int("count", in: 2...100)
                let window = m.int("window_minutes", in: 1...1440)
                guard let scoring, let count, let window else { return nil }
                return Burst(scoring: scoring, count: count, windowMinutes: window)
            }
            let denied = r.mapping("user_denied", Scoring.read)
            guard let newDevice, let newCountry, let travel, let burst, let denied else { return nil }
            return (newDevice, newCountry, travel, burst, denied)
        }
        let table = m.mapping("decision") { d -> (Int, Int, [Combination])? in
            let stepUp = d.int("step_up_at", in: 1...1000)
            let freeze = d.int("freeze_at", in: 1...1000)
            let combinations = d.required("combinations").flatMap { node in
                d.reader.list(node, at: d.path("combinations")) { item, path in
                    d.reader.mapping(item, at: path, Combination.read)
                }
            }
            if let stepUp, let freeze, freeze <= stepUp {
                d.report(.conflict, "freeze_at", "\(freeze) must be greater than step_up_at (\(stepUp))")
                return nil
            }
            guard let stepUp, let freeze, let combinations else { return nil }
            return (stepUp, freeze, combinations)
        }
        guard let (newDevice, newCountry, travel, burst, denied) = rules, let (stepUp, freeze, combinations) = table else { return nil }
        return Self(
            newDevice: newDevice,
            newCountry: newCountry,
            impossibleTravel: travel,
            failedSecondFactorBurst: burst,
            userDenied: denied,
            stepUpAt: stepUp,
            freezeAt: freeze,
            combinations: combinations
        )
    }
}

extension RecoveryPolicy.SuspiciousLogin.Scoring {
    static func read(_ m: PolicyMapping) -> Self? {
        let weight = m.int("weight", in: 0...100)
        let decision = m.choice("minimum_decision", as: RecoveryPolicy.SuspiciousLogin.Decision.self)
        guard let weight, let decision else { return nil }
        return Self(weight: weight, minimumDecision: decision)
    }
}

extension RecoveryPolicy.SuspiciousLogin.Lookback {
    static func read(_ m: PolicyMapping) -> Self? {
        let scoring = RecoveryPolicy.SuspiciousLogin.Scoring.read(m)
        let days = m.int("lookback_days", in: 1...730)
        guard let scoring, let days else { return nil }
        return Self(scoring: scoring, lookbackDays: days)
    }
}

extension RecoveryPolicy.SuspiciousLogin.Combination {
    static func read(_ m: PolicyMapping) -> Self? {
        var rules = m.choices("rules", as: RecoveryPolicy.SuspiciousLogin.Rule.self)
        if let list = rules, list.count < 2 {
            m.report(.invalidValue, "rules", "a combination needs at least two rules (one rule alone has minimum_decision)")
            rules = nil
        }
        var decision = m.choice("decision", as: RecoveryPolicy.SuspiciousLogin.Decision.self)
        if decision == .allow {
            m.report(.invalidValue, "decision", "'allow' is not one of step_up, freeze: a combination can only raise the decision")
            decision = nil
        }
        guard let rules, let decision else { return nil }
        return Self(rules: rules, decision: decision)
    }
}
