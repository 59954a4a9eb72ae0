import Testing
import VigilCrypto

/// argon2id password hashing at a small cost (t = 1, m = 8 MiB) so that the suite stays fast.
@Suite("PasswordHash")
struct PasswordHashTests {
    struct Case: Decodable, Sendable, CustomTestStringConvertible {
        var name: String
        var hash: String
        var password: String
        var result: String
        var needsRehashAt: [Rehash]?
        var testDescription: String { name }
    }

    struct Rehash: Decodable, Sendable {
        var opsLimit: UInt64
        var memLimit: Int
        var expected: Bool
    }

    static let cheap = Argon2idCost(opsLimit: 1, memLimit: 8 * 1024 * 1024)

    @Test(
        "strings from libsodium's own test suite verify as libsodium says",
        arguments: try Vectors.load("pwhash-libsodium.json", as: VectorFile<Case>.self).cases
    )
    func libsodiumVectors(_ vector: Case) {
        let verified = PasswordHash.verify(Array(vector.password.utf8), against: vector.hash)
        switch vector.result {
        case "ok": #expect(verified)
        case "mismatch", "malformed": #expect(!verified)
        default: Issue.record("unknown result \(vector.result)")
        }
        for rehash in vector.needsRehashAt ?? [] {
            let cost = Argon2idCost(opsLimit: rehash.opsLimit, memLimit: rehash.memLimit)
            #expect(PasswordHash.needsRehash(vector.hash, cost: cost) == rehash.expected, "t=\(rehash.opsLimit) m=\(rehash.memLimit)")
        }
    }

    @Test("hash then verify; a wrong password fails; each hash has its own salt")
    func roundTrip() throws {
        let password = Array("correct horse battery staple".utf8)
        let encoded = try PasswordHash.hash(password, cost: Self.cheap)
        #expect(encoded.hasPrefix("$argon2id$v=19$m=8192,t=1,p=1$"))
        #expect(PasswordHash.verify(password, against: encoded))
        #expect(!PasswordHash.verify(Array("correct horse battery stapler".utf8), against: encoded))
        #expect(!PasswordHash.verify(Array("Correct horse battery staple".utf8), against: encoded))
        #expect(!PasswordHash.verify([], against: encoded))
        #expect(try PasswordHash.hash(password, cost: Self.cheap) != encoded)
    }

    @Test("the password's length is explicit: bytes after a NUL count, and empty or non-ASCII passwords work")
    func passwordBytes() throws {
        let withNUL: [UInt8] = [0x61, 0x00, 0x62]
        let encoded = try PasswordHash.hash(withNUL, cost: Self.cheap)
        #expect(PasswordHash.verify(withNUL, against: encoded))
        #expect(!PasswordHash.verify([0x61, 0x00, 0x63], against: encoded))
        #expect(!PasswordHash.verify([0x61], against: encoded))

        let empty = try PasswordHash.hash([], cost: Self.cheap)
        #expect(PasswordHash.verify([], against: empty))
        #expect(!PasswordHash.verify([0x00], against: empty))

        let umlaut = Array("pässwörd 🔑".utf8)
        #expect(PasswordHash.verify(umlaut, against: try PasswordHash.hash(umlaut, cost: Self.cheap)))
    }

    @Test("needsRehash is false at the same cost and true when either parameter differs")
    func needsRehash() throws {
        let encoded = try PasswordHash.hash(Array("pw".utf8), cost: Self.cheap)
        #expect(!PasswordHash.needsRehash(encoded, cost: Self.cheap))
        #expect(PasswordHash.needsRehash(encoded, cost: Argon2idCost(opsLimit: 2, memLimit: 8 * 1024 * 1024)))
        #expect(PasswordHash.needsRehash(encoded, cost: Argon2idCost(opsLimit: 1, memLimit: 16 * 1024 * 1024)))
        #expect(PasswordHash.needsRehash(encoded, cost: .owaspMinimum))
    }

    @Test("garbage is never a valid hash, and needs a rehash; nothing crashes")
    func garbage() {
        let garbage = [
            "", "garbage", "$argon2id$", "$argon2id$v=19$m=8192,t=1,p=1$", "$2b$12$abcdefghijklmnopqrstuv",
            "$argon2id$v=19$m=8192,t=1,p=1$c2FsdA\u{0}$aGFzaA", String(repeating: "A", count: 127), String(repeating: "A", count: 128),
            "$argon2id$v=19$m=8192,t=1,p=1$" + String(repeating: "A", count: 4096),
        ]
        for text in garbage {
            #expect(!PasswordHash.verify(Array("password".utf8), against: text), "\(text.prefix(40))")
            #expect(!PasswordHash.verify([], against: text), "\(text.prefix(40))")
            #expect(PasswordHash.needsRehash(text, cost: Self.cheap), "\(text.prefix(40))")
        }
    }

    @Test("a cost below libsodium's minimum fails with passwordHashingFailed")
    func tooCheap() {
        #expect(throws: CryptoError.passwordHashingFailed) {
            try PasswordHash.hash([1], cost: Argon2idCost(opsLimit: 0, memLimit: 8 * 1024 * 1024))
        }
        #expect(Argon2idCost.opsLimitMin >= 1)
        #expect(Argon2idCost.memLimitMin <= 8 * 1024 * 1024)
    }
}
