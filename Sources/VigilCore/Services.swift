import Foundation

/// Everything the domain needs from the outside, in one value (STYLE.md practice 3).
public struct VigilDependencies: Sendable {
    public var store: any DataStore
    public var clock: any VigilClock
    public var policies: PolicySet
    /// The one place argon2id runs (a bounded pool of threads; see `PasswordHasher`).
    public var passwordHasher: PasswordHasher
    /// The common-password list the authentication policy names, loaded at start.
    public var passwordBlocklist: PasswordBlocklist
    /// The channels a notice to a user goes out on, one message each (`SecurityNotice`): the
    /// webhook when one is configured, else the file channel (the composition root decides).
    public var noticeChannels: [OutboundMessage.Channel] = [.file]

    public init(
        store: any DataStore,
        clock: any VigilClock,
        policies: PolicySet,
        passwordHasher: PasswordHasher,
        passwordBlocklist: PasswordBlocklist
    ) {
        self.store = store
        self.clock = clock
        self.policies = policies
        self.passwordHasher = passwordHasher
        self.passwordBlocklist = passwordBlocklist
    }
}

/// Start-of-run bookkeeping.
public enum RunRecord {
    /// The first audit entry of each run: which policies are in force (their digest), so an
    /// auditor can tie every later decision to reviewed policy text.
    public static func recordStart(_ deps: VigilDependencies, component: String) async throws {
        let now = deps.clock.now()
        try await deps.store.write { tx in
            try tx.appendAudit(
                AuditRecord(
                    action: "service.started",
                    actor: .system,
                    details: ["component": .string(component), "policy_digest": .string(deps.policies.digest)],
                    time: now
                )
            )
        }
    }
}

/// Subject registration.
public struct SubjectService: Sendable {
    let deps: VigilDependencies

    public init(_ deps: VigilDependencies) { self.deps = deps }

    /// Registers a subject (encrypting its personal data) and records `subject.created`.
    public func register(
        _ registration: SubjectRegistration,
        by principal: Principal,
        request: RequestInfo
    )
        async throws -> Date
    {
        try principal.require(.subjectsWrite)
        let subject = try registration.validated()
        let now = deps.clock.now()
        try await deps.store.write { tx in
            try tx.insertSubject(subject, at: now)
            var details: [String: AuditValue] = [:]
            details["fields"] = .string(
                [
                    subject.email == nil ? nil : "email", subject.phone == nil ? nil : "phone",
                    subject.displayName == nil ? nil : "display_name",
                ].compactMap { $0 }.joined(separator: ",")
            )
            try tx.appendAudit(
                AuditRecord(
                    action: "subject.created",
                    actor: principal.actor,
                    target: .init(type: "subject", id: subject.subjectID),
                    requestID: request.requestID,
                    sourceIP: request.sourceIP,
                    details: details,
                    time: now
                )
            )
        }
        return now
    }
}

/// Service-client authentication and API-key administration.
public struct APIKeyService: Sendable {
    let store: any DataStore
    let clock: any VigilClock

    public init(store: any DataStore, clock: any VigilClock) {
        self.store = store
        self.clock = clock
    }

    public init(_ deps: VigilDependencies) { self.init(store: deps.store, clock: deps.clock) }

    /// Resolves a presented bearer token to a principal; every failure is `unauthenticated`
    /// (malformed, unknown, wrong secret, revoked look the same to the caller).
    public func authenticate(bearer: String?) async throws -> Principal {
        guard let bearer, let token = APIKeyToken.parse(bearer) else { throw VigilError.unauthenticated }
        let record = try await store.apiKey(id: token.id)
        guard let record, token.matches(record), record.revokedAt == nil else { throw VigilError.unauthenticated }
        return .service(keyID: record.id, name: record.name, scopes: record.scopes)
    }

    /// Creates a key; the returned token is the only copy of the secret.
    public func create(name: String, scopes: [Scope], actor: AuditActor) async throws -> (APIKeyRecord, APIKeyToken) {
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed.count <= 100 else {
            throw VigilError.invalidField(field: "name", reason: "must be 1-100 characters")
        }
        let token = APIKeyToken.generate()
        let now = clock.now()
        let record = APIKeyRecord(
            id: token.id,
            name: trimmed,
            secretHash: token.secretHash,
            scopes: scopes,
            createdAt: now,
            revokedAt: nil
        )
        try await store.write { tx in
            try tx.insertAPIKey(record)
            try tx.appendAudit(
                AuditRecord(
                    action: "apikey.created",
                    actor: actor,
                    target: .init(type: "api_key", id: record.id),
                    details: ["scopes": .string(scopes.map(\.rawValue).joined(separator: ","))],
                    time: now
                )
            )
        }
        return (record, token)
    }

    public func list() async throws -> [APIKeyRecord] {
        try await store.read { try $0.apiKeys() }
    }

    /// Revokes a key at once: the next request with it is refused.
    public func revoke(id: String, actor: AuditActor) async throws {
        let now = clock.now()
        try await store.write { tx in
            guard try tx.revokeAPIKey(id: id, at: now) else { throw VigilError.notFound(resource: "api_key") }
            try tx.appendAudit(
                AuditRecord(action: "apikey.revoked", actor: actor, target: .init(type: "api_key", id: id), time: now)
            )
        }
    }
}
