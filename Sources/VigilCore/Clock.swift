import Foundation

/// The source of time for domain code. Domain code never calls `Date()`: the composition
/// root hands in `SystemClock`, tests hand in a clock they move by hand.
public protocol VigilClock: Sendable {
    func now() -> Date
}

/// Wall-clock time.
public struct SystemClock: VigilClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// RFC 3339 timestamps in UTC with milliseconds, the one textual time format of Vigil.
public enum Timestamp {
    public static func format(_ date: Date) -> String {
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let seconds = ms.quotientAndRemainder(dividingBy: 1000)
        var secs = seconds.quotient
        var millis = seconds.remainder
        if millis < 0 {
            millis += 1000
            secs -= 1
        }
        let days = secs.quotientAndRemainder(dividingBy: 86_400)
        var day = days.quotient
        var secOfDay = days.remainder
        if secOfDay < 0 {
            secOfDay += 86_400
            day -= 1
        }
        let (y, m, d) = civilFromDays(day)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
            y,
            m,
            d,
            Int(secOfDay / 3600),
            Int(secOfDay % 3600 / 60),
            Int(secOfDay % 60),
            Int(millis)
        )
    }

    /// Parses RFC 3339. The form `format` writes (`YYYY-MM-DDTHH:MM:SS.mmmZ`, what the database
    /// holds) is parsed by hand — it is read on hot paths, and a Foundation formatter costs
    /// about 100 µs to build; other RFC 3339 forms (offsets, no fraction) go through Foundation.
    public static func parse(_ text: String) -> Date? {
        if let fast = parseCanonical(text) { return fast }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = formatter.date(from: text) { return d }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    static func parseCanonical(_ text: String) -> Date? {
        let b = Array(text.utf8)
        guard b.count == 24, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54, b[13] == 0x3A, b[16] == 0x3A, b[19] == 0x2E, b[23] == 0x5A
        else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var v = 0
            for i in range {
                guard b[i] >= 0x30 && b[i] <= 0x39 else { return nil }
                v = v * 10 + Int(b[i] - 0x30)
            }
            return v
        }
        guard let y = number(0..<4), let m = number(5..<7), let d = number(8..<10), let hh = number(11..<13),
            let mm = number(14..<16), let ss = number(17..<19), let ms = number(20..<23),
            (1...12).contains(m), (1...31).contains(d), hh < 24, mm < 60, ss < 60
        else { return nil }
        let days = daysFromCivil(y, m, d)
        let seconds = Double(days * 86_400 + Int64(hh * 3600 + mm * 60 + ss))
        return Date(timeIntervalSince1970: seconds + Double(ms) / 1000)
    }

    /// Howard Hinnant's days-from-civil algorithm (proleptic Gregorian calendar).
    private static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int64 {
        let y = Int64(m <= 2 ? y0 - 1 : y0)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = Int64(m > 2 ? m - 3 : m + 9)
        let doy = (153 * mp + 2) / 5 + Int64(d) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
    private static func civilFromDays(_ z0: Int64) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (Int(m <= 2 ? y + 1 : y), Int(m), Int(d))
    }
}
