import COpenSSLCrypto
import CSodium

/// SHA-256 from OpenSSL libcrypto (its SHA-NI/AVX2 code; about 1.7× libsodium's portable C
/// on this machine's class of CPU, measured with `vigil-bench audit`). A value type: copying a
/// `SHA256` copies its state.
public struct SHA256: Sendable {
    public static let byteCount = 32
    private var state = SHA256_CTX()

    public init() {
        SHA256_Init(&state)
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        SHA256_Update(&state, bytes.baseAddress!, bytes.count)
    }

    public mutating func update(_ bytes: some ContiguousBytes) {
        bytes.withUnsafeBytes { update($0) }
    }

    public mutating func update(byte: UInt8) {
        var b = byte
        SHA256_Update(&state, &b, 1)
    }

    public mutating func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.byteCount)
        SHA256_Final(&out, &state)
        return out
    }

    /// One-shot digest.
    public static func hash(_ bytes: some ContiguousBytes) -> [UInt8] {
        var h = SHA256()
        h.update(bytes)
        return h.finalize()
    }
}

/// BLAKE2b (libsodium `crypto_generichash`), optionally keyed.
public enum BLAKE2b {
    public static let keyBytesMin = Int(crypto_generichash_keybytes_min())
    public static let keyBytesMax = Int(crypto_generichash_keybytes_max())
    public static let outputBytesMax = Int(crypto_generichash_bytes_max())

    /// `outputLength`-byte BLAKE2b of `message` under `key` (nil: unkeyed).
    public static func hash(
        _ message: some ContiguousBytes,
        key: SecretBytes?,
        outputLength: Int = 32
    )
        throws -> [UInt8]
    {
        try Sodium.ready()
        guard outputLength >= Int(crypto_generichash_bytes_min()), outputLength <= outputBytesMax else {
            throw CryptoError.malformed("BLAKE2b output length")
        }
        var out = [UInt8](repeating: 0, count: outputLength)
        let rc: Int32 = message.withUnsafeBytes { m in
            let mp = m.baseAddress?.assumingMemoryBound(to: UInt8.self)
            if let key {
                return key.withUnsafeBytes { k in
                    crypto_generichash(
                        &out,
                        outputLength,
                        mp,
                        UInt64(m.count),
                        k.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        k.count
                    )
                }
            }
            return crypto_generichash(&out, outputLength, mp, UInt64(m.count), nil, 0)
        }
        try Sodium.check(rc, "crypto_generichash")
        return out
    }
}

/// A keyed hash used as a blind index or pseudonym: BLAKE2b-256 under a dedicated key of
/// `domain ‖ 0x00 ‖ value`, so the same value gives unrelated digests in different domains
/// (email index, phone index, audit actor ids).
public struct KeyedHasher: Sendable {
    private let key: SecretBytes

    public init(key: SecretBytes) throws {
        guard key.count >= BLAKE2b.keyBytesMin, key.count <= BLAKE2b.keyBytesMax else {
            throw CryptoError.malformed("keyed-hash key length")
        }
        self.key = key
    }

    public func digest(domain: String, value: String) -> [UInt8] {
        var input: [UInt8] = []
        input.reserveCapacity(domain.utf8.count + 1 + value.utf8.count)
        input.append(contentsOf: domain.utf8)
        input.append(0)
        input.append(contentsOf: value.utf8)
        // Cannot fail: lengths are checked in init and the output length is fixed.
        return (try? BLAKE2b.hash(input, key: key, outputLength: 32)) ?? []
    }
}
