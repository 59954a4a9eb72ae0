import Foundation
import Testing
import VigilAudit
import VigilCore
import VigilCrypto
import VigilTestSupport

@testable import VigilStore

/// A channel that records every attempt and answers as `script` says (a thrown error is a
/// failed attempt). Counts attempts per message id, to catch a message sent twice.
final class ScriptedChannel: DeliveryChannel, @unchecked Sendable {
    // @unchecked Sendable: state is guarded by `lock`.
    let channel: OutboundMessage.Channel
    private let lock = NSLock()
    private var attempts: [DeliveryAttempt] = []
    private let script: @Sendable (DeliveryAttempt) throws -> Void
    private let delay: Duration

    init(
        _ channel: OutboundMessage.Channel = .webhook,
        delay: Duration = .zero,
        script: @escaping @Sendable (DeliveryAttempt) throws -> Void = { _ in }
    ) {
        self.channel = channel
        self.delay = delay
        self.script = script
    }

    func deliver(_ attempt: DeliveryAttempt) async throws {
        lock.withLock { attempts.append(attempt) }
        // Not cancellable on purpose: a real attempt in flight is not cut short either.
        if delay > .zero { try? await Task.sleep(for: delay) }
        try script(attempt)
    }

    var all: [DeliveryAttempt] { lock.withLock { attempts } }
    var countsByID: [String: Int] { Dictionary(all.map { ($0.message.id, 1) }, uniquingKeysWith: +) }
}

@Suite("Outbox in the store")
struct OutboxStoreTests {
    let dir: TemporaryDirectory
    let clock = TestClock()
    let path: String
    let signing = AuditSigning(signers: [Fixtures.auditSigner()], origin: Fixtures.auditOrigin, everyEntries: 16)

    init() throws {
        dir = try TemporaryDirectory()
        path = dir.file("vigil.sqlite")
    }

    func open() throws -> SQLiteStore {
        try SQLiteStore(path: path, masterKey: Fixtures.masterKey(), signing: signing, clock: clock)
    }

    /// The shipped policies with `outbox` replaced.
    func policies(maxAttempts: Int = 10, base: Int = 5, max: Int = 3600) throws -> PolicySet {
        let shipped = try PolicySet.load(
            directory: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Policies")
        )
        var recovery = shipped.recovery
        recovery.outbox = .init(maxAttempts: maxAttempts, baseBackoffSeconds: base, maxBackoffSeconds: max)
        return PolicySet(
            authentication: shipped.authentication,
            recovery: recovery,
            sla: shipped.sla,
            retention: shipped.retention,
            audit: shipped.audit,
            digest: shipped.digest
        )
    }

    func worker(_ store: SQLiteStore, _ channels: [any DeliveryChannel], policies: PolicySet, batchSize: Int = 32) -> OutboxWorker {
        OutboxWorker(
            store: store,
            clock: clock,
            policies: policies,
            channels: channels,
            doorbell: store.outboxDoorbell,
            settings: .init(batchSize: batchSize, leaseSeconds: 30)
        )
    }

    static let canaryEmail = "zyxcanary.outbox@plaintext-probe.example"
    static let canaryLink = "https://wallet.example/reset?token=QuetzalcoatlCanaryToken"

    func message(_ i: Int = 0, channel: OutboundMessage.Channel = .webhook) -> OutboundMessage {
        OutboundMessage(
            kind: .passwordReset,
            subjectID: "deadbeef-\(i)",
            channel: channel,
            recipient: .email(Self.canaryEmail),
            payload: ["link": .string(Self.canaryLink), "n": .int(Int64(i))],
            createdAt: clock.now()
        )
    }

    func enqueue(_ store: SQLiteStore, _ messages: [OutboundMessage]) async throws {
        try await store.write { tx in
            for m in messages { try tx.enqueueMessage(m) }
        }
    }

    func status(_ store: SQLiteStore, _ id: String) async throws -> OutboxMessageStatus {
        try #require(try await store.read { try $0.outboxMessage(id: id) })
    }

    // MARK: enqueue

    @Test("a message enqueued by a use case that fails is rolled back with it")
    func rolledBackWithItsChange() async throws {
        let store = try open()
        let m = message()
        struct Boom: Error {}
        await #expect(throws: Boom.self) {
            try await store.write { tx in
                try tx.enqueueMessage(m)
                throw Boom()
            }
        }
        #expect(try await store.read { try $0.outboxMessage(id: m.id) } == nil)
        let kept = message(1)
        try await enqueue(store, [kept])
        let s = try await status(store, kept.id)
        #expect(s.state == .pending && s.attempts == 0 && s.nextAttemptAt == clock.now() && s.kind == .passwordReset)
    }

    @Test("recipient and payload are encrypted at rest and bound to their row; a swapped one is abandoned, never sent")
    func encryptedAtRest() async throws {
        let store = try open()
        let a = message(1)
        let b = message(2)
        try await enqueue(store, [a, b])
        let conn = try SQLiteConnection(path: path)
        try conn.exec("PRAGMA wal_checkpoint(FULL)")
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        if let wal = try? Data(contentsOf: URL(fileURLWithPath: path + "-wal")) { bytes += wal }
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(!text.contains("zyxcanary") && !text.contains("QuetzalcoatlCanary"))
        // b's payload ciphertext moved into a's row does not decrypt: a is never sent, but
        // abandoned and audited; b goes out as usual.
        try conn.exec("UPDATE outbox_messages SET payload_ct = (SELECT payload_ct FROM outbox_messages WHERE id = '\(b.id)') WHERE id = '\(a.id)'")
        let channel = ScriptedChannel()
        let report = try await worker(store, [channel], policies: try policies()).runOnce(now: clock.now())
        #expect(report.claimed == 1 && report.delivered == 1)
        #expect(channel.all.map(\.message) == [b])
        let swapped = try await status(store, a.id)
        #expect(swapped.state == .abandoned && swapped.lastError?.hasPrefix("data_integrity") == true)
        let entries = try conn.query("SELECT entry FROM audit_entries", []) { String(decoding: $0.blob(0) ?? [], as: UTF8.self) }
            .filter { $0.contains(#""action":"outbox.abandoned""#) }
        #expect(entries.count == 1 && entries.first?.contains(a.id) == true)
    }

    @Test("a committed enqueue rings the doorbell; the worker's wait returns at once")
    func doorbell() async throws {
        let store = try open()
        try await enqueue(store, [message()])
        let start = ContinuousClock.now
        // Bounds are loose on purpose: a shared machine can starve a task for many seconds, and
        // what matters is "woken, not timed out" — the timeouts are far beyond the bounds.
        await store.outboxDoorbell.wait(timeout: .seconds(300))
        #expect(ContinuousClock.now - start < .seconds(150))
    }

    // MARK: the running worker

    @Test("run(): an enqueue wakes the worker at once (no poll), and a stop lets the attempt in flight finish and be recorded")
    func runLoop() async throws {
        let store = try open()
        let channel = ScriptedChannel(delay: .milliseconds(300))
        let w = OutboxWorker(
            store: store,
            clock: clock,
            policies: try policies(),
            channels: [channel],
            doorbell: store.outboxDoorbell,
            settings: .init(batchSize: 32, leaseSeconds: 30, pollInterval: .seconds(600))
        )
        let running = Task { await w.run() }
        try await Task.sleep(for: .milliseconds(100))  // the first round found nothing; it now waits
        let m = message()
        try await enqueue(store, [m])
        var waited = 0
        while channel.all.isEmpty && waited < 6000 {  // up to 120 s on a starved machine; the poll is 600 s
            try await Task.sleep(for: .milliseconds(20))
            waited += 1
        }
        #expect(channel.all.count == 1, "woken by the commit, long before the 600 s poll")
        running.cancel()  // mid-attempt: the channel takes 300 ms
        await running.value
        let s = try await status(store, m.id)
        #expect(s.state == .delivered, "the attempt in flight finished and was recorded before run() returned")
    }

    @Test("the doorbell wakes every waiter, keeps a ring nobody heard, and returns on timeout or cancellation")
    func doorbellWaiters() async throws {
        let bell = OutboxDoorbell()
        let start = ContinuousClock.now
        // Timeouts far beyond the bounds checked: "woken, not timed out", also on a starved machine.
        async let a: Void = bell.wait(timeout: .seconds(300))
        async let b: Void = bell.wait(timeout: .seconds(300))
        while bell.waiting < 2 { try await Task.sleep(for: .milliseconds(5)) }
        bell.ring()
        _ = await (a, b)
        #expect(ContinuousClock.now - start < .seconds(150))
        bell.ring()  // nobody waits: kept
        let kept = ContinuousClock.now
        await bell.wait(timeout: .seconds(300))
        #expect(ContinuousClock.now - kept < .seconds(150))
        let timed = ContinuousClock.now
        await bell.wait(timeout: .milliseconds(50))
        #expect(ContinuousClock.now - timed < .seconds(150))
        let cancelled = Task { await bell.wait(timeout: .seconds(300)) }
        cancelled.cancel()
        let c0 = ContinuousClock.now
        await cancelled.value
        #expect(ContinuousClock.now - c0 < .seconds(150))
    }

    // MARK: delivery, backoff, abandonment

    @Test("delivered once: the body carries the decrypted recipient and payload, the status says delivered")
    func delivered() async throws {
        let store = try open()
        let channel = ScriptedChannel()
        let m = message()
        try await enqueue(store, [m])
        let report = try await worker(store, [channel], policies: policies()).runOnce(now: clock.now())
        #expect(report.claimed == 1 && report.delivered == 1)
        #expect(channel.all.count == 1)
        #expect(channel.all[0].message == m)
        #expect(channel.all[0].body == m.body())
        let s = try await status(store, m.id)
        #expect(s.state == .delivered && s.attempts == 1 && s.finishedAt == clock.now() && s.nextAttemptAt == nil)
        // Nothing left: the next round claims nothing and sends nothing.
        clock.advance(seconds: 3600)
        #expect(try await worker(store, [channel], policies: policies()).runOnce(now: clock.now()).claimed == 0)
        #expect(channel.all.count == 1)
    }

    @Test("failed attempts wait 5, 10, 20 … seconds (the shipped policy), capped at the maximum")
    func backoffTiming() async throws {
        let store = try open()
        let channel = ScriptedChannel { _ in throw DeliveryFailure.httpStatus(503) }
        let p = try policies(maxAttempts: 12, base: 5, max: 60)
        let w = worker(store, [channel], policies: p)
        let m = message()
        try await enqueue(store, [m])
        let t0 = clock.now()
        var due = t0
        var waits: [TimeInterval] = []
        for attempt in 1...7 {
            // Just before it is due: not claimed.
            if attempt > 1 {
                #expect(try await w.runOnce(now: due.addingTimeInterval(-0.001)).claimed == 0)
            }
            let report = try await w.runOnce(now: due)
            #expect(report.claimed == 1 && report.retried == 1)
            let s = try await status(store, m.id)
            #expect(s.attempts == attempt && s.lastError == "http_status 503" && s.lastAttemptAt == due)
            let next = try #require(s.nextAttemptAt)
            waits.append(next.timeIntervalSince(due))
            due = next
        }
        #expect(waits == [5, 10, 20, 40, 60, 60, 60])
        #expect(channel.all.map(\.number) == Array(1...7))
        #expect(channel.all.allSatisfy { $0.message.id == m.id })
    }

    @Test("after max_attempts failures the message is abandoned and audited, without personal data")
    func abandoned() async throws {
        let store = try open()
        let channel = ScriptedChannel { _ in throw DeliveryFailure.httpStatus(500) }
        let w = worker(store, [channel], policies: try policies(maxAttempts: 3, base: 5, max: 3600))
        let m = message()
        try await enqueue(store, [m])
        var reports: [OutboxWorker.Report] = []
        for _ in 0..<3 {
            reports.append(try await w.runOnce(now: clock.now()))
            clock.advance(seconds: 3600)
        }
        #expect(reports.map(\.retried) == [1, 1, 0])
        #expect(reports.map(\.abandoned) == [0, 0, 1])
        let s = try await status(store, m.id)
        #expect(s.state == .abandoned && s.attempts == 3 && s.lastError == "http_status 500" && s.nextAttemptAt == nil)
        #expect(try await w.runOnce(now: clock.now()).claimed == 0)
        #expect(channel.all.count == 3)

        let entries = try SQLiteConnection(path: path).query("SELECT entry FROM audit_entries ORDER BY seq", []) {
            String(decoding: $0.blob(0) ?? [], as: UTF8.self)
        }
        let abandonedEntries = entries.filter { $0.contains(#""action":"outbox.abandoned""#) }
        #expect(abandonedEntries.count == 1)
        let entry = try #require(abandonedEntries.first)
        #expect(entry.contains(m.id) && entry.contains(#""attempts":3"#) && entry.contains("http_status 500"))
        #expect(!entry.contains("zyxcanary") && !entry.contains("Quetzalcoatl") && !entry.contains("deadbeef-0"))
    }

    @Test("a worker that dies mid-attempt holds the message only until its lease lapses; its late outcome is refused")
    func leaseLapses() async throws {
        let store = try open()
        let m = message()
        try await enqueue(store, [m])
        // Worker A claims and dies.
        let claimedByA = try await store.write { tx in
            try tx.claimOutboxMessages(channels: [.webhook], now: clock.now(), leaseUntil: clock.now().addingTimeInterval(30), limit: 10)
        }
        #expect(claimedByA.map(\.message.id) == [m.id] && claimedByA[0].attempt == 1)
        let channel = ScriptedChannel()
        let b = worker(store, [channel], policies: try policies())
        #expect(try await b.runOnce(now: clock.now().addingTimeInterval(29)).claimed == 0, "held while A's lease lasts")
        let report = try await b.runOnce(now: clock.now().addingTimeInterval(30))
        #expect(report.delivered == 1 && channel.all.map(\.number) == [2])
        // A comes back (a stalled process, not a dead one) and reports a failure: refused.
        let late = try await store.write { tx in
            try tx.completeOutboxMessage(
                id: m.id,
                claim: claimedByA[0].claim,
                .retry(at: clock.now(), next: clock.now().addingTimeInterval(5), error: "timeout")
            )
        }
        #expect(late == false)
        #expect(try await status(store, m.id).state == .delivered)
    }

    @Test("a last attempt cut off by a crash is not retried beyond max_attempts: the message is abandoned unsent")
    func interruptedLastAttempt() async throws {
        let store = try open()
        let failing = ScriptedChannel { _ in throw DeliveryFailure.timeout }
        let p = try policies(maxAttempts: 2, base: 5, max: 5)
        let m = message()
        try await enqueue(store, [m])
        _ = try await worker(store, [failing], policies: p).runOnce(now: clock.now())
        clock.advance(seconds: 5)
        // Attempt 2 claimed, then the worker dies.
        _ = try await store.write { tx in
            try tx.claimOutboxMessages(channels: [.webhook], now: clock.now(), leaseUntil: clock.now().addingTimeInterval(30), limit: 10)
        }
        clock.advance(seconds: 30)
        let channel = ScriptedChannel()
        let report = try await worker(store, [channel], policies: p).runOnce(now: clock.now())
        #expect(report.abandoned == 1 && channel.all.isEmpty)
        let s = try await status(store, m.id)
        #expect(s.state == .abandoned && s.lastError == "timeout")
    }

    @Test("two workers on two connections racing over 200 messages send each exactly once")
    func racingWorkers() async throws {
        let first = try open()
        let second = try open()  // another instance on the same file
        let messages = (0..<200).map { message($0) }
        for chunk in stride(from: 0, to: messages.count, by: 50) {
            try await enqueue(first, Array(messages[chunk..<(chunk + 50)]))
        }
        let channel = ScriptedChannel()
        let p = try policies()
        let a = worker(first, [channel], policies: p, batchSize: 7)
        let b = worker(second, [channel], policies: p, batchSize: 5)
        let now = clock.now()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in [a, b, a, b] {
                group.addTask {
                    while try await w.runOnce(now: now).claimed > 0 {}
                }
            }
            try await group.waitForAll()
        }
        let counts = channel.countsByID
        #expect(counts.count == 200)
        #expect(counts.values.allSatisfy { $0 == 1 })
        let states = try await first.read { tx in try messages.map { try tx.outboxMessage(id: $0.id)?.state } }
        #expect(states.allSatisfy { $0 == .delivered })
    }

    @Test("a worker claims only the channels it has; the others wait for a worker that has them")
    func channelsServed() async throws {
        let store = try open()
        let webhookMessage = message(1, channel: .webhook)
        let fileMessage = message(2, channel: .file)
        try await enqueue(store, [webhookMessage, fileMessage])
        let fileOnly = ScriptedChannel(.file)
        let report = try await worker(store, [fileOnly], policies: try policies()).runOnce(now: clock.now())
        #expect(report.delivered == 1 && fileOnly.all.map(\.message.id) == [fileMessage.id])
        let waiting = try await status(store, webhookMessage.id)
        #expect(waiting.state == .pending && waiting.attempts == 0)
    }

    // MARK: status, retention, keys, migrations

    @Test("a subject's messages list newest first, with status and no personal data")
    func listing() async throws {
        let store = try open()
        var ids: [String] = []
        for i in 0..<3 {
            var m = message()
            m.subjectID = "deadbeef-0001"
            m.payload["n"] = .int(Int64(i))
            ids.append(m.id)
            try await enqueue(store, [m])
            clock.advance(seconds: 1)
        }
        try await enqueue(store, [message(99)])
        let listed = try await store.read { try $0.outboxMessages(subjectID: "deadbeef-0001", limit: 10) }
        #expect(listed.map(\.id) == ids.reversed())
        #expect(try await store.read { try $0.outboxMessages(subjectID: "deadbeef-0001", limit: 2) }.count == 2)
        #expect(!String(describing: listed).contains("zyxcanary") && !String(describing: listed).contains("Quetzalcoatl"))
    }

    @Test("retention erases recipient and payload of finished messages; pending ones and the status rows stay")
    func retention() async throws {
        let store = try open()
        let done = message(1)
        let waiting = message(2)
        try await enqueue(store, [done])
        let p = try policies()
        _ = try await worker(store, [ScriptedChannel(.webhook)], policies: p).runOnce(now: clock.now())
        try await enqueue(store, [waiting])
        let days = p.retention.afterEventDays[.outboxMessages]
        clock.advance(seconds: TimeInterval(days) * 86_400 + 1)
        let report = try await worker(store, [ScriptedChannel(.file)], policies: p).runOnce(now: clock.now())
        #expect(report.purged == 1)
        let conn = try SQLiteConnection(path: path)
        let rows = try conn.query("SELECT id, recipient_ct IS NULL, payload_ct IS NULL FROM outbox_messages ORDER BY seq", []) {
            ($0.text(0) ?? "", $0.int(1), $0.int(2))
        }
        #expect(rows.map(\.0) == [done.id, waiting.id])
        #expect(rows.map(\.1) == [1, 0] && rows.map(\.2) == [1, 0])
        #expect(try await status(store, done.id).state == .delivered)
    }

    @Test("keys rewrap re-encrypts outbox fields, and messages still deliver after it")
    func rewrap() async throws {
        let store = try open()
        let m = message()
        try await enqueue(store, [m])
        _ = try await store.rotateDataKey(actor: .cli("test"))
        #expect(try await store.keyStatus().fieldsNotCurrent == 2)
        while try await store.rewrapBatch(batchSize: 10, actor: .cli("test")) > 0 {}
        #expect(try await store.keyStatus().fieldsNotCurrent == 0)
        let channel = ScriptedChannel()
        _ = try await worker(store, [channel], policies: try policies()).runOnce(now: clock.now())
        #expect(channel.all.first?.message == m)
    }

    @Test("migrate applies every version a database lacks, also below its newest (a merged branch's)")
    func migrationGap() async throws {
        _ = try open()
        let conn = try SQLiteConnection(path: path)
        // A database that has 4 but not 2, as one made on a branch before another's 2 was merged.
        try conn.exec(
            """
            DELETE FROM schema_migrations WHERE version = 2;
            DROP TABLE totp_enrolments; DROP TABLE totp_credentials; DROP TABLE factor_failures;
            DROP TABLE recovery_codes; DROP TABLE rate_counters;
            """
        )
        #expect(try SQLiteStore.migrate(conn, now: clock.now()) == [2])
        #expect(try SQLiteStore.migrate(conn, now: clock.now()).isEmpty)
        #expect(try conn.queryOne("SELECT count(*) FROM outbox_messages", [], { $0.int(0) }) == 0)
    }
}
