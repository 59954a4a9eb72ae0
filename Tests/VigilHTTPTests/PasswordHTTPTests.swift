import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import VigilAudit
import VigilCore
import VigilCrypto
import VigilHTTP
import VigilStore
import VigilTestSupport

/// A JSON body `{"password": …}`, encoded by JSONEncoder so any Unicode survives as sent.
func passwordBody(_ password: String) throws -> String {
    String(decoding: try JSONEncoder().encode(["password": password]), as: UTF8.self)
}

extension TestClientProtocol {
    func setPassword(_ subject: String, _ password: String, key: String) async throws -> TestResponse {
        try await post("/v1/subjects/\(subject)/password", key: key, json: try passwordBody(password))
    }

    func verifyPassword(_ subject: String, _ password: String, key: String) async throws -> TestResponse {
        try await post("/v1/subjects/\(subject)/password/verify", key: key, json: try passwordBody(password))
    }

    /// `valid` of a 200 verify; fails the test on any other status.
    func isValidPassword(
        _ subject: String,
        _ password: String,
        key: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws
        -> Bool
    {
        let r = try await verifyPassword(subject, password, key: key)
        #expect(r.status == .ok, sourceLocation: sourceLocation)
        return try json(r)["valid"] as? Bool ?? false
    }

    func register(_ subject: String, key: String) async throws {
        let r = try await post("/v1/subjects", key: key, json: #"{"subject_id":"\#(subject)"}"#)
        #expect(r.status == .created)
    }
}

extension TestService {
    /// The whole audit log as exported (entries.jsonl).
    func auditEntries() async throws -> String {
        let out = dir.file("audit-\(UUID().uuidString)")
        _ = try await store.exportAudit(to: out, from: nil, to: nil, keys: [Fixtures.auditSigner().verifierKey])
        return try String(contentsOfFile: out + "/entries.jsonl", encoding: .utf8)
    }

    /// The audit actions in log order.
    func auditActions() async throws -> [String] {
        try await auditEntries().split(separator: "\n").compactMap { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return object?["action"] as? String
        }
    }

    func storedPasswordHash(_ subject: String) async throws -> String? {
        try await store.read { try $0.password(subjectID: subject)?.hash }
    }
}

extension PolicySet {
    /// The same set with another argon2id cost for new hashes.
    func withArgon2id(memoryKiB: Int, iterations: Int) -> PolicySet {
        var auth = authentication
        auth.password.argon2id = .init(memoryKiB: memoryKiB, iterations: iterations, parallelism: 1)
        return PolicySet(authentication: auth, recovery: recovery, sla: sla, retention: retention, audit: audit, digest: digest)
    }
}

/// Holds the hasher's workers at the start of each job while closed (tests of a full pool).
/// A closed gate opens by itself after 20 seconds, so a broken test fails instead of hanging.
final class Gate: @unchecked Sendable {
    // @unchecked Sendable: `isOpen` is guarded by `condition`.
    private let condition = NSCondition()
    private var isOpen = true

    func close() { condition.withLock { isOpen = false } }

    func open() {
        condition.withLock {
            isOpen = true
            condition.broadcast()
        }
    }

    func pass() {
        condition.withLock {
            let deadline = Date().addingTimeInterval(20)
            while !isOpen && condition.wait(until: deadline) {}
        }
    }
}

@Suite("Passwords over HTTP")
struct PasswordHTTPTests {
    @Test("a password alone needs 15 code points after NFKC, one backed by TOTP 8, and neither more than 128")
    func lengthRules() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .credentialsVerify])
        try await service.test { client in
            // No second factor: single_factor_min_length (15).
            try await client.register("deadbeef-0101", key: key)
            let short = try await client.setPassword("deadbeef-0101", "tulip-quartz-9", key: key)
            try expectErrorShape(short, status: .badRequest, code: "invalid_field", field: "password")
            #expect(try json(short).description.contains("at least 15"))
            #expect(try await client.setPassword("deadbeef-0101", "tulip-quartz-91", key: key).status == .ok)
            // Code points, not grapheme clusters: three family emoji are 3 characters but 15 code points.
            let families = String(repeating: "👨‍👩‍👧", count: 3)
            #expect(families.count == 3 && families.unicodeScalars.count == 15)
            #expect(try await client.setPassword("deadbeef-0101", families, key: key).status == .ok)
            // After NFKC: five "ﬃ" ligatures are 15 code points ("ffi" × 5), and verify normalises too.
            #expect(try await client.setPassword("deadbeef-0101", String(repeating: "\u{FB03}", count: 5), key: key).status == .ok)
            #expect(try await client.isValidPassword("deadbeef-0101", String(repeating: "ffi", count: 5), key: key))
            // …and eight "e" + combining acute are 16 code points as sent but 8 ("é") after NFKC.
            let composed = String(repeating: "e\u{301}", count: 8)
            #expect(composed.unicodeScalars.count == 16)
            try expectErrorShape(
                try await client.setPassword("deadbeef-0101", composed, key: key),
                status: .badRequest,
                code: "invalid_field",
                field: "password"
            )
            // max_length (128) in code points: 128 emoji (512 UTF-8 bytes) are fine, 129 are not.
            #expect(try await client.setPassword("deadbeef-0101", String(repeating: "😀", count: 128), key: key).status == .ok)
            let long = try await client.setPassword("deadbeef-0101", String(repeating: "😀", count: 129), key: key)
            try expectErrorShape(long, status: .badRequest, code: "invalid_field", field: "password")
            #expect(try json(long).description.contains("at most 128"))

            // An active TOTP: min_length (8).
            _ = try await service.enrol(client, subject: "deadbeef-0102", key: key)
            #expect(try await client.setPassword("deadbeef-0102", String(repeating: "😀", count: 8), key: key).status == .ok)
            #expect(try await client.setPassword("deadbeef-0102", String(repeating: "e\u{301}", count: 8), key: key).status == .ok)
            let seven = try await client.setPassword("deadbeef-0102", String(repeating: "😀", count: 7), key: key)
            try expectErrorShape(seven, status: .badRequest, code: "invalid_field", field: "password")
            #expect(try json(seven).description.contains("at least 8"))
        }
    }

    @Test("a password on the blocklist (in any case or width) or containing the subject id is refused, and never echoed")
    func blocklistAndIdentifier() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .credentialsVerify])
        try await service.test { client in
            _ = try await service.enrol(client, subject: "deadbeef-0103", key: key)
            try await client.register("deadbeef-0104", key: key)
            try await client.register("abc", key: key)
            let refused: [(subject: String, password: String, rule: String)] = [
                ("deadbeef-0103", "baseball", "blocklist"),
                ("deadbeef-0103", "BaseBall", "blocklist"),
                ("deadbeef-0103", "ＴＲＵＳＴＮＯ１", "blocklist"),  // full-width: NFKC makes it "TRUSTNO1"
                ("deadbeef-0104", "Q1W2E3R4T5Y6U7I8", "blocklist"),
                ("deadbeef-0104", "qwertyuiop12345", "blocklist"),
                ("deadbeef-0103", "my-DEADBEEF-0103-wallet", "subject id"),
                ("deadbeef-0104", "xx deadbeef-0104 xx", "subject id"),
            ]
            for (subject, password, rule) in refused {
                let r = try await client.setPassword(subject, password, key: key)
                try expectErrorShape(r, status: .badRequest, code: "invalid_field", field: "password")
                let text = String(decoding: Data(buffer: r.body), as: UTF8.self)
                #expect(text.contains(rule), "\(rule)")
                #expect(!text.lowercased().contains(password.lowercased()), "the error echoes the password")
            }
            // An id shorter than 4 characters is not searched for.
            #expect(try await client.setPassword("abc", "abcabc-tulip-quartz", key: key).status == .ok)
            #expect(try await service.storedPasswordHash("deadbeef-0103") == nil)
        }
    }

    @Test("set then verify: the right password is valid, a wrong one or one differing in its last code point is not; replacing works")
    func roundTrip() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .credentialsVerify])
        try await service.test { client in
            try await client.register("deadbeef-0105", key: key)
            let set = try await client.setPassword("deadbeef-0105", "correct horse battery staple", key: key)
            #expect(set.status == .ok)
            #expect(try json(set)["replaced_previous"] as? Bool == false)
            let stored = try #require(try await service.storedPasswordHash("deadbeef-0105"))
            #expect(stored.hasPrefix("$argon2id$v=19$m=19456,t=2,p=1$"))
            #expect(try await client.isValidPassword("deadbeef-0105", "correct horse battery staple", key: key))
            #expect(try await !client.isValidPassword("deadbeef-0105", "correct horse battery stapl", key: key))
            #expect(try await !client.isValidPassword("deadbeef-0105", "Correct horse battery staple", key: key))

            // The whole password is hashed: 128 code points that differ only in the last one.
            let long = String(repeating: "ä", count: 127)
            #expect(try await client.setPassword("deadbeef-0105", long + "x", key: key).status == .ok)
            #expect(try await client.isValidPassword("deadbeef-0105", long + "x", key: key))
            #expect(try await !client.isValidPassword("deadbeef-0105", long + "y", key: key))
            #expect(try await !client.isValidPassword("deadbeef-0105", "correct horse battery staple", key: key))

            let again = try await client.setPassword("deadbeef-0105", "a brand new passphrase", key: key)
            #expect(try json(again)["replaced_previous"] as? Bool == true)
            #expect(try await client.isValidPassword("deadbeef-0105", "a brand new passphrase", key: key))
        }
        let actions = try await service.auditActions()
        #expect(actions.filter { $0 == "password.set" }.count == 3)
        #expect(actions.filter { $0 == "password.changed" }.count == 2)
        #expect(actions.filter { $0 == "password.verify.succeeded" }.count == 3)
        #expect(actions.filter { $0 == "password.verify.failed" }.count == 4)
    }

    @Test("scopes, unknown subjects, subjects without a password and bad bodies get their errors")
    func errors() async throws {
        let service = try TestService()
        let writer = try await service.apiKey([.subjectsWrite])
        let verifier = try await service.apiKey([.credentialsVerify], name: "verifier")
        try await service.test { client in
            try await client.register("deadbeef-0106", key: writer)
            try expectErrorShape(
                try await client.setPassword("deadbeef-0106", "tulip-quartz-91", key: verifier),
                status: .forbidden,
                code: "forbidden"
            )
            try expectErrorShape(
                try await client.verifyPassword("deadbeef-0106", "tulip-quartz-91", key: writer),
                status: .forbidden,
                code: "forbidden"
            )
            try expectErrorShape(
                try await client.verifyPassword("deadbeef-0106", "tulip-quartz-91", key: verifier),
                status: .notFound,
                code: "not_found"
            )
            try expectErrorShape(try await client.verifyPassword("nobody", "tulip-quartz-91", key: verifier), status: .notFound, code: "not_found")
            try expectErrorShape(try await client.setPassword("nobody", "tulip-quartz-91", key: writer), status: .notFound, code: "not_found")
            try expectErrorShape(
                try await client.post("/v1/subjects/deadbeef-0106/password", key: writer, json: #"{"password":12345678}"#),
                status: .badRequest,
                code: "invalid_field",
                field: "password"
            )
            try expectErrorShape(
                try await client.post("/v1/subjects/deadbeef-0106/password/verify", key: verifier, json: #"{}"#),
                status: .badRequest,
                code: "invalid_field",
                field: "password"
            )
            #expect(try await client.setPassword("deadbeef-0106", "tulip-quartz-91", key: writer).status == .ok)
            // Longer than any policy allows: refused before any hashing, not counted.
            try expectErrorShape(
                try await client.verifyPassword("deadbeef-0106", String(repeating: "x", count: 1025), key: verifier),
                status: .badRequest,
                code: "invalid_field",
                field: "password"
            )
        }
    }

    @Test("failures lock the password factor with a growing delay; while locked even the right password gets 429; success resets")
    func lockout() async throws {
        var policies = try TestService.shippedPolicies()
        policies.setRateLimit(limit: 1000)
        let service = try TestService(policies: policies)
        let key = try await service.apiKey([.subjectsWrite, .credentialsVerify])
        let lockout = policies.authentication.lockout[.password]
        try await service.test { client in
            _ = try await service.enrol(client, subject: "deadbeef-0107", key: key)
            #expect(try await client.setPassword("deadbeef-0107", "tulip-quartz-91", key: key).status == .ok)
            for _ in 0..<lockout.freeFailures {
                #expect(try await !client.isValidPassword("deadbeef-0107", "wrong-password", key: key))
            }
            // Still free: the right password works and resets the count.
            #expect(try await client.isValidPassword("deadbeef-0107", "tulip-quartz-91", key: key))
            for _ in 0..<lockout.freeFailures {
                #expect(try await !client.isValidPassword("deadbeef-0107", "wrong-password", key: key))
            }
            // One more failure locks for base_delay_seconds.
            #expect(try await !client.isValidPassword("deadbeef-0107", "wrong-password", key: key))
            let locked = try await client.verifyPassword("deadbeef-0107", "tulip-quartz-91", key: key)
            try expectErrorShape(locked, status: .tooManyRequests, code: "rate_limited")
            #expect(locked.headers[.retryAfter] == String(lockout.baseDelaySeconds))
            // Password failures are counted apart from one-time codes.
            let states = try await SecondFactorService(service.deps.core).factorStates(subjectID: "deadbeef-0107")
            #expect(states[.password]?.consecutiveFailures == lockout.freeFailures + 1)
            #expect(states[.totp] == .clear)
            // The next failure after the delay doubles it.
            service.clock.advance(seconds: TimeInterval(lockout.baseDelaySeconds))
            #expect(try await !client.isValidPassword("deadbeef-0107", "wrong-password", key: key))
            let longer = try await client.verifyPassword("deadbeef-0107", "tulip-quartz-91", key: key)
            #expect(longer.status == .tooManyRequests)
            #expect(longer.headers[.retryAfter] == String(Int(Double(lockout.baseDelaySeconds) * lockout.growthFactor)))
            // After the delay the right password works and clears the lock.
            service.clock.advance(seconds: Double(lockout.baseDelaySeconds) * lockout.growthFactor)
            #expect(try await client.isValidPassword("deadbeef-0107", "tulip-quartz-91", key: key))
            let after = try await SecondFactorService(service.deps.core).factorStates(subjectID: "deadbeef-0107")
            #expect(after[.password] == .clear)
        }
        let actions = try await service.auditActions()
        #expect(actions.contains("password.locked"))
        #expect(actions.filter { $0 == "password.verify.locked" }.count == 2)
    }

    @Test("verifies are rate-limited per subject, right or wrong, with Retry-After to the end of the window")
    func rateLimit() async throws {
        var policies = try TestService.shippedPolicies()
        policies.setRateLimit(limit: 3)
        let service = try TestService(policies: policies)
        let key = try await service.apiKey([.subjectsWrite, .credentialsVerify])
        try await service.test { client in
            try await client.register("deadbeef-0108", key: key)
            try await client.register("deadbeef-0109", key: key)
            #expect(try await client.setPassword("deadbeef-0108", "tulip-quartz-91", key: key).status == .ok)
            #expect(try await client.setPassword("deadbeef-0109", "tulip-quartz-91", key: key).status == .ok)
            for _ in 0..<3 { #expect(try await client.isValidPassword("deadbeef-0108", "tulip-quartz-91", key: key)) }
            let limited = try await client.verifyPassword("deadbeef-0108", "tulip-quartz-91", key: key)
            try expectErrorShape(limited, status: .tooManyRequests, code: "rate_limited")
            #expect(Int(limited.headers[.retryAfter] ?? "") ?? 0 > 0)
            // Another subject has its own budget.
            #expect(try await client.isValidPassword("deadbeef-0109", "tulip-quartz-91", key: key))
            service.clock.advance(seconds: 60)
            #expect(try await client.isValidPassword("deadbeef-0108", "tulip-quartz-91", key: key))
        }
        #expect(try await service.auditActions().contains("password.verify.rate_limited"))
    }

    @Test("a success under a policy with a higher argon2id cost rehashes at the new cost, in the same use case")
    func rehash() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .credentialsVerify])
        try await service.test { client in
            try await client.register("deadbeef-0110", key: key)
            #expect(try await client.setPassword("deadbeef-0110", "tulip-quartz-91", key: key).status == .ok)
        }
        let before = try #require(try await service.storedPasswordHash("deadbeef-0110"))
        #expect(before.hasPrefix("$argon2id$v=19$m=19456,t=2,p=1$"))

        // The next run has a policy with a higher cost.
        let raised = service.policies.withArgon2id(memoryKiB: 24576, iterations: 3)
        try await service.test(policies: raised) { client in
            #expect(try await !client.isValidPassword("deadbeef-0110", "wrong-password", key: key))
            #expect(try await service.storedPasswordHash("deadbeef-0110") == before)  // a failure does not rehash
            #expect(try await client.isValidPassword("deadbeef-0110", "tulip-quartz-91", key: key))
            let after = try #require(try await service.storedPasswordHash("deadbeef-0110"))
            #expect(after.hasPrefix("$argon2id$v=19$m=24576,t=3,p=1$"))
            #expect(!PasswordHash.needsRehash(after, cost: raised.authentication.password.argon2id.cost))
            #expect(try await client.isValidPassword("deadbeef-0110", "tulip-quartz-91", key: key))
            #expect(try await service.storedPasswordHash("deadbeef-0110") == after)  // at the policy's cost: left alone
        }
        let entries = try await service.auditEntries()
        #expect(entries.components(separatedBy: "\"password.rehashed\"").count - 1 == 1)
        #expect(entries.contains("m=19456,t=2,p=1") && entries.contains("m=24576,t=3,p=1"))
    }

    @Test("a full argon2id pool answers 503 with Retry-After at once, the admitted requests succeed, and the server keeps serving")
    func saturatedPool() async throws {
        let gate = Gate()
        let hasher = PasswordHasher(workers: 1, queueLimit: 1, beforeEachJob: { gate.pass() })
        var policies = try TestService.shippedPolicies()
        policies.setRateLimit(limit: 1000)
        let service = try TestService(policies: policies, passwordHasher: hasher)
        let key = try await service.apiKey([.subjectsWrite, .credentialsVerify])
        let requests = 6
        try await service.test(.ahc(.http)) { client in
            try await client.register("deadbeef-0111", key: key)
            #expect(try await client.setPassword("deadbeef-0111", "tulip-quartz-91", key: key).status == .ok)
            gate.close()
            try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for _ in 0..<requests {
                    group.addTask { try await client.verifyPassword("deadbeef-0111", "tulip-quartz-91", key: key) }
                }
                var refused = 0
                var valid = 0
                for try await response in group {
                    if response.status == .serviceUnavailable {
                        try expectErrorShape(response, status: .serviceUnavailable, code: "overloaded")
                        #expect(response.headers[.retryAfter] == "1")
                        refused += 1
                        if refused == requests - 2 {
                            // One job held on the worker, one waiting: everything else was refused. The
                            // worker thread may not have picked its job up yet: wait for it (bounded).
                            let deadline = ContinuousClock.now + .seconds(120)
                            while hasher.load.running == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
                            #expect(hasher.load.running == 1 && hasher.load.waiting == 1)
                            // The event loops are free while argon2id is busy.
                            #expect(try await client.get("/healthz").status == .ok)
                            try await client.register("deadbeef-0112", key: key)
                            gate.open()
                        }
                    } else {
                        #expect(response.status == .ok)
                        if try json(response)["valid"] as? Bool == true { valid += 1 }
                    }
                }
                #expect(refused == requests - 2)
                #expect(valid == 2)
            }
            gate.open()
            #expect(try await client.isValidPassword("deadbeef-0111", "tulip-quartz-91", key: key))
        }
    }

    @Test("the password never appears in a log line, a response, an audit entry or the database file")
    func canary() async throws {
        let service = try TestService()
        let key = try await service.apiKey([.subjectsWrite, .credentialsVerify])
        let canary = "canary-Vq7Zx-pw-4Lm9R-tk2W"
        let wrong = "canary-Vq7Zx-pw-WRONG-0000"
        let short = "canaryQ7x"
        let responses = LogCapture()  // collects the responses' text, as it does log lines
        try await service.test { client in
            try await client.register("deadbeef-0113", key: key)
            for r in [
                try await client.setPassword("deadbeef-0113", canary, key: key),
                try await client.setPassword("deadbeef-0113", short, key: key),
                try await client.verifyPassword("deadbeef-0113", canary, key: key),
                try await client.verifyPassword("deadbeef-0113", wrong, key: key),
                try await client.post("/v1/subjects/deadbeef-0113/password", key: key, json: #"{"password":"\#(canary)","extra":}"#),
            ] {
                responses.append(
                    String(decoding: Data(buffer: r.body), as: UTF8.self) + r.headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
                )
            }
        }
        let hash = try #require(try await service.storedPasswordHash("deadbeef-0113"))
        let salt = String(hash.split(separator: "$")[3])
        let audit = try await service.auditEntries()
        #expect(audit.contains("password.verify.failed"))
        var database = Data()
        for suffix in ["", "-wal"] {
            database += (try? Data(contentsOf: URL(fileURLWithPath: service.dir.file("vigil.sqlite" + suffix)))) ?? Data()
        }
        for needle in [canary, wrong, short, "Vq7Zx"] {
            #expect(responses.all.count == 5)
            #expect(!responses.text.contains(needle), "a response carries the password")
            #expect(!service.logs.text.contains(needle), "a log line carries the password")
            #expect(!audit.contains(needle), "an audit entry carries the password")
            #expect(database.range(of: Data(needle.utf8)) == nil, "the database holds the password in the clear")
        }
        #expect(!audit.contains(salt), "an audit entry carries the hash")
        #expect(!service.logs.text.contains(salt), "a log line carries the hash")
    }
}
