import COpenSSLCrypto

/// HMAC from OpenSSL libcrypto's `EVP_MAC` (libsodium 1.0.18 has no HMAC-SHA1, which TOTP needs).
public enum HMAC {
    public enum Algorithm: String, Sendable, CaseIterable {
        case sha1 = "SHA1"
        case sha256 = "SHA256"
        case sha512 = "SHA512"

        public var outputBytes: Int {
            switch self {
            case .sha1: 20
            case .sha256: 32
            case .sha512: 64
            }
        }
    }

    /// The fetched HMAC implementation, shared: `EVP_MAC` objects are reference counted and
    /// safe to use from several threads; each call gets its own context.
    nonisolated(unsafe) private static let mac: OpaquePointer? = EVP_MAC_fetch(nil, "HMAC", nil)

    /// `HMAC-<algorithm>(key, message)`.
    public static func authenticate(
        _ algorithm: Algorithm,
        key: UnsafeRawBufferPointer,
        message: UnsafeRawBufferPointer
    ) throws -> [UInt8] {
        guard let mac else { throw CryptoError.primitiveFailed("EVP_MAC_fetch") }
        guard let ctx = EVP_MAC_CTX_new(mac) else { throw CryptoError.primitiveFailed("EVP_MAC_CTX_new") }
        defer { EVP_MAC_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: algorithm.outputBytes)
        var outLength = 0
        let ok: Bool = algorithm.rawValue.withCString { name in
            var params = [vigil_ossl_param_digest(name), vigil_ossl_param_end()]
            // An empty key is legal for HMAC; OpenSSL wants a non-null pointer. The placeholder is
            // used only inside the closure that lends its address.
            func initialise(_ keyPointer: UnsafePointer<UInt8>) -> Bool {
                EVP_MAC_init(ctx, keyPointer, key.count, &params) == 1
            }
            var placeholder: UInt8 = 0
            let initialised =
                if let base = key.baseAddress {
                    initialise(base.assumingMemoryBound(to: UInt8.self))
                } else {
                    withUnsafePointer(to: &placeholder) { initialise($0) }
                }
            guard initialised else { return false }
            if message.count > 0 {
                guard
                    EVP_MAC_update(ctx, message.baseAddress!.assumingMemoryBound(to: UInt8.self), message.count)
                        == 1
                else { return false }
            }
            return EVP_MAC_final(ctx, &out, &outLength, out.count) == 1
        }
        guard ok, outLength == algorithm.outputBytes else { throw CryptoError.primitiveFailed("HMAC") }
        return out
    }

    /// `HMAC-<algorithm>(key, m)` for each `m` of `messages`, on one context whose key is set
    /// once (TOTP checks a window of counters under one secret).
    public static func authenticate(_ algorithm: Algorithm, key: SecretBytes, messages: [[UInt8]]) throws -> [[UInt8]] {
        guard let mac else { throw CryptoError.primitiveFailed("EVP_MAC_fetch") }
        guard let ctx = EVP_MAC_CTX_new(mac) else { throw CryptoError.primitiveFailed("EVP_MAC_CTX_new") }
        defer { EVP_MAC_CTX_free(ctx) }
        return try key.withUnsafeBytes { k in
            let keyed: Bool = algorithm.rawValue.withCString { name in
                var params = [vigil_ossl_param_digest(name), vigil_ossl_param_end()]
                var placeholder: UInt8 = 0
                return withUnsafePointer(to: &placeholder) { fallback in
                    let keyPointer = k.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? fallback
                    return EVP_MAC_init(ctx, keyPointer, k.count, &params) == 1
                }
            }
            guard keyed else { throw CryptoError.primitiveFailed("HMAC") }
            var outputs: [[UInt8]] = []
            outputs.reserveCapacity(messages.count)
            for (i, message) in messages.enumerated() {
                // A null key re-initialises the context with the key already set.
                if i > 0 { guard EVP_MAC_init(ctx, nil, 0, nil) == 1 else { throw CryptoError.primitiveFailed("HMAC") } }
                var out = [UInt8](repeating: 0, count: algorithm.outputBytes)
                var outLength = 0
                let ok = message.withUnsafeBufferPointer { m in
                    (m.isEmpty || EVP_MAC_update(ctx, m.baseAddress, m.count) == 1)
                        && EVP_MAC_final(ctx, &out, &outLength, out.count) == 1
                }
                guard ok, outLength == algorithm.outputBytes else { throw CryptoError.primitiveFailed("HMAC") }
                outputs.append(out)
            }
            return outputs
        }
    }

    public static func authenticate(
        _ algorithm: Algorithm,
        key: SecretBytes,
        message: some ContiguousBytes
    )
        throws -> [UInt8]
    {
        try key.withUnsafeBytes { k in
            try message.withUnsafeBytes { m in
                try authenticate(algorithm, key: k, message: m)
            }
        }
    }

    public static func authenticate(
        _ algorithm: Algorithm,
        key: some ContiguousBytes,
        message: some ContiguousBytes
    )
        throws -> [UInt8]
    {
        try key.withUnsafeBytes { k in
            try message.withUnsafeBytes { m in
                try authenticate(algorithm, key: k, message: m)
            }
        }
    }
}
