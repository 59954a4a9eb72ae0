import Foundation
import VigilCrypto

/// HOTP (RFC 4226) and TOTP (RFC 6238).
///
/// Rules:
/// - the accepted window is exactly the steps `T-window … T+window` around the server's clock,
///   where `T = floor(unix time / period)`; an accepted code never moves the window (no
///   re-centring on the token's clock, so holding the secret does not let anyone walk it forward);
/// - a step at or before the last accepted step is never accepted again (the caller stores
///   the returned step atomically);
/// - a code is exactly `digits` ASCII digits; anything else is simply not valid;
/// - every candidate in the window is computed and compared in constant time before deciding,
///   so timing does not tell which step matched.
public enum OneTimePassword {
    public enum Algorithm: String, Sendable, CaseIterable, Codable {
        case sha1 = "SHA1"
        case sha256 = "SHA256"
        case sha512 = "SHA512"

        var hmac: HMAC.Algorithm {
            switch self {
            case .sha1: .sha1
            case .sha256: .sha256
            case .sha512: .sha512
            }
        }
    }

    public struct Parameters: Sendable, Equatable {
        public var algorithm: Algorithm
        public var digits: Int
        public var period: Int
        /// Steps accepted on each side of the current step.
        public var window: Int

        public init(algorithm: Algorithm = .sha1, digits: Int = 6, period: Int = 30, window: Int = 1) {
            self.algorithm = algorithm
            self.digits = digits
            self.period = period
            self.window = window
        }
    }

    private static let powersOfTen: [UInt32] = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000]

    /// The HOTP value for `counter` (RFC 4226 §5.3 dynamic truncation), zero-padded to `digits`.
    public static func hotp(secret: SecretBytes, counter: UInt64, digits: Int, algorithm: Algorithm) throws -> String {
        precondition((6...9).contains(digits), "digits must be 6...9")
        var message = [UInt8](repeating: 0, count: 8)
        for i in 0..<8 { message[i] = UInt8(truncatingIfNeeded: counter >> UInt64(56 - 8 * i)) }
        let mac = try HMAC.authenticate(algorithm.hmac, key: secret, message: message)
        return truncatedCode(mac, digits: digits)
    }

    /// RFC 4226 §5.3 dynamic truncation of `mac`, zero-padded to `digits`.
    private static func truncatedCode(_ mac: [UInt8], digits: Int) -> String {
        let offset = Int(mac[mac.count - 1] & 0x0f)
        let binary =
            (UInt32(mac[offset] & 0x7f) << 24) | (UInt32(mac[offset + 1]) << 16) | (UInt32(mac[offset + 2]) << 8)
            | UInt32(mac[offset + 3])
        let value = binary % powersOfTen[digits]
        let text = String(value)
        return String(repeating: "0", count: digits - text.count) + text
    }

    private static func counterBytes(_ counter: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: counter >> UInt64(56 - 8 * $0)) }
    }

    /// The time step of `date` (`floor(unix / period)`); 0 before the epoch.
    public static func step(at date: Date, period: Int) -> UInt64 {
        let t = date.timeIntervalSince1970
        guard t > 0 else { return 0 }
        return UInt64(t.rounded(.down)) / UInt64(period)
    }

    /// The TOTP value at `date`.
    public static func totp(secret: SecretBytes, at date: Date, parameters p: Parameters) throws -> String {
        try hotp(secret: secret, counter: step(at: date, period: p.period), digits: p.digits, algorithm: p.algorithm)
    }

    /// True when `code` has the shape of a code under `parameters` (exactly `digits` ASCII digits).
    public static func isWellFormed(_ code: String, digits: Int) -> Bool {
        code.utf8.count == digits && code.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    /// The step at which `code` is valid, within the window around `now` and after
    /// `lastAcceptedStep`; nil when it is not valid.
    public static func verify(
        _ code: String,
        secret: SecretBytes,
        now: Date,
        parameters p: Parameters,
        lastAcceptedStep: UInt64?
    ) throws -> UInt64? {
        precondition((6...9).contains(p.digits), "digits must be 6...9")
        guard isWellFormed(code, digits: p.digits) else { return nil }
        let current = step(at: now, period: p.period)
        let presented = Array(code.utf8)
        var matched: UInt64?
        let low = current >= UInt64(p.window) ? current - UInt64(p.window) : 0
        let candidates = Array(low...(current + UInt64(p.window)))
        // One HMAC context for the whole window (the key is set once).
        let macs = try HMAC.authenticate(p.algorithm.hmac, key: secret, messages: candidates.map(counterBytes))
        for (candidate, mac) in zip(candidates, macs) {
            let expected = truncatedCode(mac, digits: p.digits)
            let equal = ConstantTime.equals(Array(expected.utf8), presented)
            let fresh = lastAcceptedStep.map { candidate > $0 } ?? true
            if equal && fresh && matched == nil { matched = candidate }
        }
        return matched
    }
}
