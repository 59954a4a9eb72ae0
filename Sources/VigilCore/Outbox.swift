import Foundation
import VigilCrypto

/// Messages to wallet users and to the wallet backend, delivered through a transactional outbox.
///
/// Rules:
/// - a message is written by `enqueueMessage` inside the transaction of the change that causes
///   it: the change never commits without its message, nor the message without its change;
/// - its id (`msg_` and 32 hex characters, 128 random bits) is fixed when it is enqueued and
///   sent with every attempt, and the body is the same bytes on every attempt, so a receiver
///   dedupes by id;
/// - the recipient and the payload are personal data (a contact address, a reset link): the
///   store encrypts them, bound to the message's row; they never appear in logs, audit entries,
///   `last_error` or the status listing;
/// - status moves `pending` → `delivered` (the channel acknowledged) or `pending` → `abandoned`
///   (after `outbox.max_attempts` in `Policies/recovery.yaml`, audited `outbox.abandoned`), and
///   never back; `attempts` counts attempts started, an attempt cut off by a crash included.
///
/// `docs/outbox.md` describes the delivery guarantees, the wire format and the signature.
public struct OutboundMessage: Sendable, Equatable {
    /// What the message is about; an open set of snake_case names.
    public struct Kind: RawRepresentable, Sendable, Hashable {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// A reset link for the user.
        public static let passwordReset = Kind(rawValue: "password_reset")
        /// A notice to the user that something security-relevant happened to the account.
        public static let securityNotice = Kind(rawValue: "security_notice")
        /// To the wallet backend: the credentials changed, end the subject's sessions.
        public static let credentialsChanged = Kind(rawValue: "credentials_changed")
        /// To a support agent (and the admins): something security-relevant happened to the
        /// agent's console account. `subject_id` holds the agent's id (`agt_…`), the recipient
        /// is the agent's work email.
        public static let agentNotice = Kind(rawValue: "agent_notice")
    }

    /// How the message leaves Vigil.
    public enum Channel: String, Sendable, CaseIterable {
        /// HTTP POST to the wallet backend, signed (`VIGIL_WEBHOOK_URL`).
        case webhook
        /// One JSON line per message in the outbox folder (development; `--outbox-dir`).
        case file
    }

    /// Where the receiver should send the message on, when Vigil knows it.
    public enum Recipient: Sendable, Equatable {
        case email(String)
        case phone(String)

        public var type: String {
            switch self {
            case .email: "email"
            case .phone: "phone"
            }
        }

        public var address: String {
            switch self {
            case .email(let a), .phone(let a): a
            }
        }

        public init?(type: String, address: String) {
            switch type {
            case "email": self = .email(address)
            case "phone": self = .phone(address)
            default: return nil
            }
        }
    }

    public var id: String
    public var kind: Kind
    /// The wallet backend's id of the subject the message is about.
    public var subjectID: String
    public var channel: Channel
    public var recipient: Recipient?
    /// The message's content: an object whose members depend on `kind`.
    public var payload: [String: JSONValue]
    public var createdAt: Date

    public init(
        id: String = OutboundMessage.newID(),
        kind: Kind,
        subjectID: String,
        channel: Channel,
        recipient: Recipient? = nil,
        payload: [String: JSONValue] = [:],
        createdAt: Date
    ) {
        self.id = id
        self.kind = kind
        self.subjectID = subjectID
        self.channel = channel
        self.recipient = recipient
        self.payload = payload
        self.createdAt = createdAt
    }

    /// A fresh message id: `msg_` and 32 lowercase hex characters.
    public static func newID() -> String { "msg_" + ByteEncoding.hex(SecureRandom.bytes(16)) }

    /// Whether `id` has the form `newID` makes.
    public static func isValidID(_ id: String) -> Bool {
        let u = Array(id.utf8)
        return u.count == 36 && id.hasPrefix("msg_") && u[4...].allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// The body every channel delivers: one line of JSON with sorted keys and no insignificant
    /// whitespace, the same bytes on every attempt.
    ///
    ///     {"channel":"webhook","created_at":"…","id":"msg_…","kind":"security_notice",
    ///      "payload":{…},"recipient":null,"subject_id":"…","version":1}
    ///
    /// `recipient` is null or `{"address":"…","type":"email"|"phone"}`.
    public func body() -> [UInt8] {
        var recipientValue = JSONValue.null
        if let recipient {
            recipientValue = .object(["type": .string(recipient.type), "address": .string(recipient.address)])
        }
        let envelope: [String: JSONValue] = [
            "version": 1,
            "id": .string(id),
            "kind": .string(kind.rawValue),
            "subject_id": .string(subjectID),
            "channel": .string(channel.rawValue),
            "recipient": recipientValue,
            "payload": .object(payload),
            "created_at": .string(Timestamp.format(createdAt)),
        ]
        return JSONValue.object(envelope).encoded()
    }
}

/// A JSON value for message payloads (no floating-point numbers: amounts and times travel as
/// strings or integers).
public enum JSONValue: Sendable, Equatable, Codable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? c.decode(Int64.self) {
            self = .int(n)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .int(let n): try c.encode(n)
        case .bool(let b): try c.encode(b)
        case .null: try c.encodeNil()
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// Compact JSON with sorted keys and unescaped slashes: the same value always gives the
    /// same bytes.
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // try! is safe: every case encodes (strings, integers, booleans, null and containers of them).
        return Array(try! encoder.encode(self))
    }

    /// Parses JSON text (the stored form of a payload).
    public static func decode(_ bytes: [UInt8]) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

/// A message's delivery state, without its personal data (for support and the wallet backend).
public struct OutboxMessageStatus: Sendable, Equatable {
    public enum State: String, Sendable {
        case pending, delivered, abandoned
    }

    public var id: String
    public var kind: OutboundMessage.Kind
    public var channel: OutboundMessage.Channel
    public var state: State
    /// Attempts started so far.
    public var attempts: Int
    public var createdAt: Date
    public var lastAttemptAt: Date?
    /// When the next attempt is due (pending messages only).
    public var nextAttemptAt: Date?
    /// When it was delivered or abandoned.
    public var finishedAt: Date?
    /// Why the last attempt failed, in Vigil's words (`http_status 503`, `timeout`): never a
    /// response body, an address or other personal data.
    public var lastError: String?

    public init(
        id: String,
        kind: OutboundMessage.Kind,
        channel: OutboundMessage.Channel,
        state: State,
        attempts: Int,
        createdAt: Date,
        lastAttemptAt: Date?,
        nextAttemptAt: Date?,
        finishedAt: Date?,
        lastError: String?
    ) {
        self.id = id
        self.kind = kind
        self.channel = channel
        self.state = state
        self.attempts = attempts
        self.createdAt = createdAt
        self.lastAttemptAt = lastAttemptAt
        self.nextAttemptAt = nextAttemptAt
        self.finishedAt = finishedAt
        self.lastError = lastError
    }
}

/// A message the worker has claimed for one attempt.
public struct ClaimedMessage: Sendable, Equatable {
    public var message: OutboundMessage
    /// The number of this attempt, 1-based (an attempt cut off by a crash counted).
    public var attempt: Int
    /// The claim's token: only its holder may record the outcome.
    public var claim: String
    /// Why the previous attempt failed, if one did.
    public var previousError: String?

    public init(message: OutboundMessage, attempt: Int, claim: String, previousError: String?) {
        self.message = message
        self.attempt = attempt
        self.claim = claim
        self.previousError = previousError
    }
}

/// The outcome of one attempt, as the worker records it.
public enum DeliveryCompletion: Sendable, Equatable {
    /// The channel acknowledged the message.
    case delivered(at: Date)
    /// The attempt failed; try again at `next`.
    case retry(at: Date, next: Date, error: String)
    /// The attempt failed and no attempt is left.
    case abandoned(at: Date, error: String)
}

/// Outbox storage: reads.
public protocol OutboxReading {
    /// The messages about a subject, newest first, at most `limit`.
    func outboxMessages(subjectID: String, limit: Int) throws -> [OutboxMessageStatus]
    func outboxMessage(id: String) throws -> OutboxMessageStatus?
}

/// Outbox storage: the use cases' enqueue, and the worker's claim and completion.
public protocol OutboxWriting: OutboxReading {
    /// Adds a pending message, due at once, in this transaction.
    func enqueueMessage(_ message: OutboundMessage) throws
    /// Claims up to `limit` due messages on `channels` for one attempt each, atomically: a
    /// message is due when it is pending, its next attempt is at or before `now`, and no live
    /// claim holds it (a claim lapses at `leaseUntil`, so a crashed worker's messages are
    /// retried). Counts the attempt and returns the messages decrypted, oldest due first. A
    /// message whose stored content fails to decrypt or decode (tampering, a lost key) is never
    /// sent: it is abandoned and audited (`outbox.abandoned`) here, and not returned.
    func claimOutboxMessages(
        channels: [OutboundMessage.Channel],
        now: Date,
        leaseUntil: Date,
        limit: Int
    ) throws -> [ClaimedMessage]
    /// Records the outcome of a claimed attempt; false (and nothing changed) when `claim` no
    /// longer holds the message (the lease lapsed and another worker claimed it).
    func completeOutboxMessage(id: String, claim: String, _ completion: DeliveryCompletion) throws -> Bool
    /// Erases recipient and payload of up to `limit` messages delivered or abandoned before
    /// `finishedBefore` (retention); the status row stays. Returns how many it erased.
    func purgeOutboxPersonalData(finishedBefore: Date, limit: Int) throws -> Int
}

/// Security notices to the user (factor added or removed, recovery codes replaced, lockout,
/// password changed, recovery started or finished): one message on each notice channel,
/// enqueued in the caller's transaction. The payload names the event and its time, and
/// details without personal data; the wallet backend, which knows the user, routes it (in
/// app, WeChat, SMS), so no recipient is attached.
public enum SecurityNotice {
    /// Enqueues `event` (snake_case, e.g. `totp_added`) for `subjectID`; returns the message ids.
    @discardableResult
    public static func enqueue(
        _ event: String,
        subjectID: String,
        details: [String: JSONValue] = [:],
        channels: [OutboundMessage.Channel],
        in tx: any OutboxWriting,
        at time: Date
    ) throws -> [String] {
        var payload = details
        payload["event"] = .string(event)
        payload["occurred_at"] = .string(Timestamp.format(time))
        var ids: [String] = []
        for channel in channels {
            let message = OutboundMessage(
                kind: .securityNotice,
                subjectID: subjectID,
                channel: channel,
                payload: payload,
                createdAt: time
            )
            try tx.enqueueMessage(message)
            ids.append(message.id)
        }
        return ids
    }
}

/// Delivery status for service clients and (with the cases issue) support agents.
public struct OutboxService: Sendable {
    let deps: VigilDependencies

    public init(_ deps: VigilDependencies) { self.deps = deps }

    /// The most messages one listing returns.
    public static let maxListed = 200

    /// A subject's messages, newest first, without their personal data.
    public func messages(subjectID: String, limit: Int = 50, by principal: Principal) async throws -> [OutboxMessageStatus] {
        try principal.require(.subjectsWrite)
        guard (1...Self.maxListed).contains(limit) else {
            throw VigilError.invalidField(field: "limit", reason: "must be 1-\(Self.maxListed)")
        }
        return try await deps.store.read { tx in
            guard try tx.subjectExists(id: subjectID) else { throw VigilError.notFound(resource: "subject") }
            return try tx.outboxMessages(subjectID: subjectID, limit: limit)
        }
    }
}
