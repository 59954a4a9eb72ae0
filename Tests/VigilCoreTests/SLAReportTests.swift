import Foundation
import Testing
import VigilCore

/// Times in tests are written out: `at("2026-11-27T23:50:00Z")`.
private func at(_ text: String) throws -> Date { try #require(Timestamp.parse(text)) }

/// A case as the store would hand it to the report, with due times from the shipped sla.yaml.
private struct Opened {
    static let sla: Result<SLAPolicy, any Error> = Result { try PolicySet.load(directory: PolicyFixtures.shippedDirectory).sla }

    var record: CaseSLARecord

    init(
        _ id: String,
        _ priority: CasePriority,
        at opened: Date,
        channel: CaseChannel = .wechat,
        category: CaseCategory = .suspiciousLogin
    ) throws {
        let due = try Self.sla.get().deadlines(for: priority, openedAt: opened)
        record = CaseSLARecord(
            id: id,
            channel: channel,
            category: category,
            priority: priority,
            openedAt: opened,
            firstResponseDue: due.firstResponse,
            resolutionDue: due.resolution,
            firstRespondedAt: nil,
            closedAt: nil,
            resolution: nil,
            csatScore: nil
        )
    }

    func answered(after minutes: Double) -> Opened {
        var o = self
        o.record.firstRespondedAt = record.openedAt.addingTimeInterval(minutes * 60)
        return o
    }

    func closed(after minutes: Double, _ code: CaseResolution = .resolved, csat: Int? = nil) -> Opened {
        var o = self
        o.record.closedAt = record.openedAt.addingTimeInterval(minutes * 60)
        o.record.resolution = code
        o.record.csatScore = csat
        return o
    }
}

private func report(_ cases: [Opened], now: Date, zone: String = "Asia/Shanghai") throws -> SLAReport {
    let zone = try #require(TimeZone(identifier: zone))
    let records = cases.map(\.record)
    let from = records.map(\.openedAt).min() ?? now
    return SLAReport(records: records, from: from, to: now, now: now, supportTimeZone: zone)
}

/// Keys of the groups that hold at least one case, with their counts.
private func occupied(_ groups: [SLAReport.Group]) -> [String: Int] {
    Dictionary(uniqueKeysWithValues: groups.filter { $0.cases > 0 }.map { ($0.key, $0.cases) })
}

private func expectConsistent(_ r: SLAReport, sourceLocation: SourceLocation = #_sourceLocation) {
    let all = [r.overall] + r.byPriority + r.byChannel + r.byCategory + r.byHourUTC + r.byHourSupportTimeZone
    for g in all {
        for t in [g.firstResponse, g.resolution] {
            #expect(t.met + t.breached + t.pending + t.none == g.cases, "\(g.key)", sourceLocation: sourceLocation)
            #expect(t.breachedOpen <= t.breached, "\(g.key)", sourceLocation: sourceLocation)
        }
        #expect(g.resolution.none == 0, sourceLocation: sourceLocation)
    }
    for dimension in [r.byPriority, r.byChannel, r.byCategory, r.byHourUTC, r.byHourSupportTimeZone] {
        #expect(dimension.reduce(0) { $0 + $1.cases } == r.overall.cases, sourceLocation: sourceLocation)
    }
}

@Suite("SLA report: clocks across midnight and weekends, hours by zone, percentiles, breaches, CSAT")
struct SLAReportTests {
    @Test("a P1 opened Friday 23:50 UTC is due Saturday 00:05: answered at 00:04 is met, at 00:06 breached")
    func p1AcrossMidnight() throws {
        let friday = try at("2026-11-27T23:50:00Z")
        let p1 = try Opened("case_p1", .p1, at: friday)
        #expect(Timestamp.format(p1.record.firstResponseDue) == "2026-11-28T00:05:00.000Z")
        #expect(Timestamp.format(p1.record.resolutionDue) == "2026-11-28T03:50:00.000Z")

        let r = try report([p1.answered(after: 14), p1.answered(after: 16), p1.answered(after: 15)], now: try at("2026-11-28T01:00:00Z"))
        #expect(r.overall.firstResponse.met == 2)  // 00:04 and 00:05 sharp
        #expect(r.overall.firstResponse.breached == 1)  // 00:06
        #expect(r.overall.firstResponse.breachedOpen == 0)
        #expect(r.overall.firstResponse.p50Seconds == 900)
        #expect(r.overall.firstResponse.p90Seconds == 960)
        expectConsistent(r)
    }

    @Test("an unanswered P1 is pending at its due time and breached one second later, over midnight")
    func openPastDueAcrossMidnight() throws {
        let p1 = try Opened("case_p1", .p1, at: try at("2026-11-27T23:50:00Z"))
        let atDue = try report([p1], now: try at("2026-11-28T00:05:00Z"))
        #expect(atDue.overall.firstResponse.pending == 1)
        #expect(atDue.overall.firstResponse.breached == 0)

        let after = try report([p1], now: try at("2026-11-28T00:05:01Z"))
        #expect(after.overall.firstResponse.breached == 1)
        #expect(after.overall.firstResponse.breachedOpen == 1)
        #expect(after.overall.firstResponse.measured == 0)
        #expect(after.overall.firstResponse.p50Seconds == nil)
        #expect(after.overall.resolution.pending == 1)  // due 03:50
        #expect(after.overall.open == 1)
        expectConsistent(after)
    }

    @Test("a P4 opened Saturday is due Sunday: the weekend does not pause the clock")
    func p4OverTheWeekend() throws {
        let saturday = try at("2026-11-28T10:00:00Z")
        let p4 = try Opened("case_p4", .p4, at: saturday, channel: .email, category: .other)
        #expect(Timestamp.format(p4.record.firstResponseDue) == "2026-11-29T10:00:00.000Z")  // Sunday
        #expect(Timestamp.format(p4.record.resolutionDue) == "2026-12-05T10:00:00.000Z")  // Saturday next

        #expect(try report([p4], now: try at("2026-11-29T09:59:59Z")).overall.firstResponse.pending == 1)
        let sundayNoon = try report([p4], now: try at("2026-11-29T12:00:00Z"))
        #expect(sundayNoon.overall.firstResponse.breachedOpen == 1)
        #expect(sundayNoon.overall.resolution.pending == 1)

        // Answered Sunday 09:30: 23 h 30 min after opening, every weekend minute counted.
        let answered = try report([p4.answered(after: 23.5 * 60)], now: try at("2026-11-29T12:00:00Z"))
        #expect(answered.overall.firstResponse.met == 1)
        #expect(answered.overall.firstResponse.p50Seconds == 84_600)
        // Closed Monday 10:00: 48 h, within the 7 days.
        let closed = try report([p4.answered(after: 60).closed(after: 48 * 60)], now: try at("2026-11-30T12:00:00Z"))
        #expect(closed.overall.resolution.met == 1)
        #expect(closed.overall.resolution.p90Seconds == 172_800)
        expectConsistent(closed)
    }

    @Test("the hour of day in Asia/Shanghai differs from UTC across midnight")
    func shanghaiHours() throws {
        let cases = [
            try Opened("a", .p1, at: try at("2026-11-27T16:30:00Z")),  // Saturday 00:30 in Shanghai
            try Opened("b", .p1, at: try at("2026-11-27T23:50:00Z")),  // Saturday 07:50
            try Opened("c", .p2, at: try at("2026-11-28T15:59:59Z")),  // Saturday 23:59:59
        ]
        let r = try report(cases, now: try at("2026-11-29T00:00:00Z"))
        #expect(r.byHourUTC.map(\.key) == (0..<24).map { String(format: "%02d", $0) })
        #expect(r.byHourSupportTimeZone.map(\.key) == r.byHourUTC.map(\.key))
        #expect(occupied(r.byHourUTC) == ["16": 1, "23": 1, "15": 1])
        #expect(occupied(r.byHourSupportTimeZone) == ["00": 1, "07": 1, "23": 1])
        #expect(r.supportTimeZone.identifier == "Asia/Shanghai")
        expectConsistent(r)
    }

    @Test("America/New_York: on the spring-forward day local hour 02 has no cases; on the fall-back day hour 01 holds two UTC hours")
    func daylightSaving() throws {
        let spring = [
            try Opened("s1", .p3, at: try at("2026-03-08T06:30:00Z")),  // 01:30 EST (UTC-5)
            try Opened("s2", .p3, at: try at("2026-03-08T07:30:00Z")),  // 03:30 EDT (UTC-4): 02:xx does not exist
        ]
        let r1 = try report(spring, now: try at("2026-03-09T00:00:00Z"), zone: "America/New_York")
        #expect(occupied(r1.byHourSupportTimeZone) == ["01": 1, "03": 1])
        #expect(occupied(r1.byHourUTC) == ["06": 1, "07": 1])

        let fall = [
            try Opened("f1", .p3, at: try at("2026-11-01T05:30:00Z")),  // 01:30 EDT
            try Opened("f2", .p3, at: try at("2026-11-01T06:30:00Z")),  // 01:30 EST, the hour again
            try Opened("f3", .p3, at: try at("2026-11-01T07:30:00Z")),  // 02:30 EST
        ]
        let r2 = try report(fall, now: try at("2026-11-02T00:00:00Z"), zone: "America/New_York")
        #expect(occupied(r2.byHourSupportTimeZone) == ["01": 2, "02": 1])
        #expect(occupied(r2.byHourUTC) == ["05": 1, "06": 1, "07": 1])
        expectConsistent(r2)
    }

    @Test("nearest-rank percentiles of known data")
    func nearestRank() {
        // The worked examples of the nearest-rank method (Wikipedia, "Percentile").
        let five: [Double] = [15, 20, 35, 40, 50]
        #expect(SLAReport.nearestRank(5, of: five) == 15)
        #expect(SLAReport.nearestRank(30, of: five) == 20)
        #expect(SLAReport.nearestRank(40, of: five) == 20)
        #expect(SLAReport.nearestRank(50, of: five) == 35)
        #expect(SLAReport.nearestRank(90, of: five) == 50)
        #expect(SLAReport.nearestRank(100, of: five) == 50)
        let ten: [Double] = [3, 6, 7, 8, 8, 10, 13, 15, 16, 20]
        #expect(SLAReport.nearestRank(25, of: ten) == 7)
        #expect(SLAReport.nearestRank(50, of: ten) == 8)
        #expect(SLAReport.nearestRank(75, of: ten) == 15)
        #expect(SLAReport.nearestRank(90, of: ten) == 16)
        #expect(SLAReport.nearestRank(100, of: ten) == 20)
        #expect(SLAReport.nearestRank(50, of: [42]) == 42)
        #expect(SLAReport.nearestRank(90, of: [42]) == 42)
        #expect(SLAReport.nearestRank(50, of: [1, 2]) == 1)
        #expect(SLAReport.nearestRank(51, of: [1, 2]) == 2)
        #expect(SLAReport.nearestRank(50, of: []) == nil)
    }

    @Test("the report's p50 and p90 are nearest-rank over answered and closed cases only, in any input order")
    func reportPercentiles() throws {
        let opened = try at("2026-11-27T12:00:00Z")
        // Answered after 1…10 minutes (shuffled), closed after 10…100 minutes; two more still open.
        var cases = try [7, 3, 10, 1, 5, 9, 2, 8, 6, 4].enumerated().map { i, m in
            try Opened("c\(i)", .p3, at: opened).answered(after: Double(m)).closed(after: Double(m * 10))
        }
        cases.append(try Opened("open1", .p3, at: opened))
        cases.append(try Opened("open2", .p3, at: opened).answered(after: 200))
        let r = try report(cases, now: try at("2026-11-27T18:00:00Z"))
        #expect(r.overall.cases == 12)
        #expect(r.overall.firstResponse.measured == 11)
        #expect(r.overall.firstResponse.p50Seconds == 360)  // rank ⌈5.5⌉ = 6 of 1…10, 200
        #expect(r.overall.firstResponse.p90Seconds == 600)  // rank ⌈9.9⌉ = 10
        #expect(r.overall.resolution.measured == 10)
        #expect(r.overall.resolution.p50Seconds == 3000)  // rank 5 of 10…100 minutes
        #expect(r.overall.resolution.p90Seconds == 5400)  // rank 9
        #expect(r.overall.open == 2)
        expectConsistent(r)
    }

    @Test("breaches count late answers and closes, open cases past due, and a close without a reply after its due time")
    func breaches() throws {
        let opened = try at("2026-11-28T22:00:00Z")  // Saturday night; P2: first response 60 min, resolution 24 h
        let now = try at("2026-11-30T08:00:00Z")  // Monday morning, 34 h later
        let cases = [
            try Opened("on_time", .p2, at: opened).answered(after: 30).closed(after: 600, .recovered),
            try Opened("late_answer", .p2, at: opened).answered(after: 90).closed(after: 1000, .resolved),
            try Opened("late_close", .p2, at: opened).answered(after: 10).closed(after: 1500, .referred),
            try Opened("never_answered_open", .p2, at: opened),
            try Opened("answered_still_open", .p2, at: opened).answered(after: 5),
            try Opened("duplicate_at_once", .p2, at: opened).closed(after: 2, .duplicate),
            try Opened("closed_silently_late", .p2, at: opened).closed(after: 120, .noResponse),
            try Opened("fresh", .p2, at: now.addingTimeInterval(-600)),
        ]
        let r = try report(cases, now: now)
        let fr = r.overall.firstResponse
        #expect(fr.met == 3)  // on_time, late_close, answered_still_open
        #expect(fr.breached == 3)  // late_answer, never_answered_open, closed_silently_late
        #expect(fr.breachedOpen == 1)  // never_answered_open
        #expect(fr.pending == 1)  // fresh
        #expect(fr.none == 1)  // duplicate_at_once
        #expect(fr.measured == 4)
        let res = r.overall.resolution
        #expect(res.met == 4)  // on_time, late_answer, duplicate_at_once, closed_silently_late
        #expect(res.breached == 3)  // late_close, and the two open ones past 24 h
        #expect(res.breachedOpen == 2)
        #expect(res.pending == 1)
        #expect(res.measured == 5)
        #expect(r.overall.open == 3)
        let codes = r.overall.resolutionCodes
        #expect(codes[.recovered] == 1 && codes[.resolved] == 1 && codes[.referred] == 1)
        #expect(codes[.duplicate] == 1 && codes[.noResponse] == 1 && codes[.verificationFailed] == 0)
        expectConsistent(r)
    }

    @Test("CSAT: ratings, mean to two decimals and the distribution, per group")
    func csat() throws {
        let opened = try at("2026-11-27T09:00:00Z")
        let cases = [
            try Opened("a", .p1, at: opened, channel: .wechat).closed(after: 60, csat: 5),
            try Opened("b", .p1, at: opened, channel: .wechat).closed(after: 60, csat: 4),
            try Opened("c", .p2, at: opened, channel: .email).closed(after: 60, csat: 4),
            try Opened("d", .p2, at: opened, channel: .email).closed(after: 60, csat: 1),
            try Opened("e", .p2, at: opened, channel: .email).closed(after: 60),
            try Opened("f", .p3, at: opened, channel: .phone),
        ]
        let r = try report(cases, now: try at("2026-11-28T09:00:00Z"))
        #expect(r.overall.csat == .init(ratings: 4, mean: 3.5, distribution: [1, 0, 0, 2, 1]))
        let wechat = try #require(r.byChannel.first { $0.key == "wechat" })
        #expect(wechat.csat == .init(ratings: 2, mean: 4.5, distribution: [0, 0, 0, 1, 1]))
        let email = try #require(r.byChannel.first { $0.key == "email" })
        #expect(email.csat == .init(ratings: 2, mean: 2.5, distribution: [1, 0, 0, 1, 0]))
        let phone = try #require(r.byChannel.first { $0.key == "phone" })
        #expect(phone.csat == .init(ratings: 0, mean: nil, distribution: [0, 0, 0, 0, 0]))

        let thirds = try report(
            [5, 4, 4].map { (score: Int) in try Opened("t\(score)", .p1, at: opened).closed(after: 60, csat: score) },
            now: try at("2026-11-28T09:00:00Z")
        )
        #expect(thirds.overall.csat.mean == 4.33)
    }

    @Test("every priority, channel and category has a group, in order, also when empty")
    func groups() throws {
        let opened = try at("2026-11-27T09:00:00Z")
        let cases = [
            try Opened("a", .p1, at: opened, channel: .inApp, category: .lost2FA),
            try Opened("b", .p1, at: opened, channel: .inApp, category: .suspiciousLogin),
            try Opened("c", .p4, at: opened, channel: .api, category: .lost2FA),
        ]
        let r = try report(cases, now: try at("2026-11-27T10:00:00Z"))
        #expect(r.overall.key == "all")
        #expect(r.byPriority.map(\.key) == ["P1", "P2", "P3", "P4"])
        #expect(r.byPriority.map(\.cases) == [2, 0, 0, 1])
        #expect(r.byChannel.map(\.key) == CaseChannel.allCases.map(\.rawValue))
        #expect(occupied(r.byChannel) == ["in_app": 2, "api": 1])
        #expect(r.byCategory.map(\.key) == CaseCategory.allCases.map(\.rawValue))
        #expect(occupied(r.byCategory) == ["lost_2fa": 2, "suspicious_login": 1])
        let p1 = r.byPriority[0]
        #expect(p1.firstResponse.breachedOpen == 2)  // 15 minutes passed an hour ago
        #expect(r.byPriority[3].firstResponse.pending == 1)
        expectConsistent(r)
    }

    @Test("the range: RFC 3339 or UTC dates (to inclusive), 30 days by default, from before to, at most 366 days")
    func range() throws {
        let now = try at("2026-11-27T12:34:56Z")
        let d = try SLAReport.range(from: nil, to: nil, now: now)
        #expect(d.to == now)
        #expect(d.from == now.addingTimeInterval(-30 * 86_400))

        let november = try SLAReport.range(from: "2026-11-01", to: "2026-11-30", now: now)
        #expect(november.from == (try at("2026-11-01T00:00:00Z")))
        #expect(november.to == (try at("2026-12-01T00:00:00Z")))
        let oneDay = try SLAReport.range(from: "2026-11-27", to: "2026-11-27", now: now)
        #expect(oneDay.to.timeIntervalSince(oneDay.from) == 86_400)
        let offsets = try SLAReport.range(from: "2026-11-01T08:00:00+08:00", to: "2026-11-02T00:00:00.000Z", now: now)
        #expect(offsets.from == (try at("2026-11-01T00:00:00Z")))
        let onlyTo = try SLAReport.range(from: nil, to: "2026-11-10T00:00:00Z", now: now)
        #expect(onlyTo.from == (try at("2026-10-11T00:00:00Z")))
        let empty = try SLAReport.range(from: "", to: "", now: now)
        #expect(empty == d)
        #expect(try SLAReport.range(from: "2025-11-27T00:00:00Z", to: "2026-11-28T00:00:00Z", now: now).from == (try at("2025-11-27T00:00:00Z")))

        func fails(_ from: String?, _ to: String?, field: String, sourceLocation: SourceLocation = #_sourceLocation) {
            do {
                let accepted = try SLAReport.range(from: from, to: to, now: now)
                Issue.record("accepted \(accepted)", sourceLocation: sourceLocation)
            } catch .invalidField(let named, _) {
                #expect(named == field, sourceLocation: sourceLocation)
            } catch {
                Issue.record("\(error)", sourceLocation: sourceLocation)
            }
        }
        fails("yesterday", nil, field: "from")
        fails("2026-02-30", nil, field: "from")
        fails("2026-13-01", nil, field: "from")
        fails("2026-11-1", nil, field: "from")
        fails("2026-11-01 00:00:00", nil, field: "from")
        fails(nil, "2026-11-27T25:00:00Z", field: "to")
        fails("2026-11-27T12:00:00Z", "2026-11-27T12:00:00Z", field: "to")  // empty range
        fails("2026-11-28", "2026-11-01", field: "to")
        fails("2025-11-27T00:00:00Z", "2026-11-28T00:00:00.001Z", field: "to")  // 366 days and 1 ms
        fails("2024-01-01", "2025-01-01", field: "to")  // the days of leap year 2024 and one more: 367
        let leapYear = try SLAReport.range(from: "2024-01-01", to: "2024-12-31", now: now)
        #expect(leapYear.to.timeIntervalSince(leapYear.from) == 366 * 86_400)
    }

    @Test("the JSON form: every group and count, null percentiles when nothing was measured, no case ids")
    func json() throws {
        let opened = try at("2026-11-27T23:50:00Z")
        let cases = [
            try Opened("case_deadbeef00000001", .p1, at: opened).answered(after: 10).closed(after: 100, .recovered, csat: 5),
            try Opened("case_deadbeef00000002", .p2, at: opened, channel: .email, category: .transfer),
        ]
        let r = try report(cases, now: try at("2026-11-28T12:00:00Z"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(r)
        let text = String(decoding: data, as: UTF8.self)
        #expect(!text.contains("deadbeef"))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["support_time_zone"] as? String == "Asia/Shanghai")
        #expect(object["percentile_method"] as? String == "nearest_rank")
        #expect(object["from"] as? String == "2026-11-27T23:50:00.000Z")
        #expect(object["generated_at"] as? String == "2026-11-28T12:00:00.000Z")
        let overall = try #require(object["overall"] as? [String: Any])
        #expect(overall["cases"] as? Int == 2)
        let fr = try #require(overall["first_response"] as? [String: Any])
        #expect(fr["p50_seconds"] as? Double == 600)
        #expect(fr["breached_open"] as? Int == 1)
        let csat = try #require(overall["csat"] as? [String: Any])
        #expect(csat["distribution"] as? [String: Int] == ["1": 0, "2": 0, "3": 0, "4": 0, "5": 1])
        #expect((overall["resolution_codes"] as? [String: Int])?.count == CaseResolution.allCases.count)
        let byPriority = try #require(object["by_priority"] as? [[String: Any]])
        let p4 = try #require(byPriority.last)
        #expect(p4["key"] as? String == "P4")
        let p4fr = try #require(p4["first_response"] as? [String: Any])
        #expect(p4fr["p50_seconds"] is NSNull)
        #expect((p4["csat"] as? [String: Any])?["mean"] is NSNull)
        #expect((object["by_hour_support_time_zone"] as? [Any])?.count == 24)
    }

    @Test("the table form names every grouping and writes durations for people")
    func table() throws {
        #expect(SLAReport.duration(nil) == "-")
        #expect(SLAReport.duration(45) == "45s")
        #expect(SLAReport.duration(725) == "12m05s")
        #expect(SLAReport.duration(12_000) == "3h20m")
        #expect(SLAReport.duration(187_200) == "2d04h")
        let r = try report(
            [try Opened("case_deadbeef00000003", .p1, at: try at("2026-11-27T23:50:00Z")).answered(after: 8).closed(after: 180, csat: 4)],
            now: try at("2026-11-28T12:00:00Z")
        )
        let text = r.table()
        for title in ["overall", "by priority", "by channel", "by category", "by hour of opening, UTC", "by hour of opening, Asia/Shanghai"] {
            #expect(text.contains("\n\(title)\n"), "\(title)")
        }
        #expect(text.contains("8m00s"))
        #expect(text.contains("3h00m"))
        #expect(text.contains("csat: 1 ratings, mean 4.00"))
        #expect(!text.contains("deadbeef"))
    }
}
