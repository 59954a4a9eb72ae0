import Testing
import VigilCrypto

/// SHA-256 (FIPS 180-2), keyed BLAKE2b (BLAKE2 reference KAT) and the blind-index hasher.
@Suite("Hashes")
struct HashTests {
    struct SHA256Case: Decodable, Sendable, CustomTestStringConvertible {
        var name: String
        var message: String
        var `repeat`: Int
        var digest: String
        var result: String
        var testDescription: String { name }
        var bytes: [UInt8] { Array(String(repeating: message, count: `repeat`).utf8) }
    }

    struct BLAKE2bCase: Decodable, Sendable, CustomTestStringConvertible {
        var hash: String
        var `in`: String
        var key: String
        var out: String
        var result: String
        var testDescription: String { "keyed BLAKE2b-512 of \(`in`.count / 2) bytes" }
    }

    struct KeyedHasherFile: Decodable, Sendable {
        var key: String
        var cases: [KeyedHasherCase]
    }

    struct KeyedHasherCase: Decodable, Sendable, CustomTestStringConvertible {
        var domain: String
        var value: String
        var digest: String
        var result: String
        var testDescription: String { "\(domain) / \(value)" }
    }

    // MARK: SHA-256

    @Test("SHA-256 one-shot matches FIPS 180-2", arguments: try Vectors.load("sha256-fips180.json", as: VectorFile<SHA256Case>.self).cases)
    func sha256OneShot(_ vector: SHA256Case) {
        #expect(hexString(SHA256.hash(vector.bytes)) == vector.digest)
    }

    @Test(
        "SHA-256 fed in pieces equals the published digest",
        arguments: try Vectors.load("sha256-fips180.json", as: VectorFile<SHA256Case>.self).cases
    )
    func sha256Streaming(_ vector: SHA256Case) {
        let bytes = vector.bytes
        // Uneven pieces through every update entry point: slices, arrays, raw buffers, single bytes.
        var hasher = SHA256()
        var index = 0
        var piece = 1
        while index < bytes.count {
            let end = min(bytes.count, index + piece)
            switch piece % 4 {
            case 0: hasher.update(bytes[index..<end])
            case 1: hasher.update(Array(bytes[index..<end]))
            case 2: bytes[index..<end].withUnsafeBytes { hasher.update($0) }
            default: for b in bytes[index..<end] { hasher.update(byte: b) }
            }
            index = end
            piece = piece * 3 % 997 + 1
        }
        hasher.update([UInt8]())
        #expect(hexString(hasher.finalize()) == vector.digest)
    }

    @Test("SHA-256 split at every point of the 448-bit message equals one-shot")
    func sha256EverySplit() {
        let message = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        let expected = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        for split in 0...message.count {
            var hasher = SHA256()
            hasher.update(message[..<split])
            hasher.update(message[split...])
            #expect(hexString(hasher.finalize()) == expected, "split at \(split)")
        }
    }

    // MARK: BLAKE2b

    @Test(
        "keyed BLAKE2b-512 matches the BLAKE2 reference KAT",
        arguments: try Vectors.load("blake2b-kat.json", as: VectorFile<BLAKE2bCase>.self).cases
    )
    func blake2bKAT(_ vector: BLAKE2bCase) throws {
        #expect(vector.hash == "blake2b")
        let key = try SecretBytes(copying: unhex(vector.key))
        let out = try BLAKE2b.hash(unhex(vector.in), key: key, outputLength: 64)
        #expect(hexString(out) == vector.out)
    }

    @Test("BLAKE2b rejects output lengths outside 16...64")
    func blake2bOutputLength() throws {
        #expect(BLAKE2b.outputBytesMax == 64)
        for bad in [0, 15, 65, 128] {
            #expect(throws: CryptoError.self) { try BLAKE2b.hash([UInt8](), key: nil, outputLength: bad) }
        }
        #expect(try BLAKE2b.hash([UInt8](), key: nil, outputLength: 16).count == 16)
    }

    @Test("unkeyed BLAKE2b-512 of nothing is the reference KAT value")
    func blake2bUnkeyedEmpty() throws {
        // BLAKE2 reference KAT, first unkeyed blake2b entry (in = "").
        let expected =
            "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce"
        #expect(hexString(try BLAKE2b.hash([UInt8](), key: nil, outputLength: 64)) == expected)
    }

    // MARK: KeyedHasher

    @Test(
        "the blind index is keyed BLAKE2b-256 of domain ‖ 0x00 ‖ value",
        arguments: try Vectors.load("keyed-hasher-format.json", as: KeyedHasherFile.self).cases
    )
    func keyedHasherFormat(_ vector: KeyedHasherCase) throws {
        let file = try Vectors.load("keyed-hasher-format.json", as: KeyedHasherFile.self)
        let hasher = try KeyedHasher(key: SecretBytes(copying: unhex(file.key)))
        #expect(hexString(hasher.digest(domain: vector.domain, value: vector.value)) == vector.digest)
    }

    @Test("the same value gives unrelated digests in different domains and under different keys")
    func keyedHasherSeparation() throws {
        let a = try KeyedHasher(key: SecretBytes.random(count: 32))
        let b = try KeyedHasher(key: SecretBytes.random(count: 32))
        let email = a.digest(domain: "email", value: "alice@example.com")
        #expect(email.count == 32)
        #expect(email == a.digest(domain: "email", value: "alice@example.com"))
        #expect(email != a.digest(domain: "phone", value: "alice@example.com"))
        #expect(email != b.digest(domain: "email", value: "alice@example.com"))
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        #expect(a.digest(domain: "ab", value: "c") != a.digest(domain: "a", value: "bc"))
    }

    @Test("a keyed-hash key must be 16...64 bytes")
    func keyedHasherKeyLength() throws {
        for bad in [0, 15, 65] {
            #expect(throws: CryptoError.self) { try KeyedHasher(key: SecretBytes(copying: [UInt8](repeating: 7, count: bad))) }
        }
    }
}
