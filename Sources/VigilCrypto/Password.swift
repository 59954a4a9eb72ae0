import CSodium

/// Cost parameters for argon2id (`crypto_pwhash_ALG_ARGON2ID13`).
public struct Argon2idCost: Sendable, Equatable {
    /// Passes over memory (t).
    public var opsLimit: UInt64
    /// Memory in bytes (m).
    public var memLimit: Int

    public init(opsLimit: UInt64, memLimit: Int) {
        self.opsLimit = opsLimit
        self.memLimit = memLimit
    }

    /// OWASP's minimum: m = 19 MiB, t = 2, p = 1.
    public static let owaspMinimum = Argon2idCost(opsLimit: 2, memLimit: 19 * 1024 * 1024)

    /// libsodium's own bounds, for validating a policy.
    public static let opsLimitMin = UInt64(crypto_pwhash_opslimit_min())
    public static let memLimitMin = Int(crypto_pwhash_memlimit_min())
}

/// Password hashing with argon2id in libsodium's self-describing string format
/// (`$argon2id$v=19$m=…,t=…,p=1$salt$hash`). These calls are slow by design and block:
/// callers run them on a bounded pool, never on an event loop.
public enum PasswordHash {
    /// Hashes `password` (UTF-8 bytes) at `cost` with a random salt.
    public static func hash(_ password: [UInt8], cost: Argon2idCost) throws -> String {
        try Sodium.ready()
        var out = [CChar](repeating: 0, count: Int(crypto_pwhash_strbytes()))
        // A trailing zero keeps the pointer valid for an empty password; the length excludes it.
        var input = password.map { CChar(bitPattern: $0) } + [0]
        defer { for i in input.indices { input[i] = 0 } }
        let rc = input.withUnsafeBufferPointer { c in
            crypto_pwhash_str_alg(
                &out,
                c.baseAddress!,
                UInt64(password.count),
                cost.opsLimit,
                cost.memLimit,
                crypto_pwhash_alg_argon2id13()
            )
        }
        guard rc == 0 else { throw CryptoError.passwordHashingFailed }
        return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// True when `password` matches `encoded`; false on mismatch or a malformed hash.
    public static func verify(_ password: [UInt8], against encoded: String) -> Bool {
        guard (try? Sodium.ready()) != nil else { return false }
        var str = Array(encoded.utf8CString)
        guard str.count <= Int(crypto_pwhash_strbytes()) else { return false }
        str.append(contentsOf: [CChar](repeating: 0, count: Int(crypto_pwhash_strbytes()) - str.count))
        var input = password.map { CChar(bitPattern: $0) } + [0]
        defer { for i in input.indices { input[i] = 0 } }
        return input.withUnsafeBufferPointer { c in
            crypto_pwhash_str_verify(&str, c.baseAddress!, UInt64(password.count)) == 0
        }
    }

    /// Hashes a password held in guarded memory; the bytes never leave it.
    public static func hash(_ password: SecretBytes, cost: Argon2idCost) throws -> String {
        try Sodium.ready()
        var out = [CChar](repeating: 0, count: Int(crypto_pwhash_strbytes()))
        let rc = password.withUnsafeBytes { bytes in
            // SecretBytes always has a valid base address, also for zero bytes.
            crypto_pwhash_str_alg(
                &out,
                bytes.baseAddress!.assumingMemoryBound(to: CChar.self),
                UInt64(bytes.count),
                cost.opsLimit,
                cost.memLimit,
                crypto_pwhash_alg_argon2id13()
            )
        }
        guard rc == 0 else { throw CryptoError.passwordHashingFailed }
        return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// True when the password in guarded memory matches `encoded`; false on mismatch or a
    /// malformed hash.
    public static func verify(_ password: SecretBytes, against encoded: String) -> Bool {
        guard (try? Sodium.ready()) != nil else { return false }
        var str = Array(encoded.utf8CString)
        guard str.count <= Int(crypto_pwhash_strbytes()) else { return false }
        str.append(contentsOf: [CChar](repeating: 0, count: Int(crypto_pwhash_strbytes()) - str.count))
        return password.withUnsafeBytes { bytes in
            crypto_pwhash_str_verify(&str, bytes.baseAddress!.assumingMemoryBound(to: CChar.self), UInt64(bytes.count)) == 0
        }
    }

    /// The cost parameters of an encoded argon2id string, `m=…,t=…,p=…` (not secret: they are
    /// part of the public format), or nil when it is not an argon2id string.
    public static func parameters(of encoded: String) -> String? {
        let parts = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 6, parts[1] == "argon2id", parts[3].hasPrefix("m=") else { return nil }
        return String(parts[3])
    }

    /// True when `encoded` was made with other parameters than `cost` (or another algorithm).
    public static func needsRehash(_ encoded: String, cost: Argon2idCost) -> Bool {
        guard (try? Sodium.ready()) != nil else { return true }
        var str = Array(encoded.utf8CString)
        guard str.count <= Int(crypto_pwhash_strbytes()) else { return true }
        str.append(contentsOf: [CChar](repeating: 0, count: Int(crypto_pwhash_strbytes()) - str.count))
        // Not crypto_pwhash_str_needs_rehash: it dispatches on the prefix and answers 0 for an
        // argon2i string with the same t and m. The argon2id variant answers -1 (rehash) for
        // anything that is not argon2id.
        return crypto_pwhash_argon2id_str_needs_rehash(&str, cost.opsLimit, cost.memLimit) != 0
    }
}
