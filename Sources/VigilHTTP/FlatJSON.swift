import NIOCore

/// A fast path for the hottest request and response bodies (TOTP verify, at every login and
/// every withdrawal): a flat JSON object of plain strings is read without `JSONDecoder`, and a
/// small fixed answer is written without `JSONEncoder`. Each costs a few microseconds per
/// request there, on a route that must answer in a millisecond or two.
///
/// The reader is deliberately narrow: it takes only `{"key": "value" | null, ...}` with keys
/// and values of printable ASCII and no escapes, each key at most once. Anything else — an
/// escape, a number, a nested value, a duplicate key, a syntax error — returns nil, and the
/// caller decodes the body with `JSONDecoder` as every other route does, so malformed and
/// unusual bodies get exactly the same answers (and errors) as before.
enum FlatJSON {
    /// The members of a flat object of strings and nulls (null as nil), or nil to fall back.
    static func parseStrings(_ buffer: ByteBuffer) -> [String: String?]? {
        buffer.withUnsafeReadableBytes { raw -> [String: String?]? in
            var p = Parser(bytes: raw)
            return p.object()
        }
    }

    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        var i = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0A || bytes[i] == 0x0D { i += 1 }
        }

        mutating func expect(_ byte: UInt8) -> Bool {
            skipSpace()
            guard i < bytes.count, bytes[i] == byte else { return false }
            i += 1
            return true
        }

        /// A string of printable ASCII without escapes; nil for anything else.
        mutating func string() -> String? {
            guard expect(0x22) else { return nil }
            let start = i
            while i < bytes.count {
                let b = bytes[i]
                if b == 0x22 {
                    let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
                    i += 1
                    return s
                }
                guard b >= 0x20, b < 0x7F, b != 0x5C else { return nil }
                i += 1
            }
            return nil
        }

        mutating func object() -> [String: String?]? {
            guard expect(0x7B) else { return nil }
            var members: [String: String?] = [:]
            skipSpace()
            if i < bytes.count, bytes[i] == 0x7D {
                i += 1
            } else {
                while true {
                    guard let key = string(), members[key] == nil, expect(0x3A) else { return nil }
                    skipSpace()
                    if bytes.count - i >= 4, bytes[i] == 0x6E, bytes[i + 1] == 0x75, bytes[i + 2] == 0x6C, bytes[i + 3] == 0x6C {
                        i += 4
                        members[key] = .some(nil)
                    } else {
                        guard let value = string() else { return nil }
                        members[key] = .some(value)
                    }
                    skipSpace()
                    guard i < bytes.count else { return nil }
                    if bytes[i] == 0x2C {
                        i += 1
                        continue
                    }
                    guard bytes[i] == 0x7D else { return nil }
                    i += 1
                    break
                }
            }
            skipSpace()
            return i == bytes.count ? members : nil
        }
    }
}
