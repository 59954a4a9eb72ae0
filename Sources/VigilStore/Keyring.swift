import Foundation
import VigilCore
import VigilCrypto

/// The keys the store works with, unwrapped from the `keyring` table with the master key.
///
/// Purposes: `data` (versioned; the newest encrypts new writes), `blind-index` (keyed BLAKE2b
/// for look-ups on encrypted values; one version: changing it means recomputing every index),
/// `pseudonym` (keyed BLAKE2b for identifiers in audit entries).
final class Keyring: @unchecked Sendable {
    // @unchecked Sendable: `dataKeys` is guarded by `lock`; the rest is immutable.
    static let dataPurpose = "data"
    static let blindIndexPurpose = "blind-index"
    static let pseudonymPurpose = "pseudonym"

    let master: SecretBytes
    let blindIndex: KeyedHasher
    let pseudonyms: KeyedHasher
    private let lock = NSLock()
    private var dataKeys: DataKeys

    init(master: SecretBytes, dataKeys: DataKeys, blindIndex: KeyedHasher, pseudonyms: KeyedHasher) {
        self.master = master
        self.dataKeys = dataKeys
        self.blindIndex = blindIndex
        self.pseudonyms = pseudonyms
    }

    var data: DataKeys { lock.withLock { dataKeys } }

    /// Loads every data key newer than those held (another process may have rotated).
    func refresh(_ conn: SQLiteConnection) throws {
        let known = data.current
        guard
            let newest = try conn.queryOne(
                "SELECT max(version) FROM keyring WHERE purpose = ?",
                [.text(Self.dataPurpose)],
                { $0.int(0) }
            ),
            UInt32(newest) > known
        else { return }
        var keys = data.keys
        let rows = try conn.query(
            "SELECT version, wrapped FROM keyring WHERE purpose = ? AND version > ?",
            [.text(Self.dataPurpose), .int(Int64(known))]
        ) { (UInt32($0.int(0)), $0.blob(1) ?? []) }
        for (version, wrapped) in rows {
            keys[version] = try Self.unwrap(wrapped, purpose: Self.dataPurpose, version: version, master: master)
        }
        let updated = try DataKeys(keys: keys, current: keys.keys.max() ?? known)
        lock.withLock { dataKeys = updated }
    }

    static func unwrap(_ wrapped: [UInt8], purpose: String, version: UInt32, master: SecretBytes) throws -> SecretBytes {
        do {
            return try KeyWrap.unwrap(wrapped, purpose: purpose, version: version, master: master)
        } catch {
            throw StoreError.masterKeyMismatch
        }
    }

    /// Loads the keyring, creating it on first use (one transaction, audited).
    static func loadOrBootstrap(
        _ conn: SQLiteConnection,
        master: SecretBytes,
        now: Date,
        pseudonymForBootstrap: Void = ()
    )
        throws -> (Keyring, bootstrapped: Bool)
    {
        let count = try conn.queryOne("SELECT count(*) FROM keyring", [], { $0.int(0) }) ?? 0
        var bootstrapped = false
        if count == 0 {
            try conn.transaction(immediate: true) {
                let again = try conn.queryOne("SELECT count(*) FROM keyring", [], { $0.int(0) }) ?? 0
                guard again == 0 else { return }
                for purpose in [dataPurpose, blindIndexPurpose, pseudonymPurpose] {
                    let key = try SecretBytes.random(count: 32)
                    let wrapped = try KeyWrap.wrap(key, purpose: purpose, version: 1, master: master)
                    try conn.run(
                        "INSERT INTO keyring (purpose, version, wrapped, created_at) VALUES (?, 1, ?, ?)",
                        [.text(purpose), .blob(wrapped), .text(Timestamp.format(now))]
                    )
                }
                bootstrapped = true
            }
        }
        func single(_ purpose: String) throws -> SecretBytes {
            guard
                let wrapped = try conn.queryOne(
                    "SELECT wrapped FROM keyring WHERE purpose = ? AND version = 1",
                    [.text(purpose)],
                    { $0.blob(0) }
                ),
                let wrapped
            else { throw StoreError.keyringIncomplete(purpose) }
            return try unwrap(wrapped, purpose: purpose, version: 1, master: master)
        }
        let rows = try conn.query("SELECT version, wrapped FROM keyring WHERE purpose = ?", [.text(dataPurpose)]) {
            (UInt32($0.int(0)), $0.blob(1) ?? [])
        }
        var keys: [UInt32: SecretBytes] = [:]
        for (version, wrapped) in rows {
            keys[version] = try unwrap(wrapped, purpose: dataPurpose, version: version, master: master)
        }
        guard let current = keys.keys.max() else { throw StoreError.keyringIncomplete(dataPurpose) }
        let keyring = Keyring(
            master: master,
            dataKeys: try DataKeys(keys: keys, current: current),
            blindIndex: try KeyedHasher(key: try single(blindIndexPurpose)),
            pseudonyms: try KeyedHasher(key: try single(pseudonymPurpose))
        )
        return (keyring, bootstrapped)
    }

    // MARK: field helpers

    func seal(_ value: String?, table: String, column: String, rowID: String) throws -> [UInt8]? {
        guard let value else { return nil }
        return try FieldCipher.seal(
            Array(value.utf8),
            context: FieldContext(table: table, column: column, rowID: rowID),
            keys: data
        )
    }

    func open(_ stored: [UInt8]?, table: String, column: String, rowID: String) throws -> String? {
        guard let stored else { return nil }
        do {
            let plain = try FieldCipher.open(
                stored,
                context: FieldContext(table: table, column: column, rowID: rowID),
                keys: data
            )
            return String(decoding: plain, as: UTF8.self)
        } catch let error as CryptoError {
            // Name where, never what.
            throw VigilError.dataIntegrity(reason: "\(table).\(column) of one row failed to decrypt: \(error)")
        }
    }

    func sealSecret(_ secret: SecretBytes, table: String, column: String, rowID: String) throws -> [UInt8] {
        var plain = secret.exportForKeyFile()
        defer { for i in plain.indices { plain[i] = 0 } }
        return try FieldCipher.seal(plain, context: FieldContext(table: table, column: column, rowID: rowID), keys: data)
    }

    func openSecret(_ stored: [UInt8], table: String, column: String, rowID: String) throws -> SecretBytes {
        do {
            var plain = try FieldCipher.open(
                stored,
                context: FieldContext(table: table, column: column, rowID: rowID),
                keys: data
            )
            defer { for i in plain.indices { plain[i] = 0 } }
            // Per-request secrets (a TOTP secret for one verification): zeroed heap memory,
            // not guarded pages — see SecretBytes(transient:).
            return try SecretBytes(transient: plain)
        } catch let error as CryptoError {
            throw VigilError.dataIntegrity(reason: "\(table).\(column) of one row failed to decrypt: \(error)")
        }
    }

    func pseudonym(_ kind: String, _ id: String) -> String {
        ByteEncoding.hex(pseudonyms.digest(domain: "audit.\(kind)", value: id))
    }
}

/// Store-level failures (configuration and integrity, not client errors).
public enum StoreError: Error, CustomStringConvertible, Sendable {
    case masterKeyMismatch
    case keyringIncomplete(String)
    case schemaTooNew(Int)

    public var description: String {
        switch self {
        case .masterKeyMismatch:
            "the master key does not unwrap the database's keys (wrong Keys/master.key for this database?)"
        case .keyringIncomplete(let purpose): "the database keyring has no '\(purpose)' key"
        case .schemaTooNew(let v): "the database schema (version \(v)) is newer than this build knows"
        }
    }
}
