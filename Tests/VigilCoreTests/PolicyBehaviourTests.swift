import Foundation
import Testing
import VigilCore

/// What the shipped policy decides, through the helpers other components call.
@Suite("Policy behaviour")
struct PolicyBehaviourTests {
    let set: PolicySet

    init() throws {
        set = try PolicySet.load(directory: PolicyFixtures.shippedDirectory)
    }

    @Test("TOTP failures: three free, then doubling delays capped at 15 minutes, locked at 20")
    func totpLockout() {
        let rule = set.authentication.lockout[.totp]
        let consequences = (1...20).map { rule.consequence(afterConsecutiveFailures: $0) }
        let expected: [AuthenticationPolicy.Lockout.Consequence] =
            [.none, .none, .none]
            + [30, 60, 120, 240, 480].map { .delay(seconds: $0) }
            + Array(repeating: .delay(seconds: 900), count: 11)
            + [.locked]
        #expect(consequences == expected)
        #expect(rule.consequence(afterConsecutiveFailures: 0) == .none)
        #expect(rule.consequence(afterConsecutiveFailures: 21) == .locked)
    }

    @Test("password failures never exceed NIST's 100 before the lock")
    func passwordLockout() {
        let rule = set.authentication.lockout[.password]
        #expect(rule.consequence(afterConsecutiveFailures: 5) == .none)
        #expect(rule.consequence(afterConsecutiveFailures: 6) == .delay(seconds: 30))
        #expect(rule.consequence(afterConsecutiveFailures: 99) == .delay(seconds: 900))
        #expect(rule.consequence(afterConsecutiveFailures: 100) == .locked)
    }

    typealias Rule = RecoveryPolicy.SuspiciousLogin.Rule
    typealias Decision = RecoveryPolicy.SuspiciousLogin.Decision

    /// The decision table Policies/README.md documents for the shipped recovery.yaml.
    static let decisionTable: [(fired: Set<Rule>, score: Int, decision: Decision)] = [
        ([], 0, .allow),
        ([.newDevice], 1, .allow),
        ([.newCountry], 2, .stepUp),
        ([.impossibleTravel], 3, .stepUp),
        ([.failedSecondFactorBurst], 3, .stepUp),
        ([.userDenied], 6, .freeze),
        ([.newDevice, .newCountry], 3, .stepUp),
        ([.newDevice, .impossibleTravel], 4, .stepUp),
        ([.newCountry, .impossibleTravel], 5, .freeze),
        ([.newDevice, .failedSecondFactorBurst], 4, .freeze),
        ([.newCountry, .failedSecondFactorBurst], 5, .stepUp),
        ([.newDevice, .newCountry, .impossibleTravel], 6, .freeze),
    ]

    @Test("suspicious-login decisions follow the documented table")
    func suspiciousLoginDecisions() {
        let policy = set.recovery.suspiciousLogin
        for row in Self.decisionTable {
            let outcome = policy.decide(fired: row.fired)
            #expect(outcome.score == row.score, "\(row.fired)")
            #expect(outcome.decision == row.decision, "\(row.fired)")
            #expect(Set(outcome.rules) == row.fired)
        }
    }

    @Test("each agent action needs what recovery.yaml says")
    func actionRequirements() {
        let recovery = set.recovery
        #expect(recovery.isSatisfied(.freeze, by: []))
        #expect(recovery.isSatisfied(.endSessions, by: []))
        #expect(!recovery.isSatisfied(.sendResetLink, by: []))
        #expect(recovery.isSatisfied(.sendResetLink, by: [.emailOTP]))
        // Lost phone: contact checks and transaction knowledge alone are not enough…
        #expect(!recovery.isSatisfied(.resetTOTP, by: [.emailOTP, .smsOTP, .transactionKnowledge]))
        // …a reviewed document or a recovery code must carry it.
        #expect(recovery.isSatisfied(.resetTOTP, by: [.emailOTP, .smsOTP, .transactionKnowledge, .idDocument]))
        #expect(recovery.isSatisfied(.resetTOTP, by: [.recoveryCode, .transactionKnowledge]))
        #expect(!recovery.isSatisfied(.resetTOTP, by: [.totp, .transactionKnowledge]))
        #expect(!recovery.isSatisfied(.changeContact, by: [.idDocument, .transactionKnowledge]))
        #expect(recovery.isSatisfied(.changeContact, by: [.idDocument, .transactionKnowledge, .emailOTP]))
    }

    @Test("triage: suspicious logins and takeover signs are P1, the most urgent match wins")
    func triage() {
        let sla = set.sla
        #expect(sla.triage(category: .suspiciousLogin, channel: .api, signals: []) == .init(priority: .p1, rules: ["suspicious_login"]))
        #expect(sla.triage(category: .other, channel: .wechat, signals: [.takeoverReported]) == .init(priority: .p1, rules: ["takeover_signs"]))
        #expect(
            sla.triage(category: .lost2FA, channel: .inApp, signals: [.recentCredentialChange])
                == .init(priority: .p1, rules: ["takeover_signs", "locked_out"])
        )
        #expect(
            sla.triage(category: .transfer, channel: .email, signals: [.factorLocked])
                == .init(priority: .p2, rules: ["factor_locked", "funds_in_motion"])
        )
        #expect(sla.triage(category: .refund, channel: .phone, signals: []) == .init(priority: .p3, rules: ["refund"]))
        #expect(sla.triage(category: .other, channel: .phone, signals: []) == .init(priority: .p3, rules: []))
    }

    @Test("SLA clocks run through the night and the weekend")
    func deadlinesNeverPause() throws {
        // Friday 23:50 in Shanghai.
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = set.sla.supportTimeZone
        let opened = try #require(calendar.date(from: DateComponents(year: 2026, month: 11, day: 27, hour: 23, minute: 50)))
        let p1 = set.sla.deadlines(for: .p1, openedAt: opened)
        #expect(p1.firstResponse.timeIntervalSince(opened) == 15 * 60)
        #expect(calendar.component(.weekday, from: p1.firstResponse) == 7)  // Saturday 00:05
        let p4 = set.sla.deadlines(for: .p4, openedAt: opened)
        #expect(p4.resolution.timeIntervalSince(opened) == 7 * 24 * 3600)
    }

    @Test("outbox retries back off exponentially, then give up")
    func outboxBackoff() {
        let outbox = set.recovery.outbox
        let waits = (1...10).map { outbox.backoff(afterFailedAttempt: $0) }
        #expect(waits == [5, 10, 20, 40, 80, 160, 320, 640, 1280, nil])
        var capped = outbox
        capped.maxBackoffSeconds = 60
        #expect(capped.backoff(afterFailedAttempt: 5) == 60)
    }

    @Test("priorities sort most urgent first")
    func priorityOrder() {
        #expect(CasePriority.allCases.sorted() == [.p1, .p2, .p3, .p4])
        #expect([CasePriority.p3, .p1].min() == .p1)
    }
}
