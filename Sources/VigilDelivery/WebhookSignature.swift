import Foundation
import VigilCrypto

/// The webhook signature: `Vigil-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`,
/// where `<timestamp>` is the `Vigil-Timestamp` header (Unix seconds, decimal) and `<body>` the
/// request body, byte for byte.
///
/// Rules for receivers (docs/outbox.md has a verification snippet):
/// - compute the HMAC over the raw body bytes, before any JSON parsing;
/// - compare in constant time;
/// - refuse a timestamp more than `tolerance` away from the receiver's clock (a replay of an old
///   request), and dedupe by `Vigil-Message-Id` (a retry of a message already acknowledged).
public enum WebhookSignature {
    /// The scheme's version tag in the header.
    public static let version = "v1"
    /// The default clock tolerance receivers should allow.
    public static let defaultToleranceSeconds: Int64 = 300
    /// The least length of a signing secret, in bytes.
    public static let minimumSecretBytes = 32

    /// The bytes the HMAC covers: `"<timestamp>.<body>"`.
    public static func signedBytes(timestamp: Int64, body: [UInt8]) -> [UInt8] {
        Array("\(timestamp).".utf8) + body
    }

    /// The `Vigil-Signature` header value.
    public static func header(secret: SecretBytes, timestamp: Int64, body: [UInt8]) throws -> String {
        let mac = try HMAC.authenticate(.sha256, key: secret, message: signedBytes(timestamp: timestamp, body: body))
        return "\(version)=\(ByteEncoding.hex(mac))"
    }

    /// Checks a request as a receiver would: the header carries a `v1=` signature (several may
    /// be listed, comma-separated, during a secret rotation) that matches, and the timestamp is
    /// within `tolerance` seconds of `now`.
    public static func verify(
        header: String,
        timestamp: String,
        body: [UInt8],
        secret: SecretBytes,
        now: Date,
        toleranceSeconds: Int64 = defaultToleranceSeconds
    ) -> Bool {
        guard let t = Int64(timestamp), abs(Int64(now.timeIntervalSince1970.rounded(.down)) - t) <= toleranceSeconds,
            let expected = try? HMAC.authenticate(.sha256, key: secret, message: signedBytes(timestamp: t, body: body))
        else { return false }
        var matched = false
        for part in header.split(separator: ",") {
            let item = part.trimmingCharacters(in: .whitespaces)
            guard item.hasPrefix("\(version)="), let mac = ByteEncoding.fromHex(String(item.dropFirst(version.count + 1))) else { continue }
            if ConstantTime.equals(mac, expected) { matched = true }
        }
        return matched
    }
}
