/// A C2SP `tlog-checkpoint` (https://c2sp.org/tlog-checkpoint): the log's origin, its size
/// and its root, as the body of a signed note.
///
/// Body: `<origin>\n<size in decimal>\n<base64 of the 32-byte root>\n`, then optional
/// extension lines (kept, never produced by Vigil).
public struct Checkpoint: Sendable, Hashable {
    /// Names the log, e.g. `vigil.audit/<deployment>`.
    public var origin: String
    public var size: UInt64
    public var rootHash: TreeHash
    public var extensionLines: [String]

    public init(origin: String, size: UInt64, rootHash: TreeHash, extensionLines: [String] = []) throws(AuditError) {
        guard !origin.isEmpty, SignedNote.isValidText(origin + "\n"), !origin.contains("\n") else { throw .malformed("checkpoint origin") }
        guard extensionLines.allSatisfy({ !$0.isEmpty && !$0.contains("\n") && SignedNote.isValidText($0 + "\n") }) else {
            throw .malformed("checkpoint extension line")
        }
        self.origin = origin
        self.size = size
        self.rootHash = rootHash
        self.extensionLines = extensionLines
    }

    /// The note text that is signed.
    public var body: String {
        ([origin, String(size), rootHash.base64] + extensionLines).map { $0 + "\n" }.joined()
    }

    /// Parses a checkpoint body.
    public init(body: String) throws(AuditError) {
        guard SignedNote.isValidText(body) else { throw .malformed("checkpoint: not a note text") }
        let lines = body.dropLast().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count >= 3 else { throw .malformed("checkpoint: fewer than three lines") }
        let sizeText = lines[1]
        guard !sizeText.isEmpty, sizeText.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            sizeText == "0" || !sizeText.hasPrefix("0"), let size = UInt64(sizeText)
        else { throw .malformed("checkpoint: tree size") }
        guard let raw = strictBase64(lines[2]), let root = TreeHash(bytes: raw) else { throw .malformed("checkpoint: root hash") }
        try self.init(origin: lines[0], size: size, rootHash: root, extensionLines: Array(lines[3...]))
    }
}

/// A checkpoint with its signatures.
public struct SignedCheckpoint: Sendable, Hashable {
    public let checkpoint: Checkpoint
    public let note: SignedNote

    /// Signs `checkpoint` with each signer (usually one; two during a key rotation).
    public init(signing checkpoint: Checkpoint, with signers: [NoteSigner]) throws(AuditError) {
        self.checkpoint = checkpoint
        self.note = try SignedNote.sign(text: checkpoint.body, signers: signers)
    }

    /// Parses a signed checkpoint note (signatures are not checked here: see `verify`).
    public init(parsing text: String) throws(AuditError) {
        let note = try SignedNote(parsing: text)
        self.checkpoint = try Checkpoint(body: note.text)
        self.note = note
    }

    /// The signed note text, as stored and exported.
    public var text: String { note.serialized }

    /// Checks the signatures against trusted keys.
    public func verify(keys: [NoteVerifierKey]) -> NoteVerification {
        note.verify(keys: keys)
    }
}
