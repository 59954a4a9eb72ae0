import Foundation
import Testing
import VigilCore

@Suite("Timestamps")
struct TimestampTests {
    @Test("format writes RFC 3339 UTC with milliseconds, and parse reads it back exactly")
    func roundTrip() {
        for seconds in [0.0, 1_234_567_890.123, 951_782_400.5, 4_102_444_799.999, 1_709_164_800.0, -86_400.25] {
            let date = Date(timeIntervalSince1970: seconds)
            let text = Timestamp.format(date)
            #expect(Timestamp.parse(text).map { ($0.timeIntervalSince1970 * 1000).rounded() } == (seconds * 1000).rounded())
        }
        #expect(Timestamp.format(Date(timeIntervalSince1970: 1_234_567_890.123)) == "2009-02-13T23:31:30.123Z")
        #expect(Timestamp.format(Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29T00:00:00.000Z")
    }

    @Test("the hand-written parser agrees with Foundation's ISO 8601 parser")
    func agreesWithFoundation() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for text in ["2026-11-27T17:36:27.123Z", "1999-12-31T23:59:59.999Z", "2024-02-29T12:00:00.000Z", "1970-01-01T00:00:00.000Z"] {
            #expect(Timestamp.parse(text) == formatter.date(from: text), "\(text)")
        }
    }

    @Test("other RFC 3339 forms parse; nonsense does not")
    func otherForms() {
        #expect(Timestamp.parse("2026-11-27T00:00:00Z") == Date(timeIntervalSince1970: 1_795_737_600))
        #expect(Timestamp.parse("2026-11-27T08:00:00+08:00") == Date(timeIntervalSince1970: 1_795_737_600))
        for bad in ["", "yesterday", "2026-13-01T00:00:00.000Z", "2026-11-27 00:00:00", "2026-11-27T25:00:00.000Z"] {
            #expect(Timestamp.parse(bad) == nil, "\(bad)")
        }
    }
}
