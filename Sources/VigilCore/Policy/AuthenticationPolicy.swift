import Foundation
import VigilCrypto
import Yams

/// `authentication.yaml`: password rules and argon2id cost, TOTP, recovery codes, lockout and
/// rate limits. The file's comments cite the source of every default and bound.
public struct AuthenticationPolicy: Sendable, Equatable {
    public var password: Password
    public var totp: TOTP
    public var recoveryCodes: RecoveryCodes
    /// `lockout.<factor>`: one-time codes are counted apart from passwords.
    public var lockout: Exhaustive<Factor, Lockout>
    /// `rate_limits.<operation>`: requests per subject, right or wrong.
    public var rateLimits: Exhaustive<RateLimited, RateLimit>

    public init(
        password: Password,
        totp: TOTP,
        recoveryCodes: RecoveryCodes,
        lockout: Exhaustive<Factor, Lockout>,
        rateLimits: Exhaustive<RateLimited, RateLimit>
    ) {
        self.password = password
        self.totp = totp
        self.recoveryCodes = recoveryCodes
        self.lockout = lockout
        self.rateLimits = rateLimits
    }

    /// `password`: NIST SP 800-63B §5.1.1.2 rules. Lengths count Unicode code points after NFKC.
    public struct Password: Sendable, Equatable {
        /// For a subject with an active second factor (at least 8).
        public var minLength: Int
        /// For a subject whose password is its only factor (at least 15, SP 800-63B-4 §3.1.1.2).
        public var singleFactorMinLength: Int
        public var maxLength: Int
        /// File name, in the policy folder, of the list of common and breached passwords.
        public var blocklist: String
        public var argon2id: Argon2id

        public init(minLength: Int, singleFactorMinLength: Int, maxLength: Int, blocklist: String, argon2id: Argon2id) {
            self.minLength = minLength
            self.singleFactorMinLength = singleFactorMinLength
            self.maxLength = maxLength
            self.blocklist = blocklist
            self.argon2id = argon2id
        }

        /// The minimum length that applies to a subject.
        public func minimumLength(hasSecondFactor: Bool) -> Int {
            hasSecondFactor ? minLength : singleFactorMinLength
        }
    }

    /// `password.argon2id`: the cost of new hashes (RFC 9106; OWASP minimum m = 19 MiB, t = 2, p = 1).
    public struct Argon2id: Sendable, Equatable {
        public var memoryKiB: Int
        public var iterations: Int
        /// Always 1: libsodium implements no other.
        public var parallelism: Int

        public init(memoryKiB: Int, iterations: Int, parallelism: Int) {
            self.memoryKiB = memoryKiB
            self.iterations = iterations
            self.parallelism = parallelism
        }

        /// The cost in the form `PasswordHash` takes.
        public var cost: Argon2idCost {
            Argon2idCost(opsLimit: UInt64(iterations), memLimit: memoryKiB * 1024)
        }
    }

    /// `totp`: RFC 6238 parameters and the Key URI's issuer and label.
    public struct TOTP: Sendable, Equatable {
        public var algorithm: HMAC.Algorithm
        public var digits: Int
        public var periodSeconds: Int
        /// Codes of steps T − windowSteps … T + windowSteps are accepted, T from the server clock.
        public var windowSteps: Int
        public var secretBytes: Int
        public var enrolmentTTLSeconds: Int
        public var issuer: String
        /// With `{issuer}` and `{subject}` placeholders.
        public var labelTemplate: String

        public init(
            algorithm: HMAC.Algorithm,
            digits: Int,
            periodSeconds: Int,
            windowSteps: Int,
            secretBytes: Int,
            enrolmentTTLSeconds: Int,
            issuer: String,
            labelTemplate: String
        ) {
            self.algorithm = algorithm
            self.digits = digits
            self.periodSeconds = periodSeconds
            self.windowSteps = windowSteps
            self.secretBytes = secretBytes
            self.enrolmentTTLSeconds = enrolmentTTLSeconds
            self.issuer = issuer
            self.labelTemplate = labelTemplate
        }

        /// The Key URI label for a subject (not yet percent-encoded).
        public func label(subject: String) -> String {
            PolicyTemplate.fill(labelTemplate, with: ["issuer": issuer, "subject": subject])
        }
    }

    /// `recovery_codes`.
    public struct RecoveryCodes: Sendable, Equatable {
        public var count: Int
        /// Entropy of each code; at least 50 bits.
        public var entropyBits: Int

        public init(count: Int, entropyBits: Int) {
            self.count = count
            self.entropyBits = entropyBits
        }
    }

    /// The factors whose failures are counted, each apart from the others.
    public enum Factor: String, PolicyName {
        case password
        case totp
        case recoveryCode = "recovery_code"
    }

    /// `lockout.<factor>`: what consecutive failures cost (NIST SP 800-63B §5.2.2).
    public struct Lockout: Sendable, Equatable {
        /// Failures that cost nothing.
        public var freeFailures: Int
        public var baseDelaySeconds: Int
        public var growthFactor: Double
        public var maxDelaySeconds: Int
        /// At this count the factor stays locked until an agent or a completed recovery unlocks it; ≤ 100.
        public var maxConsecutiveFailures: Int

        public init(freeFailures: Int, baseDelaySeconds: Int, growthFactor: Double, maxDelaySeconds: Int, maxConsecutiveFailures: Int) {
            self.freeFailures = freeFailures
            self.baseDelaySeconds = baseDelaySeconds
            self.growthFactor = growthFactor
            self.maxDelaySeconds = maxDelaySeconds
            self.maxConsecutiveFailures = maxConsecutiveFailures
        }

        /// What happens after the `failures`-th consecutive failure.
        public enum Consequence: Sendable, Equatable {
            /// Another attempt may follow at once.
            case none
            /// No attempt succeeds for this many seconds.
            case delay(seconds: Int)
            /// No attempt succeeds until the factor is unlocked.
            case locked
        }

        /// The state after one more failure at `now`.
        public func after(_ state: FactorState, failureAt now: Date) -> FactorState {
            var next = state
            next.consecutiveFailures += 1
            switch consequence(afterConsecutiveFailures: next.consecutiveFailures) {
            case .none: next.lockedUntil = nil
            case .delay(let seconds): next.lockedUntil = now.addingTimeInterval(TimeInterval(seconds))
            case .locked: next.lockedIndefinitely = true
            }
            return next
        }

        /// Whether going from `before` to `next` starts a lock worth telling someone about: the
        /// first delay of a run of failures, or the lock that waits for an unlock.
        public func lockBegins(from before: FactorState, to next: FactorState) -> Bool {
            next.lockedIndefinitely || (next.lockedUntil != nil && consequence(afterConsecutiveFailures: before.consecutiveFailures) == .none)
        }

        /// Failures 1…freeFailures: none; then min(base × growth^(n − freeFailures − 1), max) seconds;
        /// from maxConsecutiveFailures on: locked.
        public func consequence(afterConsecutiveFailures failures: Int) -> Consequence {
            if failures >= maxConsecutiveFailures { return .locked }
            if failures <= freeFailures { return .none }
            let exponent = Double(failures - freeFailures - 1)
            let delay = Double(baseDelaySeconds) * pow(growthFactor, exponent)
            let capped = min(delay.rounded(.up), Double(maxDelaySeconds))
            return .delay(seconds: Int(capped))
        }
    }

    /// The operations `rate_limits` governs.
    public enum RateLimited: String, PolicyName {
        case passwordVerify = "password_verify"
        case totpVerify = "totp_verify"
        case recoveryCodeVerify = "recovery_code_verify"
    }

    /// At most `limit` requests per subject in each window of `windowSeconds`.
    public struct RateLimit: Sendable, Equatable {
        public var limit: Int
        public var windowSeconds: Int

        public init(limit: Int, windowSeconds: Int) {
            self.limit = limit
            self.windowSeconds = windowSeconds
        }
    }
}

// MARK: - Reading and validation

extension AuthenticationPolicy {
    static let fileName = "authentication.yaml"

    static func read(_ root: PolicyMapping) -> AuthenticationPolicy? {
        let password = root.mapping("password", Password.read)
        let totp = root.mapping("totp", TOTP.read)
        let recoveryCodes = root.mapping("recovery_codes") { m -> RecoveryCodes? in
            let count = m.int("count", in: 5...20, "NIST SP 800-63B §5.1.2")
            let bits = m.int("entropy_bits", in: 50...128, "at least 50 bits, issue 4")
            guard let count, let bits else { return nil }
            return RecoveryCodes(count: count, entropyBits: bits)
        }
        let lockout = root.exhaustive("lockout") { (_: Factor, m) in Lockout.read(m) }
        let rateLimits = root.exhaustive("rate_limits") { (_: RateLimited, m) -> RateLimit? in
            let limit = m.int("limit", in: 1...1000)
            let window = m.int("window_seconds", in: 1...86400)
            guard let limit, let window else { return nil }
            return RateLimit(limit: limit, windowSeconds: window)
        }
        guard let password, let totp, let recoveryCodes, let lockout, let rateLimits else { return nil }
        return AuthenticationPolicy(password: password, totp: totp, recoveryCodes: recoveryCodes, lockout: lockout, rateLimits: rateLimits)
    }
}

extension AuthenticationPolicy.Password {
    static func read(_ m: PolicyMapping) -> Self? {
        let nist = "NIST SP 800-63B §5.1.1.2"
        let minLength = m.int("min_length", in: 8...1024, nist)
        let singleFactor = m.int("single_factor_min_length", in: 15...1024, "NIST SP 800-63B-4 §3.1.1.2")
        let maxLength = m.int("max_length", in: 64...1024, nist)
        let blocklist = m.string("blocklist")
        if let blocklist, !PolicyTemplate.isBareFileName(blocklist) {
            m.report(.invalidValue, "blocklist", "'\(blocklist)' must be a file name in the policy folder, not a path")
        }
        let argon2id = m.mapping("argon2id", AuthenticationPolicy.Argon2id.read)

        if let minLength, let maxLength, minLength > maxLength {
            m.report(.conflict, "min_length", "\(minLength) is greater than max_length (\(maxLength))")
        }
        if let singleFactor, let maxLength, singleFactor > maxLength {
            m.report(.conflict, "single_factor_min_length", "\(singleFactor) is greater than max_length (\(maxLength))")
        }
        if let singleFactor, let minLength, singleFactor < minLength {
            m.report(
                .conflict,
                "single_factor_min_length",
                "\(singleFactor) is less than min_length (\(minLength)): a password alone must not be shorter than one backed by a second factor"
            )
        }
        guard let minLength, let singleFactor, let maxLength, let blocklist, let argon2id,
            minLength <= maxLength, singleFactor <= maxLength, singleFactor >= minLength, PolicyTemplate.isBareFileName(blocklist)
        else { return nil }
        return Self(minLength: minLength, singleFactorMinLength: singleFactor, maxLength: maxLength, blocklist: blocklist, argon2id: argon2id)
    }
}

extension AuthenticationPolicy.Argon2id {
    /// OWASP Password Storage Cheat Sheet: one pass is enough only from 46 MiB.
    static let singlePassMinimumKiB = 47104

    static func read(_ m: PolicyMapping) -> Self? {
        let owasp = "OWASP Password Storage Cheat Sheet"
        let memory = m.int("memory_kib", in: 19456...1_048_576, owasp)
        let iterations = m.int("iterations", in: 1...10, owasp)
        let parallelism = m.int("parallelism", oneOf: [1], "libsodium's crypto_pwhash implements p = 1 only")
        if let memory, let iterations, iterations < 2, memory < singlePassMinimumKiB {
            m.report(
                .conflict,
                "iterations",
                "\(iterations) pass needs memory_kib of at least \(singlePassMinimumKiB), not \(memory) (\(owasp)); use 2 or more"
            )
            return nil
        }
        guard let memory, let iterations, let parallelism else { return nil }
        return Self(memoryKiB: memory, iterations: iterations, parallelism: parallelism)
    }
}

extension AuthenticationPolicy.TOTP {
    static func read(_ m: PolicyMapping) -> Self? {
        let algorithm = m.choice("algorithm", as: HMAC.Algorithm.self, "RFC 6238 §1.2")
        let digits = m.int("digits", oneOf: [6, 8], "RFC 4226 §5.3, RFC 6238")
        let period = m.int("period_seconds", in: 15...120, "RFC 6238 §5.2")
        let window = m.int("window_steps", in: 0...2, "RFC 6238 §5.2")
        let secretBytes = m.int("secret_bytes", in: 16...64, "RFC 4226 §4")
        let enrolmentTTL = m.int("enrolment_ttl_seconds", in: 60...86400)
        var issuer = m.string("issuer")
        if let value = issuer, value.contains(":") || value.contains(where: \.isNewline) {
            m.report(.invalidValue, "issuer", "'\(value)' must not contain a colon or a line break (Key Uri Format)")
            issuer = nil
        }
        var label = m.string("label_template")
        if let template = label,
            let problem = PolicyTemplate.check(template, allowed: ["issuer", "subject"], required: ["subject"])
        {
            m.report(.invalidValue, "label_template", problem)
            label = nil
        }
        guard let algorithm, let digits, let period, let window, let secretBytes, let enrolmentTTL, let issuer, let label else {
            return nil
        }
        return Self(
            algorithm: algorithm,
            digits: digits,
            periodSeconds: period,
            windowSteps: window,
            secretBytes: secretBytes,
            enrolmentTTLSeconds: enrolmentTTL,
            issuer: issuer,
            labelTemplate: label
        )
    }
}

extension AuthenticationPolicy.Lockout {
    static func read(_ m: PolicyMapping) -> Self? {
        let free = m.int("free_failures", in: 0...99)
        let base = m.int("base_delay_seconds", in: 1...86400)
        let growth = m.number("growth_factor", in: 1.0...10.0)
        let maxDelay = m.int("max_delay_seconds", in: 1...86400)
        let maxFailures = m.int("max_consecutive_failures", in: 1...100, "NIST SP 800-63B §5.2.2")
        var consistent = true
        if let free, let maxFailures, free >= maxFailures {
            m.report(.conflict, "free_failures", "\(free) must be less than max_consecutive_failures (\(maxFailures))")
            consistent = false
        }
        if let base, let maxDelay, maxDelay < base {
            m.report(.conflict, "max_delay_seconds", "\(maxDelay) is less than base_delay_seconds (\(base))")
            consistent = false
        }
        guard consistent, let free, let base, let growth, let maxDelay, let maxFailures else { return nil }
        return Self(freeFailures: free, baseDelaySeconds: base, growthFactor: growth, maxDelaySeconds: maxDelay, maxConsecutiveFailures: maxFailures)
    }
}
