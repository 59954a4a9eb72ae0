import Foundation

/// The append side of the log, as the store drives it inside the transaction that records
/// an event: load the state stored beside the last entry, `append`, store the entry bytes,
/// its leaf hash and the new `serialized()` state; every so often sign a checkpoint.
///
/// Rules: seq is the tree size before the append (leaf index = seq); the entry bytes are
/// made once here and stored verbatim; the root is a fold of the compact range, never a
/// recomputation over stored entries.
public struct AuditLogState: Sendable, Hashable {
    /// The compact range of every leaf so far (`[0, size)`).
    public private(set) var tree: CompactRange

    /// The state of an empty log.
    public init() { tree = CompactRange() }

    /// The state saved by `serialized()`; nil when the bytes are not a state.
    public init?(serialized bytes: [UInt8]) {
        guard let range = CompactRange(serialized: bytes), range.begin == 0 else { return nil }
        tree = range
    }

    /// The state after the leaves of `[0, range.end)`; `range` must start at 0.
    public init?(tree range: CompactRange) {
        guard range.begin == 0 else { return nil }
        tree = range
    }

    /// Bytes to store beside the last entry.
    public func serialized() -> [UInt8] { tree.serialized() }

    /// Number of entries, and the seq of the next one.
    public var size: UInt64 { tree.end }

    /// The Merkle tree hash of all entries so far.
    public var rootHash: TreeHash { tree.rootHash() }

    /// Records `event` at `date` as the next entry.
    public mutating func append(_ event: AuditEvent, at date: Date) throws(AuditError) -> AppendedAuditEntry {
        let (entry, bytes) = try AuditEntry.encoded(seq: tree.end, date: date, event: event)
        let leaf = tree.append(entryBytes: bytes)
        return AppendedAuditEntry(entry: entry, bytes: bytes, leafHash: leaf)
    }

    /// The checkpoint for the current size.
    public func checkpoint(origin: String) throws(AuditError) -> Checkpoint {
        try Checkpoint(origin: origin, size: size, rootHash: rootHash)
    }

    /// The current checkpoint, signed by each signer.
    public func signedCheckpoint(origin: String, signers: [NoteSigner]) throws(AuditError) -> SignedCheckpoint {
        try SignedCheckpoint(signing: checkpoint(origin: origin), with: signers)
    }
}

/// An entry just appended: what the store writes.
public struct AppendedAuditEntry: Sendable, Hashable {
    public let entry: AuditEntry
    /// The canonical bytes, to store verbatim.
    public let bytes: [UInt8]
    /// `SHA-256(0x00 ‖ bytes)`, to store for proofs.
    public let leafHash: TreeHash

    public var seq: UInt64 { entry.seq }
}
