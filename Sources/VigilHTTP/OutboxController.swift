import Foundation
import Hummingbird
import VigilCore

/// Delivery status of the messages about a subject (no personal data: no recipient, no payload).
///
/// | method | path                       | who                              | audit |
/// |--------|----------------------------|----------------------------------|-------|
/// | GET    | /v1/subjects/{id}/messages | service client, `subjects:write` | none (a read) |
///
/// `?limit=` 1…200, default 50; newest first.
struct OutboxController {
    let api: APIContext

    struct Message: Encodable, Sendable {
        let id: String
        let kind: String
        let channel: String
        let status: String
        let attempts: Int
        let created_at: String
        let last_attempt_at: String?
        let next_attempt_at: String?
        let delivered_at: String?
        let abandoned_at: String?
        let last_error: String?

        init(_ s: OutboxMessageStatus) {
            id = s.id
            kind = s.kind.rawValue
            channel = s.channel.rawValue
            status = s.state.rawValue
            attempts = s.attempts
            created_at = Timestamp.format(s.createdAt)
            last_attempt_at = s.lastAttemptAt.map(Timestamp.format)
            next_attempt_at = s.nextAttemptAt.map(Timestamp.format)
            delivered_at = s.state == .delivered ? s.finishedAt.map(Timestamp.format) : nil
            abandoned_at = s.state == .abandoned ? s.finishedAt.map(Timestamp.format) : nil
            last_error = s.lastError
        }

        // Absent values are explicit nulls, so every message has the same keys.
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(kind, forKey: .kind)
            try c.encode(channel, forKey: .channel)
            try c.encode(status, forKey: .status)
            try c.encode(attempts, forKey: .attempts)
            try c.encode(created_at, forKey: .created_at)
            try c.encode(last_attempt_at, forKey: .last_attempt_at)
            try c.encode(next_attempt_at, forKey: .next_attempt_at)
            try c.encode(delivered_at, forKey: .delivered_at)
            try c.encode(abandoned_at, forKey: .abandoned_at)
            try c.encode(last_error, forKey: .last_error)
        }

        enum CodingKeys: String, CodingKey {
            case id, kind, channel, status, attempts, created_at, last_attempt_at, next_attempt_at, delivered_at, abandoned_at, last_error
        }
    }

    struct Listing: Encodable, Sendable {
        let subject_id: String
        let messages: [Message]
    }

    func register(on router: Router<VigilRequestContext>) {
        let service = OutboxService(api.deps.core)
        router.get("/v1/subjects/:id/messages") { request, context in
            let principal = try await api.service(request, scope: .subjectsWrite)
            let id = try context.parameters.require("id")
            var limit = 50
            if let text = request.uri.queryParameters["limit"] {
                guard let n = Int(String(text)) else { throw VigilError.invalidField(field: "limit", reason: "must be a whole number") }
                limit = n
            }
            let messages = try await service.messages(subjectID: id, limit: limit, by: principal)
            return JSONResponse(.ok, Listing(subject_id: id, messages: messages.map(Message.init)))
        }
    }
}
