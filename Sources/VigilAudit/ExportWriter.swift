/// The files of an export directory (docs/audit-format.md §5).
public enum AuditExportFiles {
    /// One entry per line, each line exactly the entry's canonical bytes.
    public static let entries = "entries.jsonl"
    /// One lowercase hex leaf hash per line, line i for the entry on line i.
    public static let leafHashes = "leaf-hashes.txt"
    /// Signed checkpoint notes in increasing tree size, separated by one blank line.
    public static let checkpoints = "checkpoints.txt"
    /// The manifest.
    public static let manifest = "manifest.json"

    /// Joins signed checkpoints into the text of `checkpoints.txt`.
    public static func checkpointsText(_ checkpoints: [SignedCheckpoint]) -> String {
        checkpoints.map(\.text).joined(separator: "\n")
    }

    /// Splits the text of `checkpoints.txt` into signed checkpoints (signatures unchecked).
    public static func parseCheckpoints(_ text: String) throws(AuditError) -> [SignedCheckpoint] {
        if text.isEmpty { return [] }
        guard text.hasSuffix("\n") else { throw .malformed("\(checkpoints): does not end in a newline") }
        let blocks = text.dropLast().split(separator: "\n\n", omittingEmptySubsequences: false)
        guard blocks.count % 2 == 0 else { throw .malformed("\(checkpoints): a note without signatures") }
        var out: [SignedCheckpoint] = []
        var i = 0
        while i < blocks.count {
            out.append(try SignedCheckpoint(parsing: blocks[i] + "\n\n" + blocks[i + 1] + "\n"))
            i += 2
        }
        return out
    }
}

/// Writes an export directory as entries stream in from the store.
///
/// Usage: `init` with the left border (the compact range of `[0, from)`, empty to export
/// from seq 0), `append(entryBytes:)` for each entry in seq order (the stored canonical bytes,
/// verbatim), `add(checkpoint:)` for each checkpoint whose size lies in `[from, to + 1]` plus
/// optionally one beyond, then `finish`. Files are created new (never overwritten).
public final class AuditExportWriter {
    public let directory: String
    public let origin: String
    private let leftBorder: CompactRange
    private let entriesFile: BufferedWriter
    private let leavesFile: BufferedWriter
    private var nextSeq: UInt64
    private var checkpoints: [SignedCheckpoint] = []
    private var finished = false

    public init(directory: String, origin: String, leftBorder: CompactRange = CompactRange()) throws(AuditError) {
        guard leftBorder.begin == 0 else { throw .malformed("left border must start at leaf 0") }
        try makeDirectory(directory)
        self.directory = directory
        self.origin = origin
        self.leftBorder = leftBorder
        self.nextSeq = leftBorder.end
        self.entriesFile = try BufferedWriter(path: directory + "/" + AuditExportFiles.entries)
        self.leavesFile = try BufferedWriter(path: directory + "/" + AuditExportFiles.leafHashes)
    }

    /// Appends the next entry: its canonical bytes, exactly as stored.
    public func append(entryBytes: [UInt8]) throws(AuditError) {
        let seq = entryBytes.withUnsafeBytes { EntryScan.seq(in: $0) }
        guard seq == nextSeq else { throw .malformed("entry seq \(seq.map(String.init) ?? "missing"), expected \(nextSeq)") }
        guard !entryBytes.contains(0x0A) else { throw .malformed("entry \(nextSeq) contains a newline") }
        try entriesFile.write(entryBytes)
        try entriesFile.write(CollectionOfOne(0x0A))
        try leavesFile.write(MerkleHashing.leafHash(entryBytes).hex.utf8)
        try leavesFile.write(CollectionOfOne(0x0A))
        nextSeq += 1
    }

    /// Adds a signed checkpoint (any order; they are sorted by size).
    public func add(checkpoint: SignedCheckpoint) throws(AuditError) {
        guard checkpoint.checkpoint.origin == origin else { throw .malformed("checkpoint origin \(checkpoint.checkpoint.origin)") }
        checkpoints.append(checkpoint)
    }

    /// Writes `checkpoints.txt` and `manifest.json` and closes the files.
    ///
    /// - Parameters:
    ///   - rightBorder: the compact range of `[to + 1, size)` when one checkpoint has a size
    ///     beyond the last exported entry.
    ///   - keys: the verifier keys to list in the manifest (those that signed a checkpoint).
    public func finish(rightBorder: CompactRange? = nil, keys: [NoteVerifierKey]) throws(AuditError) -> AuditExportManifest {
        guard !finished else { throw .malformed("export already finished") }
        finished = true
        let from = leftBorder.end
        guard nextSeq > from else { throw .malformed("an export holds at least one entry") }
        let to = nextSeq - 1
        let sorted = checkpoints.sorted { $0.checkpoint.size < $1.checkpoint.size }
        guard sorted.allSatisfy({ $0.checkpoint.size >= from }) else { throw .malformed("a checkpoint is older than the first exported entry") }
        let beyond = sorted.filter { $0.checkpoint.size > to + 1 }
        guard beyond.count <= 1 else { throw .malformed("more than one checkpoint beyond the last exported entry") }
        if let b = beyond.first {
            guard let rightBorder, rightBorder.begin == to + 1, rightBorder.end == b.checkpoint.size else {
                throw .malformed("the checkpoint beyond the last entry needs the right border [\(to + 1), \(b.checkpoint.size))")
            }
        } else if rightBorder != nil {
            throw .malformed("a right border without a checkpoint beyond the last entry")
        }

        var uses: [AuditExportManifest.KeyUse] = []
        for key in keys {
            let signed = sorted.filter { c in c.note.signatures.contains { $0.name == key.name && $0.keyHash == key.keyHash } }
            guard let first = signed.first, let last = signed.last else { continue }
            uses.append(.init(key: key, firstTreeSize: first.checkpoint.size, lastTreeSize: last.checkpoint.size, checkpoints: signed.count))
        }
        let manifest = AuditExportManifest(
            origin: origin,
            fromSeq: from,
            toSeq: to,
            checkpointCount: sorted.count,
            leftBorder: leftBorder,
            rightBorder: rightBorder,
            keys: uses
        )
        try entriesFile.close()
        try leavesFile.close()
        try writeSmallFile(directory + "/" + AuditExportFiles.checkpoints, Array(AuditExportFiles.checkpointsText(sorted).utf8))
        try writeSmallFile(directory + "/" + AuditExportFiles.manifest, manifest.jsonBytes())
        return manifest
    }
}

/// Cheap reads of canonical entry bytes on the verification hot path.
enum EntryScan {
    /// The top-level `seq` of a canonical entry, without parsing it: the value after the
    /// last `"seq":`. In canonical form only `source_ip_hash`, `target` and `time` (strings
    /// and a fixed-shape object) follow `seq`, and a `"seq":` inside a string would have its
    /// quotes escaped, so the last occurrence is the top-level member.
    static func seq(in line: UnsafeRawBufferPointer) -> UInt64? {
        let n = line.count
        guard n >= 8, line[0] == UInt8(ascii: "{"), line[n - 1] == UInt8(ascii: "}") else { return nil }
        var i = n - 6
        while i >= 1 {
            if line[i] == UInt8(ascii: "\"") && line[i + 1] == UInt8(ascii: "s") && line[i + 2] == UInt8(ascii: "e")
                && line[i + 3] == UInt8(ascii: "q") && line[i + 4] == UInt8(ascii: "\"") && line[i + 5] == UInt8(ascii: ":")
            {
                var j = i + 6
                var v: UInt64 = 0
                let digitsStart = j
                while j < n, line[j] >= UInt8(ascii: "0"), line[j] <= UInt8(ascii: "9"), j - digitsStart < 16 {
                    v = v * 10 + UInt64(line[j] - UInt8(ascii: "0"))
                    j += 1
                }
                guard j > digitsStart, j < n, line[j] == UInt8(ascii: ",") || line[j] == UInt8(ascii: "}") else { return nil }
                guard line[digitsStart] != UInt8(ascii: "0") || j == digitsStart + 1 else { return nil }
                return v
            }
            i -= 1
        }
        return nil
    }
}
