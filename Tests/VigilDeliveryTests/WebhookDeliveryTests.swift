import Foundation
import Testing
import VigilCore
import VigilCrypto
import VigilDelivery
import VigilStore
import VigilTestSupport

/// The webhook channel against a real receiver in another process (Python's `http.server` and
/// `hmac`), with the real SQLite store and worker. The worker is driven round by round with
/// `runOnce(now:)` and a test clock: no test sleeps for a backoff.
@Suite("Webhook delivery", .serialized)
struct WebhookDeliveryTests {
    @Test("every message arrives once with a valid signature, through failures and a receiver restart")
    func exactlyOnceThroughFailuresAndRestart() async throws {
        let f = try DeliveryFixture()
        let receiver = f.receiver()
        try receiver.start(failFirst: 7)
        let messages = try await f.enqueue(40)
        let sawRefused = try await withWebhook(url: receiver.url, secret: f.secret, timeoutSeconds: 5) { webhook in
            let worker = f.worker([webhook])
            var rounds = 0
            var sawRefused = false
            while rounds < 60 {
                rounds += 1
                if rounds == 3 { receiver.stop() }  // down midway: attempts fail to connect
                if rounds == 5 { try receiver.start(port: receiver.port) }  // back, with its state
                let report = try await worker.runOnce(now: f.clock.now())
                if rounds == 3 || rounds == 4 { sawRefused = sawRefused || report.retried > 0 }
                f.clock.advance(seconds: 4)  // the policy's max backoff: whatever failed is due again
                if try await f.statuses(messages).allSatisfy({ $0.state == .delivered }) { break }
            }
            return sawRefused
        }
        receiver.stop()

        let statuses = try await f.statuses(messages)
        #expect(statuses.count == 40)
        #expect(statuses.allSatisfy { $0.state == .delivered && $0.lastError == nil && $0.nextAttemptAt == nil })
        #expect(statuses.contains { $0.attempts > 1 }, "the receiver's failures and its downtime cost attempts")
        #expect(sawRefused, "attempts while the receiver was down failed")

        let accepted = try receiver.accepted
        #expect(Set(accepted.compactMap { $0["id"] as? String }) == Set(messages.map(\.id)))
        #expect(accepted.count == 40)
        #expect(try receiver.duplicates.isEmpty, "no message was acknowledged twice")
        #expect(try receiver.rejected.isEmpty, "every signature verified (Python hmac)")
        // The bodies carry the decrypted recipient and payload, byte for byte what was enqueued.
        let byID = Dictionary(uniqueKeysWithValues: messages.map { ($0.id, $0) })
        for record in accepted {
            let body = try #require(record["body"] as? [String: Any])
            let message = try #require(byID[record["id"] as? String ?? ""])
            #expect(body["kind"] as? String == "password_reset")
            #expect(body["subject_id"] as? String == message.subjectID)
            let recipient = try #require(body["recipient"] as? [String: Any])
            #expect(recipient["address"] as? String == message.recipient?.address)
            let payload = try #require(body["payload"] as? [String: Any])
            #expect(payload["link"] as? String == message.payload["link"].flatMap { if case .string(let s) = $0 { s } else { nil } })
            // The attempt the receiver acknowledged is the last one the store counted.
            let status = try #require(statuses.first { $0.id == message.id })
            #expect(record["attempt"] as? String == String(status.attempts))
        }
    }

    @Test("a receiver slower than the timeout costs an attempt, recorded as `timeout`")
    func timeout() async throws {
        let f = try DeliveryFixture()
        let receiver = f.receiver()
        try receiver.start(delay: 3)
        let messages = try await f.enqueue(1)
        let report = try await withWebhook(url: receiver.url, secret: f.secret, timeoutSeconds: 1) { webhook in
            try await f.worker([webhook]).runOnce(now: f.clock.now())
        }
        receiver.stop()
        #expect(report.retried == 1)
        let status = try #require(try await f.statuses(messages).first)
        #expect(status.state == .pending && status.lastError == "timeout" && status.attempts == 1)
        // Stored times have millisecond precision.
        let next = try #require(status.nextAttemptAt)
        #expect(abs(next.timeIntervalSince(f.clock.now().addingTimeInterval(1))) < 0.001)
    }

    @Test("a redirect is a failure and is not followed; the error records only the status")
    func redirectNotFollowed() async throws {
        let f = try DeliveryFixture()
        let receiver = f.receiver()
        try receiver.start(status: 302)
        let messages = try await f.enqueue(1)
        _ = try await withWebhook(url: receiver.url, secret: f.secret) { webhook in
            try await f.worker([webhook]).runOnce(now: f.clock.now())
        }
        receiver.stop()
        let status = try #require(try await f.statuses(messages).first)
        #expect(status.state == .pending && status.lastError == "http_status 302")
    }

    @Test("nothing listening: `connection_failed`, then delivered once the receiver is up")
    func connectionRefusedThenDelivered() async throws {
        let f = try DeliveryFixture()
        let receiver = f.receiver()
        try receiver.start()
        let port = receiver.port
        receiver.stop()
        let messages = try await f.enqueue(3)
        let second = try await withWebhook(url: receiver.url, secret: f.secret) { webhook in
            let worker = f.worker([webhook])
            let first = try await worker.runOnce(now: f.clock.now())
            #expect(first.retried == 3)
            #expect(try await f.statuses(messages).allSatisfy { $0.lastError == "connection_failed" })
            // Not due yet: nothing is claimed before the backoff has passed.
            #expect(try await worker.runOnce(now: f.clock.now().addingTimeInterval(0.5)).claimed == 0)
            try receiver.start(port: port)
            f.clock.advance(seconds: 1)
            return try await worker.runOnce(now: f.clock.now())
        }
        receiver.stop()
        #expect(second.delivered == 3)
        #expect(try receiver.accepted.count == 3 && receiver.duplicates.isEmpty)
    }

    @Test("a webhook URL must be https, or http to a loopback host")
    func urlRules() throws {
        let secret = try SecretBytes(copying: Array(DeliveryFixture.secretText.utf8))
        // `validate` runs before any HTTP client exists, so a refused URL leaves nothing to shut down.
        #expect(throws: OutboxConfigurationError.insecureURL) { try WebhookChannel(url: "http://wallet.example/hooks", secret: secret) }
        #expect(throws: OutboxConfigurationError.invalidURL) { try WebhookChannel(url: "ftp://wallet.example/hooks", secret: secret) }
        #expect(throws: OutboxConfigurationError.invalidURL) { try WebhookChannel(url: "not a url", secret: secret) }
        #expect(throws: Never.self) { try WebhookChannel.validate(url: "https://wallet.example/hooks/vigil") }
        #expect(throws: Never.self) { try WebhookChannel.validate(url: "http://127.0.0.1:9000/hooks") }
    }
}

/// The signature scheme against vectors computed with Python's `hmac` (Vectors/generate_webhook_vectors.py).
@Suite("Webhook signature")
struct WebhookSignatureTests {
    struct Case: Decodable, Sendable {
        var name: String
        var secret: String
        var timestamp: String
        var body: String
        var now: Int64
        var header: String
        var result: String
    }

    struct File: Decodable {
        var source: String
        var cases: [Case]
    }

    static func cases() throws -> [Case] {
        try JSONDecoder().decode(File.self, from: Data(contentsOf: Resources.url("Vectors/webhook-signature.json"))).cases
    }

    @Test("the header Vigil sends matches Python's hmac for the published case")
    func signMatchesPython() throws {
        let c = try #require(try Self.cases().first { $0.result == "ok" })
        let secret = try SecretBytes(copying: Array(c.secret.utf8))
        #expect(try WebhookSignature.header(secret: secret, timestamp: Int64(c.timestamp)!, body: Array(c.body.utf8)) == c.header)
    }

    @Test("verification accepts exactly the cases marked ok", arguments: try cases())
    func verify(_ c: Case) throws {
        let secret = try SecretBytes(copying: Array(c.secret.utf8))
        let ok = WebhookSignature.verify(
            header: c.header,
            timestamp: c.timestamp,
            body: Array(c.body.utf8),
            secret: secret,
            now: Date(timeIntervalSince1970: TimeInterval(c.now))
        )
        #expect(ok == (c.result == "ok"), "\(c.name)")
    }

    @Test("the body is the same bytes on every attempt and in the documented shape")
    func bodyIsStable() throws {
        let message = OutboundMessage(
            id: "msg_00112233445566778899aabbccddeeff",
            kind: .securityNotice,
            subjectID: "deadbeef-0001",
            channel: .webhook,
            payload: ["event": "totp_added", "occurred_at": "2009-02-13T23:31:30.000Z"],
            createdAt: Date(timeIntervalSince1970: 1_234_567_890)
        )
        let expected = try Self.cases()[0].body
        #expect(String(decoding: message.body(), as: UTF8.self) == expected)
        #expect(message.body() == message.body())
    }
}
