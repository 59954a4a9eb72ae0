/// Verifies an export directory offline (docs/audit-format.md §7).
///
/// Streams `entries.jsonl` and `leaf-hashes.txt` line by line through fixed buffers, so
/// memory stays flat whatever the export's size; at every checkpoint size it checks the
/// signature and the root. The result is a summary, or the first failure with the `seq` it
/// names and a reason from a fixed set.
public enum AuditExportVerifier {
    public struct Options: Sendable {
        /// Accept entries after the last checkpoint (they are counted as unsigned).
        public var allowUnsigned: Bool
        /// When set, the manifest's origin must be this one.
        public var expectedOrigin: String?
        /// Entries between two calls of the progress callback.
        public var progressInterval: UInt64

        public init(allowUnsigned: Bool = false, expectedOrigin: String? = nil, progressInterval: UInt64 = 65_536) {
            self.allowUnsigned = allowUnsigned
            self.expectedOrigin = expectedOrigin
            self.progressInterval = max(1, progressInterval)
        }
    }

    /// Verifies the export in `directory` against the trusted `keys`.
    ///
    /// - Parameter progress: called with the number of entries processed every
    ///   `options.progressInterval` entries and once at the end.
    public static func verify(
        directory: String,
        keys: [NoteVerifierKey],
        options: Options = Options(),
        progress: (UInt64) -> Void = { _ in }
    ) -> Result<AuditVerificationSummary, AuditVerificationFailure> {
        do {
            return .success(try run(directory: directory, keys: keys, options: options, progress: progress))
        } catch {
            return .failure(error)
        }
    }

    /// Stands for a leaf hash that is missing or not 64 hex digits.
    private static let invalidClaim = TreeHash(bytes: [UInt8](repeating: 0, count: 32))!

    private static func run(
        directory: String,
        keys: [NoteVerifierKey],
        options: Options,
        progress: (UInt64) -> Void
    ) throws(AuditVerificationFailure) -> AuditVerificationSummary {
        func path(_ name: String) -> String { directory + "/" + name }
        func mapped<T>(_ file: String, _ body: () throws(AuditError) -> T) throws(AuditVerificationFailure) -> T {
            do {
                return try body()
            } catch .io(_, let reason) {
                throw AuditVerificationFailure(.unreadable, seq: nil, detail: "\(file): \(reason)")
            } catch {
                throw AuditVerificationFailure(.malformedExport, seq: nil, detail: "\(file): \(error)")
            }
        }

        let manifest = try mapped(AuditExportFiles.manifest) { () throws(AuditError) in
            try AuditExportManifest(jsonBytes: try readSmallFile(path(AuditExportFiles.manifest)))
        }
        if let expectedOrigin = options.expectedOrigin, manifest.origin != expectedOrigin {
            throw AuditVerificationFailure(.malformedExport, seq: nil, detail: "origin \"\(manifest.origin)\" is not \"\(expectedOrigin)\"")
        }
        let checkpoints = try mapped(AuditExportFiles.checkpoints) { () throws(AuditError) in
            let bytes = try readSmallFile(path(AuditExportFiles.checkpoints))
            guard let text = String(validating: bytes, as: UTF8.self) else { throw .malformed("not UTF-8") }
            return try AuditExportFiles.parseCheckpoints(text)
        }
        guard checkpoints.count == manifest.checkpointCount else {
            throw AuditVerificationFailure(
                .malformedExport,
                seq: nil,
                detail: "\(AuditExportFiles.checkpoints) holds \(checkpoints.count) checkpoints, the manifest says \(manifest.checkpointCount)"
            )
        }
        var stream = try AuditStreamVerifier(
            origin: manifest.origin,
            keys: keys,
            fromSeq: manifest.fromSeq,
            toSeq: manifest.toSeq,
            leftBorder: manifest.leftBorder,
            checkpoints: checkpoints,
            rightBorder: manifest.rightBorder,
            options: .init(allowUnsigned: options.allowUnsigned)
        )
        let entries = try mapped(AuditExportFiles.entries) { () throws(AuditError) in try LineReader(path: path(AuditExportFiles.entries)) }
        let leaves = try mapped(AuditExportFiles.leafHashes) { () throws(AuditError) in
            try LineReader(path: path(AuditExportFiles.leafHashes))
        }

        var lines: UInt64 = 0
        var leavesEnded = false
        while true {
            // The claimed leaf hash for this line; a short or bad leaf file is reported when an
            // entry depends on it, not before.
            // A missing or unreadable leaf hash counts as one that differs from the entry.
            var claimed: TreeHash? = invalidClaim
            if !leavesEnded {
                let next = try mapped(AuditExportFiles.leafHashes) { () throws(AuditError) in
                    try leaves.nextLine { (raw: UnsafeRawBufferPointer) throws(AuditError) -> TreeHash? in
                        var h = MerkleHashing.emptyRoot
                        return h.fillFromHex(raw) ? h : nil
                    }
                }
                switch next {
                case .none: leavesEnded = true
                case .some(let h): claimed = h ?? invalidClaim
                }
            }
            let step = try mapped(AuditExportFiles.entries) { () throws(AuditError) -> AuditVerificationFailure?? in
                try entries.nextLine { (line: UnsafeRawBufferPointer) throws(AuditError) -> AuditVerificationFailure? in
                    stream.append(line: line, claimedLeafHash: claimed)
                }
            }
            guard let failure = step else { break }
            if let failure { throw failure }
            lines += 1
            if lines % options.progressInterval == 0 { progress(lines) }
        }
        progress(lines)
        // Gaps and truncation first: a truncated entries file leaves leaf hashes over.
        let summary = try stream.finish().get()
        if !leavesEnded, try mapped(AuditExportFiles.leafHashes, { () throws(AuditError) in try leaves.nextLine { _ in true } }) != nil {
            throw AuditVerificationFailure(.malformedExport, seq: nil, detail: "\(AuditExportFiles.leafHashes) has more lines than entries")
        }
        return summary
    }
}
