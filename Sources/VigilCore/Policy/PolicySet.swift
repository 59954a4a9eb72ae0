import Foundation
import VigilCrypto
import Yams

/// The five policies Vigil runs on, validated together, and the digest of the files they came
/// from. Loading is all or nothing: one invalid value anywhere rejects the whole set, with every
/// issue in every file reported (STYLE.md practice 13).
///
/// The digest is recorded as the first audit entry of each run, so the log shows which policy
/// every decision was made under. It is SHA-256, in lowercase hex, over these bytes:
///
///     "vigil-policy-set-v1\n"
///     then, for each file in `fileNames` order (authentication, recovery, sla, retention, audit):
///         UInt32 big-endian byte length of the file name ‖ the name in UTF-8
///         UInt64 big-endian byte length of the content   ‖ the content, byte for byte
///
/// so any change to any byte of any policy file — a comment included — changes it, and no two
/// different sets of files share the bytes it hashes. Files in the folder other than the five
/// (README.md, the password blocklist) are not part of it.
public struct PolicySet: Sendable, Equatable {
    /// The policy files, in digest order.
    public static let fileNames = [
        AuthenticationPolicy.fileName,
        RecoveryPolicy.fileName,
        SLAPolicy.fileName,
        RetentionPolicy.fileName,
        AuditPolicy.fileName,
    ]

    public let authentication: AuthenticationPolicy
    public let recovery: RecoveryPolicy
    public let sla: SLAPolicy
    public let retention: RetentionPolicy
    public let audit: AuditPolicy
    /// SHA-256 (hex) over the files, as described above.
    public let digest: String

    /// A set built in code (tests); `digest` is whatever the caller says it is.
    public init(
        authentication: AuthenticationPolicy,
        recovery: RecoveryPolicy,
        sla: SLAPolicy,
        retention: RetentionPolicy,
        audit: AuditPolicy,
        digest: String
    ) {
        self.authentication = authentication
        self.recovery = recovery
        self.sla = sla
        self.retention = retention
        self.audit = audit
        self.digest = digest
    }

    /// Reads and validates the policy files in `directory`. A `.yaml` or `.yml` file that is not
    /// one of `fileNames` is an issue too (a misspelt name would otherwise be silently ignored).
    public static func load(directory: URL) throws(PolicyValidationFailure) -> PolicySet {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw PolicyValidationFailure(issues: [
                PolicyIssue(file: directory.path, keyPath: "", kind: .missingFile, reason: "policy folder not found")
            ])
        }
        var issues: [PolicyIssue] = []
        let present = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        for name in present.sorted() where !fileNames.contains(name) && !name.hasPrefix(".") {
            let lowered = name.lowercased()
            if lowered.hasSuffix(".yaml") || lowered.hasSuffix(".yml") {
                let expected = fileNames.joined(separator: ", ")
                issues.append(
                    PolicyIssue(
                        file: name,
                        keyPath: "",
                        kind: .unexpectedFile,
                        reason: "is not a policy file (the policy files are \(expected))"
                    )
                )
            }
        }
        var files: [String: [UInt8]] = [:]
        for name in fileNames where present.contains(name) {
            do {
                files[name] = [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
            } catch {
                issues.append(PolicyIssue(file: name, keyPath: "", kind: .syntax, reason: "cannot be read"))
            }
        }
        let set: PolicySet
        do throws(PolicyValidationFailure) {
            set = try load(files: files)
        } catch {
            throw PolicyValidationFailure(issues: issues + error.issues)
        }
        guard issues.isEmpty else { throw PolicyValidationFailure(issues: issues) }
        return set
    }

    /// Validates policy files given as name → bytes (the names of `fileNames`; others are ignored).
    public static func load(files: [String: [UInt8]]) throws(PolicyValidationFailure) -> PolicySet {
        var issues: [PolicyIssue] = []

        func read<T>(_ name: String, _ body: (PolicyMapping) -> T?) -> T? {
            guard let bytes = files[name] else {
                issues.append(PolicyIssue(file: name, keyPath: "", kind: .missingFile, reason: "file is missing"))
                return nil
            }
            let reader = PolicyReader(file: name)
            let policy = reader.compose(bytes).flatMap { reader.mapping($0, at: "", body) }
            issues += reader.issues
            return reader.hasIssues ? nil : policy
        }

        let authentication = read(AuthenticationPolicy.fileName, AuthenticationPolicy.read)
        let recovery = read(RecoveryPolicy.fileName, RecoveryPolicy.read)
        let sla = read(SLAPolicy.fileName, SLAPolicy.read)
        let retention = read(RetentionPolicy.fileName, RetentionPolicy.read)
        let audit = read(AuditPolicy.fileName, AuditPolicy.read)

        if let recovery, let retention {
            issues += crossFileIssues(recovery: recovery, retention: retention)
        }
        guard issues.isEmpty, let authentication, let recovery, let sla, let retention, let audit else {
            throw PolicyValidationFailure(issues: issues)
        }
        return PolicySet(
            authentication: authentication,
            recovery: recovery,
            sla: sla,
            retention: retention,
            audit: audit,
            digest: digest(of: files)
        )
    }

    /// The digest described in the type's documentation; a file absent from `files` counts as empty.
    public static func digest(of files: [String: [UInt8]]) -> String {
        var hash = SHA256()
        hash.update(Array("vigil-policy-set-v1\n".utf8))
        for name in fileNames {
            let nameBytes = Array(name.utf8)
            let content = files[name] ?? []
            hash.update(bigEndianBytes(UInt32(nameBytes.count)))
            hash.update(nameBytes)
            hash.update(bigEndianBytes(UInt64(content.count)))
            hash.update(content)
        }
        return ByteEncoding.hex(hash.finalize())
    }

    private static func bigEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }

    /// Rules between files.
    private static func crossFileIssues(recovery: RecoveryPolicy, retention: RetentionPolicy) -> [PolicyIssue] {
        let history = retention.afterEventDays[.loginHistory]
        let lookbacks = [
            ("new_device", recovery.suspiciousLogin.newDevice.lookbackDays),
            ("new_country", recovery.suspiciousLogin.newCountry.lookbackDays),
        ]
        return lookbacks.filter { $0.1 > history }.map { rule, days in
            PolicyIssue(
                file: RecoveryPolicy.fileName,
                keyPath: "suspicious_login.rules.\(rule).lookback_days",
                kind: .conflict,
                reason: "\(days) is longer than retention.yaml after_event_days.login_history (\(history)): that history is erased sooner"
            )
        }
    }
}
