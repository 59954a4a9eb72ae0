import Foundation

/// How a case ended. Closing takes one of these; the SLA report groups by them.
public enum CaseResolution: String, Sendable, CaseIterable, Codable {
    /// The requester got their account back (or the reported problem is fixed).
    case recovered
    /// Answered or fixed without a recovery (a question, a transfer explained).
    case resolved
    /// The requester could not be verified as the policy demands; nothing was changed.
    case verificationFailed = "verification_failed"
    /// The requester stopped answering.
    case noResponse = "no_response"
    /// Another case covers it.
    case duplicate
    /// Handed to another team (fraud, legal, payments) outside Vigil.
    case referred
}

/// A note on a case. `reply` records an answer sent to the requester through the channel; the
/// first reply is the case's first response. `reveal_reason` is the reason an agent gave for
/// seeing the decrypted contact data.
public enum CaseNoteKind: String, Sendable, CaseIterable, Codable {
    case `internal`
    case reply
    case revealReason = "reveal_reason"
}

public struct CaseNote: Sendable, Equatable {
    public var id: String
    public var caseID: String
    public var kind: CaseNoteKind
    public var author: String
    public var body: String
    public var createdAt: Date

    public init(id: String, caseID: String, kind: CaseNoteKind, author: String, body: String, createdAt: Date) {
        self.id = id
        self.caseID = caseID
        self.kind = kind
        self.author = author
        self.body = body
        self.createdAt = createdAt
    }
}

/// One check of `Policies/recovery.yaml` done for a case.
public struct CaseVerification: Sendable, Equatable {
    public enum Status: String, Sendable, Codable {
        /// A one-time code was sent and is awaited.
        case pending
        case passed
        case failed
    }

    public var id: String
    public var caseID: String
    public var check: RecoveryPolicy.VerificationCheck
    public var status: Status
    public var agentID: String
    /// Keyed hash of the one-time code sent by email or SMS (nil for other checks).
    public var codeHash: [UInt8]?
    public var attempts: Int
    public var codeExpiresAt: Date?
    public var createdAt: Date
    public var completedAt: Date?

    public init(
        id: String,
        caseID: String,
        check: RecoveryPolicy.VerificationCheck,
        status: Status,
        agentID: String,
        codeHash: [UInt8]? = nil,
        attempts: Int = 0,
        codeExpiresAt: Date? = nil,
        createdAt: Date,
        completedAt: Date? = nil
    ) {
        self.id = id
        self.caseID = caseID
        self.check = check
        self.status = status
        self.agentID = agentID
        self.codeHash = codeHash
        self.attempts = attempts
        self.codeExpiresAt = codeExpiresAt
        self.createdAt = createdAt
        self.completedAt = completedAt
    }

    /// Whether this check counts towards an action at `now` (passed, and within its
    /// `valid_minutes`).
    public func counts(at now: Date, policy: RecoveryPolicy) -> Bool {
        guard status == .passed, let completedAt else { return false }
        return now < completedAt.addingTimeInterval(TimeInterval(policy.verificationChecks[check].validMinutes * 60))
    }
}

/// An action an agent took or asked for on a case's subject.
public struct CaseAction: Sendable, Equatable {
    public enum Status: String, Sendable, Codable {
        /// High risk: waits for a supervisor who is not the requester.
        case pendingApproval = "pending_approval"
        case rejected
        case executed
        /// Withdrawn by the requester, or the case closed before approval.
        case cancelled
    }

    /// A new contact for `change_contact` (personal data: encrypted at rest).
    public struct ContactChange: Sendable, Equatable, Codable {
        public var email: String?
        public var phone: String?
        public init(email: String?, phone: String?) {
            self.email = email
            self.phone = phone
        }
    }

    public var id: String
    public var caseID: String
    public var action: RecoveryPolicy.Action
    public var status: Status
    public var requestedBy: String
    public var requestedAt: Date
    /// Why the agent asks for it (free text: encrypted, never in the audit log).
    public var reason: String
    public var contactChange: ContactChange?
    /// The passed checks the request relied on.
    public var checks: [RecoveryPolicy.VerificationCheck]
    public var decidedBy: String?
    public var decidedAt: Date?
    public var executedAt: Date?
    /// Withdrawals held until then (cooling-off), when the action set a hold.
    public var holdUntil: Date?

    public init(
        id: String,
        caseID: String,
        action: RecoveryPolicy.Action,
        status: Status,
        requestedBy: String,
        requestedAt: Date,
        reason: String,
        contactChange: ContactChange? = nil,
        checks: [RecoveryPolicy.VerificationCheck],
        decidedBy: String? = nil,
        decidedAt: Date? = nil,
        executedAt: Date? = nil,
        holdUntil: Date? = nil
    ) {
        self.id = id
        self.caseID = caseID
        self.action = action
        self.status = status
        self.requestedBy = requestedBy
        self.requestedAt = requestedAt
        self.reason = reason
        self.contactChange = contactChange
        self.checks = checks
        self.decidedBy = decidedBy
        self.decidedAt = decidedAt
        self.executedAt = executedAt
        self.holdUntil = holdUntil
    }
}

/// The requester's rating of a closed case, from the channel.
public struct CaseFeedback: Sendable, Equatable {
    public var score: Int
    public var comment: String?
    public var at: Date
    public init(score: Int, comment: String?, at: Date) {
        self.score = score
        self.comment = comment
        self.at = at
    }
}

/// A case row for the SLA report: no personal data.
public struct CaseSLARecord: Sendable, Equatable {
    public var id: String
    public var channel: CaseChannel
    public var category: CaseCategory
    public var priority: CasePriority
    public var openedAt: Date
    public var firstResponseDue: Date
    public var resolutionDue: Date
    public var firstRespondedAt: Date?
    public var closedAt: Date?
    public var resolution: CaseResolution?
    public var csatScore: Int?

    public init(
        id: String,
        channel: CaseChannel,
        category: CaseCategory,
        priority: CasePriority,
        openedAt: Date,
        firstResponseDue: Date,
        resolutionDue: Date,
        firstRespondedAt: Date?,
        closedAt: Date?,
        resolution: CaseResolution?,
        csatScore: Int?
    ) {
        self.id = id
        self.channel = channel
        self.category = category
        self.priority = priority
        self.openedAt = openedAt
        self.firstResponseDue = firstResponseDue
        self.resolutionDue = resolutionDue
        self.firstRespondedAt = firstRespondedAt
        self.closedAt = closedAt
        self.resolution = resolution
        self.csatScore = csatScore
    }
}

/// Store operations of the case workflow (notes, verifications, actions, close, feedback).
public protocol CaseWorkflowReading {
    func caseContact(id: String) throws -> String?
    func caseNotes(caseID: String) throws -> [CaseNote]
    func caseVerifications(caseID: String) throws -> [CaseVerification]
    func caseVerification(id: String) throws -> CaseVerification?
    func caseActions(caseID: String) throws -> [CaseAction]
    func caseAction(id: String) throws -> CaseAction?
    /// High-risk actions waiting for approval, oldest first.
    func pendingApprovals(limit: Int) throws -> [CaseAction]
    func caseFeedback(id: String) throws -> CaseFeedback?
    func caseResolution(id: String) throws -> (code: CaseResolution, closedAt: Date)?
    /// When the subject's credentials last changed: a password replaced, a contact changed, or a
    /// reset or support action that held withdrawals (the `recent_credential_change` signal).
    func lastCredentialChange(subjectID: String) throws -> Date?
    /// Seqs of the audit entries written about the case, ascending.
    func caseAuditSeqs(caseID: String) throws -> [UInt64]
    /// A keyed hash of a one-time code sent for verification `verificationID` (6–10 digits are
    /// guessable from a plain hash; the key stays in the store).
    func verificationCodeDigest(_ code: String, verificationID: String) -> [UInt8]
    /// One-time codes of `check` sent to the subject since `since`, over all its cases.
    func verificationCodesSent(subjectID: String, check: RecoveryPolicy.VerificationCheck, since: Date) throws -> Int
    /// Cases opened in `[from, to)`, for the SLA report.
    func caseSLARecords(openedFrom from: Date, to: Date) throws -> [CaseSLARecord]
}

public protocol CaseWorkflowWriting: CaseWorkflowReading {
    /// Sets `first_responded_at` if it is not set yet; true when this call set it.
    func markFirstResponse(caseID: String, at time: Date) throws -> Bool
    /// New priority and due times (re-triage); false when there is no such open case.
    func retriageCase(id: String, priority: CasePriority, firstResponseDue: Date, resolutionDue: Date) throws -> Bool
    /// Closes an open case; false when there is no such open case.
    func closeCase(id: String, resolution: CaseResolution, at time: Date) throws -> Bool
    /// Records feedback on a closed case once; false when the case is not closed or already rated.
    func recordCaseFeedback(id: String, _ feedback: CaseFeedback) throws -> Bool
    func insertCaseNote(_ note: CaseNote) throws
    func insertCaseVerification(_ v: CaseVerification) throws
    /// Updates status, attempts and completion of a verification.
    func updateCaseVerification(_ v: CaseVerification) throws
    func insertCaseAction(_ a: CaseAction) throws
    /// Moves an action from `from` to the new state of `a`; false when it was not in `from`
    /// (a concurrent decision won).
    func updateCaseAction(_ a: CaseAction, from: CaseAction.Status) throws -> Bool
    /// Replaces the subject's email and/or phone (and their blind indexes).
    func updateSubjectContact(subjectID: String, email: String?, phone: String?, at time: Date) throws
    /// Names the case's subject when it has none yet; false when the case already names one or is closed.
    func linkCaseSubject(caseID: String, subjectID: String) throws -> Bool
    /// Lifts a freeze; false when the subject was not frozen.
    func unfreezeAccount(subjectID: String) throws -> Bool
    /// Ends every pending email/SMS code check on the subject's cases (a freeze): each becomes
    /// `failed` with its code hash gone; returns them as they are now.
    func voidPendingVerificationCodes(subjectID: String, at time: Date) throws -> [CaseVerification]
    /// Cancels every action `agentID` asked for that still waits for approval (the agent was
    /// disabled by an operator: no agent decided it, so `decided_by` and `decided_at` stay
    /// empty); returns them as they are now.
    func cancelPendingActions(requestedBy agentID: String, at time: Date) throws -> [CaseAction]
}
