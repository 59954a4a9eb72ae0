import Testing
import VigilCrypto

/// HMAC-SHA1 (RFC 2202) and HMAC-SHA256/512 (RFC 4231) known answers.
@Suite("HMAC")
struct HMACTests {
    struct RFC2202Case: Decodable, Sendable, CustomTestStringConvertible {
        var name: String
        var key: String
        var data: String
        var mac: String
        var result: String
        var testDescription: String { name }
    }

    struct RFC4231Case: Decodable, Sendable, CustomTestStringConvertible {
        var name: String
        var key: String
        var data: String
        var sha256: String
        var sha512: String
        var truncateBytes: Int?
        var result: String
        var testDescription: String { name }
    }

    struct EmptyCase: Decodable, Sendable, CustomTestStringConvertible {
        var algorithm: String
        var mac: String
        var result: String
        var testDescription: String { "HMAC-\(algorithm) of nothing under an empty key" }
    }

    @Test("HMAC-SHA1 matches RFC 2202 section 3", arguments: try Vectors.load("hmac-rfc2202.json", as: VectorFile<RFC2202Case>.self).cases)
    func rfc2202(_ vector: RFC2202Case) throws {
        let mac = try HMAC.authenticate(.sha1, key: unhex(vector.key), message: unhex(vector.data))
        #expect(mac.count == 20)
        switch vector.result {
        case "ok": #expect(hexString(mac) == vector.mac)
        case "bad-mac": #expect(hexString(mac) != vector.mac)
        default: Issue.record("unknown result \(vector.result)")
        }
    }

    @Test(
        "HMAC-SHA256 and HMAC-SHA512 match RFC 4231 section 4",
        arguments: try Vectors.load("hmac-rfc4231.json", as: VectorFile<RFC4231Case>.self).cases
    )
    func rfc4231(_ vector: RFC4231Case) throws {
        let key = unhex(vector.key)
        let data = unhex(vector.data)
        let sha256 = try HMAC.authenticate(.sha256, key: key, message: data)
        let sha512 = try HMAC.authenticate(.sha512, key: key, message: data)
        #expect(sha256.count == 32)
        #expect(sha512.count == 64)
        let n256 = vector.truncateBytes ?? 32
        let n512 = vector.truncateBytes ?? 64
        switch vector.result {
        case "ok":
            #expect(hexString(Array(sha256.prefix(n256))) == vector.sha256)
            #expect(hexString(Array(sha512.prefix(n512))) == vector.sha512)
        case "bad-mac":
            #expect(hexString(Array(sha256.prefix(n256))) != vector.sha256)
            #expect(hexString(Array(sha512.prefix(n512))) != vector.sha512)
        default: Issue.record("unknown result \(vector.result)")
        }
    }

    @Test("an empty key and an empty message are legal", arguments: try Vectors.load("hmac-empty.json", as: VectorFile<EmptyCase>.self).cases)
    func emptyKeyAndMessage(_ vector: EmptyCase) throws {
        let algorithm = try #require(HMAC.Algorithm(rawValue: vector.algorithm))
        #expect(hexString(try HMAC.authenticate(algorithm, key: [UInt8](), message: [UInt8]())) == vector.mac)
        // Buffers with no base address at all, the case the raw-buffer entry point must handle itself.
        let none = UnsafeRawBufferPointer(start: nil, count: 0)
        #expect(hexString(try HMAC.authenticate(algorithm, key: none, message: none)) == vector.mac)
        let emptySecret = try SecretBytes(copying: [UInt8]())
        #expect(hexString(try HMAC.authenticate(algorithm, key: emptySecret, message: [UInt8]())) == vector.mac)
    }

    @Test("a key in guarded memory gives the same MAC as the same key in an array")
    func secretKeyOverload() throws {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let key = try SecretBytes(copying: Array("Jefe".utf8))
        let mac = try HMAC.authenticate(.sha256, key: key, message: Array("what do ya want for nothing?".utf8))
        #expect(hexString(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        let slice = Array("xxwhat do ya want for nothing?".utf8).dropFirst(2)
        #expect(try HMAC.authenticate(.sha256, key: key, message: slice) == mac)
    }

    @Test("one context for several messages gives each message's own MAC, for every algorithm and an empty key")
    func severalMessagesOneKey() throws {
        let messages: [[UInt8]] = [
            [], Array("what do ya want for nothing?".utf8), [0, 0, 0, 0, 3, 0x87, 0x2b, 0x91], [UInt8](repeating: 0xdd, count: 200),
        ]
        for algorithm in HMAC.Algorithm.allCases {
            for keyBytes in [Array("Jefe".utf8), [], [UInt8](repeating: 0xaa, count: 131)] {
                let key = try SecretBytes(copying: keyBytes)
                let together = try HMAC.authenticate(algorithm, key: key, messages: messages)
                let oneByOne = try messages.map { try HMAC.authenticate(algorithm, key: keyBytes, message: $0) }
                #expect(together == oneByOne, "\(algorithm) with a \(keyBytes.count)-byte key")
            }
        }
        #expect(try HMAC.authenticate(.sha1, key: try SecretBytes(copying: [1]), messages: []).isEmpty)
    }

    @Test("output lengths are 20, 32 and 64 bytes")
    func outputLengths() {
        #expect(HMAC.Algorithm.sha1.outputBytes == 20)
        #expect(HMAC.Algorithm.sha256.outputBytes == 32)
        #expect(HMAC.Algorithm.sha512.outputBytes == 64)
    }
}
