import Foundation
import VigilCrypto

/// The case file: a signed record of one support case that proves itself without the rest
/// of the log (docs/case-file.md).
///
/// Rules:
/// - no personal data: the case's codes and times, agent ids, check and action names, the
///   audit entries of the case (which never hold personal data) — never a summary, contact,
///   note body, reason or comment;
/// - every audit entry of the case is carried verbatim (its canonical bytes) with its
///   inclusion path against one signed checkpoint, so each proves itself;
/// - the timeline and the SLA outcome are derived (from the entries, and from the case's
///   times), never written by hand: a verifier derives them again and compares;
/// - the file is RFC 8785 canonical JSON followed by one newline, and is signed with the audit
///   signing keys (the keys that sign checkpoints) over the canonical JSON of the file without
///   its `signatures` member. A JSON text never contains a raw newline, so it can never be
///   mistaken for a signed-note text (which ends in one).
public struct CaseFile: Sendable, Hashable {
    public static let formatVersion = "vigil-case-file/1"
    /// The largest file a verifier reads, in bytes.
    public static let maxBytes = 64 * 1024 * 1024

    /// The case itself: codes, agent ids and times only.
    public struct Record: Sendable, Hashable {
        public var id: String
        public var channel: String
        public var category: String
        public var priority: String
        /// `open`, `in_progress` or `closed`.
        public var status: String
        public var triageRules: [String]
        /// The agent id the case is assigned to.
        public var assignee: String?
        public var openedAt: String
        public var firstResponseDue: String
        public var resolutionDue: String
        public var firstResponseAt: String?
        public var closedAt: String?
        public var resolution: String?
        public var csatScore: Int64?
        /// The keyed hash the log uses for this case as an entry's target (`target.id_hash`).
        public var targetHash: String?

        public init(
            id: String,
            channel: String,
            category: String,
            priority: String,
            status: String,
            triageRules: [String],
            assignee: String?,
            openedAt: String,
            firstResponseDue: String,
            resolutionDue: String,
            firstResponseAt: String?,
            closedAt: String?,
            resolution: String?,
            csatScore: Int64?,
            targetHash: String?
        ) {
            self.id = id
            self.channel = channel
            self.category = category
            self.priority = priority
            self.status = status
            self.triageRules = triageRules
            self.assignee = assignee
            self.openedAt = openedAt
            self.firstResponseDue = firstResponseDue
            self.resolutionDue = resolutionDue
            self.firstResponseAt = firstResponseAt
            self.closedAt = closedAt
            self.resolution = resolution
            self.csatScore = csatScore
            self.targetHash = targetHash
        }
    }

    /// One check of the recovery policy done on the case.
    public struct Verification: Sendable, Hashable {
        public var id: String
        public var check: String
        /// `pending`, `passed` or `failed`.
        public var status: String
        /// The agent id who started it.
        public var agent: String
        public var attempts: Int64
        public var startedAt: String
        public var completedAt: String?

        public init(id: String, check: String, status: String, agent: String, attempts: Int64, startedAt: String, completedAt: String?) {
            self.id = id
            self.check = check
            self.status = status
            self.agent = agent
            self.attempts = attempts
            self.startedAt = startedAt
            self.completedAt = completedAt
        }
    }

    /// One action on the case's subject, with its approval (four eyes) when it needed one.
    public struct Action: Sendable, Hashable {
        public var id: String
        public var action: String
        /// `pending_approval`, `rejected`, `executed` or `cancelled`.
        public var status: String
        public var requestedBy: String
        public var requestedAt: String
        /// The checks the request relied on.
        public var checks: [String]
        /// The supervisor who approved or rejected it.
        public var decidedBy: String?
        public var decidedAt: String?
        public var executedAt: String?
        public var holdUntil: String?

        public init(
            id: String,
            action: String,
            status: String,
            requestedBy: String,
            requestedAt: String,
            checks: [String],
            decidedBy: String?,
            decidedAt: String?,
            executedAt: String?,
            holdUntil: String?
        ) {
            self.id = id
            self.action = action
            self.status = status
            self.requestedBy = requestedBy
            self.requestedAt = requestedAt
            self.checks = checks
            self.decidedBy = decidedBy
            self.decidedAt = decidedAt
            self.executedAt = executedAt
            self.holdUntil = holdUntil
        }
    }

    /// An audit entry of the case: its canonical bytes and its inclusion path in the tree of
    /// the file's checkpoint.
    public struct Entry: Sendable, Hashable {
        public var seq: UInt64
        public var bytes: [UInt8]
        public var inclusionPath: [TreeHash]

        public init(seq: UInt64, bytes: [UInt8], inclusionPath: [TreeHash]) {
            self.seq = seq
            self.bytes = bytes
            self.inclusionPath = inclusionPath
        }
    }

    /// The SLA outcome as of `generated_at`.
    public struct SLA: Sendable, Hashable {
        /// `met`, `breached`, `pending` (open, not yet due) or `none` (closed in time without a reply).
        public var firstResponse: String
        /// `met`, `breached` or `pending`.
        public var resolution: String

        public init(firstResponse: String, resolution: String) {
            self.firstResponse = firstResponse
            self.resolution = resolution
        }
    }

    public var generatedAt: String
    public var record: Record
    public var verifications: [Verification]
    public var actions: [Action]
    public var checkpoint: SignedCheckpoint
    public var entries: [Entry]
    /// Empty until signed.
    public var signatures: [NoteSignature]

    public init(
        generatedAt: String,
        record: Record,
        verifications: [Verification],
        actions: [Action],
        checkpoint: SignedCheckpoint,
        entries: [Entry],
        signatures: [NoteSignature] = []
    ) {
        self.generatedAt = generatedAt
        self.record = record
        self.verifications = verifications
        self.actions = actions
        self.checkpoint = checkpoint
        self.entries = entries
        self.signatures = signatures
    }

    // MARK: Derived sections

    /// The SLA outcome, from the case's times and `generatedAt` (24/7: plain comparisons).
    public var sla: SLA {
        func date(_ s: String?) -> Date? { s.flatMap(AuditTime.parse) }
        let now = date(generatedAt) ?? .distantPast
        let closed = date(record.closedAt)
        let firstDue = date(record.firstResponseDue) ?? .distantPast
        let resolutionDue = date(record.resolutionDue) ?? .distantPast
        let first: String
        if let at = date(record.firstResponseAt) {
            first = at <= firstDue ? "met" : "breached"
        } else if let closed {
            first = closed <= firstDue ? "none" : "breached"
        } else {
            first = now > firstDue ? "breached" : "pending"
        }
        let resolution: String
        if let closed {
            resolution = closed <= resolutionDue ? "met" : "breached"
        } else {
            resolution = now > resolutionDue ? "breached" : "pending"
        }
        return SLA(firstResponse: first, resolution: resolution)
    }

    /// The entries, parsed (each must be a canonical entry).
    public func parsedEntries() throws(AuditError) -> [AuditEntry] {
        var out: [AuditEntry] = []
        out.reserveCapacity(entries.count)
        for e in entries { out.append(try AuditEntry(canonicalBytes: e.bytes)) }
        return out
    }

    /// The `target.id_hash` of the case's own entries (those whose target is a case and that
    /// name no other case), for `Record.targetHash`.
    public static func caseTargetHash(caseID: String, entries: [AuditEntry]) -> String? {
        for e in entries {
            guard let target = e.target, target.type == "case" else { continue }
            switch e.details["case_id"] {
            case nil, .string(caseID)?: return target.idHash
            default: continue
            }
        }
        return nil
    }

    // MARK: Encoding

    /// The signed message: the canonical JSON of the file without `signatures`.
    public func signedMessage() throws(AuditError) -> [UInt8] {
        CanonicalJSON.encode(.object(try unsignedMembers()))
    }

    /// The file signed by `signers` (replacing any signatures it had).
    public func signed(with signers: [NoteSigner]) throws(AuditError) -> CaseFile {
        guard !signers.isEmpty else { throw .malformed("case file: no signer") }
        let message = String(decoding: try signedMessage(), as: UTF8.self)
        var copy = self
        copy.signatures = signers.map { $0.signature(for: message) }
        return copy
    }

    /// The file as written: canonical JSON and one newline.
    public func fileBytes() throws(AuditError) -> [UInt8] {
        guard !signatures.isEmpty else { throw .malformed("case file: not signed") }
        return CanonicalJSON.encode(try jsonValue()) + [0x0A]
    }

    func jsonValue() throws(AuditError) -> CanonicalJSON.Value {
        var members = try unsignedMembers()
        members.append(("signatures", Self.signaturesValue(signatures)))
        return .object(members)
    }

    func unsignedMembers() throws(AuditError) -> [(String, CanonicalJSON.Value)] {
        let parsed = try parsedEntries()
        let sla = self.sla
        return [
            ("format", .string(Self.formatVersion)),
            ("generated_at", .string(generatedAt)),
            ("case", record.jsonValue),
            ("sla", .object([("first_response", .string(sla.firstResponse)), ("resolution", .string(sla.resolution))])),
            ("timeline", .array(parsed.map(Self.timelineItem))),
            ("verifications", .array(verifications.map(\.jsonValue))),
            ("actions", .array(actions.map(\.jsonValue))),
            ("checkpoint", .string(checkpoint.text)),
            ("entries", .array(entries.map(\.jsonValue))),
        ]
    }

    /// A timeline item: what an entry says, without its hashes.
    static func timelineItem(_ e: AuditEntry) -> CanonicalJSON.Value {
        .object([
            ("seq", .integer(Int64(e.seq))),
            ("time", .string(e.time)),
            ("action", .string(e.action)),
            ("actor", .object([("id", .string(e.actor.id)), ("type", .string(e.actor.type.rawValue))])),
            ("outcome", .string(e.outcome.rawValue)),
            (
                "details",
                .object(
                    e.details.map { key, value in
                        switch value {
                        case .string(let s): (key, .string(s))
                        case .integer(let n): (key, .integer(n))
                        }
                    }
                )
            ),
        ])
    }

    static func signaturesValue(_ signatures: [NoteSignature]) -> CanonicalJSON.Value {
        .array(
            signatures.map {
                .object([("key_name", .string($0.name)), ("key_id", .string($0.keyID)), ("signature", .string(ByteEncoding.base64($0.signature)))])
            }
        )
    }
}

extension CaseFile.Record {
    var jsonValue: CanonicalJSON.Value {
        var m: [(String, CanonicalJSON.Value)] = [
            ("id", .string(id)),
            ("channel", .string(channel)),
            ("category", .string(category)),
            ("priority", .string(priority)),
            ("status", .string(status)),
            ("triage_rules", .array(triageRules.map { .string($0) })),
            ("opened_at", .string(openedAt)),
            ("first_response_due", .string(firstResponseDue)),
            ("resolution_due", .string(resolutionDue)),
        ]
        if let assignee { m.append(("assignee", .string(assignee))) }
        if let firstResponseAt { m.append(("first_response_at", .string(firstResponseAt))) }
        if let closedAt { m.append(("closed_at", .string(closedAt))) }
        if let resolution { m.append(("resolution", .string(resolution))) }
        if let csatScore { m.append(("csat_score", .integer(csatScore))) }
        if let targetHash { m.append(("target_hash", .string(targetHash))) }
        return .object(m)
    }

    init(_ s: JSONShape) throws(AuditError) {
        self.init(
            id: try s.text("id"),
            channel: try s.text("channel"),
            category: try s.text("category"),
            priority: try s.text("priority"),
            status: try s.text("status"),
            triageRules: try s.texts("triage_rules"),
            assignee: try s.optionalText("assignee"),
            openedAt: try s.time("opened_at"),
            firstResponseDue: try s.time("first_response_due"),
            resolutionDue: try s.time("resolution_due"),
            firstResponseAt: try s.optionalTime("first_response_at"),
            closedAt: try s.optionalTime("closed_at"),
            resolution: try s.optionalText("resolution"),
            csatScore: try s.optionalInteger("csat_score"),
            targetHash: try s.optionalText("target_hash")
        )
    }
}

extension CaseFile.Verification {
    var jsonValue: CanonicalJSON.Value {
        var m: [(String, CanonicalJSON.Value)] = [
            ("id", .string(id)),
            ("check", .string(check)),
            ("status", .string(status)),
            ("agent", .string(agent)),
            ("attempts", .integer(attempts)),
            ("started_at", .string(startedAt)),
        ]
        if let completedAt { m.append(("completed_at", .string(completedAt))) }
        return .object(m)
    }

    init(_ s: JSONShape) throws(AuditError) {
        self.init(
            id: try s.text("id"),
            check: try s.text("check"),
            status: try s.text("status"),
            agent: try s.text("agent"),
            attempts: try s.integer("attempts"),
            startedAt: try s.time("started_at"),
            completedAt: try s.optionalTime("completed_at")
        )
    }
}

extension CaseFile.Action {
    var jsonValue: CanonicalJSON.Value {
        var m: [(String, CanonicalJSON.Value)] = [
            ("id", .string(id)),
            ("action", .string(action)),
            ("status", .string(status)),
            ("requested_by", .string(requestedBy)),
            ("requested_at", .string(requestedAt)),
            ("checks", .array(checks.map { .string($0) })),
        ]
        if let decidedBy { m.append(("decided_by", .string(decidedBy))) }
        if let decidedAt { m.append(("decided_at", .string(decidedAt))) }
        if let executedAt { m.append(("executed_at", .string(executedAt))) }
        if let holdUntil { m.append(("hold_until", .string(holdUntil))) }
        return .object(m)
    }

    init(_ s: JSONShape) throws(AuditError) {
        self.init(
            id: try s.text("id"),
            action: try s.text("action"),
            status: try s.text("status"),
            requestedBy: try s.text("requested_by"),
            requestedAt: try s.time("requested_at"),
            checks: try s.texts("checks"),
            decidedBy: try s.optionalText("decided_by"),
            decidedAt: try s.optionalTime("decided_at"),
            executedAt: try s.optionalTime("executed_at"),
            holdUntil: try s.optionalTime("hold_until")
        )
    }
}

extension CaseFile.Entry {
    var jsonValue: CanonicalJSON.Value {
        .object([
            ("seq", .integer(Int64(seq))),
            ("entry", .string(String(decoding: bytes, as: UTF8.self))),
            ("inclusion_path", .array(inclusionPath.map { .string($0.hex) })),
        ])
    }

    init(_ s: JSONShape) throws(AuditError) {
        self.init(seq: try s.unsigned("seq"), bytes: Array(try s.string("entry").utf8), inclusionPath: try s.hashes("inclusion_path"))
    }
}

extension JSONShape {
    /// A string of printable characters (codes, ids, names: never free text).
    func text(_ key: String) throws(AuditError) -> String {
        let s = try string(key)
        guard !s.isEmpty, AuditEntry.isPrintable(s) else { throw .malformed("\(context): \(key) must be non-empty printable text") }
        return s
    }

    func optionalText(_ key: String) throws(AuditError) -> String? {
        has(key) ? try text(key) : nil
    }

    func time(_ key: String) throws(AuditError) -> String {
        let s = try string(key)
        guard AuditTime.isValid(s) else { throw .malformed("\(context): \(key) must be an audit time like 2026-11-27T17:36:27.123Z") }
        return s
    }

    func optionalTime(_ key: String) throws(AuditError) -> String? {
        has(key) ? try time(key) : nil
    }

    func integer(_ key: String) throws(AuditError) -> Int64 {
        guard case .integer(let n)? = members[key] else { throw .malformed("\(context): \(key) must be an integer") }
        return n
    }

    func optionalInteger(_ key: String) throws(AuditError) -> Int64? {
        has(key) ? try integer(key) : nil
    }

    func texts(_ key: String) throws(AuditError) -> [String] {
        var out: [String] = []
        for item in try array(key) {
            guard case .string(let s) = item, !s.isEmpty, AuditEntry.isPrintable(s) else {
                throw .malformed("\(context): \(key) must hold printable strings")
            }
            out.append(s)
        }
        return out
    }

    func objects(_ key: String) throws(AuditError) -> [JSONShape] {
        var out: [JSONShape] = []
        for (i, item) in try array(key).enumerated() { out.append(try JSONShape(item, "\(key)[\(i)]")) }
        return out
    }
}
