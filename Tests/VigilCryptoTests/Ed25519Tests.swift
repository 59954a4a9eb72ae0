import Testing
import VigilCrypto

/// Ed25519 against RFC 8032 section 7.1: key derivation, signatures byte for byte, verification,
/// and rejection of any single flipped bit.
@Suite("Ed25519")
struct Ed25519Tests {
    struct Case: Decodable, Sendable, CustomTestStringConvertible {
        var name: String
        var secretKey: String
        var publicKey: String
        var message: String
        var signature: String
        var result: String
        var testDescription: String { name }
    }

    static let all = (try? Vectors.load("ed25519-rfc8032.json", as: VectorFile<Case>.self).cases) ?? []
    static let published = all.filter { $0.result == "ok" }
    static let rejected = all.filter { $0.result == "bad-signature" }

    @Test("the vector file holds RFC 8032 TEST 1, 2, 3, 1024 and SHA(abc), and derived failures")
    func vectorFileIsComplete() {
        #expect(Self.published.map(\.name) == ["TEST 1", "TEST 2", "TEST 3", "TEST 1024", "TEST SHA(abc)"])
        #expect(Self.rejected.count >= 4)
    }

    @Test("public key and signature match RFC 8032 byte for byte, and the signature verifies", arguments: published)
    func knownAnswer(_ vector: Case) throws {
        let key = try Ed25519.SigningKey(seed: SecretBytes(copying: unhex(vector.secretKey)))
        #expect(hexString(key.publicKey.bytes) == vector.publicKey)
        let message = unhex(vector.message)
        let signature = key.sign(message)
        #expect(hexString(signature) == vector.signature)
        let publicKey = try Ed25519.PublicKey(bytes: unhex(vector.publicKey))
        #expect(publicKey == key.publicKey)
        #expect(publicKey.isValidSignature(unhex(vector.signature), for: message))
        // Signing is deterministic (RFC 8032 section 5.1.6).
        #expect(key.sign(message) == signature)
    }

    @Test("derived vectors with one altered value fail verification (bad-signature)", arguments: rejected)
    func derivedFailures(_ vector: Case) throws {
        let publicKey = try Ed25519.PublicKey(bytes: unhex(vector.publicKey))
        #expect(!publicKey.isValidSignature(unhex(vector.signature), for: unhex(vector.message)))
    }

    @Test("a flipped bit in the message fails (bad-signature)", arguments: published)
    func flippedMessage(_ vector: Case) throws {
        let publicKey = try Ed25519.PublicKey(bytes: unhex(vector.publicKey))
        let message = unhex(vector.message)
        let signature = unhex(vector.signature)
        if message.isEmpty {
            #expect(!publicKey.isValidSignature(signature, for: [0x00]))
            return
        }
        for index in Set([0, message.count / 2, message.count - 1]) {
            for bit in [0, 7] {
                #expect(!publicKey.isValidSignature(signature, for: flipped(message, at: index, bit: bit)), "byte \(index) bit \(bit)")
            }
        }
        #expect(!publicKey.isValidSignature(signature, for: message + [0x00]))
        #expect(!publicKey.isValidSignature(signature, for: message.dropLast()))
    }

    @Test("a flipped bit anywhere in the signature fails (bad-signature)", arguments: published)
    func flippedSignature(_ vector: Case) throws {
        let publicKey = try Ed25519.PublicKey(bytes: unhex(vector.publicKey))
        let message = unhex(vector.message)
        let signature = unhex(vector.signature)
        for index in 0..<signature.count {
            #expect(!publicKey.isValidSignature(flipped(signature, at: index, bit: index % 8), for: message), "byte \(index)")
        }
    }

    @Test("a flipped bit anywhere in the public key fails (bad-signature)", arguments: published)
    func flippedKey(_ vector: Case) throws {
        let key = unhex(vector.publicKey)
        let message = unhex(vector.message)
        let signature = unhex(vector.signature)
        for index in 0..<key.count {
            let other = try Ed25519.PublicKey(bytes: flipped(key, at: index, bit: index % 8))
            #expect(!other.isValidSignature(signature, for: message), "byte \(index)")
        }
    }

    @Test("signatures of the wrong length never verify")
    func signatureLength() throws {
        let vector = try #require(Self.published.first)
        let publicKey = try Ed25519.PublicKey(bytes: unhex(vector.publicKey))
        let signature = unhex(vector.signature)
        #expect(!publicKey.isValidSignature(Array(signature.dropLast()), for: unhex(vector.message)))
        #expect(!publicKey.isValidSignature(signature + [0], for: unhex(vector.message)))
        #expect(!publicKey.isValidSignature([UInt8](), for: unhex(vector.message)))
    }

    @Test("keys of the wrong length are refused")
    func keyLengths() {
        #expect(throws: CryptoError.self) { try Ed25519.SigningKey(seed: SecretBytes(copying: [UInt8](repeating: 1, count: 31))) }
        #expect(throws: CryptoError.self) { try Ed25519.SigningKey(seed: SecretBytes(copying: [UInt8](repeating: 1, count: 64))) }
        #expect(throws: CryptoError.self) { try Ed25519.PublicKey(bytes: [UInt8](repeating: 1, count: 31)) }
        #expect(throws: CryptoError.self) { try Ed25519.PublicKey(bytes: [UInt8](repeating: 1, count: 33)) }
    }

    @Test("a generated key signs and verifies, and another key does not verify its signatures")
    func generatedKeys() throws {
        let a = try Ed25519.SigningKey.generate()
        let b = try Ed25519.SigningKey.generate()
        let message = Array("checkpoint 1234567890".utf8)
        let signature = a.sign(message)
        #expect(signature.count == Ed25519.signatureBytes)
        #expect(a.publicKey.isValidSignature(signature, for: message))
        #expect(!b.publicKey.isValidSignature(signature, for: message))
        #expect(a.publicKey != b.publicKey)
        #expect(a.seed.count == Ed25519.seedBytes)
    }

    @Test("a signing key never prints its seed")
    func signingKeyIsRedacted() throws {
        let seedBytes = unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
        let key = try Ed25519.SigningKey(seed: SecretBytes(copying: seedBytes))
        var dumped = ""
        dump(key, to: &dumped)
        for text in [key.description, "\(key)", String(reflecting: key), dumped] {
            #expect(!text.contains("9d61b19d"))
            #expect(!text.lowercased().contains("9d61b19deffd5a60"))
        }
    }
}
