/// The subset of JSON that audit entries use, in the RFC 8785 (JCS) canonical form.
///
/// Rules:
/// - values are objects, strings and integers only (arrays too, for manifests and proofs, never
///   in entries): no floats, booleans or null, so
///   JCS number serialisation reduces to plain decimal integers in the I-JSON range
///   `±(2^53 − 1)`;
/// - object members are sorted by the UTF-16 code units of their names (JCS §3.2.3), with
///   no whitespace anywhere;
/// - strings escape `"` and `\`, use `\b \t \n \f \r` for those controls and `\u00xx`
///   (lowercase hex) for the other controls below U+0020, and write every other character
///   as its UTF-8 bytes (JCS §3.2.2.2).
///
/// The parser is strict: it accepts this subset only, and callers compare a re-encoding with
/// the input to reject anything that is not already canonical.
enum CanonicalJSON {
    /// Largest integer magnitude that JCS (IEEE-754 double) represents exactly.
    static let maxSafeInteger: Int64 = (1 << 53) - 1

    indirect enum Value: Equatable {
        case string(String)
        case integer(Int64)
        case object([(String, Value)])
        case array([Value])

        static func == (a: Value, b: Value) -> Bool {
            switch (a, b) {
            case (.string(let x), .string(let y)): x == y
            case (.integer(let x), .integer(let y)): x == y
            case (.object(let x), .object(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
            case (.array(let x), .array(let y)): x == y
            default: false
            }
        }
    }

    // MARK: Encoding

    static func encode(_ value: Value, into out: inout [UInt8]) {
        switch value {
        case .string(let s): encodeString(s, into: &out)
        case .integer(let n): encodeInteger(n, into: &out)
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            let sorted = members.sorted { $0.0.utf16.lexicographicallyPrecedes($1.0.utf16) }
            for (i, (key, member)) in sorted.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                encodeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                encode(member, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                encode(item, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
    }

    /// The canonical encoding of `value`.
    static func encode(_ value: Value) -> [UInt8] {
        var out: [UInt8] = []
        encode(value, into: &out)
        return out
    }

    static func encodeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { bytes in
            // Runs of bytes that need no escape are copied whole.
            var runStart = 0
            for i in 0..<bytes.count {
                let b = bytes[i]
                guard b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") else { continue }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i]))
                appendEscape(b, into: &out)
                runStart = i + 1
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<bytes.count]))
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func appendEscape(_ b: UInt8, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\\"))
        switch b {
        case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
        case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
        case 0x08: out.append(UInt8(ascii: "b"))
        case 0x09: out.append(UInt8(ascii: "t"))
        case 0x0A: out.append(UInt8(ascii: "n"))
        case 0x0C: out.append(UInt8(ascii: "f"))
        case 0x0D: out.append(UInt8(ascii: "r"))
        default:
            out.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
            out.append(hexDigit(b >> 4))
            out.append(hexDigit(b & 0x0f))
        }
    }

    private static func hexDigit(_ v: UInt8) -> UInt8 { v < 10 ? UInt8(ascii: "0") + v : UInt8(ascii: "a") + v - 10 }

    /// A plain decimal integer (JCS for integers within ±(2^53 − 1)).
    static func encodeInteger(_ n: Int64, into out: inout [UInt8]) {
        if n < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = n.magnitude
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8
            ) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[19 - count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            out.append(contentsOf: buffer[(20 - count)...])
        }
    }

    // MARK: Parsing

    /// Parses one value that spans all of `bytes`.
    static func parse(_ bytes: [UInt8]) throws(AuditError) -> Value {
        var parser = Parser(bytes: bytes)
        let value = try parser.value(depth: 0)
        guard parser.at == bytes.count else { throw .malformed("JSON: trailing bytes") }
        return value
    }

    private struct Parser {
        let bytes: [UInt8]
        var at = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func value(depth: Int) throws(AuditError) -> Value {
            guard depth < 8 else { throw .malformed("JSON: nested too deeply") }
            guard at < bytes.count else { throw .malformed("JSON: unexpected end") }
            switch bytes[at] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .integer(try integer())
            default: throw .malformed("JSON: unsupported value at byte \(at)")
            }
        }

        mutating func expect(_ c: UInt8) throws(AuditError) {
            guard at < bytes.count, bytes[at] == c else {
                throw .malformed("JSON: expected '\(Character(Unicode.Scalar(c)))' at byte \(at)")
            }
            at += 1
        }

        mutating func object(depth: Int) throws(AuditError) -> Value {
            try expect(UInt8(ascii: "{"))
            var members: [(String, Value)] = []
            var seen = Set<String>()
            if at < bytes.count, bytes[at] == UInt8(ascii: "}") {
                at += 1
                return .object(members)
            }
            while true {
                let key = try string()
                guard seen.insert(key).inserted else { throw .malformed("JSON: duplicate member \"\(key)\"") }
                try expect(UInt8(ascii: ":"))
                members.append((key, try value(depth: depth + 1)))
                guard at < bytes.count else { throw .malformed("JSON: unexpected end") }
                if bytes[at] == UInt8(ascii: ",") {
                    at += 1
                    continue
                }
                try expect(UInt8(ascii: "}"))
                return .object(members)
            }
        }

        mutating func array(depth: Int) throws(AuditError) -> Value {
            try expect(UInt8(ascii: "["))
            var items: [Value] = []
            if at < bytes.count, bytes[at] == UInt8(ascii: "]") {
                at += 1
                return .array(items)
            }
            while true {
                items.append(try value(depth: depth + 1))
                guard at < bytes.count else { throw .malformed("JSON: unexpected end") }
                if bytes[at] == UInt8(ascii: ",") {
                    at += 1
                    continue
                }
                try expect(UInt8(ascii: "]"))
                return .array(items)
            }
        }

        mutating func integer() throws(AuditError) -> Int64 {
            let start = at
            if bytes[at] == UInt8(ascii: "-") { at += 1 }
            let digitsStart = at
            while at < bytes.count, bytes[at] >= UInt8(ascii: "0"), bytes[at] <= UInt8(ascii: "9") { at += 1 }
            let digits = at - digitsStart
            guard digits > 0, digits <= 16 else { throw .malformed("JSON: bad integer at byte \(start)") }
            if at < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[at]) {
                throw .malformed("JSON: non-integer number at byte \(start)")
            }
            guard let n = Int64(String(decoding: bytes[start..<at], as: UTF8.self)), abs(n) <= maxSafeInteger else {
                throw .malformed("JSON: integer out of range at byte \(start)")
            }
            return n
        }

        mutating func string() throws(AuditError) -> String {
            try expect(UInt8(ascii: "\""))
            var out: [UInt8] = []
            while true {
                guard at < bytes.count else { throw .malformed("JSON: unterminated string") }
                let b = bytes[at]
                at += 1
                switch b {
                case UInt8(ascii: "\""):
                    // Reject invalid UTF-8 rather than repair it.
                    guard let s = String(validating: out, as: UTF8.self) else { throw .malformed("JSON: invalid UTF-8") }
                    return s
                case UInt8(ascii: "\\"):
                    guard at < bytes.count else { throw .malformed("JSON: unterminated escape") }
                    let e = bytes[at]
                    at += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800..<0xDC00).contains(scalar) {
                            try expect(UInt8(ascii: "\\"))
                            try expect(UInt8(ascii: "u"))
                            let low = try hex4()
                            guard (0xDC00..<0xE000).contains(low) else { throw .malformed("JSON: lone surrogate") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let u = Unicode.Scalar(scalar) else { throw .malformed("JSON: lone surrogate") }
                        out.append(contentsOf: String(Character(u)).utf8)
                    default: throw .malformed("JSON: bad escape at byte \(at - 1)")
                    }
                case 0x00..<0x20: throw .malformed("JSON: unescaped control character at byte \(at - 1)")
                default: out.append(b)
                }
            }
        }

        mutating func hex4() throws(AuditError) -> UInt32 {
            guard at + 4 <= bytes.count else { throw .malformed("JSON: short \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                guard let n = hexNibble(bytes[at]) else { throw .malformed("JSON: bad \\u escape") }
                v = v << 4 | UInt32(n)
                at += 1
            }
            return v
        }
    }
}
