import Foundation
import Testing
import VigilAudit

/// Export round trips, and on copies of an export every kind of tampering, each caught
/// with the right seq and reason.
@Suite("Export and offline verification")
struct ExportTests {
    var log: TestLog
    var keys: [NoteVerifierKey] { [log.signer.verifierKey] }

    /// 100 entries with checkpoints at sizes 10, 20, …, 100.
    init() throws {
        log = try TestLog()
        for _ in 0..<10 {
            try log.append(10)
            try log.checkpoint()
        }
    }

    func exported(from: UInt64 = 0, to: UInt64? = nil) throws -> ExportFiles {
        let dir = try temporaryDirectory()
        try log.export(to: dir, from: from, to: to)
        return ExportFiles(directory: dir)
    }

    func verify(_ files: ExportFiles, allowUnsigned: Bool = false) -> Result<AuditVerificationSummary, AuditVerificationFailure> {
        AuditExportVerifier.verify(directory: files.directory, keys: keys, options: .init(allowUnsigned: allowUnsigned))
    }

    func expectFailure(
        _ files: ExportFiles,
        _ reason: AuditVerificationFailure.Reason,
        seq: UInt64?,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        switch verify(files) {
        case .success(let summary):
            Issue.record("expected \(reason) at seq \(seq.map(String.init) ?? "-"), got \(summary)", sourceLocation: sourceLocation)
        case .failure(let failure):
            #expect(failure.reason == reason, "\(failure)", sourceLocation: sourceLocation)
            #expect(failure.seq == seq, "\(failure)", sourceLocation: sourceLocation)
        }
    }

    @Test func `a full export verifies, with progress reported`() throws {
        let files = try exported()
        var seen: [UInt64] = []
        let result = AuditExportVerifier.verify(directory: files.directory, keys: keys, options: .init(progressInterval: 30)) { seen.append($0) }
        let summary = try result.get()
        #expect(summary.entries == 100 && summary.fromSeq == 0 && summary.toSeq == 99)
        #expect(summary.checkpointsVerified == 10 && summary.treeSize == 100)
        #expect(summary.keyIDs == [log.signer.verifierKey.keyID])
        #expect(seen == [30, 60, 90, 100])
        #expect(summary.description.hasPrefix("ok: 100 entries (seq 0…99) of vigil.audit/test, 10 checkpoints verified"))

        let manifest = try AuditExportManifest(jsonBytes: Array(Data(contentsOf: URL(fileURLWithPath: files.directory + "/manifest.json"))))
        #expect(manifest.keys.map(\.key) == keys)
        #expect(manifest.keys.first?.firstTreeSize == 10 && manifest.keys.first?.lastTreeSize == 100)
        #expect(try files.lines("entries.jsonl") == log.entries)
    }

    @Test func `sub-range exports verify on their own`() throws {
        for (from, to) in [(0, 4), (13, 57), (20, 29), (37, 99), (99, 99), (61, 64)] as [(UInt64, UInt64)] {
            let files = try exported(from: from, to: to)
            let summary = try verify(files).get()
            #expect(summary.fromSeq == from && summary.toSeq == to && summary.entries == to - from + 1)
        }
        // Altering the left border is caught at the first checkpoint.
        let files = try exported(from: 13, to: 57)
        var manifest = try files.text("manifest.json")
        let border = try AuditExportManifest(jsonBytes: Array(manifest.utf8)).leftBorder.hashes[0].hex
        manifest = manifest.replacingOccurrences(of: border, with: flipped(hash(border)).hex)
        try files.write("manifest.json", text: manifest)
        expectFailure(files, .rootMismatch, seq: 13)
    }

    @Test func `an altered byte names the altered entry`() throws {
        let files = try exported()
        var lines = try files.lines("entries.jsonl")
        let at = lines[41].firstIndex(of: UInt8(ascii: "k"))!  // inside "key_…"
        lines[41][at] = UInt8(ascii: "K")
        try files.write("entries.jsonl", lines: lines)
        expectFailure(files, .alteredEntry, seq: 41)
    }

    @Test func `an altered entry with its leaf hash recomputed is a root mismatch at the interval`() throws {
        let files = try exported()
        var lines = try files.lines("entries.jsonl")
        lines[45] = Array(String(decoding: lines[45], as: UTF8.self).replacingOccurrences(of: "\"api\"", with: "\"web\"").utf8)
        var leaves = try files.lines("leaf-hashes.txt")
        leaves[45] = Array(MerkleHashing.leafHash(lines[45]).hex.utf8)
        try files.write("entries.jsonl", lines: lines)
        try files.write("leaf-hashes.txt", lines: leaves)
        expectFailure(files, .rootMismatch, seq: 40)
    }

    @Test func `a damaged leaf-hash file is reported even though the entries verify`() throws {
        let files = try exported()
        var leaves = try files.lines("leaf-hashes.txt")
        leaves[7] = Array(String(repeating: "0", count: 64).utf8)
        try files.write("leaf-hashes.txt", lines: leaves)
        expectFailure(files, .leafHashMismatch, seq: 7)
    }

    @Test func `a deleted line is a gap at its seq`() throws {
        let files = try exported()
        var lines = try files.lines("entries.jsonl")
        lines.remove(at: 52)
        try files.write("entries.jsonl", lines: lines)
        expectFailure(files, .gap, seq: 52)
    }

    @Test func `an inserted line is a duplicate`() throws {
        let files = try exported()
        var lines = try files.lines("entries.jsonl")
        lines.insert(lines[30], at: 34)
        try files.write("entries.jsonl", lines: lines)
        expectFailure(files, .duplicate, seq: 30)
    }

    @Test func `two swapped lines are a reorder`() throws {
        let files = try exported()
        var lines = try files.lines("entries.jsonl")
        lines.swapAt(63, 64)
        try files.write("entries.jsonl", lines: lines)
        expectFailure(files, .reordered, seq: 63)
    }

    @Test func `a truncated tail names the first missing seq`() throws {
        let files = try exported()
        let lines = try files.lines("entries.jsonl")
        try files.write("entries.jsonl", lines: Array(lines.prefix(87)))
        expectFailure(files, .truncated, seq: 87)
    }

    @Test func `an appended line is outside the range`() throws {
        let files = try exported()
        var lines = try files.lines("entries.jsonl")
        var extra = log
        try extra.append(1)
        lines.append(extra.entries[100])
        try files.write("entries.jsonl", lines: lines)
        expectFailure(files, .unexpectedEntry, seq: 100)
    }

    @Test func `a line that is not an entry is malformed`() throws {
        let files = try exported()
        var lines = try files.lines("entries.jsonl")
        lines[3] = Array("not json".utf8)
        try files.write("entries.jsonl", lines: lines)
        expectFailure(files, .malformedEntry, seq: 3)
    }

    @Test func `an altered checkpoint signature is a bad signature`() throws {
        let files = try exported()
        var text = try files.text("checkpoints.txt")
        // The fourth note's signature line: flip one base64 character of the signature.
        var notes = text.components(separatedBy: "\n\n")
        let sigLine = notes[7]
        let index = sigLine.index(sigLine.endIndex, offsetBy: -10)
        let replacement: Character = sigLine[index] == "A" ? "B" : "A"
        notes[7] = String(sigLine[..<index]) + String(replacement) + String(sigLine[sigLine.index(after: index)...])
        text = notes.joined(separator: "\n\n")
        try files.write("checkpoints.txt", text: text)
        expectFailure(files, .badSignature, seq: 30)
    }

    @Test func `a checkpoint by an unknown key is refused`() throws {
        let files = try exported()
        let stranger = try NoteSigner(name: log.origin, key: fixedKey(99))
        var checkpoints = try AuditExportFiles.parseCheckpoints(files.text("checkpoints.txt"))
        checkpoints[2] = try SignedCheckpoint(signing: checkpoints[2].checkpoint, with: [stranger])
        try files.write("checkpoints.txt", text: AuditExportFiles.checkpointsText(checkpoints))
        expectFailure(files, .unknownKey, seq: 20)
    }

    @Test func `two checkpoints for one size with different roots are inconsistent`() throws {
        let files = try exported()
        var checkpoints = try AuditExportFiles.parseCheckpoints(files.text("checkpoints.txt"))
        var forked = checkpoints[4].checkpoint
        forked.rootHash = MerkleHashing.emptyRoot
        checkpoints.insert(try SignedCheckpoint(signing: forked, with: [log.signer]), at: 5)
        try files.write("checkpoints.txt", text: AuditExportFiles.checkpointsText(checkpoints))
        var manifest = try files.text("manifest.json")
        manifest = manifest.replacingOccurrences(of: "\"checkpoint_count\":10", with: "\"checkpoint_count\":11")
        try files.write("manifest.json", text: manifest)
        expectFailure(files, .inconsistentTree, seq: 49)
    }

    @Test func `entries after the last checkpoint are unsigned unless allowed`() throws {
        let files = try exported()
        var checkpoints = try AuditExportFiles.parseCheckpoints(files.text("checkpoints.txt"))
        checkpoints.removeLast()
        try files.write("checkpoints.txt", text: AuditExportFiles.checkpointsText(checkpoints))
        try files.write(
            "manifest.json",
            text: files.text("manifest.json").replacingOccurrences(of: "\"checkpoint_count\":10", with: "\"checkpoint_count\":9")
        )
        expectFailure(files, .unsignedEntries, seq: 90)
        let summary = try verify(files, allowUnsigned: true).get()
        #expect(summary.unsignedEntries == 10 && summary.treeSize == 90)
    }

    @Test func `a checkpoint beyond the last entry covers the tail through the right border`() throws {
        var log = self.log
        try log.append(5)  // 105 entries, last checkpoint at 100
        let dir = try temporaryDirectory()
        try log.export(to: dir, from: 95, to: 97)
        let summary = try AuditExportVerifier.verify(directory: dir, keys: keys).get()
        #expect(summary.treeSize == 100 && summary.unsignedEntries == 0)
        let manifest = try AuditExportManifest(jsonBytes: Array(Data(contentsOf: URL(fileURLWithPath: dir + "/manifest.json"))))
        #expect(manifest.rightBorder?.begin == 98 && manifest.rightBorder?.end == 100)
    }

    @Test func `a missing file is unreadable and a bad manifest malformed`() throws {
        let files = try exported()
        try FileManager.default.removeItem(atPath: files.directory + "/entries.jsonl")
        expectFailure(files, .unreadable, seq: nil)
        let other = try exported()
        try other.write("manifest.json", text: "{}")
        expectFailure(other, .malformedExport, seq: nil)
    }

    @Test func `the writer refuses out-of-order entries and an existing export`() throws {
        let dir = try temporaryDirectory()
        let writer = try AuditExportWriter(directory: dir, origin: log.origin)
        #expect(throws: AuditError.self) { try writer.append(entryBytes: log.entries[1]) }
        try writer.append(entryBytes: log.entries[0])
        _ = try writer.finish(keys: keys)
        #expect(throws: AuditError.self) { try AuditExportWriter(directory: dir, origin: log.origin) }
    }

    @Test func `an inclusion bundle proves one entry on its own`() throws {
        let checkpoint = log.checkpoints[6]  // size 70
        let proof = try log.prover.inclusionProof(leafIndex: 42, treeSize: 70)
        let bundle = AuditInclusionBundle(entryBytes: log.entries[42], proof: proof, checkpoint: checkpoint)
        let parsed = try AuditInclusionBundle(jsonBytes: bundle.jsonBytes())
        #expect(parsed == bundle)
        let verified = try parsed.verify(keys: keys, origin: log.origin).get()
        #expect(verified.seq == 42 && verified.checkpoint.size == 70)

        var altered = bundle
        altered.entryBytes = log.entries[43]
        #expect((try? altered.verify(keys: keys).get()) == nil)
        altered = bundle
        altered.entryBytes[10] ^= 1
        if case .failure(let f) = altered.verify(keys: keys) { #expect(f.reason == .alteredEntry && f.seq == 42) } else { Issue.record("verified") }
        let stranger = try NoteSigner(name: log.origin, key: fixedKey(99))
        if case .failure(let f) = bundle.verify(keys: [stranger.verifierKey]) { #expect(f.reason == .unknownKey) } else { Issue.record("verified") }
    }

    @Test func `the stream verifier can be driven from rows, as a store would`() throws {
        var stream = try AuditStreamVerifier(
            origin: log.origin,
            keys: keys,
            fromSeq: 0,
            toSeq: 99,
            leftBorder: CompactRange(),
            checkpoints: log.checkpoints,
            rightBorder: nil
        )
        for (entry, leaf) in zip(log.entries, log.leaves) {
            let failure = entry.withUnsafeBytes { stream.append(line: $0, claimedLeafHash: leaf) }
            #expect(failure == nil)
        }
        #expect(try stream.finish().get().checkpointsVerified == 10)
    }
}

/// The independent Python verifier (scripts/verify_audit_export.py) against exports written
/// by the Swift code.
@Suite("Python verifier")
struct PythonVerifierTests {
    static let available = pythonAvailable(importing: ["nacl.signing"])
    let script = repositoryRoot + "/scripts/verify_audit_export.py"

    @Test(.enabled(if: available, "python3 with PyNaCl is not installed (pip install pynacl)"))
    func `the Python verifier accepts a Swift export and names an altered seq`() throws {
        var log = try TestLog()
        for _ in 0..<6 {
            try log.append(9)
            try log.checkpoint()
        }
        let dir = try temporaryDirectory()
        try log.export(to: dir)
        let keyFile = dir + ".pub"
        try (log.signer.verifierKey.text + "\n").write(toFile: keyFile, atomically: true, encoding: .utf8)

        let ok = try run("python3", [script, dir, "--public-key", keyFile])
        #expect(ok.status == 0, "\(ok.output)")
        #expect(ok.output.hasPrefix("ok: 54 entries (seq 0…53) of vigil.audit/test, 6 checkpoints verified up to tree size 54"))

        let files = ExportFiles(directory: dir)
        var lines = try files.lines("entries.jsonl")
        let at = lines[23].firstIndex(of: UInt8(ascii: "k"))!
        lines[23][at] = UInt8(ascii: "K")
        try files.write("entries.jsonl", lines: lines)
        let bad = try run("python3", [script, dir, "--public-key", keyFile])
        #expect(bad.status == 1)
        #expect(bad.output.contains("seq 23: altered_entry"), "\(bad.output)")
        // The Swift verifier agrees.
        if case .failure(let f) = AuditExportVerifier.verify(directory: dir, keys: [log.signer.verifierKey]) {
            #expect(f.reason == .alteredEntry && f.seq == 23)
        } else {
            Issue.record("the Swift verifier accepted an altered export")
        }
    }

    @Test(.enabled(if: available, "python3 with PyNaCl is not installed (pip install pynacl)"))
    func `the Python verifier agrees on sub-ranges, tail borders and tampering`() throws {
        var log = try TestLog()
        for _ in 0..<5 {
            try log.append(7)
            try log.checkpoint()
        }
        try log.append(3)
        let keyFile = try temporaryDirectory() + "/audit-signing.pub"
        try (log.signer.verifierKey.text + "\n").write(toFile: keyFile, atomically: true, encoding: .utf8)
        for (from, to) in [(0, 34), (9, 30), (33, 33), (5, 36)] as [(UInt64, UInt64)] {
            let dir = try temporaryDirectory()
            try log.export(to: dir, from: from, to: to)
            let result = try run("python3", [script, dir, "--public-key", keyFile, "--allow-unsigned"])
            #expect(result.status == 0, "[\(from), \(to)]: \(result.output)")
        }
        let dir = try temporaryDirectory()
        try log.export(to: dir)
        let files = ExportFiles(directory: dir)
        var lines = try files.lines("entries.jsonl")
        lines.swapAt(10, 11)
        try files.write("entries.jsonl", lines: lines)
        let swapped = try run("python3", [script, dir, "--public-key", keyFile])
        #expect(swapped.status == 1 && swapped.output.contains("seq 10: reordered"), "\(swapped.output)")

        let unsignedDir = try temporaryDirectory()
        try log.export(to: unsignedDir)
        let unsigned = try run("python3", [script, unsignedDir, "--public-key", keyFile])
        #expect(unsigned.status == 1 && unsigned.output.contains("seq 35: unsigned_entries"), "\(unsigned.output)")
    }

    @Test(.enabled(if: available, "python3 with PyNaCl is not installed (pip install pynacl)"))
    func `the Python verifier checks an inclusion proof file`() throws {
        var log = try TestLog()
        try log.append(21)
        let checkpoint = try log.checkpoint()
        let bundle = AuditInclusionBundle(
            entryBytes: log.entries[13],
            proof: try log.prover.inclusionProof(leafIndex: 13, treeSize: 21),
            checkpoint: checkpoint
        )
        let dir = try temporaryDirectory()
        try Data(bundle.jsonBytes()).write(to: URL(fileURLWithPath: dir + "/proof.json"))
        try (log.signer.verifierKey.text + "\n").write(toFile: dir + "/key.pub", atomically: true, encoding: .utf8)
        let ok = try run("python3", [script, "--proof", dir + "/proof.json", "--public-key", dir + "/key.pub"])
        #expect(ok.status == 0 && ok.output.contains("entry 13"), "\(ok.output)")
        var altered = bundle
        altered.entryBytes = log.entries[14]
        try FileManager.default.removeItem(atPath: dir + "/proof.json")
        try Data(altered.jsonBytes()).write(to: URL(fileURLWithPath: dir + "/proof.json"))
        let bad = try run("python3", [script, "--proof", dir + "/proof.json", "--public-key", dir + "/key.pub"])
        #expect(bad.status == 1, "\(bad.output)")
    }
}

@Suite("Appending")
struct AppendTests {
    @Test func `the log state appends, survives storage, and its checkpoints verify`() throws {
        let signer = try NoteSigner(name: "vigil.audit/test", key: fixedKey(7))
        var state = AuditLogState()
        var leaves: [TreeHash] = []
        let event = AuditEvent(actor: .init(type: .system, id: "vigil"), action: "policy.loaded", target: nil, outcome: .success)
        for i in 0..<37 {
            // As the store does: reload the persisted state before each append.
            state = try #require(AuditLogState(serialized: state.serialized()))
            let appended = try state.append(event, at: Date(timeIntervalSince1970: 1_795_801_000 + Double(i)))
            #expect(appended.seq == UInt64(i))
            #expect(appended.leafHash == MerkleHashing.leafHash(appended.bytes))
            #expect(try AuditEntry(canonicalBytes: appended.bytes) == appended.entry)
            leaves.append(appended.leafHash)
        }
        let prover = MerkleProver { range in Array(leaves[Int(range.lowerBound)..<Int(range.upperBound)]) }
        #expect(state.rootHash == (try prover.rootHash(treeSize: 37)))
        let signed = try state.signedCheckpoint(origin: "vigil.audit/test", signers: [signer])
        #expect(signed.checkpoint.size == 37)
        #expect(signed.verify(keys: [signer.verifierKey]) == .verified(by: [signer.verifierKey]))
        #expect(AuditLogState(serialized: [1, 2, 3]) == nil)
    }
}
