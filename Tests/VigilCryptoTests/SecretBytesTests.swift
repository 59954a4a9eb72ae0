import Foundation
import Testing
import VigilCrypto

/// A secret cannot print itself and compares only in constant time (STYLE.md practice 7).
@Suite("SecretBytes and constant-time comparison")
struct SecretBytesTests {
    /// Every way Swift turns a value into text.
    static func renderings(of value: Any) -> [String] {
        var dumped = ""
        dump(value, to: &dumped)
        return ["\(value)", String(describing: value), String(reflecting: value), dumped]
    }

    /// The textual forms in which leaked bytes would be recognisable.
    static func encodings(of bytes: [UInt8]) -> [String] {
        [
            hexString(bytes), hexString(bytes).uppercased(), Data(bytes).base64EncodedString(),
            bytes.map(String.init).joined(separator: ", "), String(decoding: bytes, as: UTF8.self),
        ]
    }

    @Test("description, interpolation, debugDescription and dump never contain the bytes")
    func neverPrints() throws {
        let raw = SecureRandom.bytes(32)
        let secret = try SecretBytes(copying: raw)
        #expect(secret.description == "SecretBytes(<redacted 32 bytes>)")
        #expect(secret.debugDescription == secret.description)
        for text in Self.renderings(of: secret) {
            for leaked in Self.encodings(of: raw) {
                #expect(!text.contains(leaked), "\(text)")
            }
            // No 8-byte window of the secret, in hex, appears either.
            for start in stride(from: 0, to: 25, by: 8) {
                #expect(!text.lowercased().contains(hexString(Array(raw[start..<start + 8]))))
            }
        }
    }

    @Test("a printable secret (an ASCII password) does not print either, nor inside containers")
    func printableSecret() throws {
        let raw = Array("hunter2-correct-horse".utf8)
        let secret = try SecretBytes(copying: raw)
        let keys = try DataKeys(keys: [1: SecretBytes(copying: [UInt8](repeating: 0x41, count: 32))], current: 1)
        for text in Self.renderings(of: secret) + Self.renderings(of: [secret]) + Self.renderings(of: ["k": secret]) {
            #expect(!text.contains("hunter2"), "\(text)")
        }
        for text in Self.renderings(of: keys) {
            #expect(!text.contains(String(repeating: "A", count: 8)), "\(text)")
            #expect(!text.contains("65, 65, 65"), "\(text)")
            #expect(!text.contains("4141414141414141"), "\(text)")
        }
    }

    @Test("constantTimeEquals compares bytes, not identity, and lengths must match")
    func constantTimeEquals() throws {
        let raw = SecureRandom.bytes(32)
        let a = try SecretBytes(copying: raw)
        let b = try SecretBytes(copying: raw)
        #expect(a.constantTimeEquals(b))
        #expect(a.constantTimeEquals(a))
        #expect(!a.constantTimeEquals(try SecretBytes(copying: flipped(raw, at: 31, bit: 7))))
        #expect(!a.constantTimeEquals(try SecretBytes(copying: flipped(raw, at: 0))))
        #expect(!a.constantTimeEquals(try SecretBytes(copying: raw.dropLast())))
        #expect(!a.constantTimeEquals(try SecretBytes(copying: raw + [0])))
        #expect(try SecretBytes(copying: []).constantTimeEquals(try SecretBytes(copying: [])))
    }

    @Test("ConstantTime.equals needs the same length and the same bytes")
    func constantTimeEqualsFunction() {
        let a: [UInt8] = [1, 2, 3, 4]
        #expect(ConstantTime.equals(a, [1, 2, 3, 4] as [UInt8]))
        #expect(!ConstantTime.equals(a, [1, 2, 3, 5] as [UInt8]))
        #expect(!ConstantTime.equals(a, [1, 2, 3] as [UInt8]))
        #expect(!ConstantTime.equals(a, [1, 2, 3, 4, 0] as [UInt8]))
        #expect(!ConstantTime.equals([UInt8](), a))
        #expect(ConstantTime.equals([UInt8](), [UInt8]()))
        #expect(ConstantTime.equals([0, 1, 2, 3, 4][1...], a))
        #expect(ConstantTime.equals(ContiguousArray(a), a))
    }

    @Test("exportForKeyFile returns exactly the bytes; random secrets differ")
    func exportAndRandom() throws {
        let raw = SecureRandom.bytes(48)
        #expect(try SecretBytes(copying: raw).exportForKeyFile() == raw)
        #expect(try SecretBytes(copying: raw).count == 48)
        let a = try SecretBytes.random(count: 32)
        let b = try SecretBytes.random(count: 32)
        #expect(a.count == 32)
        #expect(!a.constantTimeEquals(b))
        #expect(a.exportForKeyFile() != [UInt8](repeating: 0, count: 32))
    }

    @Test("init(count:fill:) keeps what fill wrote and passes on its error")
    func fill() throws {
        let secret = try SecretBytes(count: 4) { buffer in
            for i in 0..<buffer.count { buffer[i] = UInt8(i + 1) }
        }
        #expect(secret.exportForKeyFile() == [1, 2, 3, 4])
        struct Refused: Error, Equatable {}
        #expect(throws: Refused()) { try SecretBytes(count: 4) { _ in throw Refused() } }
    }

    @Test("SecureRandom gives the length asked for, and uniform stays in range")
    func secureRandom() {
        #expect(SecureRandom.bytes(0).isEmpty)
        #expect(SecureRandom.bytes(33).count == 33)
        #expect(SecureRandom.bytes(32) != SecureRandom.bytes(32))
        for _ in 0..<200 { #expect(SecureRandom.uniform(10) < 10) }
    }
}
