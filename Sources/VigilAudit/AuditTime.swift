import Foundation

/// Audit timestamps: UTC, RFC 3339, exactly three fractional digits, `Z`
/// (`2026-11-27T17:36:27.123Z`, always 24 characters, so that they sort as text).
///
/// Pure arithmetic on the date passed in (no formatter, locale or clock), years 0000–9999.
public enum AuditTime {
    /// Formats `date`, rounded to the nearest millisecond.
    public static func format(_ date: Date) -> String {
        let totalMs = Int64((date.timeIntervalSince1970 * 1000).rounded())
        var days = totalMs / 86_400_000
        var msOfDay = totalMs % 86_400_000
        if msOfDay < 0 {
            msOfDay += 86_400_000
            days -= 1
        }
        let (y, m, d) = civil(fromDays: days)
        let year = min(max(y, 0), 9999)
        return String(unsafeUninitializedCapacity: 24) { out in
            func put(_ value: Int64, _ width: Int, at index: Int) {
                var v = value
                for i in stride(from: index + width - 1, through: index, by: -1) {
                    out[i] = UInt8(ascii: "0") + UInt8(v % 10)
                    v /= 10
                }
            }
            put(year, 4, at: 0)
            out[4] = UInt8(ascii: "-")
            put(m, 2, at: 5)
            out[7] = UInt8(ascii: "-")
            put(d, 2, at: 8)
            out[10] = UInt8(ascii: "T")
            put(msOfDay / 3_600_000, 2, at: 11)
            out[13] = UInt8(ascii: ":")
            put(msOfDay / 60_000 % 60, 2, at: 14)
            out[16] = UInt8(ascii: ":")
            put(msOfDay / 1000 % 60, 2, at: 17)
            out[19] = UInt8(ascii: ".")
            put(msOfDay % 1000, 3, at: 20)
            out[23] = UInt8(ascii: "Z")
            return 24
        }
    }

    /// The date `text` denotes; nil unless it is in the audit format and a real date.
    public static func parse(_ text: String) -> Date? {
        var text = text
        return text.withUTF8 { parse(utf8: $0) }
    }

    private static func parse(utf8 c: UnsafeBufferPointer<UInt8>) -> Date? {
        guard c.count == 24 else { return nil }
        func num(_ r: Range<Int>) -> Int64? {
            var v: Int64 = 0
            for i in r {
                guard c[i] >= UInt8(ascii: "0"), c[i] <= UInt8(ascii: "9") else { return nil }
                v = v * 10 + Int64(c[i] - UInt8(ascii: "0"))
            }
            return v
        }
        guard c[4] == UInt8(ascii: "-"), c[7] == UInt8(ascii: "-"), c[10] == UInt8(ascii: "T"), c[13] == UInt8(ascii: ":"),
            c[16] == UInt8(ascii: ":"), c[19] == UInt8(ascii: "."), c[23] == UInt8(ascii: "Z")
        else { return nil }
        guard let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13), let mi = num(14..<16),
            let s = num(17..<19), let ms = num(20..<23)
        else { return nil }
        guard (1...12).contains(mo), d >= 1, h < 24, mi < 60, s < 60 else { return nil }
        let days = daysFromCivil(y, mo, d)
        // Reject 31 February and the like: the day must survive the round trip.
        guard civil(fromDays: days) == (y, mo, d) else { return nil }
        let totalMs = ((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms
        return Date(timeIntervalSince1970: Double(totalMs) / 1000)
    }

    /// True when `text` is a timestamp in the audit format.
    public static func isValid(_ text: String) -> Bool { parse(text) != nil }

    // Howard Hinnant's civil-calendar algorithms (proleptic Gregorian).
    private static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    private static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}
