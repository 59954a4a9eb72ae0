import Foundation
import VigilCore
import VigilCrypto
import VigilStore

/// The key files of a deployment (see Keys/README.md).
struct KeyPaths {
    let dir: String
    var master: String { (dir as NSString).appendingPathComponent("master.key") }
    var auditSigning: String { (dir as NSString).appendingPathComponent("audit-signing.key") }
    var auditSigningPublic: String { (dir as NSString).appendingPathComponent("audit-signing.pub") }

    static let masterLabel = "vigil-master-key-v1"
    static let auditSigningLabel = "vigil-audit-signing-ed25519-v1"
    static let auditKeyName = "vigil-audit"

    var exists: Bool { FileManager.default.fileExists(atPath: master) }

    /// Creates master.key, audit-signing.key (0600) and audit-signing.pub; refuses to overwrite.
    func initialise() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for path in [master, auditSigning, auditSigningPublic] where FileManager.default.fileExists(atPath: path) {
            throw KeyFileError.exists(path: path)
        }
        try KeyFile.createSecret(path: master, label: Self.masterLabel, secret: try SecretBytes.random(count: 32))
        let signing = try Ed25519.SigningKey.generate()
        try KeyFile.createSecret(path: auditSigning, label: Self.auditSigningLabel, secret: signing.seed)
        try KeyFile.createPublic(path: auditSigningPublic, contents: Self.verifierKey(signing.publicKey) + "\n")
    }

    /// The C2SP signed-note verifier key text: `<name>+<key hash hex>+<base64(0x01 ‖ key)>`.
    static func verifierKey(_ key: Ed25519.PublicKey) -> String {
        let encoded: [UInt8] = [0x01] + key.bytes
        var input = Array(auditKeyName.utf8)
        input.append(0x0A)
        input.append(contentsOf: encoded)
        let keyHash = SHA256.hash(input).prefix(4)
        return "\(auditKeyName)+\(ByteEncoding.hex(keyHash))+\(ByteEncoding.base64(encoded))"
    }

    /// Checks that no secret key file is readable by group or others (as ssh does).
    func checkPermissions() throws {
        for path in [master, auditSigning] where FileManager.default.fileExists(atPath: path) {
            try KeyFile.checkPrivate(path: path)
        }
    }

    func loadMaster() throws -> SecretBytes {
        try KeyFile.readSecret(path: master, label: Self.masterLabel, byteCount: 32)
    }

    func loadAuditSigning() throws -> Ed25519.SigningKey {
        try Ed25519.SigningKey(seed: try KeyFile.readSecret(path: auditSigning, label: Self.auditSigningLabel, byteCount: 32))
    }
}

extension CommonOptions {
    var keyPaths: KeyPaths { KeyPaths(dir: keysDirectory) }

    /// Opens the store with the deployment's master key (migrations run on open).
    func openStore(clock: any VigilClock = SystemClock()) throws -> SQLiteStore {
        let keys = keyPaths
        guard keys.exists else {
            Console.error("no master key at \(keys.master)")
            Console.hint("create the keys with: vigil keys init --keys-dir \(keys.dir)")
            throw Reported()
        }
        try keys.checkPermissions()
        return try SQLiteStore(path: databasePath, masterKey: try keys.loadMaster(), clock: clock)
    }
}

/// Turns an error into one lower-case line for `vigil: error:`; never includes secret input.
func describe(_ error: any Error) -> String {
    switch error {
    case let e as KeyFileError: return e.description
    case let e as StoreError: return e.description
    case let e as CryptoError: return e.description
    case let e as VigilError:
        switch e {
        case .invalidField(let field, let reason): return "\(field) \(reason)"
        case .malformedBody(let reason): return reason
        case .notFound(let resource): return "\(resource) not found"
        case .alreadyExists(let resource): return "\(resource) already exists"
        case .unauthenticated: return "not authenticated"
        case .forbidden(let needed): return "needs \(needed)"
        case .rateLimited(let s): return "rate limited; retry in \(s)s"
        case .unavailable(let reason): return "unavailable: \(reason)"
        case .dataIntegrity(let reason): return "data integrity: \(reason)"
        }
    default: return String(describing: error)
    }
}
