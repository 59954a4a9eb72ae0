import Foundation

/// Text encodings of bytes (RFC 4648), with strict decoders that reject anything malformed.
public enum ByteEncoding {
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        hex(Array(bytes))
    }

    /// The array form is the one hot paths call (pseudonyms, hashes): no generic iteration.
    public static func hex(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBufferPointer { input in
            String(unsafeUninitializedCapacity: 2 * input.count) { out in
                func digit(_ v: UInt8) -> UInt8 { v < 10 ? UInt8(ascii: "0") + v : UInt8(ascii: "a") + v - 10 }
                for (i, b) in input.enumerated() {
                    out[2 * i] = digit(b >> 4)
                    out[2 * i + 1] = digit(b & 0x0f)
                }
                return 2 * input.count
            }
        }
    }

    public static func fromHex(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    public static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    public static func fromBase64(_ text: String) -> [UInt8]? {
        Data(base64Encoded: text).map { [UInt8]($0) }
    }

    private static let base64URLAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    private static let base64URLValues: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in base64URLAlphabet.enumerated() { table[Int(c)] = UInt8(i) }
        return table
    }()

    /// URL-safe base64 without padding (RFC 4648 §5), for tokens. Written out (no Foundation):
    /// it runs on every authenticated request.
    public static func base64URL(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(base64URLAlphabet[Int(n >> 18 & 63)])
            out.append(base64URLAlphabet[Int(n >> 12 & 63)])
            out.append(base64URLAlphabet[Int(n >> 6 & 63)])
            out.append(base64URLAlphabet[Int(n & 63)])
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out.append(base64URLAlphabet[Int(n >> 18 & 63)])
            out.append(base64URLAlphabet[Int(n >> 12 & 63)])
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out.append(base64URLAlphabet[Int(n >> 18 & 63)])
            out.append(base64URLAlphabet[Int(n >> 12 & 63)])
            out.append(base64URLAlphabet[Int(n >> 6 & 63)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes unpadded URL-safe base64; nil on any other character, on padding, on an
    /// impossible length, or when the unused low bits of the last character are not zero
    /// (so every byte string has exactly one accepted spelling).
    public static func fromBase64URL(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 4 != 1 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(chars.count * 3 / 4)
        var buffer: UInt32 = 0
        var bits = 0
        for c in chars {
            let v = base64URLValues[Int(c)]
            guard v != 0xFF else { return nil }
            buffer = buffer << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(buffer >> UInt32(bits) & 0xFF))
            }
        }
        guard buffer & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return out
    }

    private static let base32Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    /// Base32 (RFC 4648 §6) without padding, as authenticator apps expect.
    public static func base32(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        var buffer: UInt32 = 0
        var bits = 0
        for b in bytes {
            buffer = buffer << 8 | UInt32(b)
            bits += 8
            while bits >= 5 {
                out.append(base32Alphabet[Int(buffer >> UInt32(bits - 5) & 0x1f)])
                bits -= 5
            }
        }
        if bits > 0 {
            out.append(base32Alphabet[Int(buffer << UInt32(5 - bits) & 0x1f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes base32, case-insensitive, ignoring spaces; `=` padding is optional but, when
    /// present, only at the end and to a whole 8-character group. Nil on any other character, on a
    /// length no encoder produces (1, 3 or 6 characters in the last group), and on non-zero bits
    /// after the last whole byte (RFC 4648 sections 3.5 and 6: only the canonical form is accepted).
    public static func fromBase32(_ text: String) -> [UInt8]? {
        var symbols = [UInt8]()
        var padding = 0
        for c in text.utf8 {
            if c == UInt8(ascii: " ") { continue }
            if c == UInt8(ascii: "=") {
                padding += 1
                continue
            }
            guard padding == 0 else { return nil }  // data after padding
            let upper = (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) ? c - 32 : c
            guard let v = base32Alphabet.firstIndex(of: upper) else { return nil }
            symbols.append(UInt8(v))
        }
        // Characters in the last group: 0, 2, 4, 5 or 7 (8, 16, 24 or 32 bits and a remainder).
        guard [0, 2, 4, 5, 7].contains(symbols.count % 8) else { return nil }
        if padding > 0 {
            guard symbols.count % 8 != 0, (symbols.count + padding) % 8 == 0 else { return nil }
        }
        var out = [UInt8]()
        out.reserveCapacity(symbols.count * 5 / 8)
        var buffer: UInt32 = 0
        var bits = 0
        for v in symbols {
            buffer = buffer << 5 | UInt32(v)
            bits += 5
            if bits >= 8 {
                out.append(UInt8(buffer >> UInt32(bits - 8) & 0xff))
                bits -= 8
            }
        }
        // The bits left over must be the zero fill of the last character.
        guard buffer & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return out
    }
}
