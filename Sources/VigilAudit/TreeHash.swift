import VigilCrypto

/// A 32-byte SHA-256 value: a leaf hash, an interior node hash or a tree root.
///
/// Stored inline (no heap allocation), so a compact range or a proof is a flat array of
/// values. `bytes` and `hex` give the conventional forms.
public struct TreeHash: Sendable, Hashable, CustomStringConvertible {
    /// Number of bytes in a hash.
    public static let byteCount = 32

    // The 32 bytes in memory order; only ever read back through `withUnsafeBytes`.
    private var w0: UInt64 = 0
    private var w1: UInt64 = 0
    private var w2: UInt64 = 0
    private var w3: UInt64 = 0

    /// The hash with these 32 bytes; nil for any other length.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        withUnsafeMutableBytes(of: &self) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
    }

    /// The hash written as 64 hexadecimal digits (either case); nil for anything else.
    public init?(hex: some StringProtocol) {
        var value = TreeHash()
        let ok =
            hex.utf8.withContiguousStorageIfAvailable { value.fillFromHex(UnsafeRawBufferPointer($0)) }
            ?? Array(hex.utf8).withUnsafeBytes { value.fillFromHex($0) }
        guard ok else { return nil }
        self = value
    }

    init(rawBytes: UnsafeRawBufferPointer) {
        precondition(rawBytes.count == Self.byteCount)
        withUnsafeMutableBytes(of: &self) { $0.copyMemory(from: rawBytes) }
    }

    private init() {}

    /// Parses exactly 64 hex digits from `text` into `self`.
    mutating func fillFromHex(_ text: UnsafeRawBufferPointer) -> Bool {
        guard text.count == 2 * Self.byteCount else { return false }
        return withUnsafeMutableBytes(of: &self) { out in
            for i in 0..<Self.byteCount {
                guard let hi = hexNibble(text[2 * i]), let lo = hexNibble(text[2 * i + 1]) else { return false }
                out[i] = hi << 4 | lo
            }
            return true
        }
    }

    /// The 32 bytes.
    public var bytes: [UInt8] { Swift.withUnsafeBytes(of: self) { Array($0) } }

    /// Lowercase hexadecimal, 64 characters.
    public var hex: String { ByteEncoding.hex(bytes) }

    /// Standard base64 (with padding), as in checkpoints.
    public var base64: String { ByteEncoding.base64(bytes) }

    public var description: String { hex }

    /// Lends the 32 bytes.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: self, body)
    }
}

@inline(__always)
func hexNibble(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c &- UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c &- UInt8(ascii: "a") &+ 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c &- UInt8(ascii: "A") &+ 10
    default: nil
    }
}

/// The RFC 6962 §2.1 hash functions (identical in RFC 9162 §2.1.1), with SHA-256.
///
/// Rules: a leaf is `SHA-256(0x00 ‖ data)` and an interior node `SHA-256(0x01 ‖ left ‖ right)`,
/// so that no leaf can be passed off as a node (second-preimage resistance); the root of the
/// empty tree is `SHA-256("")`.
public enum MerkleHashing {
    /// Domain-separation prefix of leaf hashes.
    public static let leafPrefix: UInt8 = 0x00
    /// Domain-separation prefix of interior node hashes.
    public static let nodePrefix: UInt8 = 0x01

    /// The root of the empty tree: SHA-256 of no bytes.
    public static let emptyRoot: TreeHash = {
        var h = SHA256()
        return TreeHash(bytes: h.finalize())!
    }()

    /// `SHA-256(0x00 ‖ data)`.
    public static func leafHash(_ data: some VigilCrypto.ContiguousBytes) -> TreeHash {
        data.withUnsafeBytes { leafHash(raw: $0) }
    }

    /// `SHA-256(0x00 ‖ data)` for bytes in place.
    public static func leafHash(raw data: UnsafeRawBufferPointer) -> TreeHash {
        var h = SHA256()
        h.update(byte: leafPrefix)
        h.update(data)
        return h.finalize().withUnsafeBytes { TreeHash(rawBytes: $0) }
    }

    /// `SHA-256(0x01 ‖ left ‖ right)`.
    public static func nodeHash(_ left: TreeHash, _ right: TreeHash) -> TreeHash {
        var h = SHA256()
        h.update(byte: nodePrefix)
        left.withUnsafeBytes { h.update($0) }
        right.withUnsafeBytes { h.update($0) }
        return h.finalize().withUnsafeBytes { TreeHash(rawBytes: $0) }
    }
}
