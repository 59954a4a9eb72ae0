import Foundation
import VigilAudit
import VigilCrypto

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
    /// The API key `id` as committed now (every service request starts with this look-up, so a
    /// store may make it cheaper than a `read`, but never stale: a revoked key must fail the
    /// next request).
    func apiKey(id: String) async throws -> APIKeyRecord?
}

extension DataStore {
    public func apiKey(id: String) async throws -> APIKeyRecord? {
        try await read { try $0.apiKey(id: id) }
    }
}

public protocol StoreReading: SecondFactorReading, PasswordReading, SuspiciousLoginReading, OutboxReading, PasswordResetReading, AgentReading,
    CaseReading, CaseFileEvidenceReading
{
    func subject(id: String) throws -> Subject?
    func subjectExists(id: String) throws -> Bool
    func subjectID(email: String) throws -> String?
    func subjectID(phone: String) throws -> String?
    func apiKey(id: String) throws -> APIKeyRecord?
    func apiKeys() throws -> [APIKeyRecord]
}

public protocol StoreWriting: StoreReading, SecondFactorWriting, PasswordWriting, SuspiciousLoginWriting, OutboxWriting, PasswordResetWriting,
    AgentWriting, CaseWriting, CaseFileEvidenceWriting
{
    /// Inserts a subject; throws `VigilError.alreadyExists` when the id is taken.
    func insertSubject(_ subject: SubjectRegistration, at time: Date) throws
    func insertAPIKey(_ key: APIKeyRecord) throws
    /// Marks a key revoked; false when there is no such key or it was already revoked.
    func revokeAPIKey(id: String, at time: Date) throws -> Bool
    /// Appends an audit entry in this transaction.
    func appendAudit(_ event: AuditRecord) throws
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

/// A TOTP secret with its parameters, pending (enrolment) or active (credential).
public struct TOTPRecord: Sendable {
    public var secret: SecretBytes
    public var algorithm: OneTimePassword.Algorithm
    public var digits: Int
    public var period: Int
    /// The last accepted time step (active credentials only).
    public var lastStep: UInt64?
    /// When the enrolment started, or when the credential was activated.
    public var since: Date

    public init(
        secret: SecretBytes,
        algorithm: OneTimePassword.Algorithm,
        digits: Int,
        period: Int,
        lastStep: UInt64?,
        since: Date
    ) {
        self.secret = secret
        self.algorithm = algorithm
        self.digits = digits
        self.period = period
        self.lastStep = lastStep
        self.since = since
    }
}

/// Consecutive failures of one factor of one subject, and the lock they caused.
public struct FactorState: Sendable, Equatable {
    public var consecutiveFailures: Int
    /// Locked until this time; nil when not locked by time.
    public var lockedUntil: Date?
    /// Locked until an agent or a completed recovery unlocks it.
    public var lockedIndefinitely: Bool

    public init(consecutiveFailures: Int = 0, lockedUntil: Date? = nil, lockedIndefinitely: Bool = false) {
        self.consecutiveFailures = consecutiveFailures
        self.lockedUntil = lockedUntil
        self.lockedIndefinitely = lockedIndefinitely
    }

    public static let clear = FactorState()

    /// Seconds until an attempt may succeed again; nil when not locked at `now`.
    public func retryAfter(now: Date) -> Int? {
        if lockedIndefinitely { return 86_400 }
        guard let until = lockedUntil, until > now else { return nil }
        return max(1, Int(until.timeIntervalSince(now).rounded(.up)))
    }
}

/// A fixed-window request counter: the start of the window counted (Unix seconds; 0 when
/// nothing was counted yet) and the requests in it.
public struct RateWindow: Sendable, Equatable {
    public var windowStart: Int64
    public var count: Int64

    public init(windowStart: Int64 = 0, count: Int64 = 0) {
        self.windowStart = windowStart
        self.count = count
    }

    /// The counter with one more request at `now`, and the seconds to wait when that request
    /// is over `limit` (nil when it is within it).
    public func counted(limit: Int, windowSeconds: Int, now: Date) -> (window: RateWindow, retryAfter: Int?) {
        let t = Int64(now.timeIntervalSince1970.rounded(.down))
        let start = t - t % Int64(windowSeconds)
        let next = RateWindow(windowStart: start, count: windowStart == start ? count + 1 : 1)
        return (next, next.count > Int64(limit) ? Int(start + Int64(windowSeconds) - t) : nil)
    }
}

/// What the store keeps per subject and one-time-code factor (TOTP, recovery code) in one row,
/// so that a check writes one row: the failure state, the factor's request counter, and the
/// times of its recent failures for the suspicious-login burst rule.
public struct FactorCounters: Sendable, Equatable {
    public var state: FactorState
    public var rate: RateWindow
    /// Failures of the last `failureHistorySeconds`, at most `failureHistoryCount` (the newest),
    /// in milliseconds since 1970.
    public var recentFailures: [Int64]

    /// The burst rule's largest window (policy: `window_minutes` ≤ 1440) and count (≤ 100):
    /// older or further failures can never change its answer.
    public static let failureHistorySeconds: Int64 = 86_400
    public static let failureHistoryCount = 100

    public init(state: FactorState = .clear, rate: RateWindow = RateWindow(), recentFailures: [Int64] = []) {
        self.state = state
        self.rate = rate
        self.recentFailures = recentFailures
    }

    /// Adds a failure at `time` and forgets what the burst rule can no longer count.
    public mutating func addFailure(at time: Date) {
        let ms = Int64((time.timeIntervalSince1970 * 1000).rounded(.down))
        recentFailures.removeAll { $0 < ms - Self.failureHistorySeconds * 1000 }
        recentFailures.append(ms)
        if recentFailures.count > Self.failureHistoryCount {
            recentFailures.sort()
            recentFailures.removeFirst(recentFailures.count - Self.failureHistoryCount)
        }
    }

    /// Failures at or after `time`.
    public func failures(since time: Date) -> Int {
        let ms = Int64((time.timeIntervalSince1970 * 1000).rounded(.down))
        return recentFailures.reduce(0) { $0 + ($1 >= ms ? 1 : 0) }
    }
}

/// Everything one TOTP or recovery-code check reads before it decides, read at once (one
/// statement on the SQLite store) inside the writer's transaction.
public struct SecondFactorSnapshot: Sendable {
    public var freeze: AccountFreeze?
    /// The factor's failure state, request counter and recent failures.
    public var counters: FactorCounters
    /// The active TOTP credential; read only for a TOTP check.
    public var totp: TOTPRecord?
    /// Unused recovery codes.
    public var recoveryCodesRemaining: Int

    public init(freeze: AccountFreeze?, counters: FactorCounters, totp: TOTPRecord?, recoveryCodesRemaining: Int) {
        self.freeze = freeze
        self.counters = counters
        self.totp = totp
        self.recoveryCodesRemaining = recoveryCodesRemaining
    }
}

/// Second-factor storage.
public protocol SecondFactorReading {
    func totpCredential(subjectID: String) throws -> TOTPRecord?
    func totpEnrolment(subjectID: String) throws -> TOTPRecord?
    func factorState(subjectID: String, factor: AuthenticationPolicy.Factor) throws -> FactorState
    func recoveryCodesRemaining(subjectID: String) throws -> Int
}

public protocol SecondFactorWriting: SecondFactorReading {
    /// Starts (or restarts) an enrolment; an active credential is untouched.
    func saveTOTPEnrolment(subjectID: String, _ record: TOTPRecord) throws
    /// Makes the pending enrolment the active credential, with `acceptedStep` as its last step.
    func activateTOTP(subjectID: String, acceptedStep: UInt64, at time: Date) throws
    /// Removes the active credential and any pending enrolment; false when there was neither.
    func removeTOTP(subjectID: String) throws -> Bool
    /// Records `step` as accepted when it is after the stored last step; false otherwise
    /// (a concurrent request accepted this step or a later one first).
    func advanceTOTPStep(subjectID: String, to step: UInt64) throws -> Bool
    func setFactorState(subjectID: String, factor: AuthenticationPolicy.Factor, _ state: FactorState) throws
    /// Replaces the subject's recovery codes (stored as keyed hashes) with `codes`.
    func replaceRecoveryCodes(subjectID: String, codes: [String], setID: String, at time: Date) throws
    /// Marks `code` used if it is an unused code of the subject; false otherwise.
    func consumeRecoveryCode(subjectID: String, code: String, at time: Date) throws -> Bool
    /// Counts one request against a fixed-window limit; returns the seconds to wait when the
    /// limit is exceeded, nil when the request is within it.
    func countRequest(key: String, limit: Int, windowSeconds: Int, now: Date) throws -> Int?
    /// The subject's freeze, the factor's counters, the active TOTP credential (when `factor`
    /// is `.totp`) and the unused recovery codes; nil when the subject does not exist.
    /// `factor` is `.totp` or `.recoveryCode`.
    func secondFactorSnapshot(subjectID: String, factor: AuthenticationPolicy.Factor) throws -> SecondFactorSnapshot?
    /// The counters of a one-time-code factor (`.totp`, `.recoveryCode`).
    func factorCounters(subjectID: String, factor: AuthenticationPolicy.Factor) throws -> FactorCounters
    /// Writes all of a one-time-code factor's counters, in one row.
    func saveFactorCounters(subjectID: String, factor: AuthenticationPolicy.Factor, _ counters: FactorCounters) throws
}

/// Read access to the audit log for exports (the auditor role / `audit:read`).
public protocol AuditLogStore: Sendable {
    /// Writes an export of the entries whose time is within `from…to` (inclusive, either open)
    /// to `directory`; returns the number of entries and checkpoints written.
    func exportAudit(to directory: String, from: Date?, to: Date?, keys: [NoteVerifierKey]) async throws -> (entries: UInt64, checkpoints: Int)
}
