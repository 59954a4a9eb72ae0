import Foundation

// The two forms of the SLA report: JSON (the HTTP answer and `vigil report sla --format json`,
// described in docs/openapi.yaml) and a plain-text table for a terminal.

extension SLAReport: Encodable {
    private enum Keys: String, CodingKey {
        case from, to
        case generatedAt = "generated_at"
        case supportTimeZone = "support_time_zone"
        case percentileMethod = "percentile_method"
        case overall
        case byPriority = "by_priority"
        case byChannel = "by_channel"
        case byCategory = "by_category"
        case byHourUTC = "by_hour_utc"
        case byHourSupportTimeZone = "by_hour_support_time_zone"
    }

    /// Names the percentile method in the JSON, so a reader need not guess.
    public static let percentileMethod = "nearest_rank"

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(Timestamp.format(from), forKey: .from)
        try c.encode(Timestamp.format(to), forKey: .to)
        try c.encode(Timestamp.format(now), forKey: .generatedAt)
        try c.encode(supportTimeZone.identifier, forKey: .supportTimeZone)
        try c.encode(Self.percentileMethod, forKey: .percentileMethod)
        try c.encode(overall, forKey: .overall)
        try c.encode(byPriority, forKey: .byPriority)
        try c.encode(byChannel, forKey: .byChannel)
        try c.encode(byCategory, forKey: .byCategory)
        try c.encode(byHourUTC, forKey: .byHourUTC)
        try c.encode(byHourSupportTimeZone, forKey: .byHourSupportTimeZone)
    }
}

extension SLAReport.Group: Encodable {
    private enum Keys: String, CodingKey {
        case key, cases, open
        case firstResponse = "first_response"
        case resolution, csat
        case resolutionCodes = "resolution_codes"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(key, forKey: .key)
        try c.encode(cases, forKey: .cases)
        try c.encode(open, forKey: .open)
        try c.encode(firstResponse, forKey: .firstResponse)
        try c.encode(resolution, forKey: .resolution)
        try c.encode(csat, forKey: .csat)
        let codes = Dictionary(uniqueKeysWithValues: CaseResolution.allCases.map { ($0.rawValue, resolutionCodes[$0] ?? 0) })
        try c.encode(codes, forKey: .resolutionCodes)
    }
}

extension SLAReport.Timing: Encodable {
    private enum Keys: String, CodingKey {
        case measured
        case p50Seconds = "p50_seconds"
        case p90Seconds = "p90_seconds"
        case met, breached
        case breachedOpen = "breached_open"
        case pending, none
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(measured, forKey: .measured)
        try c.encode(p50Seconds, forKey: .p50Seconds)  // null when nothing was measured
        try c.encode(p90Seconds, forKey: .p90Seconds)
        try c.encode(met, forKey: .met)
        try c.encode(breached, forKey: .breached)
        try c.encode(breachedOpen, forKey: .breachedOpen)
        try c.encode(pending, forKey: .pending)
        try c.encode(none, forKey: .none)
    }
}

extension SLAReport.CSAT: Encodable {
    private enum Keys: String, CodingKey {
        case ratings, mean, distribution
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(ratings, forKey: .ratings)
        try c.encode(mean, forKey: .mean)  // null without ratings
        let scores = Dictionary(uniqueKeysWithValues: distribution.enumerated().map { ("\($0.offset + 1)", $0.element) })
        try c.encode(scores, forKey: .distribution)
    }
}

// MARK: - Table

extension SLAReport {
    /// The report as aligned plain-text tables, one per grouping, for a terminal.
    public func table() -> String {
        var out = "SLA report: cases opened \(Timestamp.format(from)) to \(Timestamp.format(to)) (end excluded), "
        out += "judged at \(Timestamp.format(now))\n"
        out += "first response (fr) and resolution (res) on the 24/7 clock; p50/p90 nearest-rank over the cases that reached the step;\n"
        out += "breached counts late ones and open ones already past due (in brackets: still open)\n"
        let sections: [(String, [Group])] = [
            ("overall", [overall]),
            ("by priority", byPriority),
            ("by channel", byChannel),
            ("by category", byCategory),
            ("by hour of opening, UTC", byHourUTC),
            ("by hour of opening, \(supportTimeZone.identifier)", byHourSupportTimeZone),
        ]
        for (title, groups) in sections {
            out += "\n\(title)\n" + Self.render(groups) + "\n"
        }
        let codes = CaseResolution.allCases.map { "\($0.rawValue) \(overall.resolutionCodes[$0] ?? 0)" }
        out += "\nresolution codes: " + codes.joined(separator: ", ") + "\n"
        let scores = overall.csat.distribution.enumerated().map { "\($0.offset + 1): \($0.element)" }
        out += "csat: \(overall.csat.ratings) ratings, mean \(Self.mean(overall.csat.mean)); " + scores.joined(separator: ", ") + "\n"
        return out
    }

    private static func render(_ groups: [Group]) -> String {
        let header = [
            "group", "cases", "open", "fr p50", "fr p90", "fr met", "fr breached", "res p50", "res p90", "res met", "res breached", "csat n",
            "csat mean",
        ]
        let rows = groups.map { g in
            [
                g.key, "\(g.cases)", "\(g.open)",
                duration(g.firstResponse.p50Seconds), duration(g.firstResponse.p90Seconds), "\(g.firstResponse.met)",
                breached(g.firstResponse),
                duration(g.resolution.p50Seconds), duration(g.resolution.p90Seconds), "\(g.resolution.met)", breached(g.resolution),
                "\(g.csat.ratings)", mean(g.csat.mean),
            ]
        }
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return column == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    private static func breached(_ t: Timing) -> String {
        t.breachedOpen == 0 ? "\(t.breached)" : "\(t.breached) (\(t.breachedOpen))"
    }

    private static func mean(_ value: Double?) -> String {
        guard let value else { return "-" }
        let hundredths = Int((value * 100).rounded())
        let fraction = hundredths % 100
        return "\(hundredths / 100)." + (fraction < 10 ? "0\(fraction)" : "\(fraction)")
    }

    /// `45s`, `12m05s`, `3h20m`, `2d04h`; `-` when there is nothing to show.
    public static func duration(_ seconds: Double?) -> String {
        guard let seconds else { return "-" }
        let s = Int(seconds.rounded())
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        switch s {
        case ..<60: return "\(s)s"
        case ..<3600: return "\(s / 60)m\(two(s % 60))s"
        case ..<86_400: return "\(s / 3600)h\(two(s % 3600 / 60))m"
        default: return "\(s / 86_400)d\(two(s % 86_400 / 3600))h"
        }
    }
}
