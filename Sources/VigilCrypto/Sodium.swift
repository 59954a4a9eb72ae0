import CSodium

/// Errors from the cryptographic layer. Messages never carry key material or plaintext.
public enum CryptoError: Error, Equatable, Sendable, CustomStringConvertible {
    /// libsodium could not be initialised (no entropy source, for instance).
    case initialisationFailed
    /// A ciphertext did not authenticate: wrong key, altered bytes, or moved to another row.
    case authenticationFailed
    /// A ciphertext or key blob did not have the expected structure.
    case malformed(String)
    /// A ciphertext names a data-key version this keyring does not hold.
    case unknownKeyVersion(UInt32)
    /// A primitive returned an error code.
    case primitiveFailed(String)
    /// Hashing a password ran out of memory or hit a limit.
    case passwordHashingFailed

    public var description: String {
        switch self {
        case .initialisationFailed: "cryptography library failed to initialise"
        case .authenticationFailed: "ciphertext failed authentication (altered, moved or wrong key)"
        case .malformed(let what): "malformed \(what)"
        case .unknownKeyVersion(let v): "unknown data-key version \(v)"
        case .primitiveFailed(let name): "\(name) failed"
        case .passwordHashingFailed: "password hashing failed"
        }
    }
}

/// `sodium_init` runs exactly once, the first time any part of VigilCrypto needs it.
private let sodiumInitResult: Int32 = sodium_init()

enum Sodium {
    /// Ensures libsodium is initialised; every entry point that touches libsodium calls this.
    @inline(__always)
    static func ready() throws {
        guard sodiumInitResult >= 0 else { throw CryptoError.initialisationFailed }
    }

    /// Sends a libsodium return code through one check (STYLE.md practice 2).
    @inline(__always)
    static func check(_ rc: Int32, _ name: StaticString) throws {
        guard rc == 0 else { throw CryptoError.primitiveFailed("\(name)") }
    }
}

/// Initialises libsodium eagerly; call it at process start so that a broken
/// environment is found before the first request, not during it.
public func initialiseCrypto() throws {
    try Sodium.ready()
}
