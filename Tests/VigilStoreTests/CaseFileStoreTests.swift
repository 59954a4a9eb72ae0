import Foundation
import Testing
import VigilAudit
import VigilCore
import VigilCrypto
import VigilTestSupport

@testable import VigilStore

@Suite("Case file evidence in the store")
struct CaseFileStoreTests {
    @Test("proofs for a case file match the plain prover and the checkpoint, across remembered subtrees of 1024 leaves and more")
    func proofsAcrossSubtrees() async throws {
        let dir = try TemporaryDirectory()
        let clock = TestClock()
        let store = try SQLiteStore(
            path: dir.file("vigil.sqlite"),
            masterKey: Fixtures.masterKey(),
            signing: AuditSigning(signers: [Fixtures.auditSigner()], origin: Fixtures.auditOrigin, everyEntries: 1000),
            clock: clock
        )
        let now = clock.now()
        try await store.write { tx in
            for i in 0..<3_000 {
                try tx.appendAudit(AuditRecord(action: "test.event", actor: .cli("test"), details: ["n": .int(Int64(i))], time: now))
            }
            try tx.signAuditCheckpoint(at: now)
        }
        let seqs: [UInt64] = [0, 1, 1_023, 1_024, 2_047, 2_048, 2_500, 2_999, 3_000]
        let (checkpoint, entries) = try await store.read { tx in
            let cp = try #require(try tx.latestAuditCheckpoint())
            return (cp, try tx.auditEntries(seqs: seqs, provenIn: cp.checkpoint.size))
        }
        #expect(checkpoint.checkpoint.size == 3_001)
        #expect(entries.map(\.seq) == seqs)
        for e in entries {
            let proof = InclusionProof(leafIndex: e.seq, treeSize: checkpoint.checkpoint.size, hashes: e.inclusionPath)
            #expect(proof.verify(leafHash: MerkleHashing.leafHash(e.bytes), root: checkpoint.checkpoint.rootHash), "seq \(e.seq)")
            #expect(try await store.proveAudit(seq: e.seq).proof.hashes == e.inclusionPath, "seq \(e.seq)")
        }
        await #expect(throws: AuditError.self) {
            try await store.read { tx in try tx.auditEntries(seqs: [3_001], provenIn: 3_001) }
        }
        // The file is signed by the key that signs checkpoints.
        let signed = try await store.read { tx in
            try tx.signCaseFile(
                CaseFile(
                    generatedAt: Timestamp.format(now),
                    record: .init(
                        id: "case_1",
                        channel: "api",
                        category: "other",
                        priority: "P3",
                        status: "open",
                        triageRules: [],
                        assignee: nil,
                        openedAt: Timestamp.format(now),
                        firstResponseDue: Timestamp.format(now),
                        resolutionDue: Timestamp.format(now),
                        firstResponseAt: nil,
                        closedAt: nil,
                        resolution: nil,
                        csatScore: nil,
                        targetHash: nil
                    ),
                    verifications: [],
                    actions: [],
                    checkpoint: checkpoint,
                    entries: [entries[0]]
                )
            )
        }
        #expect(signed.signatures.map(\.keyID) == [Fixtures.auditSigner().verifierKey.keyID])
        #expect(Fixtures.auditSigner().verifierKey.publicKey.isValidSignature(signed.signatures[0].signature, for: try signed.signedMessage()))
    }
}
