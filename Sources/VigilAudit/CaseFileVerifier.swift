import VigilCrypto

/// Why a case file was rejected: one reason from a fixed set and a one-line detail.
public struct CaseFileFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: String, Sendable, Hashable, CaseIterable {
        /// Not a case file: unreadable JSON, a missing or mistyped member, an unknown format.
        case malformed = "malformed"
        /// Valid JSON, but not byte for byte the canonical form (whitespace, escapes, order).
        case notCanonical = "not_canonical"
        /// A signature by a trusted key (over the file, or over its checkpoint) does not verify.
        case badSignature = "bad_signature"
        /// No trusted key signed the file, or its checkpoint.
        case unknownKey = "unknown_key"
        /// An entry and its inclusion path do not lead to the checkpoint's root.
        case alteredEntry = "altered_entry"
        /// An entry that is not about this case.
        case foreignEntry = "foreign_entry"
        /// A section (timeline, SLA, case, verifications, actions) disagrees with the entries.
        case inconsistent = "inconsistent"
        /// The HTML form differs from the rendering of the file it embeds.
        case htmlMismatch = "html_mismatch"
    }

    public let reason: Reason
    public let detail: String

    public init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    /// `inconsistent: verification v_1 is backed by no entry`.
    public var description: String { "\(reason.rawValue): \(detail)" }
}

/// What a verified case file established.
public struct CaseFileSummary: Sendable, Hashable, CustomStringConvertible {
    public let caseID: String
    public let entries: Int
    /// The size of the checkpoint every entry is proven against.
    public let treeSize: UInt64
    /// Key ids (8 hex digits) whose signatures over the file verified.
    public let keyIDs: [String]
    /// Whether the input was the HTML form.
    public let html: Bool

    /// `ok: case case_…, 7 entries, checkpoint size 42`.
    public var description: String { "ok: case \(caseID), \(entries) entries, checkpoint size \(treeSize)" }
}

/// Verifies a case file offline with nothing but the trusted verifier keys
/// (docs/case-file.md §4). Stops at the first failure.
public enum CaseFileVerifier {
    /// Verifies `bytes`: the JSON form, or the HTML form (which embeds it).
    public static func verify(_ bytes: [UInt8], keys: [NoteVerifierKey]) -> Result<CaseFileSummary, CaseFileFailure> {
        do throws(CaseFileFailure) {
            return .success(try check(bytes, keys: keys))
        } catch {
            return .failure(error)
        }
    }

    /// Parses the JSON form without verifying anything but its shape (for tools and tests).
    public static func decode(_ json: [UInt8]) throws(CaseFileFailure) -> CaseFile {
        let parsed = try parseRoot(json)
        try requireCanonical(parsed.value, parsed.body)
        return try typedFile(parsed.value, signatures: try signatures(parsed.root))
    }

    static func check(_ input: [UInt8], keys: [NoteVerifierKey]) throws(CaseFileFailure) -> CaseFileSummary {
        guard input.count <= CaseFile.maxBytes else { throw .init(.malformed, "larger than \(CaseFile.maxBytes) bytes") }
        let html = input.first != UInt8(ascii: "{")
        let json = html ? try CaseFileHTML.embeddedFile(in: input) : input
        // The signature first: a changed byte costs one parse, one encoding and one Ed25519
        // check. The message is the canonical encoding of what was parsed, so a file that is
        // not canonical can pass this step; the next refuses it.
        let (value, root, message, body) = try parseRoot(json)
        let signatures = try signatures(root)
        let keyIDs = try verifySignatures(signatures, message: message, keys: keys)
        try requireCanonical(value, body)
        let file = try typedFile(value, signatures: signatures)
        try checkContent(file, root: root, message: message, keys: keys)
        if html {
            let rendered: [UInt8]
            do {
                rendered = try CaseFileHTML.render(file)
            } catch {
                throw .init(.malformed, "the embedded file cannot be rendered: \(error)")
            }
            guard rendered == input else {
                let at = zip(rendered, input).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(rendered.count, input.count)
                throw .init(.htmlMismatch, "the HTML differs from the rendering of the file it embeds, from byte \(at)")
            }
        }
        return CaseFileSummary(
            caseID: file.record.id,
            entries: file.entries.count,
            treeSize: file.checkpoint.checkpoint.size,
            keyIDs: keyIDs,
            html: html
        )
    }

    // MARK: Shape

    /// The parsed root, its members by name, the signed message (the canonical JSON without
    /// `signatures`) and the JSON text without its final newline.
    static func parseRoot(
        _ json: [UInt8]
    ) throws(CaseFileFailure) -> (value: CanonicalJSON.Value, root: [String: CanonicalJSON.Value], message: [UInt8], body: [UInt8]) {
        guard json.last == 0x0A else { throw .init(.notCanonical, "the file must end in exactly one newline") }
        let body = Array(json.dropLast())
        let value: CanonicalJSON.Value
        do {
            value = try CanonicalJSON.parse(body)
        } catch {
            throw .init(.malformed, "not canonical JSON: \(error)")
        }
        guard case .object(let members) = value else { throw .init(.malformed, "the file is not a JSON object") }
        var root = [String: CanonicalJSON.Value]()
        for (k, v) in members { root[k] = v }
        guard case .string(let format)? = root["format"], format == CaseFile.formatVersion else {
            throw .init(.malformed, "format is not \(CaseFile.formatVersion)")
        }
        return (value, root, CanonicalJSON.encode(.object(members.filter { $0.0 != "signatures" })), body)
    }

    /// The input must be exactly the canonical JSON (and one newline, checked by `parseRoot`).
    static func requireCanonical(_ value: CanonicalJSON.Value, _ body: [UInt8]) throws(CaseFileFailure) {
        guard CanonicalJSON.encode(value) == body else {
            throw .init(.notCanonical, "the JSON is not in RFC 8785 canonical form (whitespace, escapes or member order)")
        }
    }

    static func signatures(_ root: [String: CanonicalJSON.Value]) throws(CaseFileFailure) -> [NoteSignature] {
        do throws(AuditError) {
            var signatures: [NoteSignature] = []
            for s in try JSONShape(.object(root.map { ($0.key, $0.value) }), "file").objects("signatures") {
                let id = try s.string("key_id")
                guard id.utf8.count == 8, let hash = ByteEncoding.fromHex(id), ByteEncoding.hex(hash) == id,
                    let sig = strictBase64(try s.string("signature")), sig.count == Ed25519.signatureBytes
                else { throw AuditError.malformed("\(s.context): key_id must be 8 lowercase hex digits, signature a base64 Ed25519 signature") }
                signatures.append(NoteSignature(name: try s.text("key_name"), keyHash: hash.reduce(0) { $0 << 8 | UInt32($1) }, signature: sig))
            }
            guard !signatures.isEmpty else { throw AuditError.malformed("file: no signature") }
            return signatures
        } catch {
            throw .init(.malformed, error.description)
        }
    }

    static func typedFile(_ value: CanonicalJSON.Value, signatures: [NoteSignature]) throws(CaseFileFailure) -> CaseFile {
        do throws(AuditError) {
            let shape = try JSONShape(value, "file")
            return CaseFile(
                generatedAt: try shape.time("generated_at"),
                record: try CaseFile.Record(try shape.object("case")),
                verifications: try shape.objects("verifications").map { s throws(AuditError) in try CaseFile.Verification(s) },
                actions: try shape.objects("actions").map { s throws(AuditError) in try CaseFile.Action(s) },
                checkpoint: try SignedCheckpoint(parsing: try shape.string("checkpoint")),
                entries: try shape.objects("entries").map { s throws(AuditError) in try CaseFile.Entry(s) },
                signatures: signatures
            )
        } catch {
            throw .init(.malformed, error.description)
        }
    }

    static func verifySignatures(_ signatures: [NoteSignature], message: [UInt8], keys: [NoteVerifierKey]) throws(CaseFileFailure) -> [String] {
        var good: [String] = []
        for sig in signatures {
            for key in keys where key.name == sig.name && key.keyHash == sig.keyHash {
                guard key.publicKey.isValidSignature(sig.signature, for: message) else {
                    throw .init(.badSignature, "the file's signature by \(sig.name) (\(sig.keyID)) does not verify")
                }
                if !good.contains(key.keyID) { good.append(key.keyID) }
            }
        }
        guard !good.isEmpty else {
            throw .init(.unknownKey, "the file is signed by no trusted key (key ids \(signatures.map(\.keyID).joined(separator: ",")))")
        }
        return good
    }

    // MARK: Content

    static func checkContent(_ file: CaseFile, root: [String: CanonicalJSON.Value], message: [UInt8], keys: [NoteVerifierKey]) throws(CaseFileFailure)
    {
        // The checkpoint, then every entry against it.
        let cp = file.checkpoint.checkpoint
        switch file.checkpoint.verify(keys: keys) {
        case .verified: break
        case .badSignature(let name, let keyID):
            throw .init(.badSignature, "the checkpoint's signature by \(name) (\(keyID)) does not verify")
        case .unknownKey(let ids):
            throw .init(.unknownKey, "the checkpoint is signed by no trusted key (key ids \(ids.joined(separator: ",")))")
        }
        guard !file.entries.isEmpty else { throw .init(.inconsistent, "the file holds no entry") }
        var entries: [AuditEntry] = []
        var previous: UInt64?
        for e in file.entries {
            if let previous, e.seq <= previous { throw .init(.inconsistent, "entry seq \(e.seq) is out of order (after seq \(previous))") }
            previous = e.seq
            let entry: AuditEntry
            do {
                entry = try AuditEntry(canonicalBytes: e.bytes)
            } catch {
                throw .init(.alteredEntry, "entry seq \(e.seq) is not a canonical audit entry: \(error)")
            }
            guard entry.seq == e.seq else { throw .init(.inconsistent, "entry listed as seq \(e.seq) carries seq \(entry.seq)") }
            let proof = InclusionProof(leafIndex: e.seq, treeSize: cp.size, hashes: e.inclusionPath)
            guard proof.verify(leafHash: MerkleHashing.leafHash(e.bytes), root: cp.rootHash) else {
                throw .init(.alteredEntry, "entry seq \(e.seq) and its inclusion path do not lead to the root of checkpoint size \(cp.size)")
            }
            entries.append(entry)
        }
        try checkBinding(file, entries)
        try checkDerived(file, entries, root: root)
        try checkCase(file.record, entries)
        try checkVerifications(file.verifications, entries)
        try checkActions(file.actions, entries)
        // Whatever the checks above do not name: members the format does not define.
        let expected: [UInt8]
        do throws(AuditError) {
            expected = CanonicalJSON.encode(.object(try file.unsignedMembers()))
        } catch {
            throw .init(.malformed, error.description)
        }
        guard expected == message else { throw .init(.malformed, "the file holds members or values the format does not define") }
    }

    /// Every entry is about this case: `details.case_id` names it, or (entries written before
    /// every case entry carried `case_id`) its target is this case's `target_hash`.
    static func checkBinding(_ file: CaseFile, _ entries: [AuditEntry]) throws(CaseFileFailure) {
        let id = file.record.id
        for e in entries {
            let caseTarget = e.target.flatMap { $0.type == "case" ? $0.idHash : nil }
            switch e.details["case_id"] {
            case .string(id)?:
                if let caseTarget, caseTarget != file.record.targetHash {
                    throw .init(.foreignEntry, "entry seq \(e.seq) names this case but targets another")
                }
            case .string(let other)?:
                throw .init(.foreignEntry, "entry seq \(e.seq) is about case \(other), not \(id)")
            case .integer?:
                throw .init(.foreignEntry, "entry seq \(e.seq) has a case_id that is not a string")
            case nil:
                guard let caseTarget else { throw .init(.foreignEntry, "entry seq \(e.seq) names no case") }
                guard caseTarget == file.record.targetHash else { throw .init(.foreignEntry, "entry seq \(e.seq) targets another case") }
            }
            guard e.time <= file.generatedAt else {
                throw .init(.inconsistent, "entry seq \(e.seq) is later than the file's generated_at")
            }
        }
    }

    /// The timeline is one item per entry, in order, saying what the entry says; the SLA
    /// outcome follows from the case's times.
    static func checkDerived(_ file: CaseFile, _ entries: [AuditEntry], root: [String: CanonicalJSON.Value]) throws(CaseFileFailure) {
        guard case .array(let items)? = root["timeline"] else { throw .init(.malformed, "file: timeline must be an array") }
        for i in 0..<max(items.count, entries.count) {
            guard i < items.count else { throw .init(.inconsistent, "the timeline leaves out entry seq \(entries[i].seq)") }
            guard i < entries.count else { throw .init(.inconsistent, "timeline item \(i) has no entry") }
            guard CanonicalJSON.encode(items[i]) == CanonicalJSON.encode(CaseFile.timelineItem(entries[i])) else {
                throw .init(.inconsistent, "timeline item \(i) does not match entry seq \(entries[i].seq)")
            }
        }
        let sla = file.sla
        let derived: CanonicalJSON.Value = .object([
            ("first_response", .string(sla.firstResponse)), ("resolution", .string(sla.resolution)),
        ])
        guard let given = root["sla"], CanonicalJSON.encode(given) == CanonicalJSON.encode(derived) else {
            throw .init(
                .inconsistent,
                "the SLA outcome is not the one the case's times give (first response \(sla.firstResponse), resolution \(sla.resolution))"
            )
        }
    }

    static func string(_ e: AuditEntry, _ key: String) -> String? {
        if case .string(let s)? = e.details[key] { s } else { nil }
    }

    /// The case's codes and times are those its entries record.
    static func checkCase(_ r: CaseFile.Record, _ entries: [AuditEntry]) throws(CaseFileFailure) {
        func fail(_ detail: String) -> CaseFileFailure { .init(.inconsistent, detail) }
        let opened = entries.filter { $0.action == "case.opened" }
        guard opened.count == 1, let open = opened.first, open.seq == entries.first?.seq else {
            throw fail("the case.opened entry must be the first entry, and the only one")
        }
        guard r.openedAt == open.time else { throw fail("opened_at is not the time of the case.opened entry (seq \(open.seq))") }
        guard r.channel == string(open, "channel"), r.category == string(open, "category") else {
            throw fail("channel or category differ from the case.opened entry (seq \(open.seq))")
        }
        if let rules = string(open, "triage_rules"), rules != r.triageRules.joined(separator: ",") {
            throw fail("triage_rules differ from the case.opened entry (seq \(open.seq))")
        }
        var priority = string(open, "priority")
        for e in entries where e.action == "case.retriaged" && e.outcome == .success { priority = string(e, "to") }
        guard r.priority == priority else { throw fail("priority is not the one the case.opened and case.retriaged entries give") }

        guard ["open", "in_progress", "closed"].contains(r.status) else { throw fail("status \(r.status) is not open, in_progress or closed") }
        let closed = entries.last { $0.action == "case.closed" && $0.outcome == .success }
        if r.status == "closed" {
            guard let closed else { throw fail("the case is closed but no case.closed entry records it") }
            guard r.closedAt == closed.time else { throw fail("closed_at is not the time of the case.closed entry (seq \(closed.seq))") }
            guard r.resolution == string(closed, "resolution") else {
                throw fail("resolution differs from the case.closed entry (seq \(closed.seq))")
            }
        } else {
            guard closed == nil, r.closedAt == nil, r.resolution == nil else {
                throw fail("the case is \(r.status) but has a close time, a resolution or a case.closed entry")
            }
        }

        let firstReply = entries.first { $0.action == "case.note_added" && string($0, "kind") == "reply" }
        guard r.firstResponseAt == firstReply?.time else {
            throw fail("first_response_at is not the time of the first reply (case.note_added, kind reply)")
        }
        let feedback = entries.last { $0.action == "case.feedback" && $0.outcome == .success }
        let score: Int64? = feedback.flatMap { if case .integer(let n)? = $0.details["score"] { n } else { nil } }
        guard r.csatScore == score, feedback == nil || score != nil else { throw fail("csat_score differs from the case.feedback entry") }
        let assigned = entries.last { $0.action == "case.assigned" && $0.outcome == .success }
        guard r.assignee == assigned.flatMap({ string($0, "assignee") }) else {
            throw fail("assignee is not the one the last case.assigned entry names")
        }
    }

    /// Each verification listed is backed by its entries, and every verification a
    /// `case.verification_*` entry names is listed.
    static func checkVerifications(_ list: [CaseFile.Verification], _ entries: [AuditEntry]) throws(CaseFileFailure) {
        func fail(_ detail: String) -> CaseFileFailure { .init(.inconsistent, detail) }
        var byID: [String: [AuditEntry]] = [:]
        for e in entries { if let id = string(e, "verification_id") { byID[id, default: []].append(e) } }
        var listed = Set<String>()
        for v in list {
            guard listed.insert(v.id).inserted else { throw fail("verification \(v.id) is listed twice") }
            guard let es = byID[v.id], let first = es.first else { throw fail("verification \(v.id) is backed by no entry") }
            if let e = es.first(where: { string($0, "check").map { $0 != v.check } ?? false }) {
                throw fail("entry seq \(e.seq) gives verification \(v.id) another check than \(v.check)")
            }
            guard v.startedAt == first.time else {
                throw fail("verification \(v.id): started_at is not the time of its first entry (seq \(first.seq))")
            }
            let passed = es.last { $0.action == "case.verification_passed" }
            let failed = es.last { $0.action == "case.verification_failed" }
            switch v.status {
            case "passed":
                guard let passed, v.completedAt == passed.time else {
                    throw fail("verification \(v.id) is passed but no case.verification_passed entry at completed_at records it")
                }
            case "failed":
                guard passed == nil, let failed, v.completedAt == failed.time else {
                    throw fail("verification \(v.id) is failed but no case.verification_failed entry at completed_at records it")
                }
            case "pending":
                guard passed == nil, v.completedAt == nil else { throw fail("verification \(v.id) is pending but has a result") }
            default:
                throw fail("verification \(v.id) has status \(v.status), not pending, passed or failed")
            }
        }
        // A TOTP or recovery-code check refused by a lock leaves the factor's own entry (with the
        // verification's id) and no verification: only the case's own entries must be listed.
        if let e = entries.first(where: {
            $0.action.hasPrefix("case.verification_") && string($0, "verification_id").map { !listed.contains($0) } ?? false
        }) {
            throw fail("entry seq \(e.seq) names verification \(string(e, "verification_id") ?? ""), which the file does not list")
        }
    }

    /// The entries that decide a pending action; `decided_by` and `decided_at` are the last one's.
    static let decisions: Set<String> = ["case.action_approved", "case.action_rejected", "case.action_cancelled"]

    /// Each action listed is backed by its entries: requested by `requested_by`, decided
    /// (approved, rejected or cancelled) by `decided_by` — an approval never by the requester —,
    /// executed, rejected or cancelled as its status says; and every action the entries name is
    /// listed.
    static func checkActions(_ list: [CaseFile.Action], _ entries: [AuditEntry]) throws(CaseFileFailure) {
        func fail(_ detail: String) -> CaseFileFailure { .init(.inconsistent, detail) }
        var byID: [String: [AuditEntry]] = [:]
        for e in entries { if let id = string(e, "action_id") { byID[id, default: []].append(e) } }
        var listed = Set<String>()
        for a in list {
            guard listed.insert(a.id).inserted else { throw fail("action \(a.id) is listed twice") }
            guard let es = byID[a.id], !es.isEmpty else { throw fail("action \(a.id) is backed by no entry") }
            if let e = es.first(where: { $0.action.hasPrefix("case.action_") && string($0, "action") != a.action }) {
                throw fail("entry seq \(e.seq) gives action \(a.id) another action than \(a.action)")
            }
            guard let requested = es.first(where: { $0.action == "case.action_requested" }) else {
                throw fail("action \(a.id) has no case.action_requested entry")
            }
            guard requested.actor.id == a.requestedBy, requested.time == a.requestedAt else {
                throw fail("action \(a.id): requested_by or requested_at differ from its case.action_requested entry (seq \(requested.seq))")
            }
            let approvals = es.filter { $0.action == "case.action_approved" && $0.outcome == .success }
            if let own = approvals.first(where: { $0.actor.id == a.requestedBy }) {
                throw fail("action \(a.id) was approved by its own requester (seq \(own.seq))")
            }
            // An agent's decision; a cancellation by the operator (disabling the requester) has none.
            let decision = es.last { Self.decisions.contains($0.action) && $0.outcome == .success && $0.actor.type == .agent }
            guard a.decidedBy == decision?.actor.id, a.decidedAt == decision?.time else {
                throw fail("action \(a.id): decided_by or decided_at differ from its approval, rejection or cancellation entry")
            }
            let executed = es.last { $0.action == "case.action_executed" }
            let rejected = decision?.action == "case.action_rejected"
            let cancelled = es.contains { $0.action == "case.action_cancelled" }
            guard a.executedAt == executed?.time else { throw fail("action \(a.id): executed_at is not the time of its case.action_executed entry") }
            let consistent: Bool
            switch a.status {
            case "executed": consistent = executed != nil && !rejected
            case "rejected": consistent = rejected && executed == nil
            case "cancelled": consistent = cancelled && executed == nil
            case "pending_approval": consistent = executed == nil && !rejected && !cancelled
            default: throw fail("action \(a.id) has status \(a.status), not pending_approval, rejected, executed or cancelled")
            }
            guard consistent else { throw fail("action \(a.id) is \(a.status) but its entries say otherwise") }
        }
        if let e = entries.first(where: { string($0, "action_id").map { !listed.contains($0) } ?? false }) {
            throw fail("entry seq \(e.seq) names action \(string(e, "action_id") ?? ""), which the file does not list")
        }
    }
}
