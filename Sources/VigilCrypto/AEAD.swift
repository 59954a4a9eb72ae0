import CSodium

/// XChaCha20-Poly1305 (IETF) authenticated encryption, libsodium's
/// `crypto_aead_xchacha20poly1305_ietf_*`. Output layout: `nonce (24) ‖ ciphertext ‖ tag (16)`.
public enum XChaCha20Poly1305 {
    public static let keyBytes = Int(crypto_aead_xchacha20poly1305_ietf_keybytes())
    public static let nonceBytes = Int(crypto_aead_xchacha20poly1305_ietf_npubbytes())
    public static let tagBytes = Int(crypto_aead_xchacha20poly1305_ietf_abytes())

    /// Encrypts with a fresh random nonce and returns `nonce ‖ ciphertext ‖ tag`.
    public static func seal(
        _ plaintext: [UInt8],
        additionalData: [UInt8],
        key: SecretBytes
    )
        throws -> [UInt8]
    {
        try Sodium.ready()
        guard key.count == keyBytes else { throw CryptoError.malformed("key length") }
        let nonce = SecureRandom.bytes(nonceBytes)
        var out = [UInt8](repeating: 0, count: nonceBytes + plaintext.count + tagBytes)
        var written: UInt64 = 0
        let rc = key.withUnsafeBytes { k in
            out.withUnsafeMutableBufferPointer { o in
                for i in 0..<nonceBytes { o[i] = nonce[i] }
                return crypto_aead_xchacha20poly1305_ietf_encrypt(
                    o.baseAddress! + nonceBytes,
                    &written,
                    plaintext,
                    UInt64(plaintext.count),
                    additionalData,
                    UInt64(additionalData.count),
                    nil,
                    nonce,
                    k.baseAddress!.assumingMemoryBound(to: UInt8.self)
                )
            }
        }
        try Sodium.check(rc, "crypto_aead_xchacha20poly1305_ietf_encrypt")
        return out
    }

    /// Decrypts `nonce ‖ ciphertext ‖ tag`; throws `authenticationFailed` on any change.
    public static func open(
        _ sealed: ArraySlice<UInt8>,
        additionalData: [UInt8],
        key: SecretBytes
    )
        throws -> [UInt8]
    {
        try Sodium.ready()
        guard key.count == keyBytes else { throw CryptoError.malformed("key length") }
        guard sealed.count >= nonceBytes + tagBytes else { throw CryptoError.malformed("ciphertext") }
        let sealed = Array(sealed)
        var out = [UInt8](repeating: 0, count: sealed.count - nonceBytes - tagBytes)
        var written: UInt64 = 0
        let rc = key.withUnsafeBytes { k in
            sealed.withUnsafeBufferPointer { s in
                out.withUnsafeMutableBufferPointer { o in
                    crypto_aead_xchacha20poly1305_ietf_decrypt(
                        o.baseAddress,
                        &written,
                        nil,
                        s.baseAddress! + nonceBytes,
                        UInt64(s.count - nonceBytes),
                        additionalData,
                        UInt64(additionalData.count),
                        s.baseAddress!,
                        k.baseAddress!.assumingMemoryBound(to: UInt8.self)
                    )
                }
            }
        }
        guard rc == 0 else { throw CryptoError.authenticationFailed }
        return out
    }
}
