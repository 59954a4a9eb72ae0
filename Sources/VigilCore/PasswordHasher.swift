import Foundation
import VigilCrypto

#if canImport(Glibc)
import Glibc
#endif

/// argon2id off the event loop and off the SQLite writer: a fixed pool of worker threads with
/// a bounded queue in front of it.
///
/// Rules:
/// - every password hash and verify in Vigil runs here, on one of `workers` threads (by
///   default one per active processor core); no more than `workers` run at once, so argon2id's
///   memory stays under `workers` × the memory cost of the hashes involved;
/// - at most `queueLimit` jobs wait (by default 2 × `workers`); a job that arrives when
///   `workers + queueLimit` are already admitted fails at once with
///   `VigilError.overloaded` (503 with `Retry-After`) rather than waiting without bound;
/// - the password stays in a `SecretBytes` (zeroed on release; see `PasswordCandidate`) on its
///   way to libsodium;
/// - use cases call the hasher before or after their store transaction, never inside it: the
///   writer serialises every use case, and a 50 ms hash there would stall them all.
public final class PasswordHasher: Sendable {
    /// Worker threads.
    public let workers: Int
    /// Jobs that may wait for a worker.
    public let queueLimit: Int
    /// The `Retry-After` a refused job answers with.
    public let retryAfterSeconds: Int
    private let pool: Pool

    /// A pool of `workers` threads (default: `ProcessInfo.activeProcessorCount`) with room for
    /// `queueLimit` waiting jobs (default: 2 × workers).
    public convenience init(workers: Int? = nil, queueLimit: Int? = nil, retryAfterSeconds: Int = 1) {
        self.init(workers: workers, queueLimit: queueLimit, retryAfterSeconds: retryAfterSeconds, beforeEachJob: nil)
    }

    /// As above, with `beforeEachJob` run on the worker thread before each job: tests use it to
    /// hold the workers and fill the queue deterministically.
    package init(workers: Int?, queueLimit: Int?, retryAfterSeconds: Int = 1, beforeEachJob: (@Sendable () -> Void)?) {
        let n = max(1, workers ?? ProcessInfo.processInfo.activeProcessorCount)
        self.workers = n
        self.queueLimit = max(0, queueLimit ?? 2 * n)
        self.retryAfterSeconds = max(1, retryAfterSeconds)
        pool = Pool(capacity: n + self.queueLimit, beforeEachJob: beforeEachJob)
        for i in 0..<n {
            let pool = self.pool
            let thread = Thread {
                PasswordHasher.lowerThreadPriority()
                pool.work()
            }
            thread.name = "vigil.argon2id.\(i)"
            thread.start()
        }
    }

    /// argon2id threads yield the CPU to request handling: nice 10 for this thread only (Linux
    /// keeps a nice value per thread), so a TOTP verify is not stuck behind a hash while
    /// the pool is saturated; the hashes still get every cycle nothing else wants.
    static func lowerThreadPriority() {
        #if os(Linux)
        // `who` 0 is the calling thread: on Linux the nice value is per thread.
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
        #endif
    }

    deinit {
        // The threads hold the pool, not the hasher: they finish the admitted jobs and exit.
        pool.stop()
    }

    /// Hashes `password` at `cost` with a fresh salt; libsodium's string format.
    public func hash(_ password: PasswordCandidate, cost: Argon2idCost) async throws -> String {
        let secret = password.secret
        return try await run { try PasswordHash.hash(secret, cost: cost) }
    }

    /// True when `password` matches `encoded` (constant time within libsodium).
    public func verify(_ password: PasswordCandidate, against encoded: String) async throws -> Bool {
        let secret = password.secret
        return try await run { PasswordHash.verify(secret, against: encoded) }
    }

    /// Jobs running and jobs waiting, for metrics and tests.
    public var load: (running: Int, waiting: Int) { pool.load }

    private func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let admitted = pool.submit {
                let result = Result { try work() }
                return { continuation.resume(with: result) }
            }
            if !admitted { continuation.resume(throwing: VigilError.overloaded(retryAfterSeconds: retryAfterSeconds)) }
        }
    }

    /// The queue and its workers' loop. `admitted` counts jobs from admission to completion,
    /// so the bound holds whether or not a worker has woken up to take a job yet. A job does
    /// its work and returns how to answer its caller; the slot is freed before the answer, so a
    /// caller that got its answer finds its slot free again.
    private final class Pool: @unchecked Sendable {
        // @unchecked Sendable: every mutable field is guarded by `condition`.
        private let condition = NSCondition()
        typealias Job = @Sendable () -> (@Sendable () -> Void)
        private var jobs: [Job] = []
        private var admitted = 0
        private var running = 0
        private var stopping = false
        private let capacity: Int
        private let beforeEachJob: (@Sendable () -> Void)?

        init(capacity: Int, beforeEachJob: (@Sendable () -> Void)?) {
            self.capacity = capacity
            self.beforeEachJob = beforeEachJob
        }

        /// Queues `job`; false (and `job` dropped) when the pool is full or stopping.
        func submit(_ job: @escaping Job) -> Bool {
            condition.lock()
            defer { condition.unlock() }
            guard !stopping, admitted < capacity else { return false }
            admitted += 1
            jobs.append(job)
            condition.signal()
            return true
        }

        var load: (running: Int, waiting: Int) {
            condition.lock()
            defer { condition.unlock() }
            return (running, jobs.count)
        }

        func stop() {
            condition.lock()
            stopping = true
            condition.broadcast()
            condition.unlock()
        }

        /// A worker thread's life: take a job, run it, until stopped and drained.
        func work() {
            while true {
                condition.lock()
                while jobs.isEmpty && !stopping { condition.wait() }
                if jobs.isEmpty {
                    condition.unlock()
                    return
                }
                let job = jobs.removeFirst()
                running += 1
                condition.unlock()
                beforeEachJob?()
                let answer = job()
                condition.lock()
                running -= 1
                admitted -= 1
                condition.unlock()
                answer()
            }
        }
    }
}
