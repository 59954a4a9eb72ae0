import Testing
import VigilCrypto

/// XChaCha20-Poly1305: the draft-irtf-cfrg-xchacha A.3.1 known answer (by opening it, since
/// seal picks its own nonce), round trips, and rejection of any altered byte.
@Suite("XChaCha20-Poly1305")
struct AEADTests {
    struct Case: Decodable, Sendable, CustomTestStringConvertible {
        var name: String
        var key: String
        var nonce: String
        var aad: String
        var plaintext: String
        var ciphertext: String
        var tag: String
        var result: String
        var testDescription: String { name }
    }

    static let cases = (try? Vectors.load("xchacha20poly1305-draft.json", as: VectorFile<Case>.self).cases) ?? []

    @Test("sizes are a 32-byte key, a 24-byte nonce and a 16-byte tag")
    func sizes() {
        #expect(XChaCha20Poly1305.keyBytes == 32)
        #expect(XChaCha20Poly1305.nonceBytes == 24)
        #expect(XChaCha20Poly1305.tagBytes == 16)
        #expect(Self.cases.contains { $0.result == "ok" })
        #expect(Self.cases.contains { $0.result == "bad-mac" })
    }

    @Test("opening nonce ‖ ciphertext ‖ tag from draft-irtf-cfrg-xchacha A.3.1", arguments: cases)
    func draftVector(_ vector: Case) throws {
        let key = try SecretBytes(copying: unhex(vector.key))
        let sealed = unhex(vector.nonce) + unhex(vector.ciphertext) + unhex(vector.tag)
        switch vector.result {
        case "ok":
            let plaintext = try XChaCha20Poly1305.open(sealed[...], additionalData: unhex(vector.aad), key: key)
            #expect(plaintext == unhex(vector.plaintext))
            #expect(String(decoding: plaintext, as: UTF8.self).hasPrefix("Ladies and Gentlemen of the class of '99"))
        case "bad-mac":
            #expect(throws: CryptoError.authenticationFailed) {
                try XChaCha20Poly1305.open(sealed[...], additionalData: unhex(vector.aad), key: key)
            }
        default: Issue.record("unknown result \(vector.result)")
        }
    }

    @Test("seal then open returns the plaintext; each seal uses a fresh nonce")
    func roundTrip() throws {
        let key = try SecretBytes.random(count: XChaCha20Poly1305.keyBytes)
        for length in [0, 1, 15, 16, 17, 64, 1000] {
            let plaintext = SecureRandom.bytes(length)
            let ad = Array("context".utf8)
            let a = try XChaCha20Poly1305.seal(plaintext, additionalData: ad, key: key)
            let b = try XChaCha20Poly1305.seal(plaintext, additionalData: ad, key: key)
            #expect(a.count == XChaCha20Poly1305.nonceBytes + length + XChaCha20Poly1305.tagBytes)
            #expect(a.prefix(XChaCha20Poly1305.nonceBytes) != b.prefix(XChaCha20Poly1305.nonceBytes))
            #expect(try XChaCha20Poly1305.open(a[...], additionalData: ad, key: key) == plaintext)
            #expect(try XChaCha20Poly1305.open(b[...], additionalData: ad, key: key) == plaintext)
        }
    }

    @Test("a flipped bit in any byte (nonce, ciphertext or tag) fails authentication")
    func anyFlippedByte() throws {
        let key = try SecretBytes.random(count: XChaCha20Poly1305.keyBytes)
        let ad = Array("subjects\u{0}email".utf8)
        let sealed = try XChaCha20Poly1305.seal(Array("alice@example.com".utf8), additionalData: ad, key: key)
        for index in sealed.indices {
            #expect(throws: CryptoError.authenticationFailed, "byte \(index)") {
                try XChaCha20Poly1305.open(flipped(sealed, at: index, bit: index % 8)[...], additionalData: ad, key: key)
            }
        }
    }

    @Test("other associated data, another key, or a truncated blob fail")
    func wrongContext() throws {
        let key = try SecretBytes.random(count: 32)
        let sealed = try XChaCha20Poly1305.seal([1, 2, 3], additionalData: [9], key: key)
        #expect(throws: CryptoError.authenticationFailed) { try XChaCha20Poly1305.open(sealed[...], additionalData: [8], key: key) }
        #expect(throws: CryptoError.authenticationFailed) { try XChaCha20Poly1305.open(sealed[...], additionalData: [], key: key) }
        let other = try SecretBytes.random(count: 32)
        #expect(throws: CryptoError.authenticationFailed) { try XChaCha20Poly1305.open(sealed[...], additionalData: [9], key: other) }
        #expect(throws: CryptoError.authenticationFailed) { try XChaCha20Poly1305.open(sealed.dropLast(), additionalData: [9], key: key) }
        #expect(throws: CryptoError.self) { try XChaCha20Poly1305.open(sealed.prefix(39), additionalData: [9], key: key) }
        #expect(throws: CryptoError.self) { try XChaCha20Poly1305.open([UInt8]()[...], additionalData: [9], key: key) }
    }

    @Test("an opened slice need not start at index 0")
    func sliceOffset() throws {
        let key = try SecretBytes.random(count: 32)
        let sealed = try XChaCha20Poly1305.seal([1, 2, 3], additionalData: [], key: key)
        let stored = [0xaa, 0xbb] + sealed
        #expect(try XChaCha20Poly1305.open(stored[2...], additionalData: [], key: key) == [1, 2, 3])
    }

    @Test("keys that are not 32 bytes are refused")
    func keyLength() throws {
        let short = try SecretBytes(copying: [UInt8](repeating: 1, count: 31))
        #expect(throws: CryptoError.malformed("key length")) { try XChaCha20Poly1305.seal([1], additionalData: [], key: short) }
        let sealed = try XChaCha20Poly1305.seal([1], additionalData: [], key: SecretBytes.random(count: 32))
        #expect(throws: CryptoError.malformed("key length")) { try XChaCha20Poly1305.open(sealed[...], additionalData: [], key: short) }
    }
}
