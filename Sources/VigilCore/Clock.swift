import Foundation
import VigilAudit

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

/// RFC 3339 timestamps in UTC with milliseconds, the one textual time format of Vigil — the
/// same as the audit log's (`VigilAudit.AuditTime`: pure arithmetic, rounded to the nearest
/// millisecond, `2026-11-27T17:36:27.123Z`), so stored times and audit times agree and sort as text.
public enum Timestamp {
    public static func format(_ date: Date) -> String { AuditTime.format(date) }

    /// Parses RFC 3339. The stored form is parsed by `AuditTime` without Foundation (it is read
    /// on hot paths; building a Foundation formatter costs about 100 µs); other RFC 3339 forms
    /// (offsets, no fraction) from clients go through Foundation.
    public static func parse(_ text: String) -> Date? {
        if let fast = AuditTime.parse(text) { return fast }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = formatter.date(from: text) { return d }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}
