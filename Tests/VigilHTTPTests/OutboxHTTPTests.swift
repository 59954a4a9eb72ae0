import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import VigilCore
import VigilHTTP
import VigilStore
import VigilTestSupport

/// A channel that accepts everything and remembers it.
final class AcceptingChannel: DeliveryChannel, @unchecked Sendable {
    // @unchecked Sendable: `attempts` is guarded by `lock`.
    let channel: OutboundMessage.Channel
    private let lock = NSLock()
    private var attempts: [DeliveryAttempt] = []

    init(_ channel: OutboundMessage.Channel) { self.channel = channel }

    func deliver(_ attempt: DeliveryAttempt) async throws { lock.withLock { attempts.append(attempt) } }

    var all: [DeliveryAttempt] { lock.withLock { attempts } }
}

extension TestService {
    func outboxWorker(_ channel: any DeliveryChannel) -> OutboxWorker {
        OutboxWorker(store: store, clock: clock, policies: policies, channels: [channel], doorbell: store.outboxDoorbell)
    }

    /// Delivers every due message to an accepting channel and returns them (decrypted).
    func drainOutbox() async throws -> [OutboundMessage] {
        let channel = AcceptingChannel(.file)
        _ = try await outboxWorker(channel).runOnce(now: clock.now())
        return channel.all.map(\.message)
    }
}

@Suite("Outbox over HTTP")
struct OutboxHTTPTests {
    @Test("activating TOTP enqueues a security notice; its delivery status is listed without its content")
    func noticeAndStatus() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .credentialsVerify])
        try await service.test { client in
            _ = try await service.enrol(client, subject: "deadbeef-0101", key: key)
            let r = try await client.get("/v1/subjects/deadbeef-0101/messages", key: key)
            #expect(r.status == .ok)
            let body = try json(r)
            #expect(body["subject_id"] as? String == "deadbeef-0101")
            let messages = try #require(body["messages"] as? [[String: Any]])
            #expect(messages.count == 1)
            let m = try #require(messages.first)
            #expect(m["kind"] as? String == "security_notice" && m["channel"] as? String == "file")
            #expect(m["status"] as? String == "pending" && m["attempts"] as? Int == 0)
            #expect(
                Set(m.keys) == [
                    "id", "kind", "channel", "status", "attempts", "created_at", "last_attempt_at", "next_attempt_at",
                    "delivered_at", "abandoned_at", "last_error",
                ]
            )
            #expect(m["next_attempt_at"] as? String == Timestamp.format(service.clock.now()))

            let channel = AcceptingChannel(.file)
            let report = try await service.outboxWorker(channel).runOnce(now: service.clock.now())
            #expect(report.delivered == 1)
            let notice = try #require(channel.all.first?.message)
            #expect(notice.id == m["id"] as? String && notice.subjectID == "deadbeef-0101" && notice.recipient == nil)
            #expect(notice.payload["event"] == "totp_added")

            let after = try #require(try json(try await client.get("/v1/subjects/deadbeef-0101/messages", key: key))["messages"] as? [[String: Any]])
            #expect(after.first?["status"] as? String == "delivered" && after.first?["attempts"] as? Int == 1)
            #expect(after.first?["delivered_at"] as? String == Timestamp.format(service.clock.now()))
            #expect(after.first?["next_attempt_at"] is NSNull)
        }
    }

    @Test("the listing needs subjects:write; an unknown subject is 404; a bad limit is 400")
    func access() async throws {
        let service = try TestService()
        let writer = try await service.apiKey([.subjectsWrite])
        let verifier = try await service.apiKey([.credentialsVerify], name: "verifier")
        try await service.test { client in
            _ = try await client.post("/v1/subjects", key: writer, json: #"{"subject_id":"deadbeef-0102"}"#)
            try expectErrorShape(try await client.get("/v1/subjects/deadbeef-0102/messages"), status: .unauthorized, code: "unauthenticated")
            try expectErrorShape(try await client.get("/v1/subjects/deadbeef-0102/messages", key: verifier), status: .forbidden, code: "forbidden")
            try expectErrorShape(try await client.get("/v1/subjects/deadbeef-9999/messages", key: writer), status: .notFound, code: "not_found")
            for bad in ["0", "201", "ten"] {
                try expectErrorShape(
                    try await client.get("/v1/subjects/deadbeef-0102/messages?limit=\(bad)", key: writer),
                    status: .badRequest,
                    code: "invalid_field",
                    field: "limit"
                )
            }
            let empty = try await client.get("/v1/subjects/deadbeef-0102/messages?limit=200", key: writer)
            #expect(try json(empty)["messages"] as? [Any] != nil && (try json(empty)["messages"] as? [Any])?.isEmpty == true)
        }
    }

    @Test("failures notify the user when they first lock the factor, not at every growing delay after")
    func lockNotices() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .credentialsVerify])
        try await service.test { client in
            let e = try await service.enrol(client, subject: "deadbeef-0103", key: key)
            _ = try await service.drainOutbox()  // the totp_added notice
            let lockout = service.policies.authentication.lockout[.totp]
            for _ in 0..<(lockout.freeFailures + 3) {
                service.clock.advance(seconds: 3600)
                var wrong = "000000"
                if try oathtool(secret: e.secret, at: service.clock.now()) == wrong { wrong = "111111" }
                _ = try await client.post("/v1/subjects/deadbeef-0103/totp/verify", key: key, json: #"{"code":"\#(wrong)"}"#)
            }
            let notices = try await service.drainOutbox()
            #expect(notices.count == 1)
            #expect(notices.first?.payload["event"] == "factor_locked" && notices.first?.payload["factor"] == "totp")
        }
    }

    @Test("new recovery codes notify the user")
    func recoveryCodesNotice() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite])
        try await service.test { client in
            _ = try await client.post("/v1/subjects", key: key, json: #"{"subject_id":"deadbeef-0104"}"#)
            _ = try await client.post("/v1/subjects/deadbeef-0104/recovery-codes", key: key, json: "")
            let notices = try await service.drainOutbox()
            #expect(notices.map { $0.payload["event"] } == ["recovery_codes_regenerated"])
            #expect(notices.first?.payload["count"] == 10)
        }
    }
}
