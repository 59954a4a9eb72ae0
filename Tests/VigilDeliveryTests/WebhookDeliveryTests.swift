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

    @Test("the Python receiver dedupes a replay of a delivered request, and refuses it under a changed Vigil-Message-Id")
    func replayUnderAnotherIDRefusedByPythonReceiver() async throws {
        let f = try DeliveryFixture()
        let receiver = f.receiver()
        try receiver.start()
        let messages = try await f.enqueue(1)
        let report = try await withWebhook(url: receiver.url, secret: f.secret) { webhook in
            try await f.worker([webhook]).runOnce(now: f.clock.now())
        }
        #expect(report.delivered == 1)
        // The request as the receiver got it from the real channel: headers and raw body.
        let sent = try #require(try receiver.accepted.first)
        let id = try #require(sent["id"] as? String)
        let timestamp = try #require(sent["timestamp"] as? String)
        let signature = try #require(sent["signature"] as? String)
        let body = try #require((sent["raw"] as? String).flatMap { Data(base64Encoded: $0) })
        #expect(id == messages[0].id && signature.hasPrefix("v2="))

        let unchanged = try receiver.post(messageID: id, timestamp: timestamp, signature: signature, body: body)
        let otherID = OutboundMessage.newID()
        let changed = try receiver.post(messageID: otherID, timestamp: timestamp, signature: signature, body: body)
        receiver.stop()

        #expect(unchanged == 200, "a replay as sent is acknowledged again and deduped")
        #expect(try receiver.duplicates.compactMap { $0["id"] as? String } == [id])
        #expect(changed == 401, "a replay under another id is refused")
        let rejected = try receiver.rejected
        #expect(rejected.compactMap { $0["id"] as? String } == [otherID])
        #expect(rejected.compactMap { $0["reason"] as? String } == ["bad signature"])
        #expect(try receiver.accepted.count == 1, "the replays had no effect")
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

/// The signature scheme (v2: HMAC-SHA256 over `"v2:<message id>.<timestamp>.<body>"`) against
/// vectors computed with Python's `hmac` (Vectors/generate_webhook_vectors.py).
@Suite("Webhook signature")
struct WebhookSignatureTests {
    struct Case: Decodable, Sendable, CustomTestStringConvertible {
        var name: String
        var secret: String
        var messageID: String
        var timestamp: String
        var body: String
        var now: Int64
        var header: String
        var result: String

        enum CodingKeys: String, CodingKey {
            case name, secret
            case messageID = "message_id"
            case timestamp, body, now, header, result
        }

        var testDescription: String { name }
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
        let c = try #require(try Self.cases().first)
        #expect(c.result == "ok")
        let secret = try SecretBytes(copying: Array(c.secret.utf8))
        let header = try WebhookSignature.header(secret: secret, messageID: c.messageID, timestamp: Int64(c.timestamp)!, body: Array(c.body.utf8))
        #expect(header == c.header)
        let headers = try WebhookSignature.headers(secret: secret, messageID: c.messageID, timestamp: Int64(c.timestamp)!, body: Array(c.body.utf8))
        #expect(headers.map(\.name) == ["Vigil-Message-Id", "Vigil-Timestamp", "Vigil-Signature"])
        #expect(headers.map(\.value) == [c.messageID, c.timestamp, c.header])
    }

    @Test("verification accepts exactly the cases marked ok", arguments: try cases())
    func verify(_ c: Case) throws {
        let secret = try SecretBytes(copying: Array(c.secret.utf8))
        let ok = WebhookSignature.verify(
            header: c.header,
            messageID: c.messageID,
            timestamp: c.timestamp,
            body: Array(c.body.utf8),
            secret: secret,
            now: Date(timeIntervalSince1970: TimeInterval(c.now))
        )
        #expect(ok == (c.result == "ok"), "\(c.name)")
    }

    @Test("an id that is not msg_ and 32 lowercase hex characters, or a negative time, is never signed")
    func refusesToSignAmbiguousInput() throws {
        let secret = try SecretBytes(copying: Array(DeliveryFixture.secretText.utf8))
        for id in ["msg_0011.2233445566778899aabbccddeeff", "", "msg_00112233445566778899AABBCCDDEEFF", "msg_0011", "x.y"] {
            #expect(throws: WebhookSignature.SigningError.invalidMessageID, "\(id)") {
                try WebhookSignature.header(secret: secret, messageID: id, timestamp: 1_234_567_890, body: [])
            }
        }
        #expect(throws: WebhookSignature.SigningError.invalidTimestamp) {
            try WebhookSignature.header(secret: secret, messageID: "msg_00112233445566778899aabbccddeeff", timestamp: -1, body: [])
        }
    }

    /// A receiver as docs/outbox.md asks for: verify the signature (id, timestamp, body), then
    /// dedupe by the signed id.
    struct DedupingReceiver {
        enum Outcome: Equatable { case accepted, duplicate, refused }
        let secret: SecretBytes
        var processed: Set<String> = []

        mutating func receive(_ headers: [String: String], body: [UInt8], now: Date) -> Outcome {
            let id = headers["Vigil-Message-Id"] ?? ""
            guard
                WebhookSignature.verify(
                    header: headers["Vigil-Signature"] ?? "",
                    messageID: id,
                    timestamp: headers["Vigil-Timestamp"] ?? "",
                    body: body,
                    secret: secret,
                    now: now
                )
            else { return .refused }
            return processed.insert(id).inserted ? .accepted : .duplicate
        }
    }

    @Test("a receiver deduping by the signed id refuses a replay whose Vigil-Message-Id was changed")
    func replayUnderAnotherIDIsRefused() throws {
        let secret = try SecretBytes(copying: Array(DeliveryFixture.secretText.utf8))
        let message = OutboundMessage(
            id: "msg_00112233445566778899aabbccddeeff",
            kind: .securityNotice,
            subjectID: "deadbeef-0001",
            channel: .webhook,
            payload: ["event": "totp_added", "occurred_at": "2009-02-13T23:31:30.000Z"],
            createdAt: Date(timeIntervalSince1970: 1_234_567_890)
        )
        let sent = Date(timeIntervalSince1970: 1_234_567_890)
        let body = message.body()
        // The headers exactly as the webhook channel sends them.
        let signed = try WebhookSignature.headers(secret: secret, messageID: message.id, timestamp: 1_234_567_890, body: body)
        let original = Dictionary(uniqueKeysWithValues: signed.map { ($0.name, $0.value) })
        var receiver = DedupingReceiver(secret: secret)

        #expect(receiver.receive(original, body: body, now: sent) == .accepted)
        // The same request again a minute later (a retry, or a replay within the tolerance): deduped.
        #expect(receiver.receive(original, body: body, now: sent.addingTimeInterval(60)) == .duplicate)
        // Replayed under a fresh id to get past the dedupe: the signature no longer verifies.
        for id in ["msg_ffeeddccbbaa99887766554433221100", OutboundMessage.newID(), "msg_00112233445566778899aabbccddeefe"] {
            var replay = original
            replay["Vigil-Message-Id"] = id
            #expect(receiver.receive(replay, body: body, now: sent.addingTimeInterval(60)) == .refused, "\(id)")
        }
        #expect(receiver.processed == [message.id], "the replays had no effect")
    }

    @Test("the verification snippet in docs/outbox.md, run with python3, agrees with every vector and with a request Vigil signs")
    func docsSnippetRuns() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let doc = try String(contentsOf: root.appendingPathComponent("docs/outbox.md"), encoding: .utf8)
        let blocks = pythonBlocks(doc)
        #expect(blocks.count == 1, "docs/outbox.md has one python block")
        let snippet = try #require(blocks.first { $0.contains("def verify(") })
        let cases = try Self.cases()
        // The worked example in the doc is the first vector.
        #expect(doc.contains(cases[0].header) && doc.contains(cases[0].body))

        // A request signed now, by the code the channel uses, and the same request under another id.
        let dir = try TemporaryDirectory()
        let secret = try SecretBytes(copying: Array(DeliveryFixture.secretText.utf8))
        let message = OutboundMessage(
            kind: .securityNotice,
            subjectID: "deadbeef-0002",
            channel: .webhook,
            payload: ["event": "totp_removed"],
            createdAt: Date()
        )
        let now = Int64(Date().timeIntervalSince1970.rounded(.down))
        let headers = try WebhookSignature.headers(secret: secret, messageID: message.id, timestamp: now, body: message.body())
        let live: [String: Any] = [
            "secret": DeliveryFixture.secretText,
            "headers": Dictionary(uniqueKeysWithValues: headers.map { ($0.name, $0.value) }),
            "body": String(decoding: message.body(), as: UTF8.self),
            "other_id": OutboundMessage.newID(),
        ]
        try JSONSerialization.data(withJSONObject: live).write(to: dir.url.appendingPathComponent("live.json"))
        try snippet.write(toFile: dir.file("snippet.py"), atomically: true, encoding: .utf8)
        let harness = #"""
            import json, sys
            namespace = {}
            exec(open(sys.argv[1]).read(), namespace)  # the block from docs/outbox.md, unchanged
            verify = namespace["verify"]
            wrong = []
            cases = json.load(open(sys.argv[2]))["cases"]
            for c in cases:
                headers = {"Vigil-Message-Id": c["message_id"], "Vigil-Timestamp": c["timestamp"], "Vigil-Signature": c["header"]}
                if verify(c["secret"].encode(), headers, c["body"].encode(), now=c["now"]) != (c["result"] == "ok"):
                    wrong.append(c["name"])
            live = json.load(open(sys.argv[3]))
            secret, body = live["secret"].encode(), live["body"].encode()
            as_sent = verify(secret, live["headers"], body)
            changed = dict(live["headers"], **{"Vigil-Message-Id": live["other_id"]})
            print(json.dumps({"cases": len(cases), "wrong": wrong, "as_sent": as_sent, "changed_id": verify(secret, changed, body)}))
            """#
        try harness.write(toFile: dir.file("harness.py"), atomically: true, encoding: .utf8)
        let output = try python([
            dir.file("harness.py"), dir.file("snippet.py"), try Resources.url("Vectors/webhook-signature.json").path, dir.file("live.json"),
        ])
        let result = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        #expect(result["cases"] as? Int == cases.count)
        #expect((result["wrong"] as? [String]) == [], "the snippet disagrees with these vectors")
        #expect(result["as_sent"] as? Bool == true, "the snippet accepts what Vigil signs")
        #expect(result["changed_id"] as? Bool == false, "the snippet refuses the request under another id")
    }

    /// The bodies of the fenced ```python blocks of a Markdown text.
    func pythonBlocks(_ markdown: String) -> [String] {
        var blocks: [String] = []
        var current: [Substring]?
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil {
                if line.trimmingCharacters(in: .whitespaces) == "```python" { current = [] }
            } else if line.trimmingCharacters(in: .whitespaces) == "```" {
                blocks.append(current!.joined(separator: "\n") + "\n")
                current = nil
            } else {
                current!.append(line)
            }
        }
        return blocks
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
