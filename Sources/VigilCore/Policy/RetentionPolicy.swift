import Yams

/// `retention.yaml`: days personal data stays before it is erased. Audit entries hold no
/// personal data and are not governed here.
public struct RetentionPolicy: Sendable, Equatable {
    /// Counted from the day the case closes.
    public var afterCaseClosedDays: Exhaustive<CaseData, Int>
    /// Counted from the event.
    public var afterEventDays: Exhaustive<EventData, Int>

    public init(afterCaseClosedDays: Exhaustive<CaseData, Int>, afterEventDays: Exhaustive<EventData, Int>) {
        self.afterCaseClosedDays = afterCaseClosedDays
        self.afterEventDays = afterEventDays
    }

    /// Personal data kept with a support case.
    public enum CaseData: String, PolicyName {
        case contact
        case notes
        case verificationDetails = "verification_details"
        case feedbackComment = "feedback_comment"
    }

    /// Personal data kept with an event, not a case.
    public enum EventData: String, PolicyName {
        case loginHistory = "login_history"
        case suspiciousLoginReports = "suspicious_login_reports"
        case outboxMessages = "outbox_messages"
        case passwordResetRequests = "password_reset_requests"
    }
}

extension RetentionPolicy {
    static let fileName = "retention.yaml"
    static let days = 1...3650

    static func read(_ root: PolicyMapping) -> RetentionPolicy? {
        let afterCase = root.mapping("after_case_closed_days") { m -> Exhaustive<CaseData, Int>? in
            m.exhaustiveScalars { (_: CaseData, node, path) in m.reader.int(node, at: path, in: days) }
        }
        let afterEvent = root.mapping("after_event_days") { m -> Exhaustive<EventData, Int>? in
            m.exhaustiveScalars { (_: EventData, node, path) in m.reader.int(node, at: path, in: days) }
        }
        guard let afterCase, let afterEvent else { return nil }
        return RetentionPolicy(afterCaseClosedDays: afterCase, afterEventDays: afterEvent)
    }
}
