import Foundation
import VigilAudit
import VigilCore
import VigilCrypto

/// Reading the audit log: exports, verification of the live database, inclusion proofs.
/// Each runs in one read transaction, so it sees one consistent snapshot while the server
/// keeps appending; entries are streamed in batches, so memory stays flat.
extension SQLiteStore {
    /// The range of seqs an export covers, from optional RFC 3339 bounds (inclusive).
    public struct AuditRange: Sendable {
        public var from: Date?
        public var to: Date?
        public init(from: Date? = nil, to: Date? = nil) {
            self.from = from
            self.to = to
        }
    }

    static let batch = 5_000

    private static func prover(_ conn: SQLiteConnection) -> MerkleProver<ClosureLeafHashSource> {
        MerkleProver(
            source: ClosureLeafHashSource { range in
                try conn.query(
                    "SELECT leaf_hash FROM audit_entries WHERE seq >= ? AND seq < ? ORDER BY seq",
                    [.int(Int64(range.lowerBound)), .int(Int64(range.upperBound))]
                ) { row in
                    guard let hash = TreeHash(bytes: row.blob(0) ?? []) else {
                        throw VigilError.dataIntegrity(reason: "audit_entries.leaf_hash of one row is malformed")
                    }
                    return hash
                }
            }
        )
    }

    private static func checkpoints(_ conn: SQLiteConnection) throws -> [SignedCheckpoint] {
        try conn.query("SELECT note FROM audit_checkpoints ORDER BY size", []) { try SignedCheckpoint(parsing: $0.text(0) ?? "") }
    }

    /// Writes an export of the entries in `range` to `directory` (which must not exist yet or
    /// be empty). Signs a checkpoint first, so everything exported is covered by a signature.
    public func exportAudit(
        to directory: String,
        range: AuditRange,
        keys: [NoteVerifierKey],
        progress: @escaping @Sendable (UInt64, UInt64) -> Void
    ) async throws -> AuditExportManifest {
        try await checkpoint()
        let origin = signing.origin
        return try await onReader { conn in
            try conn.transaction(immediate: false) {
                let size = UInt64(try AuditAppender.loadState(conn).size)
                guard size > 0 else { throw VigilError.notFound(resource: "audit entry") }
                var from: UInt64 = 0
                var to: UInt64 = size - 1
                if let t = range.from {
                    guard
                        let s = try conn.queryOne(
                            "SELECT min(seq) FROM audit_entries WHERE time >= ?",
                            [.text(Timestamp.format(t))],
                            { $0.isNull(0) ? nil : $0.int(0) }
                        ) ?? nil
                    else {
                        throw VigilError.notFound(resource: "audit entry in that range")
                    }
                    from = UInt64(s)
                }
                if let t = range.to {
                    guard
                        let s = try conn.queryOne(
                            "SELECT max(seq) FROM audit_entries WHERE time <= ?",
                            [.text(Timestamp.format(t))],
                            { $0.isNull(0) ? nil : $0.int(0) }
                        ) ?? nil
                    else {
                        throw VigilError.notFound(resource: "audit entry in that range")
                    }
                    to = UInt64(s)
                }
                guard from <= to else { throw VigilError.notFound(resource: "audit entry in that range") }
                let all = try Self.checkpoints(conn)
                let inRange = all.filter { $0.checkpoint.size >= from && $0.checkpoint.size <= to + 1 }
                let beyond = all.first { $0.checkpoint.size > to + 1 }
                let prover = Self.prover(conn)
                let writer = try AuditExportWriter(directory: directory, origin: origin, leftBorder: try prover.compactRange(0..<from))
                var next = from
                while next <= to {
                    let end = min(to + 1, next + UInt64(Self.batch))
                    let rows = try conn.query(
                        "SELECT seq, entry FROM audit_entries WHERE seq >= ? AND seq < ? ORDER BY seq",
                        [.int(Int64(next)), .int(Int64(end))]
                    ) { (UInt64($0.int(0)), $0.blob(1) ?? []) }
                    for (seq, bytes) in rows {
                        guard seq == next else { throw VigilError.dataIntegrity(reason: "audit_entries has a gap at seq \(next)") }
                        try writer.append(entryBytes: bytes)
                        next += 1
                    }
                    guard !rows.isEmpty else { throw VigilError.dataIntegrity(reason: "audit_entries has a gap at seq \(next)") }
                    progress(next - from, to + 1 - from)
                }
                for c in inRange { try writer.add(checkpoint: c) }
                var rightBorder: CompactRange?
                if let beyond {
                    try writer.add(checkpoint: beyond)
                    rightBorder = try prover.compactRange((to + 1)..<beyond.checkpoint.size)
                }
                return try writer.finish(rightBorder: rightBorder, keys: keys)
            }
        }
    }

    /// Verifies the live log the way an export is verified: every leaf hash recomputed from
    /// the stored bytes, every checkpoint's root and signature, no gap, nothing unsigned
    /// (unless `allowUnsigned`).
    public func verifyAudit(
        keys: [NoteVerifierKey],
        allowUnsigned: Bool,
        progress: @escaping @Sendable (UInt64, UInt64) -> Void
    ) async throws -> Result<AuditVerificationSummary, AuditVerificationFailure> {
        let origin = signing.origin
        return try await onReader { conn in
            try conn.transaction(immediate: false) {
                let total = UInt64(try conn.queryOne("SELECT coalesce(max(seq) + 1, 0) FROM audit_entries", [], { $0.int(0) }) ?? 0)
                guard total > 0 else {
                    return .failure(AuditVerificationFailure(.malformedExport, seq: nil, detail: "the audit log is empty"))
                }
                let checkpoints: [SignedCheckpoint]
                do {
                    checkpoints = try Self.checkpoints(conn)
                } catch {
                    return .failure(AuditVerificationFailure(.malformedExport, seq: nil, detail: "a stored checkpoint does not parse"))
                }
                // A signed checkpoint for more entries than the table holds: the log was cut short
                // (the checkpoint proves those entries existed).
                if let largest = checkpoints.last?.checkpoint.size, largest > total {
                    return .failure(
                        AuditVerificationFailure(
                            .truncated,
                            seq: total,
                            treeSize: largest,
                            detail: "a signed checkpoint covers \(largest) entries but the log ends before seq \(total)"
                        )
                    )
                }
                var verifier: AuditStreamVerifier
                do {
                    verifier = try AuditStreamVerifier(
                        origin: origin,
                        keys: keys,
                        fromSeq: 0,
                        toSeq: total - 1,
                        leftBorder: CompactRange(),
                        checkpoints: checkpoints.filter { $0.checkpoint.size <= total },
                        rightBorder: nil,
                        options: .init(allowUnsigned: allowUnsigned)
                    )
                } catch let failure as AuditVerificationFailure {
                    return .failure(failure)
                }
                var next: UInt64 = 0
                while next < total {
                    let rows = try conn.query(
                        "SELECT seq, entry, leaf_hash FROM audit_entries WHERE seq >= ? ORDER BY seq LIMIT ?",
                        [.int(Int64(next)), .int(Int64(Self.batch))]
                    ) { (UInt64($0.int(0)), $0.blob(1) ?? [], TreeHash(bytes: $0.blob(2) ?? [])) }
                    if rows.isEmpty { break }
                    for (seq, bytes, leaf) in rows {
                        if seq != next {
                            return .failure(AuditVerificationFailure(.gap, seq: next, detail: "seq \(next) is missing from the database"))
                        }
                        if let failure = bytes.withUnsafeBytes({ verifier.append(line: $0, claimedLeafHash: leaf) }) {
                            return .failure(failure)
                        }
                        next += 1
                    }
                    progress(next, total)
                }
                return verifier.finish()
            }
        }
    }

    /// How many entries the log holds.
    public func auditEntryCount() async throws -> Int {
        try await onReader { conn in
            Int(try conn.queryOne("SELECT count(*) FROM audit_entries", [], { $0.int(0) }) ?? 0)
        }
    }

    /// An inclusion proof of entry `seq` against the newest checkpoint that covers it.
    public func proveAudit(seq: UInt64) async throws -> AuditInclusionBundle {
        try await checkpoint()
        return try await onReader { conn in
            try conn.transaction(immediate: false) {
                guard let entry = try conn.queryOne("SELECT entry FROM audit_entries WHERE seq = ?", [.int(Int64(seq))], { $0.blob(0) }), let entry
                else { throw VigilError.notFound(resource: "audit entry") }
                guard let checkpoint = try Self.checkpoints(conn).last, checkpoint.checkpoint.size > seq else {
                    throw VigilError.notFound(resource: "checkpoint covering that entry")
                }
                let proof = try Self.prover(conn).inclusionProof(leafIndex: seq, treeSize: checkpoint.checkpoint.size)
                return AuditInclusionBundle(entryBytes: entry, proof: proof, checkpoint: checkpoint)
            }
        }
    }
}

extension SQLiteStore: AuditLogStore {
    public func exportAudit(
        to directory: String,
        from: Date?,
        to: Date?,
        keys: [NoteVerifierKey]
    ) async throws -> (
        entries: UInt64, checkpoints: Int
    ) {
        let manifest = try await exportAudit(to: directory, range: AuditRange(from: from, to: to), keys: keys, progress: { _, _ in })
        return (manifest.entryCount, manifest.checkpointCount)
    }
}
