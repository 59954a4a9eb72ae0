import Foundation
import Testing
import VigilCrypto

@testable import VigilAudit

/// A log holding one worked case (`case_deadbeef00000001`) among entries of another case and
/// unrelated ones, and the case file built from it.
struct CaseScenario {
    static let caseID = "case_deadbeef00000001"
    static let otherCaseID = "case_deadbeef00000002"
    static let caseHash = String(repeating: "c1", count: 32)
    static let otherHash = String(repeating: "c2", count: 32)
    /// Friday 2026-11-27 23:50:00 UTC.
    static let t0 = Date(timeIntervalSince1970: 1_795_823_400)

    let signer: NoteSigner
    var entries: [[UInt8]] = []
    var leaves: [TreeHash] = []
    var tree = CompactRange()
    /// Seqs of the case's own entries.
    var mine: [UInt64] = []
    /// Seq of an entry of the other case.
    var foreign: UInt64 = 0

    static func time(_ seconds: Double) -> String { AuditTime.format(t0.addingTimeInterval(seconds)) }

    init(signer: NoteSigner? = nil, selfApproved: Bool = false) throws {
        self.signer = try signer ?? NoteSigner(name: "vigil-audit", key: fixedKey(7))
        let ana = ("agent", "agt_ana")
        let sue = ("agent", "agt_sue")
        try add("subject.created", ("service", "ak_1234567890"), at: -60, target: .init(type: "subject", idHash: "9f86d081"), case: nil)
        try add(
            "case.opened",
            ("service", "ak_1234567890"),
            at: 0,
            details: ["channel": "in_app", "category": "lost_2fa", "priority": "P2", "triage_rules": "lost_2fa", "signals": ""]
        )
        foreign = tree.end
        try add(
            "case.opened",
            ("service", "ak_1234567890"),
            at: 10,
            details: ["channel": "email", "category": "other", "priority": "P3", "triage_rules": "", "signals": ""],
            target: .init(type: "case", idHash: Self.otherHash),
            case: Self.otherCaseID
        )
        try add("case.assigned", ana, at: 60, details: ["assignee": "agt_ana", "how": "take_next"])
        try add("case.note_added", ana, at: 120, details: ["note_id": "note_1", "kind": "reply"], target: nil)
        try add(
            "case.verification_passed",
            ana,
            at: 300,
            details: ["verification_id": "ver_1", "check": "transaction_knowledge"],
            target: nil
        )
        try add("case.verification_started", ana, at: 400, details: ["verification_id": "ver_2", "check": "sms_otp"], target: nil)
        try add("case.verification_passed", ana, at: 500, details: ["verification_id": "ver_2", "check": "sms_otp"], target: nil)
        try add(
            "case.action_requested",
            ana,
            at: 600,
            details: ["action_id": "act_1", "action": "reset_totp", "checks": "sms_otp,transaction_knowledge", "four_eyes": 1],
            target: nil
        )
        try add(
            "case.action_approved",
            ana,
            at: 610,
            outcome: .denied,
            details: ["action_id": "act_1", "action": "reset_totp", "reason": "own_request"],
            target: nil
        )
        try add("case.action_approved", selfApproved ? ana : sue, at: 700, details: ["action_id": "act_1", "action": "reset_totp"], target: nil)
        try add(
            "case.action_executed",
            selfApproved ? ana : sue,
            at: 700,
            details: ["action_id": "act_1", "action": "reset_totp", "hold_until": .string(Self.time(700 + 86_400))],
            target: nil
        )
        try add("totp.reset", sue, at: 700, details: ["action_id": "act_1"], target: .init(type: "subject", idHash: "9f86d081"))
        try add("totp.verify.failed", ("service", "ak_1234567890"), at: 800, target: .init(type: "subject", idHash: "0badc0de"), case: nil)
        try add(
            "case.action_requested",
            ana,
            at: 820,
            details: ["action_id": "act_2", "action": "freeze", "checks": "sms_otp,transaction_knowledge", "four_eyes": "false"],
            target: nil
        )
        // A TOTP check refused by a lock: the factor's entry names a verification that was never stored.
        try add("totp.verify.locked", ana, at: 850, outcome: .denied, details: ["verification_id": "ver_locked"], target: nil)
        try add("case.action_cancelled", ana, at: 900, details: ["action_id": "act_2", "action": "freeze"])
        try add(
            "case.closed",
            ana,
            at: 900,
            details: ["resolution": "recovered", "first_response": "met", "resolution_sla": "met"]
        )
        try add("case.feedback", ("service", "ak_1234567890"), at: 1000, details: ["score": 5])
        for i in 0..<3 { try add("subject.created", ("service", "ak_1234567890"), at: 1100 + Double(i), target: nil, case: nil) }
    }

    /// Appends an entry; `case` nil for an entry about no case.
    mutating func add(
        _ action: String,
        _ actor: (String, String),
        at seconds: Double,
        outcome: AuditEntry.Outcome = .success,
        details: [String: AuditEntry.DetailValue] = [:],
        target: AuditEntry.Target? = .init(type: "case", idHash: CaseScenario.caseHash),
        case caseID: String? = CaseScenario.caseID
    ) throws {
        var details = details
        if let caseID { details["case_id"] = .string(caseID) }
        let entry = try AuditEntry(
            seq: tree.end,
            time: Self.time(seconds),
            actor: .init(type: AuditEntry.Actor.Kind(rawValue: actor.0)!, id: actor.1),
            action: action,
            target: target,
            outcome: outcome,
            details: details
        )
        let bytes = entry.canonicalBytes()
        if caseID == Self.caseID { mine.append(entry.seq) }
        entries.append(bytes)
        leaves.append(tree.append(entryBytes: bytes))
    }

    var checkpoint: SignedCheckpoint {
        get throws {
            try SignedCheckpoint(signing: Checkpoint(origin: "vigil.audit/test", size: tree.end, rootHash: tree.rootHash()), with: [signer])
        }
    }

    func entry(_ seq: UInt64) throws -> CaseFile.Entry {
        let leaves = self.leaves
        let prover = MerkleProver(chunkSize: 4) { range in Array(leaves[Int(range.lowerBound)..<Int(range.upperBound)]) }
        return CaseFile.Entry(seq: seq, bytes: entries[Int(seq)], inclusionPath: try prover.inclusionProof(leafIndex: seq, treeSize: tree.end).hashes)
    }

    /// The case file as Vigil builds it, unsigned.
    func unsignedFile() throws -> CaseFile {
        let t = Self.time
        return CaseFile(
            generatedAt: t(2000),
            record: CaseFile.Record(
                id: Self.caseID,
                channel: "in_app",
                category: "lost_2fa",
                priority: "P2",
                status: "closed",
                triageRules: ["lost_2fa"],
                assignee: "agt_ana",
                openedAt: t(0),
                firstResponseDue: t(900),
                resolutionDue: t(4 * 3600),
                firstResponseAt: t(120),
                closedAt: t(900),
                resolution: "recovered",
                csatScore: 5,
                targetHash: Self.caseHash
            ),
            verifications: [
                .init(
                    id: "ver_1",
                    check: "transaction_knowledge",
                    status: "passed",
                    agent: "agt_ana",
                    attempts: 0,
                    startedAt: t(300),
                    completedAt: t(300)
                ),
                .init(id: "ver_2", check: "sms_otp", status: "passed", agent: "agt_ana", attempts: 1, startedAt: t(400), completedAt: t(500)),
            ],
            actions: [
                .init(
                    id: "act_1",
                    action: "reset_totp",
                    status: "executed",
                    requestedBy: "agt_ana",
                    requestedAt: t(600),
                    checks: ["sms_otp", "transaction_knowledge"],
                    decidedBy: "agt_sue",
                    decidedAt: t(700),
                    executedAt: t(700),
                    holdUntil: t(700 + 86_400)
                ),
                .init(
                    id: "act_2",
                    action: "freeze",
                    status: "cancelled",
                    requestedBy: "agt_ana",
                    requestedAt: t(820),
                    checks: ["sms_otp", "transaction_knowledge"],
                    decidedBy: "agt_ana",
                    decidedAt: t(900),
                    executedAt: nil,
                    holdUntil: nil
                ),
            ],
            checkpoint: try checkpoint,
            entries: try mine.map(entry)
        )
    }

    func file() throws -> CaseFile { try unsignedFile().signed(with: [signer]) }

    /// The same case with one verification and one action (a four-eyes reset), still every
    /// section: a smaller file for tests that verify it once per byte.
    func compactFile() throws -> CaseFile {
        var file = try unsignedFile()
        file.entries.removeAll { [6, 7, 9, 12, 14, 15, 16].contains($0.seq) }
        file.verifications.removeAll { $0.id == "ver_2" }
        file.actions.removeAll { $0.id == "act_2" }
        return try file.signed(with: [signer])
    }
    func bytes() throws -> [UInt8] { try file().fileBytes() }
    var keys: [NoteVerifierKey] { [signer.verifierKey] }
}

/// The members of a file's JSON, to tamper with.
func members(_ file: [UInt8]) throws -> [(String, CanonicalJSON.Value)] {
    guard case .object(let m) = try CanonicalJSON.parse(Array(file.dropLast())) else { throw AuditError.malformed("not an object") }
    return m
}

/// `members` with `key` replaced, signed again by `signer` (as a forger holding the key
/// would): the file's signature is then good, so only the content checks can catch it.
func resigned(
    _ m: [(String, CanonicalJSON.Value)],
    by signer: NoteSigner,
    replacing key: String? = nil,
    with transform: (CanonicalJSON.Value) -> CanonicalJSON.Value = { $0 }
) -> [UInt8] {
    let unsigned = m.filter { $0.0 != "signatures" }.map { $0.0 == key ? ($0.0, transform($0.1)) : $0 }
    let sig = signer.signature(for: String(decoding: CanonicalJSON.encode(.object(unsigned)), as: UTF8.self))
    return CanonicalJSON.encode(.object(unsigned + [("signatures", CaseFile.signaturesValue([sig]))])) + [0x0A]
}

func expectRejected(
    _ bytes: [UInt8],
    _ keys: [NoteVerifierKey],
    _ reason: CaseFileFailure.Reason,
    containing text: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    switch CaseFileVerifier.verify(bytes, keys: keys) {
    case .success(let s): Issue.record("accepted: \(s)", sourceLocation: sourceLocation)
    case .failure(let f):
        #expect(f.reason == reason, "\(f)", sourceLocation: sourceLocation)
        if let text { #expect(f.detail.contains(text), "\(f)", sourceLocation: sourceLocation) }
    }
}

@Suite("Case files: format, signature, proofs and the consistency of sections and entries")
struct CaseFileTests {
    @Test("a case file verifies offline: signature, checkpoint, every proof, every section")
    func verifies() throws {
        let s = try CaseScenario()
        let bytes = try s.bytes()
        let summary = try CaseFileVerifier.verify(bytes, keys: s.keys).get()
        #expect(summary.description == "ok: case case_deadbeef00000001, 16 entries, checkpoint size 22")
        #expect(summary.keyIDs == [s.signer.verifierKey.keyID])
        #expect(bytes.last == 0x0A && !bytes.dropLast().contains(0x0A))
        // Canonical: the same bytes whatever order the builder used, and they parse back.
        #expect(try CaseFileVerifier.decode(bytes).fileBytes() == bytes)
        let file = try s.file()
        #expect(file.sla == CaseFile.SLA(firstResponse: "met", resolution: "met"))
        // The foreign entry is in the log but not in the file.
        #expect(!file.entries.contains { $0.seq == s.foreign })
    }

    @Test("changing any byte of the file is rejected")
    func everyByteFlipped() throws {
        let s = try CaseScenario()
        let bytes = try s.compactFile().fileBytes()
        #expect(CaseFileVerifier.verify(bytes, keys: s.keys).isSuccess)
        let keys = s.keys
        var accepted: [Int] = []
        for i in bytes.indices {
            var changed = bytes
            changed[i] ^= 0x01
            if case .success = CaseFileVerifier.verify(changed, keys: keys) { accepted.append(i) }
        }
        #expect(accepted.isEmpty, "accepted after changing bytes at \(accepted.prefix(10))")
        #expect(bytes.count > 4_000)
    }

    @Test("whitespace, another escape or another member order is rejected: the file is canonical")
    func canonicalOnly() throws {
        let s = try CaseScenario()
        let bytes = try s.bytes()
        expectRejected(bytes + [0x0A], s.keys, .malformed)
        expectRejected(Array(bytes.dropLast()), s.keys, .notCanonical)
        expectRejected(Array(bytes.dropLast()) + [0x0D, 0x0A], s.keys, .malformed)
        var spaced = bytes
        spaced.insert(0x20, at: 1)
        expectRejected(spaced, s.keys, .malformed)
        // `\/` is valid JSON for `/` but not canonical.
        let text = String(decoding: bytes, as: UTF8.self)
        let slash = try #require(text.range(of: "vigil.audit/test"))
        expectRejected(Array(text.replacingCharacters(in: slash, with: #"vigil.audit\/test"#).utf8), s.keys, .notCanonical)
        // Pretty-printed by another JSON library.
        let object = try JSONSerialization.jsonObject(with: Data(bytes))
        let pretty = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]) + Data([0x0A])
        #expect(CaseFileVerifier.verify(Array(pretty), keys: s.keys).isFailure)
    }

    @Test("a key other than the audit signing key is refused, for the file and for its checkpoint")
    func wrongKey() throws {
        let s = try CaseScenario()
        let other = try NoteSigner(name: "vigil-audit", key: fixedKey(9))
        expectRejected(try s.bytes(), [other.verifierKey], .unknownKey, containing: "the file is signed by no trusted key")
        // Signed by the other key, with a checkpoint the trusted key signed: the file is refused.
        expectRejected(try s.unsignedFile().signed(with: [other]).fileBytes(), s.keys, .unknownKey, containing: "the file")
        // Both keys trusted, file signed by both, checkpoint by the first only: fine; a
        // checkpoint signed by an untrusted key is refused.
        let both = try s.unsignedFile().signed(with: [s.signer, other]).fileBytes()
        #expect(CaseFileVerifier.verify(both, keys: [s.signer.verifierKey, other.verifierKey]).isSuccess)
        let foreignCheckpoint = try CaseScenario(signer: other)
        var file = try s.unsignedFile()
        file.checkpoint = try foreignCheckpoint.checkpoint
        expectRejected(try file.signed(with: [s.signer]).fileBytes(), s.keys, .unknownKey, containing: "checkpoint")
    }

    @Test("an entry of another case is rejected, even in a file signed again")
    func foreignEntry() throws {
        let s = try CaseScenario()
        var file = try s.unsignedFile()
        file.entries.insert(try s.entry(s.foreign), at: 1)
        expectRejected(try file.signed(with: [s.signer]).fileBytes(), s.keys, .foreignEntry, containing: "case_deadbeef00000002")
        // An entry that names no case at all.
        file = try s.unsignedFile()
        file.entries.insert(try s.entry(0), at: 0)
        expectRejected(try file.signed(with: [s.signer]).fileBytes(), s.keys, .foreignEntry, containing: "seq 0 names no case")
    }

    @Test("a dropped entry is rejected: by the signature, by the timeline, and by the sections that need it")
    func droppedEntry() throws {
        let s = try CaseScenario()
        let bytes = try s.bytes()
        let m = try members(bytes)
        func drop(_ seq: Int64) -> (CanonicalJSON.Value) -> CanonicalJSON.Value {
            { value in
                guard case .array(let items) = value else { return value }
                return .array(
                    items.filter {
                        if case .object(let e) = $0, e.contains(where: { $0.0 == "seq" && $0.1 == .integer(seq) }) { false } else { true }
                    }
                )
            }
        }
        // Not signed again: the signature fails.
        var unsigned = m.map { $0.0 == "entries" ? ($0.0, drop(4)($0.1)) : $0 }
        expectRejected(CanonicalJSON.encode(.object(unsigned)) + [0x0A], s.keys, .badSignature)
        // Signed again, the timeline still lists it.
        expectRejected(resigned(m, by: s.signer, replacing: "entries", with: drop(4)), s.keys, .inconsistent, containing: "timeline")
        // Signed again with the timeline item gone too: the first reply (first_response_at) has no entry.
        unsigned = m.map { $0.0 == "timeline" ? ($0.0, drop(4)($0.1)) : $0 }
        expectRejected(resigned(unsigned, by: s.signer, replacing: "entries", with: drop(4)), s.keys, .inconsistent, containing: "first_response_at")
        // Through the builder: each dropped entry is caught by the section it backs.
        let cases: [(UInt64, String)] = [
            (1, "case.opened"), (3, "assignee"), (5, "verification ver_1"), (7, "verification ver_2"), (8, "action act_1"),
            (10, "decided_by"), (11, "executed_at"), (16, "action act_2: decided_by"), (17, "closed"), (18, "csat_score"),
        ]
        for (seq, text) in cases {
            var file = try s.unsignedFile()
            file.entries.removeAll { $0.seq == seq }
            expectRejected(try file.signed(with: [s.signer]).fileBytes(), s.keys, .inconsistent, containing: text)
        }
    }

    @Test("a reordered timeline, reordered entries or a doctored SLA are rejected")
    func reordered() throws {
        let s = try CaseScenario()
        let m = try members(try s.bytes())
        let swapped = resigned(m, by: s.signer, replacing: "timeline") { value in
            guard case .array(var items) = value else { return value }
            items.swapAt(1, 2)
            return .array(items)
        }
        expectRejected(swapped, s.keys, .inconsistent, containing: "timeline item 1 does not match entry seq 3")
        var file = try s.unsignedFile()
        file.entries.swapAt(2, 3)
        expectRejected(try file.signed(with: [s.signer]).fileBytes(), s.keys, .inconsistent, containing: "out of order")
        let sla = resigned(m, by: s.signer, replacing: "sla") { _ in
            .object([("first_response", .string("met")), ("resolution", .string("pending"))])
        }
        expectRejected(sla, s.keys, .inconsistent, containing: "SLA")
        // A later first response would have breached: the SLA follows the times, and the times the entries.
        file = try s.unsignedFile()
        file.record.firstResponseDue = CaseScenario.time(60)
        #expect(file.sla.firstResponse == "breached")
        #expect(CaseFileVerifier.verify(try file.signed(with: [s.signer]).fileBytes(), keys: s.keys).isSuccess)
        file.record.firstResponseAt = CaseScenario.time(50)
        expectRejected(try file.signed(with: [s.signer]).fileBytes(), s.keys, .inconsistent, containing: "first_response_at")
    }

    @Test("an altered entry, a wrong proof or a section that disagrees with the entries is rejected")
    func sectionsAgree() throws {
        let s = try CaseScenario()
        var file = try s.unsignedFile()
        let text = String(decoding: file.entries[2].bytes, as: UTF8.self).replacingOccurrences(of: "note_1", with: "note_2")
        file.entries[2].bytes = Array(text.utf8)
        expectRejected(try file.signed(with: [s.signer]).fileBytes(), s.keys, .alteredEntry, containing: "seq 4")
        file = try s.unsignedFile()
        file.entries[0].inclusionPath.removeLast()
        expectRejected(try file.signed(with: [s.signer]).fileBytes(), s.keys, .alteredEntry)

        func rejected(_ change: (inout CaseFile) -> Void, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            var file = try s.unsignedFile()
            change(&file)
            expectRejected(try file.signed(with: [s.signer]).fileBytes(), s.keys, .inconsistent, containing: text, sourceLocation: sourceLocation)
        }
        try rejected({ $0.record.priority = "P1" }, "priority")
        try rejected({ $0.record.channel = "phone" }, "channel")
        try rejected({ $0.record.openedAt = CaseScenario.time(1) }, "opened_at")
        try rejected({ $0.record.status = "in_progress" }, "in_progress")
        try rejected({ $0.record.resolution = "duplicate" }, "resolution")
        try rejected({ $0.record.csatScore = 4 }, "csat_score")
        try rejected({ $0.record.assignee = "agt_sue" }, "assignee")
        try rejected(
            {
                $0.verifications.append(
                    .init(
                        id: "ver_3",
                        check: "id_document",
                        status: "passed",
                        agent: "agt_ana",
                        attempts: 0,
                        startedAt: CaseScenario.time(800),
                        completedAt: CaseScenario.time(800)
                    )
                )
            },
            "ver_3 is backed by no entry"
        )
        try rejected({ $0.verifications.removeLast() }, "names verification ver_2, which the file does not list")
        try rejected({ $0.verifications[1].check = "email_otp" }, "another check")
        try rejected({ $0.verifications[1].status = "failed" }, "ver_2 is failed")
        try rejected({ $0.actions[0].decidedBy = "agt_bob" }, "decided_by")
        try rejected({ $0.actions[0].requestedBy = "agt_sue" }, "requested_by")
        try rejected({ $0.actions[0].status = "pending_approval" }, "act_1 is pending_approval")
        try rejected({ $0.actions.removeAll() }, "names action act_1, which the file does not list")
        try rejected({ $0.actions[1].status = "pending_approval" }, "act_2 is pending_approval")
        try rejected(
            {
                $0.verifications.append(
                    .init(
                        id: "ver_locked",
                        check: "totp",
                        status: "passed",
                        agent: "agt_ana",
                        attempts: 0,
                        startedAt: CaseScenario.time(850),
                        completedAt: CaseScenario.time(850)
                    )
                )
            },
            "ver_locked is passed"
        )
        try rejected({ $0.generatedAt = CaseScenario.time(950) }, "later than the file's generated_at")
    }

    @Test("a four-eyes action approved by its own requester is caught, even when the log says so")
    func selfApproval() throws {
        let s = try CaseScenario(selfApproved: true)
        var file = try s.unsignedFile()
        file.actions[0].decidedBy = "agt_ana"
        expectRejected(try file.signed(with: [s.signer]).fileBytes(), s.keys, .inconsistent, containing: "approved by its own requester")
    }

    @Test("entries filed by their target alone (before every case entry named case_id) bind through target_hash")
    func bindingByTarget() throws {
        var s = try CaseScenario()
        // An assignment as intake and take-next wrote it before case_id was in their details.
        try s.add("case.assigned", ("agent", "agt_ana"), at: 1050, details: ["assignee": "agt_ana"], case: nil)
        s.mine.append(s.tree.end - 1)
        var file = try s.unsignedFile()
        file.generatedAt = CaseScenario.time(3000)
        #expect(CaseFileVerifier.verify(try file.signed(with: [s.signer]).fileBytes(), keys: s.keys).isSuccess)
        file.record.targetHash = CaseScenario.otherHash
        expectRejected(try file.signed(with: [s.signer]).fileBytes(), s.keys, .foreignEntry, containing: "targets another")
        file.record.targetHash = nil
        expectRejected(try file.signed(with: [s.signer]).fileBytes(), s.keys, .foreignEntry)
        #expect(CaseFile.caseTargetHash(caseID: CaseScenario.caseID, entries: try s.unsignedFile().parsedEntries()) == CaseScenario.caseHash)
    }

    @Test("the HTML page verifies, escapes what it shows, and any changed byte of it is rejected")
    func html() throws {
        var s = try CaseScenario()
        // A detail value with markup: shown escaped, embedded as \u003c…, and the page still verifies.
        try s.add("case.note_added", ("agent", "agt_ana"), at: 1060, details: ["note_id": "</script><script>alert(1)</script>&", "kind": "internal"])
        var unsigned = try s.unsignedFile()
        unsigned.generatedAt = CaseScenario.time(3000)
        let file = try unsigned.signed(with: [s.signer])
        let page = try CaseFileHTML.render(file)
        let text = String(decoding: page, as: UTF8.self)
        #expect(!text.contains("<script>alert"))
        #expect(text.contains("&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;"))
        #expect(text.components(separatedBy: "</script>").count == 2)
        #expect(text.contains(#"\u003c/script\u003e\u003cscript\u003ealert(1)\u003c/script\u003e\u0026"#))
        let summary = try CaseFileVerifier.verify(page, keys: s.keys).get()
        #expect(summary.html && summary.entries == file.entries.count)
        #expect(try CaseFileHTML.embeddedFile(in: page) == file.fileBytes())
        // A sample across the page (every 31st byte), and every byte of its head, of the
        // embedded file's start and of the page's end.
        var accepted: [Int] = []
        let open = try #require(CaseFileHTML.find(Array(CaseFileHTML.scriptOpen.utf8), in: page, from: 0))
        let positions = Set(stride(from: 0, to: page.count, by: 31)).union(open..<min(page.count, open + 300)).union(0..<120)
            .union(page.count - 60..<page.count)
        for i in positions.sorted() {
            var changed = page
            changed[i] ^= 0x01
            if case .success = CaseFileVerifier.verify(changed, keys: s.keys) { accepted.append(i) }
        }
        #expect(accepted.isEmpty, "accepted after changing bytes at \(accepted.prefix(10))")
        // A page whose tables say something else than its embedded file.
        let forged = text.replacingOccurrences(of: "<td>recovered</td>", with: "<td>resolved</td>")
        #expect(forged != text)
        expectRejected(Array(forged.utf8), s.keys, .htmlMismatch)
        expectRejected(Array("<html>no file</html>".utf8), s.keys, .malformed)
    }
}

extension Result {
    var isSuccess: Bool { if case .success = self { true } else { false } }
    var isFailure: Bool { !isSuccess }
}

/// The independent Python verifier (scripts/verify_case_file.py, written from
/// docs/case-file.md) agrees with the Swift one on good and tampered files.
@Suite("Python case-file verifier")
struct PythonCaseFileVerifierTests {
    let script = repositoryRoot + "/scripts/verify_case_file.py"

    @Test(.enabled(if: PythonVerifierTests.available, "python3 with PyNaCl is not installed (pip install pynacl)"))
    func `the Python verifier accepts a Swift case file and its page, and refuses what the Swift verifier refuses`() throws {
        let s = try CaseScenario()
        let dir = try temporaryDirectory()
        let keyFile = dir + "/audit-signing.pub"
        try (s.signer.verifierKey.text + "\n").write(toFile: keyFile, atomically: true, encoding: .utf8)
        func python(_ bytes: [UInt8]) throws -> (status: Int32, output: String) {
            let path = dir + "/case-\(UUID().uuidString)"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return try run("python3", [script, path, "--public-key", keyFile])
        }
        let good = try python(try s.bytes())
        #expect(good.status == 0 && good.output == "ok: case case_deadbeef00000001, 16 entries, checkpoint size 22\n", "\(good.output)")
        #expect(try python(try CaseFileHTML.render(try s.file())).status == 0)

        var variants: [(String, [UInt8])] = []
        var file = try s.unsignedFile()
        file.entries.insert(try s.entry(s.foreign), at: 1)
        variants.append(("foreign_entry", try file.signed(with: [s.signer]).fileBytes()))
        file = try s.unsignedFile()
        file.entries.removeAll { $0.seq == 7 }
        variants.append(("inconsistent", try file.signed(with: [s.signer]).fileBytes()))
        file = try s.unsignedFile()
        file.actions[0].decidedBy = "agt_bob"
        variants.append(("inconsistent", try file.signed(with: [s.signer]).fileBytes()))
        let m = try members(try s.bytes())
        variants.append(
            (
                "inconsistent",
                resigned(m, by: s.signer, replacing: "timeline") { value in
                    guard case .array(var items) = value else { return value }
                    items.swapAt(1, 2)
                    return .array(items)
                }
            )
        )
        var flipped = try s.bytes()
        flipped[flipped.count / 2] ^= 0x01
        variants.append(("", flipped))
        variants.append(("unknown_key", try s.unsignedFile().signed(with: [try NoteSigner(name: "vigil-audit", key: fixedKey(9))]).fileBytes()))
        let selfApproved = try CaseScenario(selfApproved: true)
        file = try selfApproved.unsignedFile()
        file.actions[0].decidedBy = "agt_ana"
        variants.append(("inconsistent", try file.signed(with: [s.signer]).fileBytes()))
        for (reason, bytes) in variants {
            let result = try python(bytes)
            #expect(result.status == 1 && result.output.contains("verify: error: \(reason)"), "\(reason): \(result.output)")
            if case .failure(let f) = CaseFileVerifier.verify(bytes, keys: s.keys) {
                #expect(reason.isEmpty || f.reason.rawValue == reason, "\(f)")
            } else {
                Issue.record("the Swift verifier accepted a file the Python verifier refused (\(reason))")
            }
        }
    }
}
