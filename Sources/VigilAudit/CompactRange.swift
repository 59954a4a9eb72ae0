import VigilCrypto

/// The compact range of an interval `[begin, end)` of leaves: the hashes of the fewest
/// perfect subtrees that exactly cover it, left to right (see transparency-dev/merkle,
/// `docs/compact_ranges.md`).
///
/// For `begin == 0` these are the subtrees of the binary decomposition of `end` (one per set
/// bit, largest first), at most 64 hashes, and the tree root is their right-to-left fold.
/// This is the only state an appender needs: appending a leaf costs O(1) amortised hashes
/// and O(log n) memory, and the root for the current size is a fold of at most 64 hashes,
/// never a recomputation over the leaves. Two adjacent ranges merge into one, which is how
/// an export that starts after seq 0 (a left border) or ends before a checkpoint's size (a
/// right border) is verified on its own.
public struct CompactRange: Sendable, Hashable {
    /// First leaf index covered.
    public private(set) var begin: UInt64
    /// One past the last leaf index covered.
    public private(set) var end: UInt64
    /// Subtree hashes, left to right.
    public private(set) var hashes: [TreeHash]

    /// The empty range `[begin, begin)`; `begin` 0 (the default) starts a new tree.
    public init(begin: UInt64 = 0) {
        self.begin = begin
        self.end = begin
        self.hashes = []
    }

    /// A range from its parts; nil unless `hashes.count` is the number of subtrees that
    /// cover `[begin, end)`.
    public init?(begin: UInt64, end: UInt64, hashes: [TreeHash]) {
        guard begin <= end, hashes.count == Self.subtrees(begin: begin, end: end).count else { return nil }
        self.begin = begin
        self.end = end
        self.hashes = hashes
    }

    /// Number of leaves covered.
    public var count: UInt64 { end - begin }

    /// Appends the next leaf (index `end`).
    public mutating func append(leafHash: TreeHash) {
        append(subtree: leafHash, level: 0)
    }

    /// Appends the next entry's bytes, returning its leaf hash.
    @discardableResult
    public mutating func append(entryBytes: some VigilCrypto.ContiguousBytes) -> TreeHash {
        let leaf = MerkleHashing.leafHash(entryBytes)
        append(leafHash: leaf)
        return leaf
    }

    /// Appends a perfect subtree of `2^level` leaves starting at `end`, which must be a
    /// multiple of `2^level`, then merges siblings.
    mutating func append(subtree hash: TreeHash, level: Int) {
        precondition(level < 64 && end & ((1 << UInt64(level)) &- 1) == 0, "misaligned subtree")
        hashes.append(hash)
        var index = end >> UInt64(level)
        var lvl = UInt64(level)
        end += 1 << UInt64(level)
        // The new node is a right child while its index is odd; merge with its left sibling
        // when that sibling lies inside the range.
        while index & 1 == 1 && (index - 1) << lvl >= begin {
            let right = hashes.removeLast()
            let left = hashes.removeLast()
            hashes.append(MerkleHashing.nodeHash(left, right))
            index >>= 1
            lvl += 1
        }
    }

    /// Appends the adjacent range `other` (`other.begin == end`), so that `self` covers both.
    public mutating func append(contentsOf other: CompactRange) throws(AuditError) {
        guard other.begin == end else { throw .malformed("compact ranges are not adjacent") }
        for (hash, sub) in zip(other.hashes, Self.subtrees(begin: other.begin, end: other.end)) {
            append(subtree: hash, level: sub.level)
        }
    }

    /// The Merkle tree hash of leaves `[0, end)`: the right-to-left fold of the subtree
    /// hashes, or `SHA-256("")` for the empty tree. Only defined for ranges that start at 0.
    public func rootHash() -> TreeHash {
        precondition(begin == 0, "the root is only defined for a range starting at leaf 0")
        guard var root = hashes.last else { return MerkleHashing.emptyRoot }
        for h in hashes.dropLast().reversed() {
            root = MerkleHashing.nodeHash(h, root)
        }
        return root
    }

    /// The perfect subtrees `(start, level)` covering `[begin, end)`, left to right.
    static func subtrees(begin: UInt64, end: UInt64) -> [(start: UInt64, level: Int)] {
        var out: [(start: UInt64, level: Int)] = []
        var p = begin
        while p < end {
            // Largest aligned block at p that fits in [p, end).
            var level = p == 0 ? 63 : p.trailingZeroBitCount
            let room = 63 - (end - p).leadingZeroBitCount  // floor(log2(end - p))
            level = min(level, room)
            out.append((p, level))
            p += 1 << UInt64(level)
        }
        return out
    }

    // MARK: - Persistence

    private static let magic: [UInt8] = Array("VCR1".utf8)

    /// A stable binary form for storing beside the last entry:
    /// `"VCR1" ‖ begin (8 bytes, big-endian) ‖ end (8 bytes, big-endian) ‖ hashes (32 bytes each)`.
    public func serialized() -> [UInt8] {
        var out = Self.magic
        out.reserveCapacity(20 + 32 * hashes.count)
        for v in [begin, end] {
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
        }
        for h in hashes { h.withUnsafeBytes { out.append(contentsOf: $0) } }
        return out
    }

    /// Parses `serialized()`; nil when the bytes are not a valid compact range.
    public init?(serialized bytes: [UInt8]) {
        guard bytes.count >= 20, Array(bytes[0..<4]) == Self.magic else { return nil }
        func u64(_ at: Int) -> UInt64 { bytes[at..<at + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        let begin = u64(4)
        let end = u64(12)
        guard begin <= end, (bytes.count - 20) % 32 == 0 else { return nil }
        var hashes: [TreeHash] = []
        var at = 20
        while at < bytes.count {
            hashes.append(TreeHash(bytes: bytes[at..<at + 32])!)
            at += 32
        }
        self.init(begin: begin, end: end, hashes: hashes)
    }
}
