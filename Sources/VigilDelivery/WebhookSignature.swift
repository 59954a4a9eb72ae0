import Foundation
import VigilCore
import VigilCrypto

/// The webhook signature, scheme `v2`:
///
///     Vigil-Signature: v2=<lowercase hex of HMAC-SHA256(secret, "v2:<message id>.<timestamp>.<body>")>
///
/// where `<message id>` is the `Vigil-Message-Id` header, `<timestamp>` the `Vigil-Timestamp`
/// header (Unix seconds, decimal digits) and `<body>` the request body, byte for byte.
///
/// Rules (docs/outbox.md has the exact string, a worked example and a verification snippet):
/// - the signature covers everything a receiver acts on: the id it dedupes by, the time it
///   checks for replays, and the body;
/// - the signed string is unambiguous: the id is `msg_` and 32 lowercase hex characters and
///   the timestamp decimal digits, so neither contains the `.` that ends it; an id or a
///   timestamp of any other form is never signed and never accepted;
/// - the version tag is inside the signed bytes, so a MAC of one scheme is never a valid MAC
///   of another;
/// - `v1` (HMAC over `"<timestamp>.<body>"` alone, which left the id unsigned) is neither sent
///   nor accepted;
/// - receivers compute the HMAC over the raw body bytes, before any JSON parsing, compare in
///   constant time, refuse a timestamp more than `tolerance` away from their clock (a replay of
///   an old request), and dedupe by the signed `Vigil-Message-Id` (a retry of a message already
///   acknowledged).
public enum WebhookSignature {
    /// The scheme's version tag, in the header and at the start of the signed bytes.
    public static let version = "v2"
    /// The default clock tolerance receivers should allow.
    public static let defaultToleranceSeconds: Int64 = 300
    /// The least length of a signing secret, in bytes.
    public static let minimumSecretBytes = 32
    /// The most digits a timestamp may have (Unix seconds fit in far fewer; 18 digits always fit
    /// in an Int64).
    static let maximumTimestampDigits = 18

    /// Why a request could not be signed. Never happens for a message Vigil made.
    public enum SigningError: Error, Equatable, Sendable {
        /// The id is not `msg_` and 32 lowercase hex characters.
        case invalidMessageID
        /// The timestamp is negative.
        case invalidTimestamp
    }

    /// Whether `id` may appear in the signed string: the form `OutboundMessage.newID()` makes,
    /// `msg_` and 32 lowercase hex characters (no `.`, the separator).
    public static func isSignableMessageID(_ id: String) -> Bool {
        OutboundMessage.isValidID(id)
    }

    /// The bytes the HMAC covers: `"v2:<message id>.<timestamp>.<body>"`.
    public static func signedBytes(messageID: String, timestamp: Int64, body: [UInt8]) throws(SigningError) -> [UInt8] {
        guard isSignableMessageID(messageID) else { throw .invalidMessageID }
        guard timestamp >= 0 else { throw .invalidTimestamp }
        return signedBytes(messageID: messageID, timestampDigits: String(timestamp), body: body)
    }

    private static func signedBytes(messageID: String, timestampDigits: String, body: [UInt8]) -> [UInt8] {
        Array("\(version):\(messageID).\(timestampDigits).".utf8) + body
    }

    /// The `Vigil-Signature` header value.
    public static func header(secret: SecretBytes, messageID: String, timestamp: Int64, body: [UInt8]) throws -> String {
        let mac = try HMAC.authenticate(.sha256, key: secret, message: signedBytes(messageID: messageID, timestamp: timestamp, body: body))
        return "\(version)=\(ByteEncoding.hex(mac))"
    }

    /// The headers that identify and sign one attempt: `Vigil-Message-Id`, `Vigil-Timestamp`
    /// and `Vigil-Signature`, in that order.
    public static func headers(
        secret: SecretBytes,
        messageID: String,
        timestamp: Int64,
        body: [UInt8]
    ) throws -> [(name: String, value: String)] {
        [
            ("Vigil-Message-Id", messageID),
            ("Vigil-Timestamp", String(timestamp)),
            ("Vigil-Signature", try header(secret: secret, messageID: messageID, timestamp: timestamp, body: body)),
        ]
    }

    /// Checks a request as a receiver would: `messageID` is a message id, `timestamp` decimal
    /// digits within `tolerance` seconds of `now`, and `header` carries a `v2=` signature over
    /// the three (several may be listed, comma-separated, during a secret rotation) that
    /// matches. Items of other versions, `v1` included, are ignored.
    public static func verify(
        header: String,
        messageID: String,
        timestamp: String,
        body: [UInt8],
        secret: SecretBytes,
        now: Date,
        toleranceSeconds: Int64 = defaultToleranceSeconds
    ) -> Bool {
        let digits = Array(timestamp.utf8)
        guard isSignableMessageID(messageID), (1...maximumTimestampDigits).contains(digits.count),
            digits.allSatisfy({ (0x30...0x39).contains($0) }), let t = Int64(timestamp),
            abs(Int64(now.timeIntervalSince1970.rounded(.down)) - t) <= toleranceSeconds,
            let expected = try? HMAC.authenticate(
                .sha256,
                key: secret,
                message: signedBytes(messageID: messageID, timestampDigits: timestamp, body: body)
            )
        else { return false }
        var matched = false
        for part in header.split(separator: ",") {
            let item = part.trimmingCharacters(in: .whitespaces)
            guard item.hasPrefix("\(version)=") else { continue }
            let hex = String(item.dropFirst(version.count + 1))
            // Lowercase hex only, as sent (and as a receiver comparing hex strings accepts).
            guard hex.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }),
                let mac = ByteEncoding.fromHex(hex)
            else { continue }
            if ConstantTime.equals(mac, expected) { matched = true }
        }
        return matched
    }
}
