import Foundation
import VigilAudit
import VigilCore
import VigilCrypto
import VigilStore

/// Micro-benchmarks that are not HTTP (those are in scripts/bench.sh). Run in release:
///
///     swift run -c release vigil-bench audit [--entries 1000000]
///
/// Prints figures of one run; compare the ratios, not the absolute times, on a shared machine.
@main
struct VigilBench {
    static func main() async throws {
        var args = Array(CommandLine.arguments.dropFirst())
        guard let command = args.first else {
            print("usage: vigil-bench audit [--entries N] [--appends N]")
            exit(2)
        }
        args.removeFirst()
        func option(_ name: String, _ fallback: Int) -> Int {
            guard let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]) else { return fallback }
            return v
        }
        switch command {
        case "audit":
            try auditVerify(entries: option("--entries", 1_000_000))
            try await auditAppend(appends: option("--appends", 20_000))
        default:
            print("unknown benchmark \(command)")
            exit(2)
        }
    }

    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        try body()
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    static func signer() throws -> NoteSigner {
        try NoteSigner(name: "vigil-bench", key: try Ed25519.SigningKey.generate())
    }

    /// Verification of an export of `entries` entries, beside a raw SHA-256 loop over the
    /// same line bytes (the leaf hashes alone) in the same run.
    static func auditVerify(entries: Int) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-bench-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let signer = try signer()
        let origin = "bench.example/audit"
        var state = AuditLogState()
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let generation = try seconds {
            let writer = try AuditExportWriter(directory: dir, origin: origin)
            for i in 0..<entries {
                let event = AuditEvent(
                    actor: .init(type: .service, id: "kmxsmy3mzxqtynwr"),
                    action: "totp.verify.succeeded",
                    target: .init(type: "subject", idHash: ByteEncoding.hex(SHA256.hash(Array("subject-\(i % 5000)".utf8)))),
                    outcome: .success,
                    requestID: "req_\(String(i, radix: 16))",
                    sourceIPHash: nil,
                    details: ["step": .integer(Int64(i))]
                )
                let appended = try state.append(event, at: start.addingTimeInterval(Double(i) / 1000))
                try writer.append(entryBytes: appended.bytes)
                if state.size % 100_000 == 0 || i == entries - 1 {
                    try writer.add(checkpoint: try state.signedCheckpoint(origin: origin, signers: [signer]))
                }
            }
            _ = try writer.finish(keys: [signer.verifierKey])
        }
        let size = (try FileManager.default.attributesOfItem(atPath: dir + "/entries.jsonl")[.size] as? Int) ?? 0

        var verifyTimes: [Double] = []
        for _ in 0..<3 {
            var result: Result<AuditVerificationSummary, AuditVerificationFailure>?
            verifyTimes.append(seconds { result = AuditExportVerifier.verify(directory: dir, keys: [signer.verifierKey]) })
            guard case .success(let summary) = result, summary.entries == UInt64(entries) else {
                print("verification failed: \(String(describing: result))")
                exit(1)
            }
        }

        // The raw loop: read the same file, SHA-256(0x00 ‖ line) for every line, nothing else.
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/entries.jsonl"))
        var rawTimes: [Double] = []
        var sink: UInt8 = 0
        for _ in 0..<3 {
            rawTimes.append(
                seconds {
                    data.withUnsafeBytes { (all: UnsafeRawBufferPointer) in
                        var lineStart = 0
                        for i in 0..<all.count where all[i] == 0x0A {
                            var h = SHA256()
                            h.update(byte: 0)
                            h.update(UnsafeRawBufferPointer(rebasing: all[lineStart..<i]))
                            sink ^= h.finalize()[0]
                            lineStart = i + 1
                        }
                    }
                }
            )
        }
        let verify = verifyTimes.min()!
        let raw = rawTimes.min()!
        print("audit export: \(entries) entries, \(size / 1_048_576) MiB entries.jsonl, generated in \(fmt(generation)) s")
        print(
            "audit verify: best of 3 \(fmt(verify)) s (\(Int(Double(entries) / verify)) entries/s); raw SHA-256 loop over the same lines: \(fmt(raw)) s; ratio verify/raw = \(fmt(verify / raw)) (sink \(sink))"
        )
    }

    /// Appends through the SQLite store: one audit entry per write transaction (the shape of
    /// every audited request), and 100 per transaction.
    static func auditAppend(appends: Int) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-bench-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteStore(
            path: dir + "/bench.sqlite",
            masterKey: try SecretBytes.random(count: 32),
            signing: AuditSigning(signers: [try signer()], origin: "bench.example/audit", everyEntries: 1000),
            clock: SystemClock()
        )
        let record = AuditRecord(
            action: "totp.verify.succeeded",
            actor: AuditActor(type: .service, id: "kmxsmy3mzxqtynwr"),
            target: .init(type: "subject", id: "deadbeef-0001"),
            requestID: "req_0123456789abcdef",
            time: Date()
        )
        let startEmpty = ContinuousClock.now
        for _ in 0..<appends {
            try await store.write { _ in }
        }
        let empty = ContinuousClock.now - startEmpty
        let startRead = ContinuousClock.now
        for _ in 0..<appends {
            try await store.read { _ in }
        }
        let read = ContinuousClock.now - startRead
        let startSingle = ContinuousClock.now
        for _ in 0..<appends {
            try await store.write { try $0.appendAudit(record) }
        }
        let single = ContinuousClock.now - startSingle
        let startBatch = ContinuousClock.now
        for _ in 0..<(appends / 100) {
            try await store.write { tx in for _ in 0..<100 { try tx.appendAudit(record) } }
        }
        let batch = ContinuousClock.now - startBatch
        let startConcurrent = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<64 {
                group.addTask {
                    for _ in 0..<(appends / 64) { try await store.write { try $0.appendAudit(record) } }
                }
            }
            try await group.waitForAll()
        }
        let concurrent = ContinuousClock.now - startConcurrent
        func s(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        print(
            "store transactions: empty write \(Int(Double(appends) / s(empty)))/s, empty read \(Int(Double(appends) / s(read)))/s"
        )
        print(
            "audit append (SQLite WAL, synchronous=NORMAL, checkpoint every 1000): one per transaction \(Int(Double(appends) / s(single)))/s; 100 per transaction \(Int(Double(appends / 100 * 100) / s(batch)))/s; 64 concurrent writers, one each (group commit) \(Int(Double(appends / 64 * 64) / s(concurrent)))/s"
        )
    }

    static func fmt(_ x: Double) -> String { String(format: "%.3f", x) }
}
