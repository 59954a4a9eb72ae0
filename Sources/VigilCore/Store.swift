import Foundation

/// The storage contract. Core defines it; `VigilStore` implements it on SQLite.
///
/// Rules:
/// - one use case is one `write` transaction: every change and its audit entry commit
///   together or not at all (an audit append that fails rolls the change back);
/// - transactions run off the caller's thread (never on an event loop) and are serialised
///   per database;
/// - repositories encrypt personal data on the way in and decrypt on the way out; nothing
///   outside the store sees ciphertext or key material.
public protocol DataStore: Sendable {
    func read<T: Sendable>(_ body: @escaping @Sendable (any StoreReading) throws -> T) async throws -> T
    func write<T: Sendable>(_ body: @escaping @Sendable (any StoreWriting) throws -> T) async throws -> T
    /// A cheap check that the database answers, for `/readyz`.
    func ping() async -> Bool
}

public protocol StoreReading {
    func subject(id: String) throws -> Subject?
    func subjectID(email: String) throws -> String?
    func subjectID(phone: String) throws -> String?
    func apiKey(id: String) throws -> APIKeyRecord?
    func apiKeys() throws -> [APIKeyRecord]
}

public protocol StoreWriting: StoreReading {
    /// Inserts a subject; throws `VigilError.alreadyExists` when the id is taken.
    func insertSubject(_ subject: SubjectRegistration, at time: Date) throws
    func insertAPIKey(_ key: APIKeyRecord) throws
    /// Marks a key revoked; false when there is no such key or it was already revoked.
    func revokeAPIKey(id: String, at time: Date) throws -> Bool
    /// Appends an audit entry in this transaction.
    func appendAudit(_ event: AuditEvent) throws
}

/// Data-key administration (`vigil keys …`).
public protocol KeyAdministration: Sendable {
    /// Adds a data-key version that becomes current for new writes.
    func rotateDataKey(actor: AuditActor) async throws -> UInt32
    /// Versions and how many stored fields each still holds.
    func keyStatus() async throws -> KeyStatus
    /// Re-encrypts up to `batchSize` fields under the current version, in one transaction;
    /// returns how many it rewrote (0 when nothing is left).
    func rewrapBatch(batchSize: Int, actor: AuditActor) async throws -> Int
}

public struct KeyStatus: Sendable, Equatable {
    public struct Version: Sendable, Equatable {
        public var version: UInt32
        public var createdAt: Date
        public var fields: Int
        public init(version: UInt32, createdAt: Date, fields: Int) {
            self.version = version
            self.createdAt = createdAt
            self.fields = fields
        }
    }
    public var current: UInt32
    public var versions: [Version]
    public init(current: UInt32, versions: [Version]) {
        self.current = current
        self.versions = versions
    }
    public var fieldsNotCurrent: Int { versions.filter { $0.version != current }.reduce(0) { $0 + $1.fields } }
}
