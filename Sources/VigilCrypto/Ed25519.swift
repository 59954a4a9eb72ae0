import CSodium

/// Ed25519 signatures (libsodium `crypto_sign_*`, RFC 8032 pure Ed25519).
public enum Ed25519 {
    public static let seedBytes = Int(crypto_sign_seedbytes())
    public static let publicKeyBytes = Int(crypto_sign_publickeybytes())
    public static let secretKeyBytes = Int(crypto_sign_secretkeybytes())
    public static let signatureBytes = Int(crypto_sign_bytes())

    /// A signing key: the 32-byte seed in guarded memory, and the derived public key.
    public struct SigningKey: Sendable, CustomStringConvertible {
        /// libsodium's 64-byte secret key (seed ‖ public key), guarded.
        private let secret: SecretBytes
        public let publicKey: PublicKey
        /// The 32-byte RFC 8032 private key (seed), guarded.
        public let seed: SecretBytes

        /// A new random key.
        public static func generate() throws -> SigningKey {
            try SigningKey(seed: SecretBytes.random(count: seedBytes))
        }

        /// The key for an RFC 8032 32-byte private key.
        public init(seed: SecretBytes) throws {
            guard seed.count == seedBytes else { throw CryptoError.malformed("Ed25519 seed length") }
            var pk = [UInt8](repeating: 0, count: publicKeyBytes)
            let sk = try SecretBytes(count: secretKeyBytes) { skBuffer in
                let rc = seed.withUnsafeBytes { s in
                    crypto_sign_seed_keypair(
                        &pk,
                        skBuffer.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        s.baseAddress!.assumingMemoryBound(to: UInt8.self)
                    )
                }
                try Sodium.check(rc, "crypto_sign_seed_keypair")
            }
            self.secret = sk
            self.seed = seed
            self.publicKey = try PublicKey(bytes: pk)
        }

        /// Detached signature of `message`.
        public func sign(_ message: some ContiguousBytes) -> [UInt8] {
            var sig = [UInt8](repeating: 0, count: signatureBytes)
            secret.withUnsafeBytes { sk in
                message.withUnsafeBytes { m in
                    let rc = crypto_sign_detached(
                        &sig,
                        nil,
                        m.baseAddress?.assumingMemoryBound(to: UInt8.self),
                        UInt64(m.count),
                        sk.baseAddress!.assumingMemoryBound(to: UInt8.self)
                    )
                    // crypto_sign_detached cannot fail for a well-formed key; a failure here is
                    // memory corruption, and a missing signature must never pass silently.
                    precondition(rc == 0, "crypto_sign_detached failed")
                }
            }
            return sig
        }

        public var description: String { "Ed25519.SigningKey(<redacted>)" }
    }

    /// A public key; verification only.
    public struct PublicKey: Sendable, Equatable, Hashable {
        public let bytes: [UInt8]

        public init(bytes: [UInt8]) throws {
            guard bytes.count == publicKeyBytes else { throw CryptoError.malformed("Ed25519 public key length") }
            self.bytes = bytes
        }

        /// True when `signature` is a valid signature of `message` by this key.
        public func isValidSignature(_ signature: some ContiguousBytes, for message: some ContiguousBytes) -> Bool {
            guard (try? Sodium.ready()) != nil else { return false }
            return signature.withUnsafeBytes { s in
                guard s.count == signatureBytes else { return false }
                return message.withUnsafeBytes { m in
                    crypto_sign_verify_detached(
                        s.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        m.baseAddress?.assumingMemoryBound(to: UInt8.self),
                        UInt64(m.count),
                        bytes
                    ) == 0
                }
            }
        }
    }
}
