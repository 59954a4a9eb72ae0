import Foundation

/// What a freeze does to the credentials of an account, wherever it comes from (a
/// suspicious-login decision or a support action).
///
/// Rules (issue 11, item 1):
/// - while a subject is frozen no credential changes: no reset token is issued (the anonymous
///   request still answers the same 202), a confirm answers 423 `account_frozen`, setting a
///   password answers 423, and each refusal is audited as `denied`;
/// - the freeze itself, in its own transaction, voids every outstanding reset token and every
///   pending email/SMS verification code of the subject, so nothing issued before the freeze can
///   be used during it; the voiding is audited (`account.freeze_voided`, and
///   `case.verification_failed` with `why: account_frozen` on each case that had a code pending);
/// - the support actions that recover a frozen account (verify, `reset_totp`, `unfreeze`) go on
///   under four eyes; `send_reset_link` is refused until the account is unfrozen.
enum AccountFreezes {
    /// Voids what a freeze must void, in the freeze's transaction, with its audit entries.
    /// `caseID` names the case the freeze was done from, when there is one.
    static func voidOutstanding(
        subjectID: String,
        tx: any StoreWriting,
        principal: Principal,
        request: RequestInfo,
        now: Date,
        caseID: String?,
        details: [String: AuditValue]
    ) throws {
        let tokens = try tx.voidResetTokens(subjectID: subjectID, at: now)
        let codes = try tx.voidPendingVerificationCodes(subjectID: subjectID, at: now)
        var summary = details
        summary["reset_tokens"] = .int(Int64(tokens))
        summary["verification_codes"] = .int(Int64(codes.count))
        if let caseID { summary["case_id"] = .string(caseID) }
        try tx.appendAudit(
            AuditRecord(
                action: "account.freeze_voided",
                actor: principal.actor,
                target: .init(type: "subject", id: subjectID),
                requestID: request.requestID,
                sourceIP: request.sourceIP,
                details: summary,
                time: now
            )
        )
        for v in codes {
            try tx.appendAudit(
                AuditRecord(
                    action: "case.verification_failed",
                    actor: principal.actor,
                    target: .init(type: "case", id: v.caseID),
                    requestID: request.requestID,
                    sourceIP: request.sourceIP,
                    details: [
                        "case_id": .string(v.caseID), "verification_id": .string(v.id), "check": .string(v.check.rawValue),
                        "why": "account_frozen",
                    ],
                    time: now
                )
            )
        }
    }
}
