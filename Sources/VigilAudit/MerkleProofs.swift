/// Where the prover reads leaf hashes: the store implements it with one query over its leaf
/// hash column. Indices are leaf indices, which are entry seqs.
public protocol LeafHashSource {
    /// The leaf hashes of `range`, in order, exactly `range.count` of them.
    func leafHashes(in range: Range<UInt64>) throws -> [TreeHash]

    /// The hash of the perfect subtree of `2^level` leaves starting at leaf `index << level`,
    /// when the source keeps it (a cache of interior nodes); nil to have it computed from
    /// leaves. The default returns nil.
    func perfectSubtreeHash(level: Int, index: UInt64) throws -> TreeHash?
}

extension LeafHashSource {
    public func perfectSubtreeHash(level: Int, index: UInt64) throws -> TreeHash? { nil }
}

/// A `LeafHashSource` from a closure, e.g. `ClosureLeafHashSource { range in try store.leafHashes(range) }`.
public struct ClosureLeafHashSource: LeafHashSource {
    private let body: (Range<UInt64>) throws -> [TreeHash]

    public init(_ body: @escaping (Range<UInt64>) throws -> [TreeHash]) {
        self.body = body
    }

    public func leafHashes(in range: Range<UInt64>) throws -> [TreeHash] {
        try body(range)
    }
}

/// An RFC 6962 §2.1.1 audit path: the sibling hashes from the leaf up to the root.
public struct InclusionProof: Sendable, Hashable {
    public var leafIndex: UInt64
    public var treeSize: UInt64
    /// Bottom-up: the leaf's sibling first.
    public var hashes: [TreeHash]

    public init(leafIndex: UInt64, treeSize: UInt64, hashes: [TreeHash]) {
        self.leafIndex = leafIndex
        self.treeSize = treeSize
        self.hashes = hashes
    }

    /// The root this proof leads to from `leafHash` (RFC 9162 §2.1.3.2), or nil when the
    /// proof has the wrong shape for its index and size.
    public func rootHash(leafHash: TreeHash) -> TreeHash? {
        guard leafIndex < treeSize else { return nil }
        var fn = leafIndex
        var sn = treeSize - 1
        var r = leafHash
        for p in hashes {
            guard sn != 0 else { return nil }
            if fn & 1 == 1 || fn == sn {
                r = MerkleHashing.nodeHash(p, r)
                if fn & 1 == 0 {
                    repeat {
                        fn >>= 1
                        sn >>= 1
                    } while fn & 1 == 0 && fn != 0
                }
            } else {
                r = MerkleHashing.nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 ? r : nil
    }

    /// True when `leafHash` is leaf `leafIndex` of the tree of `treeSize` leaves with `root`.
    public func verify(leafHash: TreeHash, root: TreeHash) -> Bool {
        rootHash(leafHash: leafHash) == root
    }
}

/// An RFC 6962 §2.1.2 consistency proof between a tree and a later, larger one.
public struct ConsistencyProof: Sendable, Hashable {
    public var oldSize: UInt64
    public var newSize: UInt64
    public var hashes: [TreeHash]

    public init(oldSize: UInt64, newSize: UInt64, hashes: [TreeHash]) {
        self.oldSize = oldSize
        self.newSize = newSize
        self.hashes = hashes
    }

    /// True when the tree of `newSize` leaves with `newRoot` extends the tree of `oldSize`
    /// leaves with `oldRoot` (RFC 9162 §2.1.4.2). Equal sizes need equal roots and an empty
    /// proof; the empty tree is a prefix of every tree.
    public func verify(oldRoot: TreeHash, newRoot: TreeHash) -> Bool {
        guard oldSize <= newSize else { return false }
        if oldSize == newSize { return hashes.isEmpty && oldRoot == newRoot }
        if oldSize == 0 { return hashes.isEmpty }
        var path = hashes[...]
        // When the old tree is a perfect subtree, its root is the proof's implicit first node.
        var seed: TreeHash
        if oldSize & (oldSize - 1) == 0 {
            seed = oldRoot
        } else {
            guard let first = path.popFirst() else { return false }
            seed = first
        }
        var fn = oldSize - 1
        var sn = newSize - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = seed
        var sr = seed
        for c in path {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                fr = MerkleHashing.nodeHash(c, fr)
                sr = MerkleHashing.nodeHash(c, sr)
                if fn & 1 == 0 {
                    repeat {
                        fn >>= 1
                        sn >>= 1
                    } while fn & 1 == 0 && fn != 0
                }
            } else {
                sr = MerkleHashing.nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && fr == oldRoot && sr == newRoot
    }
}

/// Builds proofs and roots from a `LeafHashSource`.
///
/// A subtree's hash is computed by streaming its leaves through a compact range in chunks of
/// `chunkSize`, so memory stays flat whatever the tree size; a source that caches interior
/// nodes (`perfectSubtreeHash`) makes proofs O(log n) reads.
public struct MerkleProver<Source: LeafHashSource> {
    public let source: Source
    /// Leaves read per call to the source.
    public var chunkSize: UInt64

    public init(source: Source, chunkSize: UInt64 = 16_384) {
        self.source = source
        self.chunkSize = max(1, chunkSize)
    }

    /// RFC 6962 `PATH(m, D[n])`.
    public func inclusionProof(leafIndex: UInt64, treeSize: UInt64) throws -> InclusionProof {
        guard leafIndex < treeSize else {
            throw AuditError.invalidProof("leaf \(leafIndex) is not in a tree of size \(treeSize)")
        }
        var hashes: [TreeHash] = []
        try path(leafIndex, 0, treeSize, into: &hashes)
        return InclusionProof(leafIndex: leafIndex, treeSize: treeSize, hashes: hashes)
    }

    /// RFC 6962 `PROOF(m, D[n])`.
    public func consistencyProof(oldSize: UInt64, newSize: UInt64) throws -> ConsistencyProof {
        guard oldSize <= newSize else {
            throw AuditError.invalidProof("old size \(oldSize) is larger than new size \(newSize)")
        }
        var hashes: [TreeHash] = []
        if oldSize > 0 && oldSize < newSize {
            try subproof(oldSize, 0, newSize, complete: true, into: &hashes)
        }
        return ConsistencyProof(oldSize: oldSize, newSize: newSize, hashes: hashes)
    }

    /// The Merkle tree hash of the first `treeSize` leaves.
    public func rootHash(treeSize: UInt64) throws -> TreeHash {
        try compactRange(0..<treeSize).rootHash()
    }

    /// The compact range of `range`, e.g. the left border `[0, from)` of a sub-range export,
    /// or the right border `[to + 1, size)` up to a later checkpoint.
    public func compactRange(_ range: Range<UInt64>) throws -> CompactRange {
        var out = CompactRange(begin: range.lowerBound)
        for sub in CompactRange.subtrees(begin: range.lowerBound, end: range.upperBound) {
            let h = try subtreeHash(sub.start..<sub.start + (1 << UInt64(sub.level)))
            out.append(subtree: h, level: sub.level)
        }
        return out
    }

    // PATH(m, D[lo, hi)), bottom-up.
    private func path(_ m: UInt64, _ lo: UInt64, _ hi: UInt64, into out: inout [TreeHash]) throws {
        let n = hi - lo
        guard n > 1 else { return }
        let k = Self.largestPowerOfTwo(below: n)
        if m < k {
            try path(m, lo, lo + k, into: &out)
            out.append(try subtreeHash(lo + k..<hi))
        } else {
            try path(m - k, lo + k, hi, into: &out)
            out.append(try subtreeHash(lo..<lo + k))
        }
    }

    // SUBPROOF(m, D[lo, hi), b).
    private func subproof(_ m: UInt64, _ lo: UInt64, _ hi: UInt64, complete: Bool, into out: inout [TreeHash]) throws {
        let n = hi - lo
        if m == n {
            if !complete { out.append(try subtreeHash(lo..<hi)) }
            return
        }
        let k = Self.largestPowerOfTwo(below: n)
        if m <= k {
            try subproof(m, lo, lo + k, complete: complete, into: &out)
            out.append(try subtreeHash(lo + k..<hi))
        } else {
            try subproof(m - k, lo + k, hi, complete: false, into: &out)
            out.append(try subtreeHash(lo..<lo + k))
        }
    }

    /// MTH of the leaves in `range` (any range, not only perfect subtrees).
    func subtreeHash(_ range: Range<UInt64>) throws -> TreeHash {
        let n = range.count
        if n == 0 { return MerkleHashing.emptyRoot }
        // A perfect, aligned subtree may be cached by the source.
        if n & (n - 1) == 0, range.lowerBound % UInt64(n) == 0 {
            let level = UInt64(n).trailingZeroBitCount
            if let cached = try source.perfectSubtreeHash(level: level, index: range.lowerBound >> UInt64(level)) {
                return cached
            }
        }
        // Compute the hash of [lo, hi) as if it were a tree of its own: a compact range
        // from a zero origin over the same leaves.
        var acc = CompactRange()
        var at = range.lowerBound
        while at < range.upperBound {
            let next = min(range.upperBound, at + chunkSize)
            let leaves = try source.leafHashes(in: at..<next)
            guard leaves.count == Int(next - at) else {
                throw AuditError.malformed("leaf hash source returned \(leaves.count) hashes for \(next - at) leaves")
            }
            for leaf in leaves { acc.append(leafHash: leaf) }
            at = next
        }
        return acc.rootHash()
    }

    /// The largest power of two strictly below `n` (n > 1).
    static func largestPowerOfTwo(below n: UInt64) -> UInt64 {
        1 << UInt64(63 - (n - 1).leadingZeroBitCount)
    }
}

extension MerkleProver where Source == ClosureLeafHashSource {
    /// A prover reading leaf hashes through `body`.
    public init(chunkSize: UInt64 = 16_384, leafHashes body: @escaping (Range<UInt64>) throws -> [TreeHash]) {
        self.init(source: ClosureLeafHashSource(body), chunkSize: chunkSize)
    }
}
