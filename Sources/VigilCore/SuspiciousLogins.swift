import Foundation
import VigilCrypto

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A suspicious-login report as the wallet backend (or the user, through it) sends it.
public struct LoginReport: Sendable, Equatable {
    public enum Source: String, Sendable, CaseIterable {
        /// The user says "this was not me".
        case user
        /// The wallet backend's risk engine (or any login the backend reports for history).
        case riskEngine = "risk_engine"
    }

    public var subjectID: String
    public var occurredAt: Date
    public var ip: String
    public var userAgent: String
    public var deviceID: String
    /// ISO 3166-1 alpha-2, upper case.
    public var country: String
    public var source: Source
    public var reason: String?

    public init(
        subjectID: String,
        occurredAt: Date,
        ip: String,
        userAgent: String,
        deviceID: String,
        country: String,
        source: Source,
        reason: String?
    ) {
        self.subjectID = subjectID
        self.occurredAt = occurredAt
        self.ip = ip
        self.userAgent = userAgent
        self.deviceID = deviceID
        self.country = country
        self.source = source
        self.reason = reason
    }

    /// Parses and checks the fields of a request; each error names its field.
    public static func validated(
        subjectID: String,
        occurredAt: String,
        ip: String,
        userAgent: String,
        deviceID: String,
        country: String,
        source: String,
        reason: String?,
        now: Date
    ) throws(VigilError) -> LoginReport {
        func printable(_ s: String, max: Int) -> Bool {
            !s.isEmpty && s.count <= max && !s.unicodeScalars.contains { $0.properties.generalCategory == .control }
        }
        guard printable(subjectID, max: 128) else { throw .invalidField(field: "subject_id", reason: "must be 1-128 characters") }
        guard let time = Timestamp.parse(occurredAt) else {
            throw .invalidField(field: "occurred_at", reason: "must be an RFC 3339 date-time")
        }
        guard time <= now.addingTimeInterval(300) else {
            throw .invalidField(field: "occurred_at", reason: "must not be in the future")
        }
        guard Self.isIPAddress(ip) else { throw .invalidField(field: "ip", reason: "must be an IPv4 or IPv6 address") }
        guard printable(userAgent, max: 1024) else {
            throw .invalidField(field: "user_agent", reason: "must be 1-1024 characters without control characters")
        }
        guard printable(deviceID, max: 256) else {
            throw .invalidField(field: "device_id", reason: "must be 1-256 characters without control characters")
        }
        // ASCII letters only, checked before upper-casing ("ß" upper-cases to "SS").
        let code = country.unicodeScalars.allSatisfy({ $0.isASCII && $0.properties.isAlphabetic }) ? country.uppercased() : ""
        guard code.utf8.count == 2, CountryCentroids.location(code) != nil else {
            throw .invalidField(field: "country", reason: "must be an ISO 3166-1 alpha-2 country code")
        }
        guard let source = Source(rawValue: source) else {
            throw .invalidField(field: "source", reason: "must be one of user, risk_engine")
        }
        if let reason, reason.count > 2000 || reason.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" && $0 != "\t" }) {
            throw .invalidField(field: "reason", reason: "must be at most 2000 characters without control characters")
        }
        return LoginReport(
            subjectID: subjectID,
            occurredAt: time,
            ip: ip,
            userAgent: userAgent,
            deviceID: deviceID,
            country: code,
            source: source,
            reason: reason?.isEmpty == true ? nil : reason
        )
    }

    static func isIPAddress(_ text: String) -> Bool { normalisedIPAddress(text) != nil }

    /// An IPv4 or IPv6 address in its one canonical text form (RFC 5952 for IPv6, so `::1` and
    /// `0:0:0:0:0:0:0:1` are one key), or nil when `text` is not an address.
    public static func normalisedIPAddress(_ text: String) -> String? {
        guard !text.isEmpty, text.utf8.count <= 45 else { return nil }
        var v4 = in_addr()
        var v6 = in6_addr()
        var out = [CChar](repeating: 0, count: 64)
        if inet_pton(AF_INET, text, &v4) == 1, inet_ntop(AF_INET, &v4, &out, socklen_t(out.count)) != nil {
            return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        if inet_pton(AF_INET6, text, &v6) == 1, inet_ntop(AF_INET6, &v6, &out, socklen_t(out.count)) != nil {
            return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return nil
    }

    /// What makes two requests "the same body" for `Idempotency-Key`: every field, in order.
    var fingerprint: String {
        IdempotencyMatch.fingerprint([
            subjectID, Timestamp.format(occurredAt), ip, userAgent, deviceID, country, source.rawValue, reason ?? "\u{0}",
        ])
    }
}

/// A stored report with its decision.
public struct StoredLoginReport: Sendable, Equatable {
    public var id: String
    public var report: LoginReport
    public var outcome: RecoveryPolicy.SuspiciousLogin.Outcome
    public var reportedAt: Date

    public init(id: String, report: LoginReport, outcome: RecoveryPolicy.SuspiciousLogin.Outcome, reportedAt: Date) {
        self.id = id
        self.report = report
        self.outcome = outcome
        self.reportedAt = reportedAt
    }
}

/// An earlier login of the subject, as the rules see it.
public struct LoginHistoryEntry: Sendable, Equatable {
    public var occurredAt: Date
    public var country: String
    /// Whether it came from the device of the report being judged (compared by keyed hash).
    public var sameDevice: Bool

    public init(occurredAt: Date, country: String, sameDevice: Bool) {
        self.occurredAt = occurredAt
        self.country = country
        self.sameDevice = sameDevice
    }
}

/// A subject's account frozen by a suspicious-login decision.
public struct AccountFreeze: Sendable, Equatable {
    public var subjectID: String
    public var frozenAt: Date
    public var reportID: String

    public init(subjectID: String, frozenAt: Date, reportID: String) {
        self.subjectID = subjectID
        self.frozenAt = frozenAt
        self.reportID = reportID
    }
}

/// The case a suspicious-login freeze opened (`pending_cases`: the link from report to case).
public struct PendingCase: Sendable, Equatable {
    public var id: String
    public var subjectID: String
    public var category: String
    public var priority: String
    public var reportID: String
    public var createdAt: Date

    public init(id: String, subjectID: String, category: String, priority: String, reportID: String, createdAt: Date) {
        self.id = id
        self.subjectID = subjectID
        self.category = category
        self.priority = priority
        self.reportID = reportID
        self.createdAt = createdAt
    }
}

/// An `Idempotency-Key` seen before: the resource it created, or a different body.
public enum IdempotencyMatch: Sendable, Equatable {
    case new
    case replay(resourceID: String)
    case conflict

    /// Checks a client's key: 1–255 printable ASCII characters (400 naming the header otherwise).
    static func validate(_ key: String?) throws {
        guard let key else { return }
        guard !key.isEmpty, key.count <= 255, key.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw VigilError.invalidField(field: "Idempotency-Key", reason: "must be 1-255 printable ASCII characters")
        }
    }

    /// What makes two requests "the same body": every field, in order, length-prefixed.
    static func fingerprint(_ fields: [String]) -> String {
        fields.map { "\($0.utf8.count):\($0)" }.joined()
    }
}

public protocol SuspiciousLoginReading {
    /// Logins of the subject that the user did not deny (reports with source `risk_engine`) and
    /// that were not frozen,
    /// which occurred at or after `since`, oldest first; `sameDevice` compares with `deviceID`.
    func loginHistory(subjectID: String, deviceID: String, since: Date) throws -> [LoginHistoryEntry]
    func loginReport(id: String) throws -> StoredLoginReport?
    /// Failed TOTP and recovery codes of the subject at or after `since` (from each factor's
    /// `FactorCounters.recentFailures`: at most a day and 100 failures back).
    func secondFactorFailures(subjectID: String, since: Date) throws -> Int
    func accountFreeze(subjectID: String) throws -> AccountFreeze?
    func pendingCases(subjectID: String) throws -> [PendingCase]
}

public protocol SuspiciousLoginWriting: SuspiciousLoginReading {
    func insertLoginReport(_ report: StoredLoginReport) throws
    /// Looks up `key` of `scope` (an API key id and an operation): new, the same request
    /// again (with the resource it created), or another request under the same key.
    func idempotencyMatch(scope: String, key: String, fingerprint: String) throws -> IdempotencyMatch
    func saveIdempotency(scope: String, key: String, fingerprint: String, resourceID: String, at time: Date) throws
    /// Freezes the account; false when it was already frozen (the first freeze stays).
    func freezeAccount(_ freeze: AccountFreeze) throws -> Bool
    func insertPendingCase(_ pending: PendingCase) throws
}

/// Suspicious-login reports: rules, decision, freeze, its P1 case, audit.
///
/// Rules (`Policies/recovery.yaml` `suspicious_login`):
/// - history is the subject's earlier reports from the risk engine whose decision was not
///   `freeze` (a report from the user, or a frozen login, is likely an attacker's and must never
///   make a device or country "known"). The backend may report every login, not only doubtful
///   ones, to build it;
/// - `new_device` / `new_country`: the device (by keyed hash) / country was not seen in history
///   within `lookback_days` before the login. With no history in that window at all there is
///   nothing to compare with, and neither fires (a subject's first report sets the baseline);
/// - `impossible_travel`: the login before it and the one after it (reports may arrive out of
///   order) at least `min_distance_km` apart (country centres, great circle) and reached
///   faster than `max_speed_kmh`;
/// - `failed_second_factor_burst`: at least `count` failed TOTP or recovery codes in the
///   `window_minutes` before the report is received (logged by `SecondFactorService`);
/// - `user_denied`: `source: user`;
/// - the decision is `policy.decide(fired:)`. `freeze` freezes the account (TOTP and recovery
///   codes then refuse) and records a P1 `suspicious_login` case for the cases feature to open.
///
/// One transaction: report, idempotency record, freeze, the case and audit entries
/// (`suspicious_login.reported`, `account.frozen`) commit together. A retry with the same
/// `Idempotency-Key` and body answers with the stored report and writes nothing.
public struct SuspiciousLoginService: Sendable {
    let deps: VigilDependencies

    public init(_ deps: VigilDependencies) { self.deps = deps }

    var policy: RecoveryPolicy.SuspiciousLogin { deps.policies.recovery.suspiciousLogin }

    public struct Result: Sendable, Equatable {
        public var report: StoredLoginReport
        /// True when the same request was answered before (an `Idempotency-Key` retry).
        public var replayed: Bool
        /// Whether the decision put the account in a case (every `freeze`).
        public var caseRequested: Bool
        /// The P1 case a freeze opened, or the case of the freeze already in force.
        public var caseID: String?
    }

    public func report(
        _ report: LoginReport,
        idempotencyKey: String?,
        by principal: Principal,
        request: RequestInfo
    ) async throws -> Result {
        try principal.require(.reportsWrite)
        try IdempotencyMatch.validate(idempotencyKey)
        let now = deps.clock.now()
        let policy = self.policy
        let scope = "suspicious_logins:\(principal.actor.id)"
        let id = "slr_" + ByteEncoding.hex(SecureRandom.bytes(8))
        let caseID = CaseService.newCaseID()
        return try await deps.store.write { tx in
            if let key = idempotencyKey {
                switch try tx.idempotencyMatch(scope: scope, key: key, fingerprint: report.fingerprint) {
                case .conflict:
                    throw VigilError.idempotencyConflict
                case .replay(let resourceID):
                    guard let stored = try tx.loginReport(id: resourceID) else {
                        throw VigilError.dataIntegrity(reason: "an idempotency record names a missing report")
                    }
                    // The case this report opened, or (a freeze already in force) the one it joined.
                    let cases = try tx.pendingCases(subjectID: report.subjectID)
                    let frozen = stored.outcome.decision == .freeze
                    let caseID =
                        cases.first { $0.reportID == resourceID }?.id ?? (frozen ? cases.last { $0.createdAt <= stored.reportedAt }?.id : nil)
                    return Result(report: stored, replayed: true, caseRequested: frozen, caseID: caseID)
                case .new:
                    break
                }
            }
            guard try tx.subjectExists(id: report.subjectID) else { throw VigilError.notFound(resource: "subject") }
            let maxLookback = max(policy.newDevice.lookbackDays, policy.newCountry.lookbackDays)
            let history = try tx.loginHistory(
                subjectID: report.subjectID,
                deviceID: report.deviceID,
                since: report.occurredAt.addingTimeInterval(-Double(maxLookback) * 86_400)
            )
            let failures = try tx.secondFactorFailures(
                subjectID: report.subjectID,
                since: now.addingTimeInterval(-Double(policy.failedSecondFactorBurst.windowMinutes) * 60)
            )
            let fired = Self.evaluate(report, history: history, recentSecondFactorFailures: failures, policy: policy)
            let outcome = policy.decide(fired: fired)
            let stored = StoredLoginReport(id: id, report: report, outcome: outcome, reportedAt: now)
            try tx.insertLoginReport(stored)
            if let key = idempotencyKey {
                try tx.saveIdempotency(scope: scope, key: key, fingerprint: report.fingerprint, resourceID: id, at: now)
            }
            let audit = Auditor(tx: tx, principal: principal, subjectID: report.subjectID, request: request, now: now)
            var caseRequested = false
            var newlyFrozen = false
            var openedCaseID: String?
            if outcome.decision == .freeze {
                newlyFrozen = try tx.freezeAccount(AccountFreeze(subjectID: report.subjectID, frozenAt: now, reportID: id))
                caseRequested = true
                // Already frozen, with its case still open: that case covers this report too.
                // Otherwise (a new freeze, the case of the freeze closed, or a freeze by a support
                // action) a P1 case is opened in this transaction.
                var stillOpen: String?
                if !newlyFrozen {
                    for pending in try tx.pendingCases(subjectID: report.subjectID).reversed()
                    where try tx.caseSummary(id: pending.id).map({ $0.status != "closed" }) == true {
                        stillOpen = pending.id
                        break
                    }
                }
                if let stillOpen {
                    openedCaseID = stillOpen
                } else {
                    // The P1 case, opened in this transaction: the queue shows it at once.
                    _ = try CaseService.file(
                        .init(
                            channel: .api,
                            category: .suspiciousLogin,
                            summary:
                                "Suspicious-login report \(id): decision freeze (rules: \(outcome.rules.map(\.rawValue).joined(separator: ", "))); the account is frozen.",
                            contact: nil,
                            subjectID: report.subjectID,
                            takeoverReported: report.source == .user
                        ),
                        id: caseID,
                        in: tx,
                        deps: deps,
                        actor: principal.actor,
                        request: request,
                        now: now
                    )
                    try tx.insertPendingCase(
                        PendingCase(
                            id: caseID,
                            subjectID: report.subjectID,
                            category: "suspicious_login",
                            priority: "P1",
                            reportID: id,
                            createdAt: now
                        )
                    )
                    openedCaseID = caseID
                }
            }
            var reported: [String: AuditValue] = [
                "report_id": .string(id),
                "source": .string(report.source.rawValue),
                "decision": .string(outcome.decision.rawValue),
                "score": .int(Int64(outcome.score)),
                "rules": .string(outcome.rules.map(\.rawValue).joined(separator: ",")),
                "case_requested": .int(caseRequested ? 1 : 0),
            ]
            if let openedCaseID { reported["case_id"] = .string(openedCaseID) }
            try audit.record("suspicious_login.reported", .success, reported)
            if newlyFrozen {
                try audit.record(
                    "account.frozen",
                    .success,
                    ["report_id": .string(id), "reason": "suspicious_login", "case_id": .string(caseID)]
                )
                try AccountFreezes.voidOutstanding(
                    subjectID: report.subjectID,
                    tx: tx,
                    principal: principal,
                    request: request,
                    now: now,
                    caseID: caseID,
                    details: ["report_id": .string(id)]
                )
                // The user hears of it at once, on every notice channel (the wallet backend routes it).
                try SecurityNotice.enqueue(
                    "account_frozen",
                    subjectID: report.subjectID,
                    details: ["reason": "suspicious_login"],
                    channels: deps.noticeChannels,
                    in: tx,
                    at: now
                )
            }
            return Result(report: stored, replayed: false, caseRequested: caseRequested, caseID: openedCaseID)
        }
    }

    /// The rules that fire for `report`, given the subject's history (see the type's rules).
    public static func evaluate(
        _ report: LoginReport,
        history: [LoginHistoryEntry],
        recentSecondFactorFailures: Int,
        policy: RecoveryPolicy.SuspiciousLogin
    ) -> Set<RecoveryPolicy.SuspiciousLogin.Rule> {
        var fired: Set<RecoveryPolicy.SuspiciousLogin.Rule> = []
        let t = report.occurredAt
        func window(_ days: Int) -> [LoginHistoryEntry] {
            let start = t.addingTimeInterval(-Double(days) * 86_400)
            return history.filter { $0.occurredAt >= start && $0.occurredAt <= t }
        }
        let devices = window(policy.newDevice.lookbackDays)
        if !devices.isEmpty, !devices.contains(where: \.sameDevice) { fired.insert(.newDevice) }
        let countries = window(policy.newCountry.lookbackDays)
        if !countries.isEmpty, !countries.contains(where: { $0.country == report.country }) { fired.insert(.newCountry) }

        let previous = history.last { $0.occurredAt <= t }
        let next = history.first { $0.occurredAt > t }
        let travel = policy.impossibleTravel
        for other in [previous, next].compactMap({ $0 }) {
            guard let a = CountryCentroids.location(other.country), let b = CountryCentroids.location(report.country) else { continue }
            let km = CountryCentroids.distanceKm(a, b)
            guard km >= Double(travel.minDistanceKm), km > 0 else { continue }
            let hours = abs(t.timeIntervalSince(other.occurredAt)) / 3600
            if hours == 0 || km / hours > Double(travel.maxSpeedKmh) { fired.insert(.impossibleTravel) }
        }
        if recentSecondFactorFailures >= policy.failedSecondFactorBurst.count { fired.insert(.failedSecondFactorBurst) }
        if report.source == .user { fired.insert(.userDenied) }
        return fired
    }

    /// The subject's freeze, if any (support agents, the TOTP check).
    public func freeze(subjectID: String) async throws -> AccountFreeze? {
        try await deps.store.read { try $0.accountFreeze(subjectID: subjectID) }
    }

    /// The cases requested for the subject and not yet opened.
    public func pendingCases(subjectID: String) async throws -> [PendingCase] {
        try await deps.store.read { try $0.pendingCases(subjectID: subjectID) }
    }
}
