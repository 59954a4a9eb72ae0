import Foundation
import Testing
import VigilCrypto

/// RFC 4648 encodings: the section 10 vectors, round trips, and strict rejection of malformed text.
@Suite("ByteEncoding")
struct EncodingTests {
    struct File: Decodable, Sendable {
        var source: String
        var cases: [Case]
        var malformed: Malformed
    }

    struct Case: Decodable, Sendable, CustomTestStringConvertible {
        var input: String
        var base64: String
        var base32: String
        var base16: String
        var result: String
        var testDescription: String { "\"\(input)\"" }
        var bytes: [UInt8] { Array(input.utf8) }
    }

    struct Malformed: Decodable, Sendable {
        var base32: [Bad]
        var base16: [Bad]
        var base64url: [Bad]
    }

    struct Bad: Decodable, Sendable, CustomTestStringConvertible {
        var text: String
        var why: String
        var result: String
        var testDescription: String { "\(text) (\(why))" }
    }

    static let file = try? Vectors.load("rfc4648.json", as: File.self)
    static let cases = file?.cases ?? []

    @Test("the RFC 4648 section 10 vectors are all present")
    func vectorFileIsComplete() {
        #expect(Self.cases.map(\.input) == ["", "f", "fo", "foo", "foob", "fooba", "foobar"])
    }

    // MARK: base32

    @Test("base32 encodes as RFC 4648 section 10, without padding", arguments: cases)
    func base32Encode(_ vector: Case) {
        let unpadded = vector.base32.replacingOccurrences(of: "=", with: "")
        #expect(ByteEncoding.base32(vector.bytes) == unpadded)
    }

    @Test("base32 decodes the RFC form with and without padding, in either case", arguments: cases)
    func base32Decode(_ vector: Case) {
        let unpadded = vector.base32.replacingOccurrences(of: "=", with: "")
        #expect(ByteEncoding.fromBase32(vector.base32) == vector.bytes)
        #expect(ByteEncoding.fromBase32(unpadded) == vector.bytes)
        #expect(ByteEncoding.fromBase32(unpadded.lowercased()) == vector.bytes)
    }

    @Test("base32 ignores the spaces people type between groups")
    func base32Spaces() {
        #expect(ByteEncoding.fromBase32("MZXW 6YTB OI") == Array("foobar".utf8))
        #expect(ByteEncoding.fromBase32("mzxw 6ytb oi======") == Array("foobar".utf8))
    }

    @Test("base32 rejects malformed text", arguments: file?.malformed.base32 ?? [])
    func base32Malformed(_ bad: Bad) {
        #expect(bad.result == "malformed")
        #expect(ByteEncoding.fromBase32(bad.text) == nil)
    }

    // MARK: base16

    @Test("hex encodes lower-case and decodes the RFC's upper-case form", arguments: cases)
    func base16(_ vector: Case) {
        #expect(ByteEncoding.hex(vector.bytes) == vector.base16.lowercased())
        #expect(ByteEncoding.fromHex(vector.base16) == vector.bytes)
        #expect(ByteEncoding.fromHex(vector.base16.lowercased()) == vector.bytes)
    }

    @Test("hex rejects malformed text", arguments: file?.malformed.base16 ?? [])
    func base16Malformed(_ bad: Bad) {
        #expect(ByteEncoding.fromHex(bad.text) == nil)
    }

    // MARK: base64 and base64url

    @Test("base64 matches RFC 4648 section 10", arguments: cases)
    func base64(_ vector: Case) {
        #expect(ByteEncoding.base64(vector.bytes) == vector.base64)
        #expect(ByteEncoding.fromBase64(vector.base64) == vector.bytes)
    }

    @Test("base64url is the RFC 4648 section 5 alphabet without padding", arguments: cases)
    func base64URL(_ vector: Case) {
        let expected = vector.base64.replacingOccurrences(of: "=", with: "")
        #expect(ByteEncoding.base64URL(vector.bytes) == expected)
        #expect(ByteEncoding.fromBase64URL(expected) == vector.bytes)
    }

    @Test("base64url uses '-' and '_' where base64 uses '+' and '/'")
    func base64URLAlphabet() {
        // 0xfb 0xff = 111110 111111 1111(00): indices 62, 63, 60 (RFC 4648 tables 1 and 2).
        #expect(ByteEncoding.base64([0xfb, 0xff]) == "+/8=")
        #expect(ByteEncoding.base64URL([0xfb, 0xff]) == "-_8")
        #expect(ByteEncoding.fromBase64URL("-_8") == [0xfb, 0xff])
    }

    @Test("base64url rejects malformed text", arguments: file?.malformed.base64url ?? [])
    func base64URLMalformed(_ bad: Bad) {
        #expect(ByteEncoding.fromBase64URL(bad.text) == nil)
    }

    // MARK: round trips

    @Test("hex, base64url and base32 round-trip every length from 0 to 70 bytes")
    func roundTrips() {
        for length in 0...70 {
            let bytes = SecureRandom.bytes(length)
            #expect(ByteEncoding.fromHex(ByteEncoding.hex(bytes)) == bytes, "hex \(length)")
            #expect(ByteEncoding.fromBase64URL(ByteEncoding.base64URL(bytes)) == bytes, "base64url \(length)")
            #expect(ByteEncoding.fromBase32(ByteEncoding.base32(bytes)) == bytes, "base32 \(length)")
            #expect(ByteEncoding.fromBase64(ByteEncoding.base64(bytes)) == bytes, "base64 \(length)")
            #expect(ByteEncoding.hex(bytes) == hexString(bytes))
        }
    }

    @Test("a 160-bit TOTP secret is 32 base32 characters")
    func totpSecretLength() {
        let secret = SecureRandom.bytes(20)
        let text = ByteEncoding.base32(secret)
        #expect(text.count == 32)
        #expect(text.allSatisfy { "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".contains($0) })
    }
}
