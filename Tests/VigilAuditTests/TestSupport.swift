import Foundation
import VigilAudit
import VigilCrypto

/// Loads a JSON vector file shipped in `Vectors/`.
func loadVector(_ name: String) throws -> [String: Any] {
    guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Vectors") else {
        throw VectorError.missing(name)
    }
    guard let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] else {
        throw VectorError.missing(name)
    }
    return object
}

enum VectorError: Error {
    case missing(String)
}

func hash(_ hex: String) -> TreeHash { TreeHash(hex: hex)! }

/// A signing key from a memorable fixed seed.
func fixedKey(_ byte: UInt8) throws -> Ed25519.SigningKey {
    try Ed25519.SigningKey(seed: SecretBytes(copying: [UInt8](repeating: byte, count: 32)))
}

/// A fresh empty directory under the system temporary directory.
func temporaryDirectory() throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-audit-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url.path
}

/// Deterministic pseudo-random numbers for property tests (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// An in-memory audit log, as the store will keep it: entry bytes, leaf hashes, the compact
/// range, and signed checkpoints.
struct TestLog {
    let origin = "vigil.audit/test"
    let signer: NoteSigner
    var entries: [[UInt8]] = []
    var leaves: [TreeHash] = []
    var tree = CompactRange()
    var checkpoints: [SignedCheckpoint] = []

    init(signer: NoteSigner? = nil) throws {
        self.signer = try signer ?? NoteSigner(name: "vigil.audit/test", key: fixedKey(7))
    }

    /// Appends `count` varied entries.
    mutating func append(_ count: Int, start: Date = Date(timeIntervalSince1970: 1_795_801_000)) throws {
        let actions = ["subject.created", "totp.verify.failed", "password.reset.started", "case.assigned"]
        for _ in 0..<count {
            let seq = tree.end
            let event = AuditEvent(
                actor: .init(type: seq % 3 == 0 ? .agent : .service, id: "key_\(seq % 5)"),
                action: actions[Int(seq % 4)],
                target: .init(type: "subject", idHash: String(repeating: "ab", count: 16)),
                outcome: seq % 7 == 0 ? .denied : .success,
                requestID: seq % 2 == 0 ? "req-\(seq)" : nil,
                sourceIPHash: seq % 3 == 1 ? "ip-\(seq)" : nil,
                details: ["attempt": .integer(Int64(seq % 4)), "channel": "api", "seq": .string("decoy \"seq\":\(seq + 1)")]
            )
            let entry = try AuditEntry(seq: seq, date: start.addingTimeInterval(Double(seq) * 0.25), event: event)
            let bytes = entry.canonicalBytes()
            entries.append(bytes)
            leaves.append(tree.append(entryBytes: bytes))
        }
    }

    /// Signs a checkpoint for the current size.
    @discardableResult
    mutating func checkpoint(signers: [NoteSigner]? = nil) throws -> SignedCheckpoint {
        let cp = try Checkpoint(origin: origin, size: tree.end, rootHash: tree.rootHash())
        let signed = try SignedCheckpoint(signing: cp, with: signers ?? [signer])
        checkpoints.append(signed)
        return signed
    }

    var prover: MerkleProver<ClosureLeafHashSource> {
        let leaves = self.leaves
        return MerkleProver(chunkSize: 7) { range in Array(leaves[Int(range.lowerBound)..<Int(range.upperBound)]) }
    }

    /// Exports `[from, to]` with the checkpoints in `[from, to + 1]` and the first one beyond.
    @discardableResult
    func export(to directory: String, from: UInt64 = 0, to last: UInt64? = nil, keys: [NoteVerifierKey]? = nil) throws -> AuditExportManifest {
        let to = last ?? UInt64(entries.count - 1)
        let writer = try AuditExportWriter(directory: directory, origin: origin, leftBorder: try prover.compactRange(0..<from))
        for seq in from...to { try writer.append(entryBytes: entries[Int(seq)]) }
        var rightBorder: CompactRange?
        for c in checkpoints where c.checkpoint.size >= from {
            if c.checkpoint.size <= to + 1 {
                try writer.add(checkpoint: c)
            } else if rightBorder == nil {
                rightBorder = try prover.compactRange(to + 1..<c.checkpoint.size)
                try writer.add(checkpoint: c)
            }
        }
        return try writer.finish(rightBorder: rightBorder, keys: keys ?? [signer.verifierKey])
    }
}

/// Export files as lines, to tamper with in tests.
struct ExportFiles {
    let directory: String

    func lines(_ name: String) throws -> [[UInt8]] {
        let data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: directory + "/" + name)))
        return data.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast().map(Array.init)
    }

    func write(_ name: String, lines: [[UInt8]]) throws {
        var out: [UInt8] = []
        for l in lines { out += l + [0x0A] }
        try Data(out).write(to: URL(fileURLWithPath: directory + "/" + name))
    }

    func text(_ name: String) throws -> String {
        try String(contentsOfFile: directory + "/" + name, encoding: .utf8)
    }

    func write(_ name: String, text: String) throws {
        try text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
    }
}

/// Runs a program and returns its exit status and combined output.
func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [executable] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// True when `python3` runs and can import `modules`.
func pythonAvailable(importing modules: [String] = []) -> Bool {
    let code = (["import sys"] + modules.map { "import \($0)" }).joined(separator: "; ")
    return (try? run("python3", ["-c", code]).status) == 0
}

/// The repository root (this file is Tests/VigilAuditTests/TestSupport.swift).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
