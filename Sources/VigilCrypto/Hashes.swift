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

    /// Keyed BLAKE2b-256 of `domain ‖ 0x00 ‖ value`, fed to libsodium's streaming interface
    /// straight from the strings' UTF-8 (blind indexes and pseudonyms are computed on every
    /// request).
    public func digest(domain: String, value: String) -> [UInt8] {
        // The state is opaque and wants 64-byte alignment, which a Swift stack value does not
        // promise; it holds the key's block, so it is zeroed after use.
        let stateBytes = crypto_generichash_statebytes()
        let state = UnsafeMutableRawPointer.allocate(byteCount: stateBytes, alignment: 64)
        defer {
            sodium_memzero(state, stateBytes)
            state.deallocate()
        }
        let typed = OpaquePointer(state)
        var out = [UInt8](repeating: 0, count: 32)
        // Cannot fail: the key length is checked in init and the output length is fixed.
        key.withUnsafeBytes { k in
            _ = crypto_generichash_init(typed, k.baseAddress?.assumingMemoryBound(to: UInt8.self), k.count, 32)
        }
        func absorb(_ text: String) {
            var text = text
            text.withUTF8 { _ = crypto_generichash_update(typed, $0.baseAddress, UInt64($0.count)) }
        }
        absorb(domain)
        var separator: UInt8 = 0
        _ = crypto_generichash_update(typed, &separator, 1)
        absorb(value)
        _ = crypto_generichash_final(typed, &out, 32)
        return out
    }
}
