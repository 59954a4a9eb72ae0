import Foundation

/// One audit log entry: leaf `seq` of the log's Merkle tree.
///
/// Rules (docs/audit-format.md §1):
/// - `seq` is the leaf index: the first entry is 0 and each next entry is one more;
/// - `time` is UTC RFC 3339 with milliseconds (`2026-11-27T17:36:27.123Z`), made from a date
///   the caller passes in: this module never reads the clock;
/// - identifiers of people never appear: `actor.id` is an API-key, agent or service id, and
///   the target and source address are keyed hashes the caller computes;
/// - the canonical bytes (RFC 8785 JSON, `canonicalBytes()`) are produced once at append time
///   and stored verbatim; verifiers hash the stored bytes and never re-serialise.
public struct AuditEntry: Sendable, Hashable {
    /// Who acted.
    public struct Actor: Sendable, Hashable {
        public enum Kind: String, Sendable, Hashable, CaseIterable {
            /// A service client (the wallet backend), by API-key id.
            case service
            /// A support agent, by agent id.
            case agent
            /// Vigil itself (start-up, scheduled jobs).
            case system
        }

        public var type: Kind
        public var id: String

        public init(type: Kind, id: String) {
            self.type = type
            self.id = id
        }
    }

    /// What was acted on: a type and a keyed hash of its identifier.
    public struct Target: Sendable, Hashable {
        /// Lowercase snake case, e.g. `subject`, `case`, `api_key`.
        public var type: String
        /// The keyed hash of the identifier, computed by the caller (e.g. hex of `KeyedHasher`).
        public var idHash: String

        public init(type: String, idHash: String) {
            self.type = type
            self.idHash = idHash
        }
    }

    /// How it ended. Lowercase snake case; the usual values are constants.
    public struct Outcome: RawRepresentable, Sendable, Hashable, ExpressibleByStringLiteral {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(stringLiteral value: String) { self.rawValue = value }

        public static let success: Outcome = "success"
        public static let failure: Outcome = "failure"
        public static let denied: Outcome = "denied"
    }

    /// A value in `details`: a string or an integer (no floats, so that the encoding is exact).
    public enum DetailValue: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
        case string(String)
        case integer(Int64)

        public init(stringLiteral value: String) { self = .string(value) }
        public init(integerLiteral value: Int64) { self = .integer(value) }
    }

    public var seq: UInt64
    /// UTC, RFC 3339 with exactly three fractional digits and `Z`.
    public var time: String
    public var actor: Actor
    /// Dotted lowercase segments, e.g. `subject.created`, `totp.verify.failed`.
    public var action: String
    /// Absent for events about no particular object (e.g. `policy.loaded`).
    public var target: Target?
    public var outcome: Outcome
    public var requestID: String?
    public var sourceIPHash: String?
    /// A flat map; names are lowercase snake case.
    public var details: [String: DetailValue]

    /// A checked entry. `time` must already be in the audit format (see `AuditTime.format`).
    public init(
        seq: UInt64,
        time: String,
        actor: Actor,
        action: String,
        target: Target?,
        outcome: Outcome,
        requestID: String? = nil,
        sourceIPHash: String? = nil,
        details: [String: DetailValue] = [:]
    ) throws(AuditError) {
        self.seq = seq
        self.time = time
        self.actor = actor
        self.action = action
        self.target = target
        self.outcome = outcome
        self.requestID = requestID
        self.sourceIPHash = sourceIPHash
        self.details = details
        try validateFields()
        try Self.checkSize(canonicalBytes())
    }

    /// The entry for `event`, recorded as leaf `seq` at `date` (from the injected clock).
    public init(seq: UInt64, date: Date, event: AuditEvent) throws(AuditError) {
        self = try Self.encoded(seq: seq, date: date, event: event).entry
    }

    /// The entry for `event` and its canonical bytes, encoded once (the initialisers encode to
    /// check the size, and `canonicalBytes()` would encode again): what an append needs.
    static func encoded(seq: UInt64, date: Date, event: AuditEvent) throws(AuditError) -> (entry: AuditEntry, bytes: [UInt8]) {
        let entry = AuditEntry(
            unchecked: seq,
            time: AuditTime.format(date),
            actor: event.actor,
            action: event.action,
            target: event.target,
            outcome: event.outcome,
            requestID: event.requestID,
            sourceIPHash: event.sourceIPHash,
            details: event.details
        )
        try entry.validateFields()
        let bytes = entry.canonicalBytes()
        try checkSize(bytes)
        return (entry, bytes)
    }

    private init(
        unchecked seq: UInt64,
        time: String,
        actor: Actor,
        action: String,
        target: Target?,
        outcome: Outcome,
        requestID: String?,
        sourceIPHash: String?,
        details: [String: DetailValue]
    ) {
        self.seq = seq
        self.time = time
        self.actor = actor
        self.action = action
        self.target = target
        self.outcome = outcome
        self.requestID = requestID
        self.sourceIPHash = sourceIPHash
        self.details = details
    }

    /// Everything but `seq` and `time`.
    public var event: AuditEvent {
        AuditEvent(
            actor: actor,
            action: action,
            target: target,
            outcome: outcome,
            requestID: requestID,
            sourceIPHash: sourceIPHash,
            details: details
        )
    }

    // MARK: Limits

    /// Largest canonical encoding accepted, in bytes (one line of `entries.jsonl`).
    public static let maxEncodedBytes = 16_384
    /// Largest `seq` (the JCS exact-integer limit, 2^53 − 1).
    public static let maxSeq = UInt64(CanonicalJSON.maxSafeInteger)

    // MARK: Canonical form

    /// The RFC 8785 canonical JSON of the entry: the bytes that are stored, exported as one
    /// line, and hashed into the leaf `SHA-256(0x00 ‖ bytes)`.
    public func canonicalBytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(384)
        encodeCanonical(into: &out)
        return out
    }

    /// The leaf hash of `canonicalBytes()`.
    public func leafHash() -> TreeHash {
        MerkleHashing.leafHash(canonicalBytes())
    }

    /// Parses canonical bytes back into an entry; rejects bytes that are not exactly the
    /// canonical encoding of a valid entry (unknown or missing members, wrong types,
    /// whitespace, other escapes or key order).
    public init(canonicalBytes bytes: [UInt8]) throws(AuditError) {
        guard bytes.count <= Self.maxEncodedBytes else { throw .invalidEntry("longer than \(Self.maxEncodedBytes) bytes") }
        guard case .object(let members) = try CanonicalJSON.parse(bytes) else { throw .malformed("entry: not an object") }
        var m = [String: CanonicalJSON.Value]()
        for (k, v) in members { m[k] = v }
        let known: Set<String> = [
            "seq", "time", "actor", "action", "target", "outcome", "request_id", "source_ip_hash", "details",
        ]
        if let unknown = m.keys.first(where: { !known.contains($0) }) { throw .malformed("entry: unknown member \"\(unknown)\"") }

        func string(_ v: CanonicalJSON.Value?, _ name: String) throws(AuditError) -> String {
            guard case .string(let s)? = v else { throw .malformed("entry: \(name) must be a string") }
            return s
        }
        func object(_ v: CanonicalJSON.Value?, _ name: String) throws(AuditError) -> [String: CanonicalJSON.Value] {
            guard case .object(let members)? = v else { throw .malformed("entry: \(name) must be an object") }
            var out = [String: CanonicalJSON.Value]()
            for (k, v) in members { out[k] = v }
            return out
        }
        guard case .integer(let seq)? = m["seq"], seq >= 0 else { throw .malformed("entry: seq must be a non-negative integer") }
        let actor = try object(m["actor"], "actor")
        guard actor.count == 2, let kind = Actor.Kind(rawValue: try string(actor["type"], "actor.type")) else {
            throw .malformed("entry: actor must be {id, type} with type service, agent or system")
        }
        var target: Target?
        if m["target"] != nil {
            let t = try object(m["target"], "target")
            guard t.count == 2 else { throw .malformed("entry: target must be {id_hash, type}") }
            target = Target(type: try string(t["type"], "target.type"), idHash: try string(t["id_hash"], "target.id_hash"))
        }
        var details = [String: DetailValue]()
        for (k, v) in try object(m["details"], "details") {
            switch v {
            case .string(let s): details[k] = .string(s)
            case .integer(let n): details[k] = .integer(n)
            case .object, .array: throw .malformed("entry: details.\(k) must be a string or an integer")
            }
        }
        try self.init(
            seq: UInt64(seq),
            time: try string(m["time"], "time"),
            actor: Actor(type: kind, id: try string(actor["id"], "actor.id")),
            action: try string(m["action"], "action"),
            target: target,
            outcome: Outcome(rawValue: try string(m["outcome"], "outcome")),
            requestID: m["request_id"] == nil ? nil : try string(m["request_id"], "request_id"),
            sourceIPHash: m["source_ip_hash"] == nil ? nil : try string(m["source_ip_hash"], "source_ip_hash"),
            details: details
        )
        guard canonicalBytes() == bytes else { throw .malformed("entry: not in canonical form") }
    }

    /// What `CanonicalJSON.encode` makes of the entry as an object, written straight into
    /// `out`: the member names are fixed, so they are listed here already in JCS order (UTF-16
    /// code units: action, actor, details, outcome, request_id, seq, source_ip_hash, target,
    /// time; id before type); only the names in `details` are sorted.
    private func encodeCanonical(into out: inout [UInt8]) {
        func name(_ n: StaticString, first: Bool = false) {
            if !first { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            n.withUTF8Buffer { out.append(contentsOf: $0) }
            out.append(UInt8(ascii: "\""))
            out.append(UInt8(ascii: ":"))
        }
        out.append(UInt8(ascii: "{"))
        name("action", first: true)
        CanonicalJSON.encodeString(action, into: &out)
        name("actor")
        out.append(UInt8(ascii: "{"))
        name("id", first: true)
        CanonicalJSON.encodeString(actor.id, into: &out)
        name("type")
        CanonicalJSON.encodeString(actor.type.rawValue, into: &out)
        out.append(UInt8(ascii: "}"))
        name("details")
        out.append(UInt8(ascii: "{"))
        let sortedDetails =
            details.count < 2 ? Array(details) : details.sorted { $0.key.utf16.lexicographicallyPrecedes($1.key.utf16) }
        for (i, (key, value)) in sortedDetails.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            CanonicalJSON.encodeString(key, into: &out)
            out.append(UInt8(ascii: ":"))
            switch value {
            case .string(let s): CanonicalJSON.encodeString(s, into: &out)
            case .integer(let n): CanonicalJSON.encodeInteger(n, into: &out)
            }
        }
        out.append(UInt8(ascii: "}"))
        name("outcome")
        CanonicalJSON.encodeString(outcome.rawValue, into: &out)
        if let requestID {
            name("request_id")
            CanonicalJSON.encodeString(requestID, into: &out)
        }
        name("seq")
        CanonicalJSON.encodeInteger(Int64(seq), into: &out)
        if let sourceIPHash {
            name("source_ip_hash")
            CanonicalJSON.encodeString(sourceIPHash, into: &out)
        }
        if let target {
            name("target")
            out.append(UInt8(ascii: "{"))
            name("id_hash", first: true)
            CanonicalJSON.encodeString(target.idHash, into: &out)
            name("type")
            CanonicalJSON.encodeString(target.type, into: &out)
            out.append(UInt8(ascii: "}"))
        }
        name("time")
        CanonicalJSON.encodeString(time, into: &out)
        out.append(UInt8(ascii: "}"))
    }

    // MARK: Validation

    private func validateFields() throws(AuditError) {
        guard seq <= Self.maxSeq else { throw .invalidEntry("seq above 2^53 - 1") }
        guard AuditTime.isValid(time) else { throw .invalidEntry("time must be UTC RFC 3339 with milliseconds, e.g. 2026-11-27T17:36:27.123Z") }
        guard !actor.id.isEmpty, Self.isPrintable(actor.id) else { throw .invalidEntry("actor.id must be non-empty printable text") }
        guard Self.isDotted(action) else { throw .invalidEntry("action must be dotted lowercase segments, e.g. subject.created") }
        if let target {
            guard Self.isIdentifier(target.type, allowing: "_") else { throw .invalidEntry("target.type must be lowercase snake case") }
            guard !target.idHash.isEmpty, Self.isPrintable(target.idHash) else { throw .invalidEntry("target.id_hash must be printable") }
        }
        guard Self.isIdentifier(outcome.rawValue, allowing: "_") else { throw .invalidEntry("outcome must be lowercase snake case") }
        if let requestID { guard !requestID.isEmpty, Self.isPrintable(requestID) else { throw .invalidEntry("request_id must be printable") } }
        if let sourceIPHash {
            guard !sourceIPHash.isEmpty, Self.isPrintable(sourceIPHash) else { throw .invalidEntry("source_ip_hash must be printable") }
        }
        for (key, value) in details {
            guard Self.isIdentifier(key, allowing: "_"), key.utf8.count <= 64 else {
                throw .invalidEntry("details key \"\(key)\" must be lowercase snake case, at most 64 characters")
            }
            if case .integer(let n) = value, abs(n) > CanonicalJSON.maxSafeInteger {
                throw .invalidEntry("details.\(key) is outside ±(2^53 - 1)")
            }
        }
    }

    private static func checkSize(_ bytes: [UInt8]) throws(AuditError) {
        guard bytes.count <= maxEncodedBytes else { throw .invalidEntry("longer than \(maxEncodedBytes) bytes") }
    }

    /// `[a-z][a-z0-9<extra>]*`.
    static func isIdentifier(_ s: String, allowing extra: String) -> Bool {
        let extra = Array(extra.utf8)
        guard let first = s.utf8.first, first >= UInt8(ascii: "a"), first <= UInt8(ascii: "z") else { return false }
        return s.utf8.allSatisfy { c in
            (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || extra.contains(c)
        }
    }

    /// Two or more `.`-separated lowercase snake-case segments.
    static func isDotted(_ s: String) -> Bool {
        var segments = 1
        var atSegmentStart = true
        for c in s.utf8 {
            if atSegmentStart {
                guard c >= UInt8(ascii: "a"), c <= UInt8(ascii: "z") else { return false }
                atSegmentStart = false
            } else if c == UInt8(ascii: ".") {
                segments += 1
                atSegmentStart = true
            } else {
                guard
                    (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "_")
                else { return false }
            }
        }
        return segments >= 2 && !atSegmentStart
    }

    /// No control characters (identifiers and hashes are single-line printable text).
    static func isPrintable(_ s: String) -> Bool {
        s.unicodeScalars.allSatisfy { !($0.value < 0x20 || (0x7F...0x9F).contains($0.value)) }
    }
}

/// What happened, before the log gives it a `seq` and a time.
public struct AuditEvent: Sendable, Hashable {
    public var actor: AuditEntry.Actor
    public var action: String
    public var target: AuditEntry.Target?
    public var outcome: AuditEntry.Outcome
    public var requestID: String?
    public var sourceIPHash: String?
    public var details: [String: AuditEntry.DetailValue]

    public init(
        actor: AuditEntry.Actor,
        action: String,
        target: AuditEntry.Target?,
        outcome: AuditEntry.Outcome,
        requestID: String? = nil,
        sourceIPHash: String? = nil,
        details: [String: AuditEntry.DetailValue] = [:]
    ) {
        self.actor = actor
        self.action = action
        self.target = target
        self.outcome = outcome
        self.requestID = requestID
        self.sourceIPHash = sourceIPHash
        self.details = details
    }
}
