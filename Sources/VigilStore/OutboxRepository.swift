import Foundation
import VigilCore
import VigilCrypto

/// The outbox (migration 4): messages enqueued by use cases, claimed and completed by the
/// worker. Recipient and payload are encrypted, bound to (`outbox_messages`, column, message id).
extension SQLiteTransaction {
    private static let table = "outbox_messages"

    // MARK: reads

    private static let statusColumns =
        "id, kind, channel, status, attempts, created_at, last_attempt_at, next_attempt_at, finished_at, last_error"

    private func status(_ row: Statement) throws -> OutboxMessageStatus {
        guard let channel = OutboundMessage.Channel(rawValue: row.text(2) ?? ""),
            let state = OutboxMessageStatus.State(rawValue: row.text(3) ?? "")
        else { throw VigilError.dataIntegrity(reason: "outbox_messages.channel or .status of one row is unknown") }
        return OutboxMessageStatus(
            id: row.text(0) ?? "",
            kind: OutboundMessage.Kind(rawValue: row.text(1) ?? ""),
            channel: channel,
            state: state,
            attempts: Int(row.int(4)),
            createdAt: Timestamp.parse(row.text(5) ?? "") ?? .distantPast,
            lastAttemptAt: row.text(6).flatMap(Timestamp.parse),
            nextAttemptAt: state == .pending ? row.text(7).flatMap(Timestamp.parse) : nil,
            finishedAt: row.text(8).flatMap(Timestamp.parse),
            lastError: row.text(9)
        )
    }

    func outboxMessages(subjectID: String, limit: Int) throws -> [OutboxMessageStatus] {
        try conn.query(
            "SELECT \(Self.statusColumns) FROM outbox_messages WHERE subject_id = ? ORDER BY seq DESC LIMIT ?",
            [.text(subjectID), .int(Int64(limit))],
            status
        )
    }

    func outboxMessage(id: String) throws -> OutboxMessageStatus? {
        try conn.queryOne("SELECT \(Self.statusColumns) FROM outbox_messages WHERE id = ?", [.text(id)], status)
    }

    // MARK: enqueue

    func enqueueMessage(_ message: OutboundMessage) throws {
        guard OutboundMessage.isValidID(message.id) else {
            throw VigilError.invalidField(field: "message.id", reason: "must be msg_ and 32 lowercase hex characters")
        }
        let id = message.id
        let recipient = message.recipient.map {
            String(decoding: JSONValue.object(["type": .string($0.type), "address": .string($0.address)]).encoded(), as: UTF8.self)
        }
        let payload = String(decoding: JSONValue.object(message.payload).encoded(), as: UTF8.self)
        let created = Timestamp.format(message.createdAt)
        try conn.run(
            """
            INSERT INTO outbox_messages (id, subject_id, kind, channel, recipient_ct, payload_ct, status, attempts, created_at, next_attempt_at)
            VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)
            """,
            [
                .text(id), .text(message.subjectID), .text(message.kind.rawValue), .text(message.channel.rawValue),
                .optionalBlob(try keyring.seal(recipient, table: Self.table, column: "recipient_ct", rowID: id)),
                .optionalBlob(try keyring.seal(payload, table: Self.table, column: "payload_ct", rowID: id)),
                .text(created), .text(created),
            ]
        )
        effects?.enqueuedMessages = true
    }

    // MARK: worker

    func claimOutboxMessages(
        channels: [OutboundMessage.Channel],
        now: Date,
        leaseUntil: Date,
        limit: Int
    ) throws -> [ClaimedMessage] {
        guard !channels.isEmpty, limit > 0 else { return [] }
        let token = ByteEncoding.hex(SecureRandom.bytes(16))
        let ts = Timestamp.format(now)
        let placeholders = Array(repeating: "?", count: channels.count).joined(separator: ", ")
        // One statement: the rows chosen are updated before any other connection can choose
        // them (the write lock is held from BEGIN IMMEDIATE to COMMIT).
        let rows = try conn.query(
            """
            UPDATE outbox_messages
            SET attempts = attempts + 1, last_attempt_at = ?, claim_token = ?, lease_until = ?
            WHERE seq IN (
                SELECT seq FROM outbox_messages
                WHERE status = 'pending' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
                    AND channel IN (\(placeholders))
                ORDER BY next_attempt_at, seq
                LIMIT ?
            )
            RETURNING seq, id, subject_id, kind, channel, recipient_ct, payload_ct, created_at, attempts, last_error
            """,
            [.text(ts), .text(token), .text(Timestamp.format(leaseUntil)), .text(ts), .text(ts)]
                + channels.map { .text($0.rawValue) } + [.int(Int64(limit))]
        ) { row -> (seq: Int64, claim: Result<ClaimedMessage, UnreadableMessage>) in
            let id = row.text(1) ?? ""
            let attempt = Int(row.int(8))
            let kind = OutboundMessage.Kind(rawValue: row.text(3) ?? "")
            let subjectID = row.text(2) ?? ""
            // A row that fails to decrypt or decode is collected, not thrown: it must not block
            // the messages after it.
            do {
                let message = try decodeMessage(row, id: id, subjectID: subjectID, kind: kind)
                return (row.int(0), .success(ClaimedMessage(message: message, attempt: attempt, claim: token, previousError: row.text(9))))
            } catch {
                let unreadable = UnreadableMessage(id: id, subjectID: subjectID, kind: kind, channel: row.text(4) ?? "", attempts: attempt)
                return (row.int(0), .failure(unreadable))
            }
        }
        var claimed: [(Int64, ClaimedMessage)] = []
        for (seq, result) in rows {
            switch result {
            case .success(let claim): claimed.append((seq, claim))
            case .failure(let unreadable): try abandonUnreadable(unreadable, token: token, at: now)
            }
        }
        // RETURNING gives no order; keep the claim's.
        return claimed.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// A claimed row whose stored content did not decrypt or decode.
    struct UnreadableMessage: Error {
        let id: String
        let subjectID: String
        let kind: OutboundMessage.Kind
        let channel: String
        let attempts: Int
    }

    private static let unreadableError = "data_integrity: the stored message failed to decrypt or decode"

    /// Fails closed: a message whose content cannot be read is never sent; it is abandoned at
    /// once, and audited, so support sees it and the others keep flowing.
    private func abandonUnreadable(_ m: UnreadableMessage, token: String, at now: Date) throws {
        try conn.run(
            """
            UPDATE outbox_messages SET status = 'abandoned', finished_at = ?, next_attempt_at = NULL,
                claim_token = NULL, lease_until = NULL, last_error = ?
            WHERE id = ? AND claim_token = ?
            """,
            [.text(Timestamp.format(now)), .text(Self.unreadableError), .text(m.id), .text(token)]
        )
        try appendAudit(
            AuditRecord(
                action: "outbox.abandoned",
                actor: .system,
                target: .init(type: "subject", id: m.subjectID),
                outcome: .failure,
                details: [
                    "message_id": .string(m.id), "kind": .string(m.kind.rawValue), "channel": .string(m.channel),
                    "attempts": .int(Int64(m.attempts)), "last_error": .string(Self.unreadableError),
                ],
                time: now
            )
        )
    }

    private func decodeMessage(_ row: Statement, id: String, subjectID: String, kind: OutboundMessage.Kind) throws -> OutboundMessage {
        guard let channel = OutboundMessage.Channel(rawValue: row.text(4) ?? "") else {
            throw VigilError.dataIntegrity(reason: "outbox_messages.channel of one row is unknown")
        }
        var recipient: OutboundMessage.Recipient?
        if let text = try keyring.open(row.blob(5), table: Self.table, column: "recipient_ct", rowID: id) {
            guard case .object(let o) = try JSONValue.decode(Array(text.utf8)),
                case .string(let type)? = o["type"], case .string(let address)? = o["address"],
                let r = OutboundMessage.Recipient(type: type, address: address)
            else { throw VigilError.dataIntegrity(reason: "outbox_messages.recipient_ct of one row is malformed") }
            recipient = r
        }
        guard let text = try keyring.open(row.blob(6), table: Self.table, column: "payload_ct", rowID: id),
            case .object(let payload) = try JSONValue.decode(Array(text.utf8))
        else { throw VigilError.dataIntegrity(reason: "outbox_messages.payload_ct of one row is missing or malformed") }
        return OutboundMessage(
            id: id,
            kind: kind,
            subjectID: subjectID,
            channel: channel,
            recipient: recipient,
            payload: payload,
            createdAt: Timestamp.parse(row.text(7) ?? "") ?? .distantPast
        )
    }

    func completeOutboxMessage(id: String, claim: String, _ completion: DeliveryCompletion) throws -> Bool {
        let sql: String
        let bindings: [SQLValue]
        switch completion {
        case .delivered(let at):
            sql = """
                UPDATE outbox_messages SET status = 'delivered', finished_at = ?, next_attempt_at = NULL,
                    claim_token = NULL, lease_until = NULL, last_error = NULL
                WHERE id = ? AND claim_token = ? AND status = 'pending'
                """
            bindings = [.text(Timestamp.format(at)), .text(id), .text(claim)]
        case .retry(_, let next, let error):
            sql = """
                UPDATE outbox_messages SET next_attempt_at = ?, claim_token = NULL, lease_until = NULL, last_error = ?
                WHERE id = ? AND claim_token = ? AND status = 'pending'
                """
            bindings = [.text(Timestamp.format(next)), .text(error), .text(id), .text(claim)]
        case .abandoned(let at, let error):
            sql = """
                UPDATE outbox_messages SET status = 'abandoned', finished_at = ?, next_attempt_at = NULL,
                    claim_token = NULL, lease_until = NULL, last_error = ?
                WHERE id = ? AND claim_token = ? AND status = 'pending'
                """
            bindings = [.text(Timestamp.format(at)), .text(error), .text(id), .text(claim)]
        }
        return try conn.run(sql, bindings) == 1
    }

    func purgeOutboxPersonalData(finishedBefore: Date, limit: Int) throws -> Int {
        try conn.run(
            """
            UPDATE outbox_messages SET recipient_ct = NULL, payload_ct = NULL
            WHERE seq IN (
                SELECT seq FROM outbox_messages WHERE payload_ct IS NOT NULL AND finished_at < ? LIMIT ?
            )
            """,
            [.text(Timestamp.format(finishedBefore)), .int(Int64(limit))]
        )
    }
}
