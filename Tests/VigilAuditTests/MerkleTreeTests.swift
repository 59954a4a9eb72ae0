import Testing
import VigilAudit

@Suite("RFC 6962 Merkle tree")
struct MerkleTreeTests {
    let vectors: [String: Any]
    let leafData: [[UInt8]]

    init() throws {
        vectors = try loadVector("rfc6962")
        leafData = (vectors["leaves"] as! [String]).map { hex in
            stride(from: 0, to: hex.count, by: 2).map { i in
                UInt8(hex[hex.index(hex.startIndex, offsetBy: i)..<hex.index(hex.startIndex, offsetBy: i + 2)], radix: 16)!
            }
        }
    }

    var leafHashes: [TreeHash] { leafData.map { MerkleHashing.leafHash($0) } }

    func prover(_ leaves: [TreeHash], chunkSize: UInt64 = 3) -> MerkleProver<ClosureLeafHashSource> {
        MerkleProver(chunkSize: chunkSize) { range in Array(leaves[Int(range.lowerBound)..<Int(range.upperBound)]) }
    }

    @Test func `the empty tree's root is SHA-256 of nothing`() {
        #expect(CompactRange().rootHash() == hash(vectors["empty_root"] as! String))
        #expect(MerkleHashing.emptyRoot.hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func `roots for sizes 1 to 8 match the CT test data`() throws {
        var range = CompactRange()
        for (i, data) in leafData.enumerated() {
            range.append(entryBytes: data)
            let expected = (vectors["roots"] as! [[String: Any]])[i]
            #expect(range.end == UInt64(expected["tree_size"] as! Int))
            #expect(range.rootHash() == hash(expected["root"] as! String))
            #expect(try prover(leafHashes).rootHash(treeSize: UInt64(i + 1)) == range.rootHash())
        }
        #expect(range.rootHash().hex == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
    }

    @Test func `inclusion proofs match the vectors and verify, and tampered ones fail`() throws {
        let leaves = leafHashes
        let roots = (vectors["roots"] as! [[String: Any]]).map { hash($0["root"] as! String) }
        for v in vectors["inclusion"] as! [[String: Any]] {
            let index = UInt64(v["leaf_index"] as! Int)
            let size = UInt64(v["tree_size"] as! Int)
            let path = (v["path"] as! [String]).map(hash)
            let proof = try prover(leaves).inclusionProof(leafIndex: index, treeSize: size)
            #expect(proof.hashes == path, "PATH(\(index), \(size))")
            let root = roots[Int(size) - 1]
            #expect(proof.verify(leafHash: leaves[Int(index)], root: root))
            for tampered in tamperings(of: proof) {
                #expect(!tampered.verify(leafHash: leaves[Int(index)], root: root), "tampered PATH(\(index), \(size))")
            }
            #expect(!proof.verify(leafHash: MerkleHashing.leafHash([0x42]), root: root))
            #expect(!proof.verify(leafHash: leaves[Int(index)], root: MerkleHashing.emptyRoot))
        }
    }

    @Test func `consistency proofs match the vectors and verify, and tampered ones fail`() throws {
        let leaves = leafHashes
        let roots = [MerkleHashing.emptyRoot] + (vectors["roots"] as! [[String: Any]]).map { hash($0["root"] as! String) }
        for v in vectors["consistency"] as! [[String: Any]] {
            let m = UInt64(v["old_size"] as! Int)
            let n = UInt64(v["new_size"] as! Int)
            let proof = try prover(leaves).consistencyProof(oldSize: m, newSize: n)
            #expect(proof.hashes == (v["path"] as! [String]).map(hash), "PROOF(\(m), \(n))")
            #expect(proof.verify(oldRoot: roots[Int(m)], newRoot: roots[Int(n)]))
            guard m > 0, m < n else { continue }
            #expect(!proof.verify(oldRoot: roots[Int(m) - 1], newRoot: roots[Int(n)]))
            #expect(!proof.verify(oldRoot: roots[Int(m)], newRoot: roots[Int(n) - 1]))
            for tampered in tamperings(of: proof) {
                #expect(!tampered.verify(oldRoot: roots[Int(m)], newRoot: roots[Int(n)]), "tampered PROOF(\(m), \(n))")
            }
        }
    }

    @Test func `proofs with impossible sizes are refused`() throws {
        let p = prover(leafHashes)
        #expect(throws: AuditError.self) { try p.inclusionProof(leafIndex: 3, treeSize: 3) }
        #expect(throws: AuditError.self) { try p.consistencyProof(oldSize: 4, newSize: 3) }
        #expect(!InclusionProof(leafIndex: 0, treeSize: 0, hashes: []).verify(leafHash: leafHashes[0], root: leafHashes[0]))
        #expect(InclusionProof(leafIndex: 0, treeSize: 1, hashes: []).verify(leafHash: leafHashes[0], root: leafHashes[0]))
        #expect(!ConsistencyProof(oldSize: 2, newSize: 1, hashes: []).verify(oldRoot: leafHashes[0], newRoot: leafHashes[0]))
    }

    @Test func `every proof in random trees verifies, and any altered hash fails`() throws {
        var rng = SeededGenerator(seed: 0x1234_5678)
        let sizes: [UInt64] = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33] + (0..<6).map { _ in UInt64.random(in: 34...200, using: &rng) }
        for n in sizes {
            let leaves = (0..<n).map { i in MerkleHashing.leafHash(Array("leaf \(i) of \(n)".utf8)) }
            let p = prover(leaves, chunkSize: 5)
            var tree = CompactRange()
            var roots = [tree.rootHash()]
            for leaf in leaves {
                tree.append(leafHash: leaf)
                roots.append(tree.rootHash())
            }
            #expect(try p.rootHash(treeSize: n) == roots[Int(n)])
            for i in 0..<n {
                let proof = try p.inclusionProof(leafIndex: i, treeSize: n)
                #expect(proof.verify(leafHash: leaves[Int(i)], root: roots[Int(n)]))
                if i % 5 == 0 {
                    for t in tamperings(of: proof) { #expect(!t.verify(leafHash: leaves[Int(i)], root: roots[Int(n)])) }
                }
            }
            for m in 0...n where n <= 40 || m % 9 == 0 || m == n - 1 {
                let proof = try p.consistencyProof(oldSize: m, newSize: n)
                #expect(proof.verify(oldRoot: roots[Int(m)], newRoot: roots[Int(n)]), "PROOF(\(m), \(n))")
                for t in tamperings(of: proof) { #expect(!t.verify(oldRoot: roots[Int(m)], newRoot: roots[Int(n)])) }
            }
        }
    }

    @Test func `a compact range survives serialisation and merges with its neighbour`() throws {
        let leaves = (0..<100).map { i in MerkleHashing.leafHash(Array("x\(i)".utf8)) }
        let p = prover(leaves, chunkSize: 8)
        for split in [0, 1, 37, 64, 99, 100] as [UInt64] {
            for end in [split, min(100, split + 1), 100] {
                var left = try p.compactRange(0..<split)
                let right = try p.compactRange(split..<end)
                #expect(CompactRange(serialized: left.serialized()) == left)
                #expect(CompactRange(serialized: right.serialized()) == right)
                try left.append(contentsOf: right)
                #expect(left.rootHash() == (try p.rootHash(treeSize: end)))
            }
        }
        var bytes = try p.compactRange(0..<37).serialized()
        bytes.removeLast(32)
        #expect(CompactRange(serialized: bytes) == nil)
        #expect(CompactRange(serialized: Array("VCR2".utf8) + bytes.dropFirst(4)) == nil)
        var range = try p.compactRange(0..<37)
        #expect(throws: AuditError.self) { try range.append(contentsOf: p.compactRange(38..<40)) }
        #expect(range.hashes.count == 3)  // 37 = 32 + 4 + 1
    }

    @Test func `a leaf cannot pass for a node`() {
        let a = MerkleHashing.leafHash([1])
        let b = MerkleHashing.leafHash([2])
        #expect(MerkleHashing.nodeHash(a, b) != MerkleHashing.leafHash(a.bytes + b.bytes))
    }

    @Test func `a source that caches subtrees is used`() throws {
        final class Counting: LeafHashSource, @unchecked Sendable {
            let leaves: [TreeHash]
            var leafReads = 0
            init(_ leaves: [TreeHash]) { self.leaves = leaves }
            func leafHashes(in range: Range<UInt64>) throws -> [TreeHash] {
                leafReads += range.count
                return Array(leaves[Int(range.lowerBound)..<Int(range.upperBound)])
            }
            func perfectSubtreeHash(level: Int, index: UInt64) throws -> TreeHash? {
                guard level >= 2 else { return nil }
                var r = CompactRange()
                for l in leaves[Int(index << UInt64(level))..<Int((index + 1) << UInt64(level))] { r.append(leafHash: l) }
                return r.rootHash()
            }
        }
        let leaves = (0..<64).map { i in MerkleHashing.leafHash(Array("c\(i)".utf8)) }
        let source = Counting(leaves)
        let proof = try MerkleProver(source: source).inclusionProof(leafIndex: 5, treeSize: 64)
        #expect(proof == (try prover(leaves).inclusionProof(leafIndex: 5, treeSize: 64)))
        #expect(source.leafReads <= 4)
    }
}

/// Variants of a proof that must not verify: each hash with one bit flipped, a hash
/// dropped, added at either end, and wrong sizes.
func tamperings(of proof: InclusionProof) -> [InclusionProof] {
    var out: [InclusionProof] = []
    for i in proof.hashes.indices {
        var p = proof
        p.hashes[i] = flipped(p.hashes[i])
        out.append(p)
    }
    var p = proof
    if !p.hashes.isEmpty {
        p.hashes.removeLast()
        out.append(p)
    }
    out.append(InclusionProof(leafIndex: proof.leafIndex, treeSize: proof.treeSize, hashes: proof.hashes + [MerkleHashing.emptyRoot]))
    out.append(InclusionProof(leafIndex: proof.leafIndex, treeSize: proof.treeSize, hashes: [MerkleHashing.emptyRoot] + proof.hashes))
    out.append(InclusionProof(leafIndex: proof.leafIndex, treeSize: proof.treeSize * 2, hashes: proof.hashes))
    out.append(InclusionProof(leafIndex: proof.leafIndex, treeSize: proof.treeSize / 2, hashes: proof.hashes))
    if proof.treeSize > 1 {
        out.append(InclusionProof(leafIndex: proof.leafIndex ^ 1, treeSize: proof.treeSize, hashes: proof.hashes))
    }
    return out
}

func tamperings(of proof: ConsistencyProof) -> [ConsistencyProof] {
    var out: [ConsistencyProof] = []
    for i in proof.hashes.indices {
        var p = proof
        p.hashes[i] = flipped(p.hashes[i])
        out.append(p)
    }
    if !proof.hashes.isEmpty {
        out.append(ConsistencyProof(oldSize: proof.oldSize, newSize: proof.newSize, hashes: Array(proof.hashes.dropLast())))
        out.append(ConsistencyProof(oldSize: proof.oldSize, newSize: proof.newSize, hashes: proof.hashes + [MerkleHashing.emptyRoot]))
        out.append(ConsistencyProof(oldSize: proof.oldSize, newSize: proof.newSize, hashes: [MerkleHashing.emptyRoot] + proof.hashes))
        // Wrong sizes as in transparency-dev/merkle's tests (not size ± 1: a proof for n leaves
        // can also be shaped like one for n + 1, binding the same prefix).
        out.append(ConsistencyProof(oldSize: proof.oldSize, newSize: proof.newSize * 2, hashes: proof.hashes))
        out.append(ConsistencyProof(oldSize: proof.oldSize, newSize: proof.newSize / 2, hashes: proof.hashes))
        out.append(ConsistencyProof(oldSize: proof.oldSize - 1, newSize: proof.newSize, hashes: proof.hashes))
    }
    return out
}

func flipped(_ h: TreeHash) -> TreeHash {
    var b = h.bytes
    b[0] ^= 0x10
    return TreeHash(bytes: b)!
}
