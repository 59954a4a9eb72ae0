import Foundation
import VigilCrypto

/// C2SP `signed-note` with Ed25519 keys (https://c2sp.org/signed-note).
///
/// Rules:
/// - a note is UTF-8 text ending in a newline, with no control characters but newlines;
///   its signatures follow one blank line, one per line:
///   `— <key name> <base64(4-byte key hash ‖ 64-byte signature)>` (U+2014 EM DASH, space);
/// - a signature is over the note text exactly, final newline included;
/// - the key hash is the first 4 bytes of `SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)`, and a
///   verifier key is written `<name>+<8 hex digits of the key hash>+<base64(0x01 ‖ public key)>`;
/// - verification follows `golang.org/x/mod/sumdb/note`: signatures by keys we do not know
///   are ignored, a signature by a known key (same name and key hash) that does not verify
///   fails the note, and a note with no valid signature by a known key is unverified.
///   Several signatures are allowed, so a rotated key and its successor can both sign.
public struct NoteVerifierKey: Sendable, Hashable, CustomStringConvertible {
    /// The Ed25519 algorithm byte of C2SP signed-note.
    public static let ed25519Algorithm: UInt8 = 0x01

    public let name: String
    public let keyHash: UInt32
    public let publicKey: Ed25519.PublicKey

    /// The verifier key for `publicKey` under `name`.
    public init(name: String, publicKey: Ed25519.PublicKey) throws(AuditError) {
        guard Self.isValidName(name) else { throw .malformed("key name \"\(name)\": empty, or contains '+' or whitespace") }
        self.name = name
        self.publicKey = publicKey
        self.keyHash = Self.keyHash(name: name, publicKey: publicKey)
    }

    /// Parses the text form `<name>+<hex key hash>+<base64(0x01 ‖ key)>`.
    public init(text: String) throws(AuditError) {
        let parts = text.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[1].utf8.count == 8, let hashBytes = ByteEncoding.fromHex(String(parts[1])),
            let raw = strictBase64(String(parts[2])), raw.count == 1 + Ed25519.publicKeyBytes, raw[0] == Self.ed25519Algorithm,
            let key = try? Ed25519.PublicKey(bytes: Array(raw[1...]))
        else { throw .malformed("verifier key: expected <name>+<8 hex>+<base64 of 0x01 and a 32-byte Ed25519 key>") }
        try self.init(name: String(parts[0]), publicKey: key)
        guard keyHash == hashBytes.reduce(0, { $0 << 8 | UInt32($1) }) else {
            throw .malformed("verifier key \"\(parts[0])\": key hash does not match the name and key")
        }
    }

    /// Parses a public-key file: one verifier key per line; blank lines and lines starting
    /// with `#` are ignored.
    public static func parseList(_ text: String) throws(AuditError) -> [NoteVerifierKey] {
        var keys: [NoteVerifierKey] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            keys.append(try NoteVerifierKey(text: trimmed))
        }
        guard !keys.isEmpty else { throw .malformed("public key file: no verifier key") }
        return keys
    }

    /// The text form, as written to `Keys/audit-signing.pub`.
    public var text: String {
        "\(name)+\(keyID)+\(ByteEncoding.base64([Self.ed25519Algorithm] + publicKey.bytes))"
    }

    /// The key hash as 8 lowercase hex digits: the short key id shown to people.
    public var keyID: String { Self.hex(keyHash) }

    public var description: String { text }

    /// First 4 bytes (big-endian) of `SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)`.
    public static func keyHash(name: String, publicKey: Ed25519.PublicKey) -> UInt32 {
        var input = Array(name.utf8)
        input.append(0x0A)
        input.append(ed25519Algorithm)
        input.append(contentsOf: publicKey.bytes)
        return SHA256.hash(input).prefix(4).reduce(0) { $0 << 8 | UInt32($1) }
    }

    static func hex(_ v: UInt32) -> String {
        ByteEncoding.hex([UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)])
    }

    /// Non-empty, no `+`, no whitespace or control characters.
    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.unicodeScalars.allSatisfy { $0 != "+" && !$0.properties.isWhitespace && $0.value >= 0x20 && $0.value != 0x7F }
    }
}

/// Signs notes with an Ed25519 key under a key name.
public struct NoteSigner: Sendable {
    public let verifierKey: NoteVerifierKey
    private let key: Ed25519.SigningKey

    public init(name: String, key: Ed25519.SigningKey) throws(AuditError) {
        self.verifierKey = try NoteVerifierKey(name: name, publicKey: key.publicKey)
        self.key = key
    }

    /// The signature of `text` (a note body ending in a newline).
    public func signature(for text: String) -> NoteSignature {
        NoteSignature(name: verifierKey.name, keyHash: verifierKey.keyHash, signature: key.sign(Array(text.utf8)))
    }
}

/// One signature line of a note.
public struct NoteSignature: Sendable, Hashable {
    public let name: String
    public let keyHash: UInt32
    /// The 64-byte Ed25519 signature (for other algorithms, whatever follows the key hash).
    public let signature: [UInt8]

    public init(name: String, keyHash: UInt32, signature: [UInt8]) {
        self.name = name
        self.keyHash = keyHash
        self.signature = signature
    }

    /// `— <name> <base64(key hash ‖ signature)>` without the newline.
    public var line: String {
        let hash = [UInt8(keyHash >> 24), UInt8(keyHash >> 16 & 0xff), UInt8(keyHash >> 8 & 0xff), UInt8(keyHash & 0xff)]
        return "\u{2014} \(name) \(ByteEncoding.base64(hash + signature))"
    }

    public var keyID: String { NoteVerifierKey.hex(keyHash) }
}

/// The outcome of checking a note's signatures against trusted keys.
public enum NoteVerification: Sendable, Hashable {
    /// At least one trusted key signed, and every signature by a trusted key verified.
    case verified(by: [NoteVerifierKey])
    /// A signature by a trusted key (same name and key hash) does not verify.
    case badSignature(keyName: String, keyID: String)
    /// No signature is by a trusted key; the key ids found are listed.
    case unknownKey(keyIDs: [String])
}

/// A note and its signatures.
public struct SignedNote: Sendable, Hashable {
    /// The signed text, ending in a newline.
    public let text: String
    public let signatures: [NoteSignature]

    /// Largest note accepted, in bytes.
    public static let maxBytes = 16_384

    public init(text: String, signatures: [NoteSignature]) throws(AuditError) {
        guard Self.isValidText(text) else { throw .malformed("note text: must be non-empty UTF-8 lines with no blank line and a final newline") }
        guard !signatures.isEmpty else { throw .malformed("note: no signature") }
        self.text = text
        self.signatures = signatures
    }

    /// Signs `text` with each signer.
    public static func sign(text: String, signers: [NoteSigner]) throws(AuditError) -> SignedNote {
        try SignedNote(text: text, signatures: signers.map { $0.signature(for: text) })
    }

    /// Parses a signed note.
    public init(parsing note: String) throws(AuditError) {
        guard note.utf8.count <= Self.maxBytes else { throw .malformed("note: longer than \(Self.maxBytes) bytes") }
        guard note.unicodeScalars.allSatisfy({ $0 == "\n" || !($0.value < 0x20 || $0.value == 0x7F) }) else {
            throw .malformed("note: control characters")
        }
        guard let split = note.range(of: "\n\n", options: .backwards) else { throw .malformed("note: no signature block") }
        let text = String(note[..<split.lowerBound]) + "\n"
        let block = note[split.upperBound...]
        guard block.hasSuffix("\n") else { throw .malformed("note: signature block does not end in a newline") }
        var signatures: [NoteSignature] = []
        for line in block.dropLast().split(separator: "\n", omittingEmptySubsequences: false) {
            guard line.hasPrefix("\u{2014} ") else { throw .malformed("note: signature line does not start with an em dash") }
            let fields = line.dropFirst(2).split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 2, NoteVerifierKey.isValidName(String(fields[0])), let raw = strictBase64(String(fields[1])),
                raw.count >= 5
            else { throw .malformed("note: bad signature line") }
            signatures.append(
                NoteSignature(
                    name: String(fields[0]),
                    keyHash: raw.prefix(4).reduce(0) { $0 << 8 | UInt32($1) },
                    signature: Array(raw.dropFirst(4))
                )
            )
        }
        try self.init(text: text, signatures: signatures)
    }

    /// The note as text: body, a blank line, one line per signature.
    public var serialized: String {
        text + "\n" + signatures.map { $0.line + "\n" }.joined()
    }

    /// Checks the signatures against `keys` (see the rules above).
    public func verify(keys: [NoteVerifierKey]) -> NoteVerification {
        let message = Array(text.utf8)
        var good: [NoteVerifierKey] = []
        for sig in signatures {
            for key in keys where key.name == sig.name && key.keyHash == sig.keyHash {
                guard key.publicKey.isValidSignature(sig.signature, for: message) else {
                    return .badSignature(keyName: sig.name, keyID: sig.keyID)
                }
                if !good.contains(key) { good.append(key) }
            }
        }
        return good.isEmpty ? .unknownKey(keyIDs: signatures.map(\.keyID)) : .verified(by: good)
    }

    static func isValidText(_ text: String) -> Bool {
        !text.isEmpty && text.hasSuffix("\n") && !text.contains("\n\n") && !text.hasPrefix("\n")
            && text.unicodeScalars.allSatisfy { $0 == "\n" || !($0.value < 0x20 || $0.value == 0x7F) }
    }
}

/// Standard base64 with padding, rejecting any other spelling of the same bytes.
func strictBase64(_ text: String) -> [UInt8]? {
    guard let raw = ByteEncoding.fromBase64(text), ByteEncoding.base64(raw) == text else { return nil }
    return raw
}
