import Foundation
import VigilAudit
import VigilCore
import VigilCrypto
import VigilDelivery
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
        let verifier = try NoteVerifierKey(name: Self.auditKeyName, publicKey: signing.publicKey)
        try KeyFile.createPublic(
            path: auditSigningPublic,
            contents: "# Vigil audit checkpoint verifier keys (C2SP signed-note), newest last\n\(verifier.text)\n"
        )
    }

    /// Replaces the audit signing key: the new secret goes to a temporary file (exclusive,
    /// 0600), its verifier key is appended to audit-signing.pub (older keys stay, so older
    /// checkpoints keep verifying), then the temporary file is renamed over audit-signing.key.
    func rotateAuditSigning(to key: Ed25519.SigningKey) throws {
        let temporary = auditSigning + ".rotating"
        if FileManager.default.fileExists(atPath: temporary) { try FileManager.default.removeItem(atPath: temporary) }
        try KeyFile.createSecret(path: temporary, label: Self.auditSigningLabel, secret: key.seed)
        let verifier = try NoteVerifierKey(name: Self.auditKeyName, publicKey: key.publicKey)
        guard let handle = FileHandle(forWritingAtPath: auditSigningPublic) else { throw KeyFileError.writeFailed(path: auditSigningPublic) }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("\(verifier.text)\n".utf8))
        try handle.synchronize()
        try handle.close()
        guard rename(temporary, auditSigning) == 0 else { throw KeyFileError.writeFailed(path: auditSigning) }
    }

    /// Every verifier key in audit-signing.pub (older keys stay after a rotation).
    func loadVerifierKeys() throws -> [NoteVerifierKey] {
        guard let text = try? String(contentsOfFile: auditSigningPublic, encoding: .utf8) else {
            throw KeyFileError.missing(path: auditSigningPublic)
        }
        return try NoteVerifierKey.parseList(text)
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

    func loadAuditSigner() throws -> NoteSigner {
        let key = try Ed25519.SigningKey(seed: try KeyFile.readSecret(path: auditSigning, label: Self.auditSigningLabel, byteCount: 32))
        return try NoteSigner(name: Self.auditKeyName, key: key)
    }
}

extension CommonOptions {
    var keyPaths: KeyPaths { KeyPaths(dir: keysDirectory) }

    /// Opens the store with the deployment's master key and audit signing key (migrations run
    /// on open); the policies give the audit log's origin and checkpoint cadence.
    func openStore(
        policies: PolicySet? = nil,
        clock: any VigilClock = SystemClock(),
        extraSigners: [NoteSigner] = []
    ) throws
        -> SQLiteStore
    {
        let policies = try policies ?? loadPolicies()
        let keys = keyPaths
        guard keys.exists else {
            Console.error("no master key at \(keys.master)")
            Console.hint("create the keys with: vigil keys init --keys-dir \(keys.dir)")
            throw Reported()
        }
        try keys.checkPermissions()
        let signing = AuditSigning(
            signers: [try keys.loadAuditSigner()],
            origin: policies.audit.origin,
            everyEntries: policies.audit.checkpointEveryEntries
        )
        let master = try keys.loadMaster()
        let database = try databaseSetting
        try PathCheck.databaseFile(database)
        let folder = (database.text as NSString).deletingLastPathComponent
        if let problem = PathCheck.createFolders(folder) {
            throw ConfigurationError("\(database.name): cannot create the folder \(folder) of the database \(database.text): \(problem)")
        }
        do {
            return try SQLiteStore(path: database.text, masterKey: master, signing: signing, clock: clock)
        } catch let error as SQLiteError where Self.unopenable.contains(error.code & 0xff) {
            throw ConfigurationError("\(database.name): cannot open the database \(database.text): \(error.message)")
        } catch let error as SQLiteError {
            throw error
        } catch let error as StoreError {
            throw error
        } catch let error as CryptoError {
            throw error
        } catch let error as AuditError {
            throw error
        } catch let error as VigilError {
            throw error
        } catch {
            // Only the folder's creation throws anything else (a Foundation error), and the
            // folder exists by now.
            throw ConfigurationError("\(database.name): cannot open the database \(database.text): \(error.localizedDescription)")
        }
    }

    /// SQLite's primary result codes for a file that cannot be used as a database:
    /// SQLITE_PERM (3), SQLITE_READONLY (8), SQLITE_CANTOPEN (14), SQLITE_NOTADB (26).
    static let unopenable: Set<Int32> = [3, 8, 14, 26]
}

extension CommonOptions {
    /// Opens the store, runs `body`, then signs a checkpoint so the CLI's own audit entries
    /// are covered by a signature before it exits.
    func withStore<T>(_ body: (SQLiteStore) async throws -> T) async throws -> T {
        let store = try openStore()
        let result = try await body(store)
        try await store.checkpoint()
        return result
    }
}

/// Turns an error into one lower-case line for `vigil: error:`; never includes secret input.
func describe(_ error: any Error) -> String {
    switch error {
    case let e as KeyFileError: return e.description
    case let e as StoreError: return e.description
    case let e as CryptoError: return e.description
    case let e as AuditError: return e.description
    case let e as SQLiteError: return e.description
    case let e as OutboxConfigurationError: return e.description
    case let e as VigilError:
        switch e {
        case .invalidField(let field, let reason): return "\(field) \(reason)"
        case .malformedBody(let reason): return reason
        case .notFound(let resource): return "\(resource) not found"
        case .alreadyExists(let resource): return "\(resource) already exists"
        case .unauthenticated: return "not authenticated"
        case .forbidden(let needed): return "needs \(needed)"
        case .notAssignee: return "only the case's assignee, a supervisor or an admin may do this"
        case .rateLimited(let s): return "rate limited; retry in \(s)s"
        case .unavailable(let reason): return "unavailable: \(reason)"
        case .dataIntegrity(let reason): return "data integrity: \(reason)"
        case .invalidCode: return "the code is not valid"
        case .invalidToken: return "the token is invalid or expired"
        case .overloaded(let s): return "busy; retry in \(s)s"
        case .idempotencyConflict: return "the idempotency key was used for another request"
        case .accountFrozen: return "the account is frozen"
        case .conflict(let reason): return reason
        case .prerequisitesNotMet(let action, let missing): return "the checks passed do not allow \(action): \(missing)"
        case .fourEyes: return "needs the approval of a supervisor other than the requester"
        }
    default: return String(describing: error)
    }
}
