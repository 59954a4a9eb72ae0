/// Why verification stopped: one reason from a fixed set, the entry `seq` it names, and the
/// checkpoint involved (docs/audit-format.md §7).
public struct AuditVerificationFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: String, Sendable, Hashable, CaseIterable {
        /// A file is missing or unreadable.
        case unreadable = "unreadable"
        /// The manifest, checkpoints or leaf-hash file do not follow the format.
        case malformedExport = "malformed_export"
        /// A line of `entries.jsonl` is not an entry (no `seq` can be read).
        case malformedEntry = "malformed_entry"
        /// The entry's bytes differ from those the log signed (found through the leaf hashes).
        case alteredEntry = "altered_entry"
        /// A checkpoint's root does not match the entries, and the leaf hashes do not tell
        /// which entry differs: entries and leaf hashes were altered together, or the
        /// checkpoint signs another tree. `seq` is the first entry the checkpoint newly covers.
        case rootMismatch = "root_mismatch"
        /// A leaf hash in `leaf-hashes.txt` does not match its entry, though the entry itself
        /// is not shown to be altered.
        case leafHashMismatch = "leaf_hash_mismatch"
        /// `seq` is missing: the next line carries a later seq, and `seq` never appears.
        case gap = "gap"
        /// `seq` appears later in the file than its place.
        case reordered = "reordered"
        /// `seq` appears a second time.
        case duplicate = "duplicate"
        /// The file ends before the manifest's last seq; `seq` is the first missing one.
        case truncated = "truncated"
        /// An entry outside the manifest's range `[from_seq, to_seq]`.
        case unexpectedEntry = "unexpected_entry"
        /// A checkpoint signature by a trusted key does not verify.
        case badSignature = "bad_signature"
        /// A checkpoint is signed by no trusted key.
        case unknownKey = "unknown_key"
        /// Two signed checkpoints disagree about the same tree, or a proof of consistency fails.
        case inconsistentTree = "inconsistent_tree"
        /// Entries after the last checkpoint: no signature covers them yet.
        case unsignedEntries = "unsigned_entries"
    }

    public let reason: Reason
    /// The entry named; nil only when the failure concerns no particular entry.
    public let seq: UInt64?
    /// The size of the checkpoint involved, if any.
    public let treeSize: UInt64?
    /// A one-line explanation.
    public let detail: String

    public init(_ reason: Reason, seq: UInt64?, treeSize: UInt64? = nil, detail: String) {
        self.reason = reason
        self.seq = seq
        self.treeSize = treeSize
        self.detail = detail
    }

    /// `seq 41: altered_entry: …`.
    public var description: String {
        (seq.map { "seq \($0): " } ?? "") + "\(reason.rawValue): \(detail)"
    }
}

/// What a successful verification established.
public struct AuditVerificationSummary: Sendable, Hashable, CustomStringConvertible {
    public let origin: String
    public let fromSeq: UInt64
    public let toSeq: UInt64
    public let entries: UInt64
    public let checkpointsVerified: Int
    /// The largest verified tree size.
    public let treeSize: UInt64
    /// Key ids (8 hex digits) whose signatures verified, in first-use order.
    public let keyIDs: [String]
    /// Entries after the last checkpoint, accepted only with `allowUnsigned`.
    public let unsignedEntries: UInt64

    /// One line for the CLI.
    public var description: String {
        var s =
            "ok: \(entries) entries (seq \(fromSeq)…\(toSeq)) of \(origin), \(checkpointsVerified) checkpoints verified up to tree size \(treeSize), keys \(keyIDs.joined(separator: ","))"
        if unsignedEntries > 0 { s += "; \(unsignedEntries) trailing entries not yet signed" }
        return s
    }
}

/// Streaming verification of consecutive entries against signed checkpoints.
///
/// Feed it every entry in seq order, then call `finish`; it holds O(log n) hashes whatever
/// the number of entries. The export verifier drives it from files; a store can drive it from
/// its rows (`vigil audit verify --db`). `append` and `finish` return the first failure;
/// after a failure the verifier must not be used further.
public struct AuditStreamVerifier {
    public struct Options: Sendable {
        /// Accept entries after the last checkpoint (reported as unsigned in the summary).
        public var allowUnsigned: Bool
        public init(allowUnsigned: Bool = false) { self.allowUnsigned = allowUnsigned }
    }

    private let origin: String
    private let keys: [NoteVerifierKey]
    private let options: Options
    private let fromSeq: UInt64
    private let toSeq: UInt64
    private let checkpoints: [SignedCheckpoint]
    private let rightBorder: CompactRange?
    private var nextCheckpoint = 0

    private var tree: CompactRange
    private var expected: UInt64
    /// The tree built from the claimed leaf hashes once they first differ from the entries.
    private var claimedTree: CompactRange?
    private var firstClaimMismatch: UInt64?
    /// Seq from which no verified checkpoint covers the entries yet.
    private var coveredUpTo: UInt64
    private var verified: (size: UInt64, root: TreeHash)?
    private var checkpointsVerified = 0
    private var keyIDs: [String] = []
    /// A later seq was seen where `pendingGap` was expected: looking for it further on.
    private var pendingGap: (seq: UInt64, found: UInt64)?

    /// - Parameters:
    ///   - origin: the log's origin; every checkpoint must carry it.
    ///   - keys: the trusted verifier keys.
    ///   - fromSeq, toSeq: the seqs that will be appended.
    ///   - leftBorder: the compact range of `[0, fromSeq)`.
    ///   - checkpoints: in increasing size, every size in `[fromSeq, toSeq + 1]` plus at most
    ///     one beyond, which needs `rightBorder` (the compact range of `[toSeq + 1, size)`).
    public init(
        origin: String,
        keys: [NoteVerifierKey],
        fromSeq: UInt64,
        toSeq: UInt64,
        leftBorder: CompactRange,
        checkpoints: [SignedCheckpoint],
        rightBorder: CompactRange?,
        options: Options = Options()
    ) throws(AuditVerificationFailure) {
        func malformed(_ detail: String, _ size: UInt64? = nil) -> AuditVerificationFailure {
            AuditVerificationFailure(.malformedExport, seq: nil, treeSize: size, detail: detail)
        }
        guard fromSeq <= toSeq else { throw malformed("empty range") }
        guard leftBorder.begin == 0, leftBorder.end == fromSeq else { throw malformed("left border does not cover [0, \(fromSeq))") }
        var previous: UInt64 = 0
        for c in checkpoints {
            let cp = c.checkpoint
            guard cp.origin == origin else { throw malformed("checkpoint origin \"\(cp.origin)\" is not \"\(origin)\"", cp.size) }
            guard cp.size >= previous else { throw malformed("checkpoints are not in increasing tree size", cp.size) }
            guard cp.size >= fromSeq else { throw malformed("checkpoint older than the first exported entry", cp.size) }
            previous = cp.size
        }
        let beyond = checkpoints.filter { $0.checkpoint.size > toSeq + 1 }
        if let b = beyond.first {
            guard Set(beyond.map(\.checkpoint.size)).count == 1 else { throw malformed("more than one checkpoint size beyond the last entry") }
            guard let rightBorder, rightBorder.begin == toSeq + 1, rightBorder.end == b.checkpoint.size else {
                throw malformed("no right border for the checkpoint beyond the last entry", b.checkpoint.size)
            }
        }
        self.origin = origin
        self.keys = keys
        self.options = options
        self.fromSeq = fromSeq
        self.toSeq = toSeq
        self.checkpoints = checkpoints
        self.rightBorder = beyond.isEmpty ? nil : rightBorder
        self.tree = leftBorder
        self.expected = fromSeq
        self.coveredUpTo = fromSeq
        // Checkpoints at exactly the left border's size are checked before any entry.
        if let failure = checkpointsAtCurrentSize() { throw failure }
    }

    /// Number of entries accepted so far.
    public var entriesProcessed: UInt64 { expected - fromSeq }

    /// The next entry. `claimedLeafHash` is the exporter's leaf hash for it (from
    /// `leaf-hashes.txt` or the store), used to name an altered entry; nil if unknown.
    public mutating func append(line: UnsafeRawBufferPointer, claimedLeafHash: TreeHash?) -> AuditVerificationFailure? {
        let seq = EntryScan.seq(in: line)
        if let gap = pendingGap {
            // Only looking ahead for the missing seq now.
            if seq == gap.seq {
                return AuditVerificationFailure(.reordered, seq: gap.seq, detail: "entry \(gap.seq) appears after entry \(gap.found)")
            }
            return nil
        }
        guard let seq else {
            return AuditVerificationFailure(.malformedEntry, seq: expected, detail: "the line in place of entry \(expected) has no readable seq")
        }
        guard expected <= toSeq else {
            return AuditVerificationFailure(.unexpectedEntry, seq: seq, detail: "entry after to_seq \(toSeq) of the manifest")
        }
        if seq != expected {
            if seq > expected {
                pendingGap = (expected, seq)
                return nil
            }
            if seq < fromSeq {
                return AuditVerificationFailure(.unexpectedEntry, seq: seq, detail: "entry before from_seq \(fromSeq) of the manifest")
            }
            return AuditVerificationFailure(.duplicate, seq: seq, detail: "entry \(seq) appears again in place of entry \(expected)")
        }

        let leaf = MerkleHashing.leafHash(raw: line)
        if let claimed = claimedLeafHash, claimed != leaf, firstClaimMismatch == nil {
            firstClaimMismatch = seq
            claimedTree = tree
        }
        tree.append(leafHash: leaf)
        claimedTree?.append(leafHash: claimedLeafHash ?? leaf)
        expected += 1
        return checkpointsAtCurrentSize()
    }

    /// Ends the stream: reports a gap still open, a truncated file, the checkpoint beyond the
    /// last entry, and unsigned trailing entries.
    public mutating func finish() -> Result<AuditVerificationSummary, AuditVerificationFailure> {
        if let gap = pendingGap {
            return .failure(AuditVerificationFailure(.gap, seq: gap.seq, detail: "entry \(gap.seq) is missing; the next entry is \(gap.found)"))
        }
        if expected <= toSeq {
            return .failure(AuditVerificationFailure(.truncated, seq: expected, detail: "entries end before to_seq \(toSeq) of the manifest"))
        }
        // The checkpoint beyond the last entry, through the right border.
        while nextCheckpoint < checkpoints.count {
            let c = checkpoints[nextCheckpoint]
            if let failure = check(c) { return .failure(failure) }
            nextCheckpoint += 1
        }
        if coveredUpTo <= toSeq {
            if let mismatch = firstClaimMismatch {
                return .failure(
                    AuditVerificationFailure(
                        .leafHashMismatch,
                        seq: mismatch,
                        detail: "the leaf hash does not match the entry, and no checkpoint covers it"
                    )
                )
            }
            if !options.allowUnsigned {
                return .failure(
                    AuditVerificationFailure(
                        .unsignedEntries,
                        seq: coveredUpTo,
                        treeSize: verified?.size,
                        detail: "\(toSeq + 1 - coveredUpTo) entries after the last checkpoint are not signed yet"
                    )
                )
            }
        }
        return .success(
            AuditVerificationSummary(
                origin: origin,
                fromSeq: fromSeq,
                toSeq: toSeq,
                entries: toSeq - fromSeq + 1,
                checkpointsVerified: checkpointsVerified,
                treeSize: verified?.size ?? 0,
                keyIDs: keyIDs,
                unsignedEntries: coveredUpTo <= toSeq ? toSeq + 1 - coveredUpTo : 0
            )
        )
    }

    private mutating func checkpointsAtCurrentSize() -> AuditVerificationFailure? {
        while nextCheckpoint < checkpoints.count, checkpoints[nextCheckpoint].checkpoint.size == tree.end {
            if let failure = check(checkpoints[nextCheckpoint]) { return failure }
            nextCheckpoint += 1
        }
        return nil
    }

    /// Checks one checkpoint whose size is the current tree size (or beyond the last entry).
    private mutating func check(_ signed: SignedCheckpoint) -> AuditVerificationFailure? {
        let cp = signed.checkpoint
        let firstNew = min(coveredUpTo, cp.size)
        switch signed.verify(keys: keys) {
        case .verified(let by):
            for k in by where !keyIDs.contains(k.keyID) { keyIDs.append(k.keyID) }
        case .badSignature(let name, let keyID):
            return AuditVerificationFailure(
                .badSignature,
                seq: firstNew,
                treeSize: cp.size,
                detail: "the signature by \(name) (\(keyID)) on the checkpoint for tree size \(cp.size) does not verify"
            )
        case .unknownKey(let ids):
            return AuditVerificationFailure(
                .unknownKey,
                seq: firstNew,
                treeSize: cp.size,
                detail: "the checkpoint for tree size \(cp.size) is signed by no trusted key (key ids \(ids.joined(separator: ",")))"
            )
        }
        if let v = verified, v.size == cp.size {
            guard v.root == cp.rootHash else {
                return AuditVerificationFailure(
                    .inconsistentTree,
                    seq: cp.size == 0 ? nil : cp.size - 1,
                    treeSize: cp.size,
                    detail: "two signed checkpoints for tree size \(cp.size) have different roots"
                )
            }
            checkpointsVerified += 1
            return nil
        }

        var computed = tree
        var claimed = claimedTree
        if cp.size > tree.end, let rightBorder {
            // Cannot fail: the border starts where the tree ends (checked in init).
            try? computed.append(contentsOf: rightBorder)
            try? claimed?.append(contentsOf: rightBorder)
        }
        if computed.rootHash() == cp.rootHash {
            if let mismatch = firstClaimMismatch {
                return AuditVerificationFailure(
                    .leafHashMismatch,
                    seq: mismatch,
                    treeSize: cp.size,
                    detail: "the entry is covered by the checkpoint for tree size \(cp.size), but its leaf hash in the export differs"
                )
            }
            verified = (cp.size, cp.rootHash)
            coveredUpTo = max(coveredUpTo, min(cp.size, toSeq + 1))
            checkpointsVerified += 1
            return nil
        }
        if let mismatch = firstClaimMismatch, let claimed, claimed.rootHash() == cp.rootHash {
            return AuditVerificationFailure(
                .alteredEntry,
                seq: mismatch,
                treeSize: cp.size,
                detail: "the entry's bytes differ from those signed in the checkpoint for tree size \(cp.size)"
            )
        }
        let named = firstClaimMismatch ?? firstNew
        return AuditVerificationFailure(
            .rootMismatch,
            seq: named,
            treeSize: cp.size,
            detail: "the checkpoint for tree size \(cp.size) does not match the entries from seq \(firstNew) on"
                + (fromSeq > 0 && verified == nil ? " (or the manifest's left border)" : "")
        )
    }
}
