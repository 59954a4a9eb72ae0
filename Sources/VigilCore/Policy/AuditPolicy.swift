import Yams

/// `audit.yaml`: the log's origin and when it signs checkpoints. Nothing here can turn auditing
/// or signing off.
public struct AuditPolicy: Sendable, Equatable {
    /// The first line of every checkpoint (C2SP tlog-checkpoint): a schema-less URL.
    public var origin: String
    /// Sign a checkpoint once this many entries were appended since the last one…
    public var checkpointEveryEntries: Int
    /// …or once this many seconds passed, whichever comes first (and only when the tree grew).
    public var checkpointEverySeconds: Int

    public init(origin: String, checkpointEveryEntries: Int, checkpointEverySeconds: Int) {
        self.origin = origin
        self.checkpointEveryEntries = checkpointEveryEntries
        self.checkpointEverySeconds = checkpointEverySeconds
    }
}

extension AuditPolicy {
    static let fileName = "audit.yaml"

    static func read(_ root: PolicyMapping) -> AuditPolicy? {
        var origin = root.string("origin")
        if let value = origin, let problem = checkOrigin(value) {
            root.report(.invalidValue, "origin", problem)
            origin = nil
        }
        let checkpoint = root.mapping("checkpoint") { m -> (Int, Int)? in
            let entries = m.int("every_entries", in: 1...1_000_000)
            let seconds = m.int("every_seconds", in: 1...86400)
            guard let entries, let seconds else { return nil }
            return (entries, seconds)
        }
        guard let origin, let (entries, seconds) = checkpoint else { return nil }
        return AuditPolicy(origin: origin, checkpointEveryEntries: entries, checkpointEverySeconds: seconds)
    }

    private static func checkOrigin(_ origin: String) -> String? {
        if origin.contains("://") {
            return "'\(origin)' must be a schema-less URL, without '://' (C2SP tlog-checkpoint)"
        }
        if origin.contains(where: { $0.isWhitespace || $0 == "+" }) || origin.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f })
        {
            return "'\(origin)' must contain no spaces, plus signs or control characters (C2SP tlog-checkpoint)"
        }
        if origin.utf8.count > 255 {
            return "is longer than 255 bytes"
        }
        return nil
    }
}
