import Foundation
import VigilAudit
import VigilCore
import VigilCrypto

/// A clock that only moves when a test moves it. Starts at a memorable instant:
/// 2009-02-13T23:31:30Z (Unix time 1_234_567_890).
public final class TestClock: VigilClock, @unchecked Sendable {
    // @unchecked Sendable: `current` is guarded by `lock`.
    private let lock = NSLock()
    private var current: Date

    public init(_ start: Date = Date(timeIntervalSince1970: 1_234_567_890)) { current = start }

    public func now() -> Date { lock.withLock { current } }

    public func advance(seconds: TimeInterval) { lock.withLock { current += seconds } }

    public func set(_ date: Date) { lock.withLock { current = date } }
}

/// A fresh temporary directory, removed when the value is released.
public final class TemporaryDirectory: @unchecked Sendable {
    public let url: URL
    public var path: String { url.path }

    public init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    public func file(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Memorable fixture values.
public enum Fixtures {
    /// A master key that is the same in every run: 0xde 0xad 0xbe 0xef repeated.
    public static func masterKey() -> SecretBytes {
        // try! is safe: 32 fixed bytes always fit.
        try! SecretBytes(copying: (0..<32).map { [0xde, 0xad, 0xbe, 0xef][$0 % 4] })
    }

    public static let subjectID = "deadbeef-0001"

    /// An audit signing key that is the same in every run (seed 0x5e repeated).
    public static func auditSigningKey() -> Ed25519.SigningKey {
        // try! is safe: a 32-byte seed always makes a key.
        try! Ed25519.SigningKey(seed: try! SecretBytes(copying: [UInt8](repeating: 0x5e, count: 32)))
    }

    /// The audit signer tests use: key name `vigil-audit`, origin `vigil.test/audit`.
    public static func auditSigner() -> NoteSigner {
        // try! is safe: the name is valid.
        try! NoteSigner(name: "vigil-audit", key: auditSigningKey())
    }

    public static let auditOrigin = "vigil.test/audit"
}
