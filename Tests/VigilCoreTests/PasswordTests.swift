import Foundation
import Testing
import VigilCore
import VigilCrypto

@Suite("Password rules")
struct PasswordRulesTests {
    static let policy = AuthenticationPolicy.Password(
        minLength: 8,
        singleFactorMinLength: 15,
        maxLength: 64,
        blocklist: "common-passwords.txt",
        argon2id: .init(memoryKiB: 19456, iterations: 2, parallelism: 1)
    )
    static let rules = PasswordRules(policy: policy, blocklist: PasswordBlocklist(["password", "baseball"]))

    struct Case: Sendable, CustomTestStringConvertible {
        var password: String
        var subject = "deadbeef-0001"
        var secondFactor = true
        /// A phrase the refusal must contain, nil when accepted.
        var refusal: String?
        var testDescription: String { "\(password.unicodeScalars.count) code points, refusal: \(refusal ?? "none")" }
    }

    @Test(
        "lengths in code points after NFKC, the blocklist in any case or width, the subject id",
        arguments: [
            Case(password: "abcdefg", refusal: "at least 8"),
            Case(password: "abcdefgh"),
            Case(password: "abcdefgh", secondFactor: false, refusal: "at least 15 characters (Unicode code points after NFKC) when"),
            Case(password: "abcdefghijklmno", secondFactor: false),
            Case(password: String(repeating: "x", count: 64)),
            Case(password: String(repeating: "x", count: 65), refusal: "at most 64"),
            Case(password: String(repeating: "😀", count: 8)),  // 32 bytes, 16 UTF-16 units, 8 code points
            Case(password: String(repeating: "😀", count: 7), refusal: "at least 8"),
            Case(password: String(repeating: "e\u{301}", count: 7), refusal: "at least 8"),  // 14 code points as sent, 7 after NFKC
            Case(password: String(repeating: "\u{FB03}", count: 3)),  // "ﬃ" ×3 is "ffi" ×3 after NFKC: 9
            Case(password: "       spaces are fine       "),
            Case(password: "PASSWORD", refusal: "blocklist"),
            Case(password: "ｂａｓｅｂａｌｌ", refusal: "blocklist"),
            Case(password: "strasse-deadbeef-0001", refusal: "subject id"),
            Case(password: "x-DeadBeef-0001-x", refusal: "subject id"),
            Case(password: "abcabcabc", subject: "abc"),  // ids under 4 characters are not searched for
            Case(password: "abcdabcd", subject: "abcd", refusal: "subject id"),
        ]
    )
    func rules(_ c: Case) throws {
        do {
            let candidate = try Self.rules.check(c.password, subjectID: c.subject, hasSecondFactor: c.secondFactor)
            #expect(c.refusal == nil, "accepted")
            #expect(candidate.codePoints == c.password.precomposedStringWithCompatibilityMapping.unicodeScalars.count)
        } catch let VigilError.invalidField(field, reason) {
            #expect(field == "password")
            let refusal = try #require(c.refusal, "refused: \(reason)")
            #expect(reason.contains(refusal), "\(reason)")
            #expect(!reason.contains(c.password))
        }
    }

    @Test("a candidate never prints its value")
    func redacted() throws {
        let candidate = try Self.rules.check("correct horse battery", subjectID: "deadbeef-0001", hasSecondFactor: true)
        #expect(!"\(candidate)".contains("horse"))
        #expect(!String(reflecting: candidate).contains("horse"))
        #expect("\(candidate)".contains("redacted"))
    }

    @Test("at verify only the ceiling applies: the highest max_length any policy may set")
    func verifyCeiling() throws {
        #expect(try PasswordRules.candidate(forVerifying: "").codePoints == 0)
        #expect(try PasswordRules.candidate(forVerifying: String(repeating: "a", count: 1024)).codePoints == 1024)
        #expect(throws: VigilError.self) { try PasswordRules.candidate(forVerifying: String(repeating: "a", count: 1025)) }
    }
}

@Suite("Password blocklist")
struct PasswordBlocklistTests {
    @Test("the shipped list loads: 30,000 lower-case entries, comments skipped, checked after NFKC and lower-casing")
    func shipped() throws {
        let policies = try PolicySet.load(directory: PolicyFixtures.shippedDirectory)
        let list = try PasswordBlocklist.load(policiesDirectory: PolicyFixtures.shippedDirectory, policy: policies.authentication.password)
        #expect(list.count == 30_000)
        #expect(list.contains("password"))
        #expect(list.contains("PassWord"))
        #expect(list.contains("ｑｗｅｒｔｙ"))
        #expect(list.contains("1qaz2wsx3edc4rfv"))
        #expect(!list.contains("# Common passwords refused by Vigil (NIST SP 800-63B §5.1.1.2). One a line, lower-case;"))
        #expect(!list.contains("correct horse battery staple"))
        let text = PolicyFixtures.shippedText("common-passwords.txt")
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            #expect(line == line.lowercased() && !line.isEmpty, "\(line)")
        }
        #expect(text.contains("Licence: MIT"))
    }

    @Test("a missing, empty or non-UTF-8 list is an error: the server does not start without one")
    func failures() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-blocklist-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("none.txt")
        #expect(throws: PasswordBlocklist.LoadError.missing(path: missing.path)) { try PasswordBlocklist.load(file: missing) }
        let empty = dir.appendingPathComponent("empty.txt")
        try Data("# only a comment\n\n   \n".utf8).write(to: empty)
        #expect(throws: PasswordBlocklist.LoadError.empty(path: empty.path)) { try PasswordBlocklist.load(file: empty) }
        let binary = dir.appendingPathComponent("binary.txt")
        try Data([0x70, 0xff, 0xfe, 0x0a]).write(to: binary)
        #expect(throws: PasswordBlocklist.LoadError.unreadable(path: binary.path)) { try PasswordBlocklist.load(file: binary) }
        let crlf = dir.appendingPathComponent("crlf.txt")
        try Data("# comment\r\nHunter2\r\n  dragon  \r\n".utf8).write(to: crlf)
        let list = try PasswordBlocklist.load(file: crlf)
        #expect(list.count == 2 && list.contains("hunter2") && list.contains("DRAGON"))
    }
}

/// Holds the hasher's workers while closed; opens by itself after 20 s so a broken test fails.
private final class Latch: @unchecked Sendable {
    // @unchecked Sendable: `isOpen` is guarded by `condition`.
    private let condition = NSCondition()
    private var isOpen = false

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

@Suite("Password hasher pool")
struct PasswordHasherTests {
    static let cost = Argon2idCost.owaspMinimum

    @Test("hash and verify run on the pool; NFKC-equivalent passwords verify; a wrong one does not")
    func roundTrip() async throws {
        let hasher = PasswordHasher(workers: 2, queueLimit: 4)
        let encoded = try await hasher.hash(try PasswordRules.candidate(forVerifying: "\u{FB03} correct horse"), cost: Self.cost)
        #expect(encoded.hasPrefix("$argon2id$v=19$m=19456,t=2,p=1$"))
        #expect(PasswordHash.parameters(of: encoded) == "m=19456,t=2,p=1")
        #expect(try await hasher.verify(try PasswordRules.candidate(forVerifying: "ffi correct horse"), against: encoded))
        #expect(try await !hasher.verify(try PasswordRules.candidate(forVerifying: "ffi correct horsf"), against: encoded))
        #expect(try await !hasher.verify(try PasswordRules.candidate(forVerifying: "ffi correct horse"), against: "not a hash"))
    }

    @Test("with every worker busy and the queue full, the next job fails at once with overloaded; the admitted ones finish")
    func bounded() async throws {
        let latch = Latch()
        let hasher = PasswordHasher(workers: 2, queueLimit: 1, retryAfterSeconds: 2, beforeEachJob: { latch.pass() })
        #expect(hasher.workers == 2 && hasher.queueLimit == 1)
        let encoded = try PasswordHash.hash(Array("tulip-quartz-91".utf8), cost: Self.cost)
        let candidate = try PasswordRules.candidate(forVerifying: "tulip-quartz-91")
        let admitted = (0..<3).map { _ in Task { try await hasher.verify(candidate, against: encoded) } }
        // Wait until the three are in: two held on the workers, one waiting.
        let deadline = ContinuousClock.now + .seconds(120)  // generous: a shared machine can starve the workers
        while hasher.load != (2, 1) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(hasher.load == (2, 1))
        // "At once" holds by construction: the workers stay held until latch.open() below, so a
        // job that queued instead of failing would never return and the test would not get there.
        await #expect(throws: VigilError.overloaded(retryAfterSeconds: 2)) { try await hasher.verify(candidate, against: encoded) }
        await #expect(throws: VigilError.overloaded(retryAfterSeconds: 2)) { try await hasher.hash(candidate, cost: Self.cost) }
        latch.open()
        for task in admitted { #expect(try await task.value) }
        #expect(hasher.load == (0, 0))
        // Slots are free again once answered.
        #expect(try await hasher.verify(candidate, against: encoded))
    }

    @Test("at most `workers` jobs run at once however many are admitted")
    func concurrencyIsBounded() async throws {
        final class Peak: @unchecked Sendable {
            // @unchecked Sendable: guarded by `lock`.
            let lock = NSLock()
            var current = 0
            var peak = 0
            func enter() {
                lock.withLock {
                    current += 1
                    peak = max(peak, current)
                }
                Thread.sleep(forTimeInterval: 0.01)
                lock.withLock { current -= 1 }
            }
        }
        let peak = Peak()
        let hasher = PasswordHasher(workers: 2, queueLimit: 30, beforeEachJob: { peak.enter() })
        let candidate = try PasswordRules.candidate(forVerifying: "tulip-quartz-91")
        let encoded = try PasswordHash.hash(Array("tulip-quartz-91".utf8), cost: Self.cost)
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<12 { group.addTask { try await hasher.verify(candidate, against: encoded) } }
            for try await ok in group { #expect(ok) }
        }
        #expect(peak.peak <= 2)
    }
}
