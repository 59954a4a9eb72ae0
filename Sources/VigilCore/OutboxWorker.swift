import Foundation
import Logging

/// A way out for messages: the file channel, the webhook channel (`VigilDelivery`), or a test
/// double.
public protocol DeliveryChannel: Sendable {
    var channel: OutboundMessage.Channel { get }
    /// Makes one attempt. Returns only when the receiver has acknowledged the message (a 2xx
    /// from the webhook, the line written and fsynced by the file channel); throws otherwise,
    /// preferably a `DeliveryFailure`, whose reason is recorded as the message's last error.
    func deliver(_ attempt: DeliveryAttempt) async throws
}

/// One attempt at one message.
public struct DeliveryAttempt: Sendable {
    public var message: OutboundMessage
    /// `message.body()`, computed once.
    public var body: [UInt8]
    /// 1-based.
    public var number: Int
    /// The attempt's time (the webhook signs it as `Vigil-Timestamp`).
    public var time: Date

    public init(message: OutboundMessage, body: [UInt8], number: Int, time: Date) {
        self.message = message
        self.body = body
        self.number = number
        self.time = time
    }
}

/// Why an attempt failed, in words chosen by Vigil's code: a status number, `timeout`, an errno.
/// Never a response body, a URL's credentials, an address or any other personal data.
public struct DeliveryFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }

    public static func httpStatus(_ code: Int) -> DeliveryFailure { DeliveryFailure("http_status \(code)") }
    public static let timeout = DeliveryFailure("timeout")
    public static let connectionFailed = DeliveryFailure("connection_failed")
    public static let notConfigured = DeliveryFailure("channel_not_configured")
    /// A message that was claimed for its last allowed attempt and never finished it (the
    /// worker stopped mid-attempt).
    public static let interrupted = DeliveryFailure("attempt_interrupted")
}

/// Wakes outbox workers when a transaction that enqueued messages has committed. A ring wakes
/// every waiter; a ring with nobody waiting is kept for the next wait.
public final class OutboxDoorbell: @unchecked Sendable {
    // @unchecked Sendable: all state is guarded by `lock`.
    private let lock = NSLock()
    private var rung = false
    private var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    private var nextToken = 0

    public init() {}

    /// How many are waiting now (for tests and diagnostics).
    public var waiting: Int { lock.withLock { waiters.count } }

    public func ring() {
        let woken: [CheckedContinuation<Void, Never>] = lock.withLock {
            if waiters.isEmpty {
                rung = true
                return []
            }
            defer { waiters.removeAll() }
            return Array(waiters.values)
        }
        for w in woken { w.resume() }
    }

    /// Returns when rung (at once if it was rung while nobody waited), after `timeout`, or when
    /// the task is cancelled.
    public func wait(timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }
            group.addTask { await self.waitForRing() }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForRing() async {
        let token: Int = lock.withLock {
            nextToken += 1
            return nextToken
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow: Bool = lock.withLock {
                    if rung {
                        rung = false
                        return true
                    }
                    // Cancelled before the continuation was stored: `onCancel` found nothing to resume.
                    if Task.isCancelled { return true }
                    waiters[token] = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            let w: CheckedContinuation<Void, Never>? = lock.withLock { waiters.removeValue(forKey: token) }
            w?.resume()
        }
    }
}

/// Delivers the outbox: claims due messages, hands each to its channel, and records the outcome.
///
/// Rules:
/// - a claim is atomic and leased (`leaseSeconds`): two workers, in one process or several,
///   never hold the same message at once; a worker that dies mid-attempt loses its lease and the
///   message is tried again after it lapses;
/// - an acknowledged message is marked delivered at once, in its own transaction, before any
///   other message's outcome; between the acknowledgement and that commit lies the one window
///   in which a crash makes Vigil send a message again (with the same id, so the receiver
///   dedupes);
/// - a failed attempt waits `min(base × 2^(n−1), max)` seconds (`outbox` in
///   `Policies/recovery.yaml`); after `max_attempts` attempts the message is abandoned and the
///   abandonment audited (`outbox.abandoned`) in the same transaction;
/// - a stopping worker finishes its in-flight attempts and records them before it returns;
/// - every time comes from `runOnce(now:)`'s argument, so tests drive it with a test clock and
///   never sleep.
public final class OutboxWorker: Sendable {
    public struct Settings: Sendable {
        /// Messages claimed, and attempted concurrently, per round.
        public var batchSize: Int
        /// How long a claim holds a message. Longer than a channel's timeout plus the time to
        /// record the outcome, so a live worker never loses a message it is still sending.
        public var leaseSeconds: Int
        /// How long the worker sleeps when nothing rings the doorbell.
        public var pollInterval: Duration
        /// How often finished messages past retention lose their personal data.
        public var purgeEverySeconds: Int

        public init(batchSize: Int = 32, leaseSeconds: Int = 30, pollInterval: Duration = .seconds(1), purgeEverySeconds: Int = 600) {
            self.batchSize = batchSize
            self.leaseSeconds = leaseSeconds
            self.pollInterval = pollInterval
            self.purgeEverySeconds = purgeEverySeconds
        }
    }

    /// What one round did.
    public struct Report: Sendable, Equatable {
        public var claimed = 0
        public var delivered = 0
        public var retried = 0
        public var abandoned = 0
        /// Outcomes not recorded: the claim had lapsed and another worker held the message, or
        /// the database refused the write (the lease then lapses and the message is retried).
        public var unrecorded = 0
        public var purged = 0
        public init() {}
    }

    let store: any DataStore
    let policy: RecoveryPolicy.Outbox
    let retentionDays: Int
    let channels: [OutboundMessage.Channel: any DeliveryChannel]
    let doorbell: OutboxDoorbell
    let clock: any VigilClock
    let settings: Settings
    let logger: Logger
    private let purgeState = PurgeState()

    public init(
        store: any DataStore,
        clock: any VigilClock,
        policies: PolicySet,
        channels: [any DeliveryChannel],
        doorbell: OutboxDoorbell,
        settings: Settings = Settings(),
        logger: Logger = Logger(label: "vigil.outbox")
    ) {
        self.store = store
        self.clock = clock
        self.policy = policies.recovery.outbox
        self.retentionDays = policies.retention.afterEventDays[.outboxMessages]
        var byName: [OutboundMessage.Channel: any DeliveryChannel] = [:]
        for c in channels { byName[c.channel] = c }
        self.channels = byName
        self.doorbell = doorbell
        self.settings = settings
        self.logger = logger
    }

    /// The channels this worker delivers; messages on others wait for a worker that has them.
    public var served: [OutboundMessage.Channel] { OutboundMessage.Channel.allCases.filter { channels[$0] != nil } }

    /// One round at time `now`: claim due messages, attempt them concurrently, record each
    /// outcome as soon as it is known.
    public func runOnce(now: Date) async throws -> Report {
        var report = Report()
        report.purged = try await purgeIfDue(now: now)
        let served = self.served
        guard !served.isEmpty else { return report }
        let lease = now.addingTimeInterval(TimeInterval(settings.leaseSeconds))
        let batch = settings.batchSize
        let claimed = try await store.write { tx in
            try tx.claimOutboxMessages(channels: served, now: now, leaseUntil: lease, limit: batch)
        }
        report.claimed = claimed.count
        let outcomes = await withTaskGroup(of: Outcome.self) { group in
            for claim in claimed {
                group.addTask { await self.attempt(claim, now: now) }
            }
            var all: [Outcome] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        for outcome in outcomes {
            switch outcome {
            case .delivered: report.delivered += 1
            case .retried: report.retried += 1
            case .abandoned: report.abandoned += 1
            case .unrecorded: report.unrecorded += 1
            }
        }
        return report
    }

    /// Runs rounds until the task is cancelled: at once while full batches keep coming, else
    /// when the doorbell rings or after `pollInterval`. A round in progress when the task is
    /// cancelled finishes (its attempts are not cut off) before this returns.
    public func run() async {
        while !Task.isCancelled {
            let now = clock.now()
            // A separate task, so cancelling the worker does not cut off attempts in flight.
            let round = Task { try await self.runOnce(now: now) }
            var full = false
            do {
                let report = try await round.value
                full = report.claimed == settings.batchSize
                if report.abandoned > 0 || report.unrecorded > 0 {
                    logger.warning(
                        "outbox round",
                        metadata: [
                            "delivered": "\(report.delivered)", "retried": "\(report.retried)",
                            "abandoned": "\(report.abandoned)", "unrecorded": "\(report.unrecorded)",
                        ]
                    )
                }
            } catch {
                logger.error("outbox round failed", metadata: ["error_type": .string(String(reflecting: type(of: error)))])
            }
            if !full { await doorbell.wait(timeout: settings.pollInterval) }
        }
    }

    enum Outcome: Sendable {
        case delivered, retried, abandoned, unrecorded
    }

    private func attempt(_ claim: ClaimedMessage, now: Date) async -> Outcome {
        let message = claim.message
        if claim.attempt > policy.maxAttempts {
            // The last allowed attempt was cut off (the worker stopped mid-attempt); none is left.
            let error = claim.previousError ?? DeliveryFailure.interrupted.reason
            return await record(claim, .abandoned(at: now, error: error))
        }
        guard let channel = channels[message.channel] else {
            return await fail(claim, DeliveryFailure.notConfigured, now: now)
        }
        do {
            try await channel.deliver(DeliveryAttempt(message: message, body: message.body(), number: claim.attempt, time: now))
        } catch let failure as DeliveryFailure {
            return await fail(claim, failure, now: now)
        } catch {
            return await fail(claim, DeliveryFailure("error \(String(reflecting: type(of: error)))"), now: now)
        }
        return await record(claim, .delivered(at: now))
    }

    private func fail(_ claim: ClaimedMessage, _ failure: DeliveryFailure, now: Date) async -> Outcome {
        if let delay = policy.backoff(afterFailedAttempt: claim.attempt) {
            return await record(claim, .retry(at: now, next: now.addingTimeInterval(TimeInterval(delay)), error: failure.reason))
        }
        return await record(claim, .abandoned(at: now, error: failure.reason))
    }

    private func record(_ claim: ClaimedMessage, _ completion: DeliveryCompletion) async -> Outcome {
        let message = claim.message
        do {
            let recorded = try await store.write { tx in
                guard try tx.completeOutboxMessage(id: message.id, claim: claim.claim, completion) else { return false }
                if case .abandoned(let at, let error) = completion {
                    try tx.appendAudit(
                        AuditRecord(
                            action: "outbox.abandoned",
                            actor: .system,
                            target: .init(type: "subject", id: message.subjectID),
                            outcome: .failure,
                            details: [
                                "message_id": .string(message.id), "kind": .string(message.kind.rawValue),
                                "channel": .string(message.channel.rawValue), "attempts": .int(Int64(claim.attempt)),
                                "last_error": .string(error),
                            ],
                            time: at
                        )
                    )
                }
                return true
            }
            guard recorded else { return .unrecorded }
        } catch {
            logger.error(
                "outbox outcome not recorded",
                metadata: ["message_id": .string(message.id), "error_type": .string(String(reflecting: type(of: error)))]
            )
            return .unrecorded
        }
        switch completion {
        case .delivered: return .delivered
        case .retry: return .retried
        case .abandoned: return .abandoned
        }
    }

    private func purgeIfDue(now: Date) async throws -> Int {
        guard purgeState.due(now: now, every: settings.purgeEverySeconds) else { return 0 }
        let cutoff = now.addingTimeInterval(-TimeInterval(retentionDays) * 86_400)
        var total = 0
        while true {
            let n = try await store.write { tx in try tx.purgeOutboxPersonalData(finishedBefore: cutoff, limit: 500) }
            total += n
            if n < 500 { return total }
        }
    }
}

/// When the last purge ran.
private final class PurgeState: @unchecked Sendable {
    // @unchecked Sendable: `last` is guarded by `lock`.
    private let lock = NSLock()
    private var last: Date?

    func due(now: Date, every seconds: Int) -> Bool {
        lock.withLock {
            if let last, now.timeIntervalSince(last) < TimeInterval(seconds), now >= last { return false }
            last = now
            return true
        }
    }
}
