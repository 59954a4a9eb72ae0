/// `manifest.json` of an export directory (docs/audit-format.md §5).
///
/// The manifest is not signed: everything in it is either checked against a signed
/// checkpoint (the borders) or informational (counts, the keys listed). Verifiers trust the
/// keys they are given, never the keys a manifest lists.
public struct AuditExportManifest: Sendable, Hashable {
    /// The value of `format`.
    public static let formatVersion = "vigil-audit-export/1"

    /// How one signing key was used in the exported checkpoints.
    public struct KeyUse: Sendable, Hashable {
        public var key: NoteVerifierKey
        public var firstTreeSize: UInt64
        public var lastTreeSize: UInt64
        public var checkpoints: Int

        public init(key: NoteVerifierKey, firstTreeSize: UInt64, lastTreeSize: UInt64, checkpoints: Int) {
            self.key = key
            self.firstTreeSize = firstTreeSize
            self.lastTreeSize = lastTreeSize
            self.checkpoints = checkpoints
        }
    }

    public var origin: String
    public var fromSeq: UInt64
    public var toSeq: UInt64
    public var checkpointCount: Int
    /// The compact range of `[0, fromSeq)`: empty for an export from seq 0.
    public var leftBorder: CompactRange
    /// The compact range of `[toSeq + 1, size)` for the one checkpoint beyond the last
    /// exported entry, if there is one.
    public var rightBorder: CompactRange?
    public var keys: [KeyUse]

    public var entryCount: UInt64 { toSeq - fromSeq + 1 }

    public init(
        origin: String,
        fromSeq: UInt64,
        toSeq: UInt64,
        checkpointCount: Int,
        leftBorder: CompactRange,
        rightBorder: CompactRange?,
        keys: [KeyUse]
    ) {
        self.origin = origin
        self.fromSeq = fromSeq
        self.toSeq = toSeq
        self.checkpointCount = checkpointCount
        self.leftBorder = leftBorder
        self.rightBorder = rightBorder
        self.keys = keys
    }

    /// Canonical JSON (RFC 8785) of the manifest, followed by a newline.
    public func jsonBytes() -> [UInt8] {
        var members: [(String, CanonicalJSON.Value)] = [
            ("format", .string(Self.formatVersion)),
            ("origin", .string(origin)),
            ("from_seq", .integer(Int64(fromSeq))),
            ("to_seq", .integer(Int64(toSeq))),
            ("entry_count", .integer(Int64(entryCount))),
            ("checkpoint_count", .integer(Int64(checkpointCount))),
            ("left_border", .array(leftBorder.hashes.map { .string($0.hex) })),
            (
                "keys",
                .array(
                    keys.map {
                        .object([
                            ("key", .string($0.key.text)),
                            ("key_id", .string($0.key.keyID)),
                            ("first_tree_size", .integer(Int64($0.firstTreeSize))),
                            ("last_tree_size", .integer(Int64($0.lastTreeSize))),
                            ("checkpoints", .integer(Int64($0.checkpoints))),
                        ])
                    }
                )
            ),
        ]
        if let rightBorder {
            members.append(
                (
                    "right_border",
                    .object([
                        ("tree_size", .integer(Int64(rightBorder.end))),
                        ("hashes", .array(rightBorder.hashes.map { .string($0.hex) })),
                    ])
                )
            )
        }
        return CanonicalJSON.encode(.object(members)) + [0x0A]
    }

    /// Parses `manifest.json` (canonical or not: any JSON of this shape, integers only).
    public init(jsonBytes: [UInt8]) throws(AuditError) {
        var bytes = jsonBytes
        while let last = bytes.last, [0x0A, 0x0D, 0x20, 0x09].contains(last) { bytes.removeLast() }
        let root = try JSONShape(try CanonicalJSON.parse(bytes), "manifest")
        guard try root.string("format") == Self.formatVersion else {
            throw .malformed("manifest: format is not \(Self.formatVersion)")
        }
        let origin = try root.string("origin")
        let from = try root.unsigned("from_seq")
        let to = try root.unsigned("to_seq")
        guard from <= to else { throw .malformed("manifest: from_seq after to_seq") }
        guard try root.unsigned("entry_count") == to - from + 1 else { throw .malformed("manifest: entry_count") }
        let left = try root.hashes("left_border")
        guard let leftBorder = CompactRange(begin: 0, end: from, hashes: left) else {
            throw .malformed("manifest: left_border must hold the compact range of [0, from_seq)")
        }
        var rightBorder: CompactRange?
        if root.has("right_border") {
            let rb = try root.object("right_border")
            let size = try rb.unsigned("tree_size")
            guard size > to + 1, let range = CompactRange(begin: to + 1, end: size, hashes: try rb.hashes("hashes")) else {
                throw .malformed("manifest: right_border must hold the compact range of [to_seq + 1, tree_size)")
            }
            rightBorder = range
        }
        var keys: [KeyUse] = []
        for item in try root.array("keys") {
            let k = try JSONShape(item, "manifest keys[]")
            keys.append(
                KeyUse(
                    key: try NoteVerifierKey(text: try k.string("key")),
                    firstTreeSize: try k.unsigned("first_tree_size"),
                    lastTreeSize: try k.unsigned("last_tree_size"),
                    checkpoints: Int(try k.unsigned("checkpoints"))
                )
            )
        }
        self.init(
            origin: origin,
            fromSeq: from,
            toSeq: to,
            checkpointCount: Int(try root.unsigned("checkpoint_count")),
            leftBorder: leftBorder,
            rightBorder: rightBorder,
            keys: keys
        )
    }
}

/// Typed access to a parsed JSON object, with messages that name the member.
struct JSONShape {
    let members: [String: CanonicalJSON.Value]
    let context: String

    init(_ value: CanonicalJSON.Value, _ context: String) throws(AuditError) {
        guard case .object(let list) = value else { throw .malformed("\(context): not an object") }
        var m = [String: CanonicalJSON.Value]()
        for (k, v) in list { m[k] = v }
        self.members = m
        self.context = context
    }

    func has(_ key: String) -> Bool { members[key] != nil }

    func string(_ key: String) throws(AuditError) -> String {
        guard case .string(let s)? = members[key] else { throw .malformed("\(context): \(key) must be a string") }
        return s
    }

    func unsigned(_ key: String) throws(AuditError) -> UInt64 {
        guard case .integer(let n)? = members[key], n >= 0 else { throw .malformed("\(context): \(key) must be a non-negative integer") }
        return UInt64(n)
    }

    func array(_ key: String) throws(AuditError) -> [CanonicalJSON.Value] {
        guard case .array(let items)? = members[key] else { throw .malformed("\(context): \(key) must be an array") }
        return items
    }

    func object(_ key: String) throws(AuditError) -> JSONShape {
        guard let v = members[key] else { throw .malformed("\(context): \(key) is missing") }
        return try JSONShape(v, "\(context).\(key)")
    }

    func hashes(_ key: String) throws(AuditError) -> [TreeHash] {
        var out: [TreeHash] = []
        for item in try array(key) {
            guard case .string(let s) = item, s.utf8.count == 64, let h = TreeHash(hex: s), h.hex == s else {
                throw .malformed("\(context): \(key) must hold lowercase hex SHA-256 hashes")
            }
            out.append(h)
        }
        return out
    }
}
