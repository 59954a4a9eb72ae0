import Foundation
import VigilAudit

/// What a case file reads from the audit log, in the same snapshot as the case itself, so
/// that the sections and the entries agree.
public protocol CaseFileEvidenceReading {
    /// The newest signed checkpoint; nil when the log has none yet.
    func latestAuditCheckpoint() throws -> SignedCheckpoint?
    /// Entries `seqs` (ascending), their canonical bytes verbatim, each with its inclusion
    /// path in the tree of `treeSize` entries.
    func auditEntries(seqs: [UInt64], provenIn treeSize: UInt64) throws -> [CaseFile.Entry]
    /// Signs `file` with the audit signing keys: the keys that sign checkpoints.
    func signCaseFile(_ file: CaseFile) throws -> CaseFile
}

public protocol CaseFileEvidenceWriting: CaseFileEvidenceReading {
    /// Signs a checkpoint of the log as this transaction sees it, unless one exists for that
    /// size; `time` is when (from the injected clock).
    func signAuditCheckpoint(at time: Date) throws
}

/// The case file (issue 6, item 7; docs/case-file.md).
///
/// Rules:
/// - agents, supervisors, admins and auditors may read it: it holds no personal data (no
///   summary, contact, note body, reason or comment, no subject id);
/// - reading it is audited (`case.file_exported`, filed under the case), in the write that
///   signs the checkpoint, so the file carries the entry of its own export;
/// - the case, its verifications and actions and its entries are read in one snapshot, and
///   every entry is proven against the newest checkpoint of that snapshot, which must cover
///   all of them (a case entry written after the checkpoint means one more checkpoint and a
///   fresh snapshot).
public struct CaseFileService: Sendable {
    let deps: VigilDependencies

    public init(_ deps: VigilDependencies) { self.deps = deps }

    public enum Format: String, Sendable, CaseIterable {
        case json, html
    }

    /// Snapshots tried before giving up when case entries keep arriving after each checkpoint.
    static let attempts = 4

    /// The signed case file of case `id`.
    public func file(id: String, format: Format, by principal: Principal, request: RequestInfo) async throws -> CaseFile {
        try principal.require(role: [.agent, .supervisor, .admin, .auditor])
        let now = deps.clock.now()
        try await deps.store.write { tx in
            guard try tx.caseSummary(id: id) != nil else { throw VigilError.notFound(resource: "case") }
            try tx.appendAudit(
                AuditRecord(
                    action: "case.file_exported",
                    actor: principal.actor,
                    target: .init(type: "case", id: id),
                    requestID: request.requestID,
                    sourceIP: request.sourceIP,
                    details: ["case_id": .string(id), "format": .string(format.rawValue)],
                    time: now
                )
            )
            try tx.signAuditCheckpoint(at: now)
        }
        let clock = deps.clock
        for attempt in 1...Self.attempts {
            if attempt > 1 {
                let at = clock.now()
                try await deps.store.write { try $0.signAuditCheckpoint(at: at) }
            }
            let built = try await deps.store.read { tx in try Self.build(id: id, tx: tx, clock: clock) }
            if let built { return built }
        }
        throw VigilError.unavailable(reason: "the case keeps changing; try again")
    }

    /// The file from one snapshot; nil when an entry of the case is newer than the newest
    /// checkpoint. The clock is read after the entries, so none is later than `generated_at`.
    static func build(id: String, tx: any StoreReading, clock: any VigilClock) throws -> CaseFile? {
        guard let c = try tx.caseSummary(id: id) else { throw VigilError.notFound(resource: "case") }
        guard let checkpoint = try tx.latestAuditCheckpoint() else { return nil }
        let seqs = try tx.caseAuditSeqs(caseID: id)
        guard let last = seqs.last, last < checkpoint.checkpoint.size else { return nil }
        let entries = try tx.auditEntries(seqs: seqs, provenIn: checkpoint.checkpoint.size)
        let parsed = try entries.map { try AuditEntry(canonicalBytes: $0.bytes) }
        let resolution = try tx.caseResolution(id: id)
        let feedback = try tx.caseFeedback(id: id)
        let generatedAt = clock.now()
        func t(_ d: Date) -> String { Timestamp.format(d) }
        let record = CaseFile.Record(
            id: c.id,
            channel: c.channel.rawValue,
            category: c.category.rawValue,
            priority: c.priority.rawValue,
            status: c.status,
            triageRules: c.triageRules,
            assignee: c.assignee,
            openedAt: t(c.openedAt),
            firstResponseDue: t(c.firstResponseDue),
            resolutionDue: t(c.resolutionDue),
            firstResponseAt: c.firstRespondedAt.map(t),
            closedAt: resolution.map { t($0.closedAt) },
            resolution: resolution?.code.rawValue,
            csatScore: feedback.map { Int64($0.score) },
            targetHash: CaseFile.caseTargetHash(caseID: id, entries: parsed)
        )
        let verifications = try tx.caseVerifications(caseID: id).map {
            CaseFile.Verification(
                id: $0.id,
                check: $0.check.rawValue,
                status: $0.status.rawValue,
                agent: $0.agentID,
                attempts: Int64($0.attempts),
                startedAt: t($0.createdAt),
                completedAt: $0.completedAt.map(t)
            )
        }
        let actions = try tx.caseActions(caseID: id).map {
            CaseFile.Action(
                id: $0.id,
                action: $0.action.rawValue,
                status: $0.status.rawValue,
                requestedBy: $0.requestedBy,
                requestedAt: t($0.requestedAt),
                checks: $0.checks.map(\.rawValue),
                decidedBy: $0.decidedBy,
                decidedAt: $0.decidedAt.map(t),
                executedAt: $0.executedAt.map(t),
                holdUntil: $0.holdUntil.map(t)
            )
        }
        let file = CaseFile(
            generatedAt: t(generatedAt),
            record: record,
            verifications: verifications,
            actions: actions,
            checkpoint: checkpoint,
            entries: entries
        )
        return try tx.signCaseFile(file)
    }
}
