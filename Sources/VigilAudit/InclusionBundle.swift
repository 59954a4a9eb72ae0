/// One entry with the proof that a signed checkpoint includes it: "entry + proof +
/// checkpoint proves itself" (docs/audit-format.md §6). Case files carry one per entry, and
/// `vigil audit prove SEQ` prints one.
///
/// JSON (canonical): `{"checkpoint": <signed note text>, "entry": <canonical entry bytes as a
/// JSON string>, "format": "vigil-audit-proof/1", "inclusion_path": [<hex>, …],
/// "leaf_index": n, "tree_size": n}`.
public struct AuditInclusionBundle: Sendable, Hashable {
    public static let formatVersion = "vigil-audit-proof/1"

    /// The entry's canonical bytes, verbatim.
    public var entryBytes: [UInt8]
    public var proof: InclusionProof
    public var checkpoint: SignedCheckpoint

    public init(entryBytes: [UInt8], proof: InclusionProof, checkpoint: SignedCheckpoint) {
        self.entryBytes = entryBytes
        self.proof = proof
        self.checkpoint = checkpoint
    }

    /// Canonical JSON, followed by a newline.
    public func jsonBytes() -> [UInt8] {
        let value: CanonicalJSON.Value = .object([
            ("format", .string(Self.formatVersion)),
            ("entry", .string(String(decoding: entryBytes, as: UTF8.self))),
            ("leaf_index", .integer(Int64(proof.leafIndex))),
            ("tree_size", .integer(Int64(proof.treeSize))),
            ("inclusion_path", .array(proof.hashes.map { .string($0.hex) })),
            ("checkpoint", .string(checkpoint.text)),
        ])
        return CanonicalJSON.encode(value) + [0x0A]
    }

    /// Parses the JSON form.
    public init(jsonBytes: [UInt8]) throws(AuditError) {
        var bytes = jsonBytes
        while let last = bytes.last, [0x0A, 0x0D, 0x20, 0x09].contains(last) { bytes.removeLast() }
        let root = try JSONShape(try CanonicalJSON.parse(bytes), "proof")
        guard try root.string("format") == Self.formatVersion else { throw .malformed("proof: format is not \(Self.formatVersion)") }
        self.init(
            entryBytes: Array(try root.string("entry").utf8),
            proof: InclusionProof(
                leafIndex: try root.unsigned("leaf_index"),
                treeSize: try root.unsigned("tree_size"),
                hashes: try root.hashes("inclusion_path")
            ),
            checkpoint: try SignedCheckpoint(parsing: try root.string("checkpoint"))
        )
    }

    /// Checks the checkpoint's signature against `keys`, that the entry's seq is the proof's
    /// leaf index, that the proof is for the checkpoint's size, and that it leads from the
    /// entry's leaf hash to the checkpoint's root.
    public func verify(keys: [NoteVerifierKey], origin: String? = nil) -> Result<VerifiedInclusion, AuditVerificationFailure> {
        let cp = checkpoint.checkpoint
        let seq = entryBytes.withUnsafeBytes { EntryScan.seq(in: $0) }
        if let origin, cp.origin != origin {
            return .failure(.init(.malformedExport, seq: seq, treeSize: cp.size, detail: "checkpoint origin \"\(cp.origin)\" is not \"\(origin)\""))
        }
        switch checkpoint.verify(keys: keys) {
        case .verified(let by):
            guard let seq, seq == proof.leafIndex else {
                return .failure(.init(.malformedEntry, seq: seq, detail: "the entry's seq is not the proof's leaf index \(proof.leafIndex)"))
            }
            guard proof.treeSize == cp.size else {
                return .failure(
                    .init(
                        .malformedExport,
                        seq: seq,
                        treeSize: cp.size,
                        detail: "the proof is for tree size \(proof.treeSize), the checkpoint for \(cp.size)"
                    )
                )
            }
            guard proof.verify(leafHash: MerkleHashing.leafHash(entryBytes), root: cp.rootHash) else {
                return .failure(
                    .init(.alteredEntry, seq: seq, treeSize: cp.size, detail: "the entry and its proof do not lead to the checkpoint's root")
                )
            }
            return .success(VerifiedInclusion(seq: seq, checkpoint: cp, keyIDs: by.map(\.keyID)))
        case .badSignature(let name, let keyID):
            return .failure(.init(.badSignature, seq: seq, treeSize: cp.size, detail: "the signature by \(name) (\(keyID)) does not verify"))
        case .unknownKey(let ids):
            return .failure(
                .init(.unknownKey, seq: seq, treeSize: cp.size, detail: "signed by no trusted key (key ids \(ids.joined(separator: ",")))")
            )
        }
    }
}

/// A verified inclusion: entry `seq` is in the tree of `checkpoint`, signed by `keyIDs`.
public struct VerifiedInclusion: Sendable, Hashable {
    public let seq: UInt64
    public let checkpoint: Checkpoint
    public let keyIDs: [String]
}
