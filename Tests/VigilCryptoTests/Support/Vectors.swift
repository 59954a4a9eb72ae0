import Foundation
import Testing

/// Loads the published test vectors in `Vectors/` (STYLE.md practice 9).
///
/// Rules for vector files: each names its `source`; each case states its expected `result`
/// (`ok`, `bad-mac`, `bad-signature`, `mismatch`, `malformed`); values derived from a published
/// one are named `derived: …`. `Vectors/crosscheck.py` re-derives every expected value with
/// implementations other than VigilCrypto. Hex in the files is decoded by `unhex` below, not by
/// `ByteEncoding`, so that a bug in the code under test cannot reshape its own inputs.
enum Vectors {
    struct MissingFolder: Error {}

    static var folder: URL {
        get throws {
            guard let url = Bundle.module.url(forResource: "Vectors", withExtension: nil) else { throw MissingFolder() }
            return url
        }
    }

    static func load<T: Decodable>(_ name: String, as type: T.Type = T.self) throws -> T {
        let data = try Data(contentsOf: folder.appendingPathComponent(name))
        return try JSONDecoder().decode(T.self, from: data)
    }
}

/// A vector file: where it comes from, and its cases.
struct VectorFile<Case: Decodable & Sendable>: Decodable, Sendable {
    var source: String
    var cases: [Case]
}

/// Decodes hex written in a vector file; traps on anything else (a broken vector file is a test bug).
func unhex(_ text: String) -> [UInt8] {
    let digits = Array(text.utf8)
    precondition(digits.count % 2 == 0, "odd-length hex in a vector file")
    func value(_ c: UInt8) -> UInt8 {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x61...0x66: return c - 0x61 + 10
        case 0x41...0x46: return c - 0x41 + 10
        default: preconditionFailure("not hex in a vector file: \(c)")
        }
    }
    return stride(from: 0, to: digits.count, by: 2).map { value(digits[$0]) << 4 | value(digits[$0 + 1]) }
}

/// Lower-case hex for messages and for searching printed output (independent of `ByteEncoding`).
func hexString(_ bytes: [UInt8]) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}

/// `bytes` with bit `bit` of byte `index` flipped.
func flipped(_ bytes: [UInt8], at index: Int, bit: Int = 0) -> [UInt8] {
    var copy = bytes
    copy[index] ^= UInt8(1) << UInt8(bit)
    return copy
}

/// A fresh directory under the system temporary directory, removed by `body`'s end.
func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-crypto-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url.path)
}
