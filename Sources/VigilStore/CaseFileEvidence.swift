import Foundation
import VigilAudit
import VigilCore
import VigilCrypto

/// The audit side of a case file: the newest checkpoint, a case's entries with their
/// inclusion paths, and the file's signature, all in the caller's transaction (one snapshot).
extension SQLiteTransaction {
    func latestAuditCheckpoint() throws -> SignedCheckpoint? {
        try conn.queryOne("SELECT note FROM audit_checkpoints ORDER BY size DESC LIMIT 1", []) { try SignedCheckpoint(parsing: $0.text(0) ?? "") }
    }

    func auditEntries(seqs: [UInt64], provenIn treeSize: UInt64) throws -> [CaseFile.Entry] {
        let prover = MerkleProver(source: SubtreeMemo(conn: conn))
        return try seqs.map { seq in
            guard seq < treeSize else { throw AuditError.invalidProof("entry \(seq) is not in a tree of size \(treeSize)") }
            guard let bytes = try conn.queryOne("SELECT entry FROM audit_entries WHERE seq = ?", [.int(Int64(seq))], { $0.blob(0) }), let bytes
            else { throw VigilError.dataIntegrity(reason: "audit_entries has no row for a seq that case_audit names") }
            return CaseFile.Entry(seq: seq, bytes: bytes, inclusionPath: try prover.inclusionProof(leafIndex: seq, treeSize: treeSize).hashes)
        }
    }

    func signCaseFile(_ file: CaseFile) throws -> CaseFile {
        try file.signed(with: signing.signers)
    }

    func signAuditCheckpoint(at time: Date) throws {
        // The writer keeps the tree state in memory until COMMIT (AuditTip): the row may not yet
        // hold this transaction's appends.
        try AuditAppender.sign(try auditTip?.current(conn) ?? AuditAppender.loadState(conn), conn: conn, signing: signing, at: time)
    }
}

/// Leaf hashes from `audit_entries`, with the perfect subtrees of 1024 leaves and more
/// remembered for one case file: its proofs share most of their subtrees, so the file costs
/// about one pass over the leaves rather than one per entry.
private final class SubtreeMemo: LeafHashSource {
    static let minLevel = 10
    let conn: SQLiteConnection
    var memo: [Int: [UInt64: TreeHash]] = [:]

    init(conn: SQLiteConnection) { self.conn = conn }

    func leafHashes(in range: Range<UInt64>) throws -> [TreeHash] {
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

    func perfectSubtreeHash(level: Int, index: UInt64) throws -> TreeHash? {
        guard level >= Self.minLevel else { return nil }
        if let known = memo[level]?[index] { return known }
        let hash: TreeHash
        if level == Self.minLevel {
            let start = index << UInt64(level)
            let leaves = try leafHashes(in: start..<start + (1 << UInt64(level)))
            guard leaves.count == 1 << level else { throw AuditError.malformed("audit_entries has a gap below seq \(start + (1 << UInt64(level)))") }
            var range = CompactRange()
            for leaf in leaves { range.append(leafHash: leaf) }
            hash = range.rootHash()
        } else {
            guard let left = try perfectSubtreeHash(level: level - 1, index: index * 2),
                let right = try perfectSubtreeHash(level: level - 1, index: index * 2 + 1)
            else { return nil }
            hash = MerkleHashing.nodeHash(left, right)
        }
        memo[level, default: [:]][index] = hash
        return hash
    }
}
