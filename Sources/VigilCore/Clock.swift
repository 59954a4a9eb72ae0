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

    public static func parse(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = formatter.date(from: text) { return d }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
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
