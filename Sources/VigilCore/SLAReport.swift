import Foundation

/// The SLA report (issue 6 item 8): how fast cases were answered and resolved, how many broke
/// their clock, and what requesters thought — overall, and by priority, channel, category and
/// hour of day (UTC and `support_time_zone` of `Policies/sla.yaml`). docs/reports.md has the
/// reader's version of these rules.
///
/// Rules:
/// - the report covers the cases **opened** in `[from, to)`; each case counts with its state at
///   `now` (an answer or a close after `to` still counts, so a rerun of an old range can change);
/// - durations are seconds on the 24/7 clock from opening: nights, weekends and holidays count;
/// - first response (the first `reply` note): *met* when it came at or before
///   `first_response_due`; *breached* when it came later, when none came and the case is still
///   open past due at `now`, or when the case was closed after the due time without one;
///   *pending* when the case is open, unanswered and not yet due; *none* when the case was closed
///   before the due time without one (a duplicate closed at once has no first response to judge);
/// - resolution: *met* when closed at or before `resolution_due`; *breached* when closed later or
///   still open past due at `now`; *pending* when open and not yet due;
/// - "past due" means `now > due`, the same test as the queue's `breached`; `breached_open` is
///   the part of `breached` still running at `now`;
/// - percentiles (p50, p90) are **nearest-rank** over the cases that reached the step (answered,
///   or closed): with the n durations sorted ascending, the p-th percentile is the value at rank
///   ⌈p/100 · n⌉ (1-based) — always an observed duration; none when n = 0. Open cases are not in
///   the percentiles (their duration is not known yet); they show in `breached` and `pending`;
/// - CSAT: ratings 1–5 of the cases in the group; the mean is rounded to two decimals;
/// - the hour of day is the opening time's hour in the zone, from the tz database (Foundation's
///   `Calendar`), so it follows daylight-saving changes: on a spring-forward day one local hour
///   has no cases, on a fall-back day one local hour holds two hours of cases;
/// - no personal data: counts and durations only — no case, subject or agent ids, no text.
public struct SLAReport: Sendable, Equatable {
    /// Cases opened at or after `from` and before `to`.
    public var from: Date
    public var to: Date
    /// The time outcomes are judged at (open cases past due count as breached).
    public var now: Date
    public var supportTimeZone: TimeZone
    /// Every case of the range (`key` "all").
    public var overall: Group
    /// One group per value, in declaration order, also when no case has it.
    public var byPriority: [Group]
    public var byChannel: [Group]
    public var byCategory: [Group]
    /// 24 groups, keys "00" … "23": the hour of the opening time in UTC.
    public var byHourUTC: [Group]
    /// 24 groups: the hour of the opening time in `supportTimeZone`.
    public var byHourSupportTimeZone: [Group]

    /// The figures of one group of cases.
    public struct Group: Sendable, Equatable {
        public var key: String
        public var cases: Int
        /// Not closed at `now`.
        public var open: Int
        public var firstResponse: Timing
        public var resolution: Timing
        public var csat: CSAT
        /// Closed cases by resolution code (every code, zero included).
        public var resolutionCodes: [CaseResolution: Int]
    }

    /// One SLA clock (first response or resolution) over a group: `met + breached + pending +
    /// none == cases`.
    public struct Timing: Sendable, Equatable {
        /// Cases that reached the step (answered, or closed): the percentiles are over them.
        public var measured: Int
        public var p50Seconds: Double?
        public var p90Seconds: Double?
        public var met: Int
        /// Late, or still running past due at `now`.
        public var breached: Int
        /// The part of `breached` still running at `now` (no answer yet, or not closed).
        public var breachedOpen: Int
        /// Still running and not yet due.
        public var pending: Int
        /// Closed before the due time without it (first response only; always 0 for resolution).
        public var none: Int
    }

    /// Ratings 1–5 given by requesters.
    public struct CSAT: Sendable, Equatable {
        public var ratings: Int
        /// Rounded to two decimals; nil without ratings.
        public var mean: Double?
        /// How many ratings gave each score: index 0 is score 1, index 4 is score 5.
        public var distribution: [Int]

        public init(ratings: Int, mean: Double?, distribution: [Int]) {
            self.ratings = ratings
            self.mean = mean
            self.distribution = distribution
        }
    }
}

// MARK: - Computing

extension SLAReport {
    /// The p-th percentile (1…100) of `sorted` (ascending) by the nearest-rank method: the value
    /// at 1-based rank ⌈p/100 · n⌉. Nil for no values.
    public static func nearestRank(_ p: Int, of sorted: [Double]) -> Double? {
        precondition((1...100).contains(p), "a percentile is 1…100")
        guard !sorted.isEmpty else { return nil }
        let rank = (p * sorted.count + 99) / 100
        return sorted[rank - 1]
    }

    /// What one case contributes: its outcomes at `now` and its opening hours.
    private struct Outcome {
        enum Status { case met, breached, breachedOpen, pending, none }
        var record: CaseSLARecord
        var firstResponse: Status
        var firstResponseSeconds: Double?
        var resolution: Status
        var resolutionSeconds: Double?
        var hourUTC: Int
        var hourSupport: Int
    }

    private static func outcome(_ r: CaseSLARecord, now: Date, utc: Calendar, support: Calendar) -> Outcome {
        let first: Outcome.Status
        var firstSeconds: Double?
        if let answered = r.firstRespondedAt {
            first = answered <= r.firstResponseDue ? .met : .breached
            firstSeconds = seconds(from: r.openedAt, to: answered)
        } else if let closed = r.closedAt {
            first = closed > r.firstResponseDue ? .breached : .none
        } else {
            first = now > r.firstResponseDue ? .breachedOpen : .pending
        }
        let resolution: Outcome.Status
        var resolutionSeconds: Double?
        if let closed = r.closedAt {
            resolution = closed <= r.resolutionDue ? .met : .breached
            resolutionSeconds = seconds(from: r.openedAt, to: closed)
        } else {
            resolution = now > r.resolutionDue ? .breachedOpen : .pending
        }
        return Outcome(
            record: r,
            firstResponse: first,
            firstResponseSeconds: firstSeconds,
            resolution: resolution,
            resolutionSeconds: resolutionSeconds,
            hourUTC: utc.component(.hour, from: r.openedAt),
            hourSupport: support.component(.hour, from: r.openedAt)
        )
    }

    /// Seconds between two stored times, to the millisecond they are stored with.
    private static func seconds(from start: Date, to end: Date) -> Double {
        (end.timeIntervalSince(start) * 1000).rounded() / 1000
    }

    /// The report over `records` (the cases opened in `[from, to)`), judged at `now`.
    public init(records: [CaseSLARecord], from: Date, to: Date, now: Date, supportTimeZone: TimeZone) {
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(secondsFromGMT: 0) ?? utc.timeZone
        var support = Calendar(identifier: .gregorian)
        support.timeZone = supportTimeZone
        let outcomes = records.map { Self.outcome($0, now: now, utc: utc, support: support) }

        func groups<Key>(_ keys: [Key], name: (Key) -> String, of key: (Outcome) -> Key) -> [Group] where Key: Hashable {
            let split = Dictionary(grouping: outcomes, by: key)
            return keys.map { Self.group(name($0), split[$0] ?? []) }
        }
        let hours = Array(0..<24)
        func hourName(_ h: Int) -> String { h < 10 ? "0\(h)" : "\(h)" }

        self.from = from
        self.to = to
        self.now = now
        self.supportTimeZone = supportTimeZone
        overall = Self.group("all", outcomes)
        byPriority = groups(CasePriority.allCases, name: \.rawValue) { $0.record.priority }
        byChannel = groups(CaseChannel.allCases, name: \.rawValue) { $0.record.channel }
        byCategory = groups(CaseCategory.allCases, name: \.rawValue) { $0.record.category }
        byHourUTC = groups(hours, name: hourName) { $0.hourUTC }
        byHourSupportTimeZone = groups(hours, name: hourName) { $0.hourSupport }
    }

    private static func group(_ key: String, _ outcomes: [Outcome]) -> Group {
        var codes = Dictionary(uniqueKeysWithValues: CaseResolution.allCases.map { ($0, 0) })
        var distribution = [Int](repeating: 0, count: 5)
        for o in outcomes {
            if let code = o.record.resolution, o.record.closedAt != nil { codes[code, default: 0] += 1 }
            if let score = o.record.csatScore, (1...5).contains(score) { distribution[score - 1] += 1 }
        }
        let ratings = distribution.reduce(0, +)
        let total = distribution.enumerated().reduce(0) { $0 + ($1.offset + 1) * $1.element }
        return Group(
            key: key,
            cases: outcomes.count,
            open: outcomes.filter { $0.record.closedAt == nil }.count,
            firstResponse: timing(outcomes.map { ($0.firstResponse, $0.firstResponseSeconds) }),
            resolution: timing(outcomes.map { ($0.resolution, $0.resolutionSeconds) }),
            csat: CSAT(
                ratings: ratings,
                mean: ratings == 0 ? nil : (Double(total) / Double(ratings) * 100).rounded() / 100,
                distribution: distribution
            ),
            resolutionCodes: codes
        )
    }

    private static func timing(_ items: [(Outcome.Status, Double?)]) -> Timing {
        let durations = items.compactMap(\.1).sorted()
        var t = Timing(
            measured: durations.count,
            p50Seconds: nearestRank(50, of: durations),
            p90Seconds: nearestRank(90, of: durations),
            met: 0,
            breached: 0,
            breachedOpen: 0,
            pending: 0,
            none: 0
        )
        for (status, _) in items {
            switch status {
            case .met: t.met += 1
            case .breached: t.breached += 1
            case .breachedOpen:
                t.breached += 1
                t.breachedOpen += 1
            case .pending: t.pending += 1
            case .none: t.none += 1
            }
        }
        return t
    }
}

// MARK: - The range asked for

extension SLAReport {
    /// The range when none is given: the last 30 days up to now.
    public static let defaultDays = 30
    /// The longest range one report covers.
    public static let maximumDays = 366

    /// `[from, to)` from the texts of a request or the command line, each an RFC 3339 time
    /// (`2026-11-01T00:00:00Z`, `2026-11-01T08:00:00+08:00`) or a date (`2026-11-01`, a UTC day).
    /// A date as `from` is the start of that day, a date as `to` its end, so
    /// `from=2026-11-01&to=2026-11-30` covers all of November. Missing `to` is `now`, missing
    /// `from` is `defaultDays` before `to`; an empty text counts as missing. `from` must be
    /// before `to`, at most `maximumDays` apart.
    public static func range(from fromText: String?, to toText: String?, now: Date) throws(VigilError) -> (from: Date, to: Date) {
        let to = try bound(toText, field: "to", endOfDay: true) ?? now
        let from = try bound(fromText, field: "from", endOfDay: false) ?? to.addingTimeInterval(-Double(defaultDays) * 86_400)
        guard from < to else { throw .invalidField(field: "to", reason: "must be after from") }
        guard to.timeIntervalSince(from) <= Double(maximumDays) * 86_400 else {
            throw .invalidField(field: "to", reason: "must be at most \(maximumDays) days after from")
        }
        return (from, to)
    }

    private static func bound(_ text: String?, field: String, endOfDay: Bool) throws(VigilError) -> Date? {
        guard let text, !text.isEmpty else { return nil }
        if let day = utcDay(text) { return endOfDay ? day.addingTimeInterval(86_400) : day }
        guard let time = Timestamp.parse(text) else {
            throw .invalidField(field: field, reason: "must be an RFC 3339 time or a date, e.g. 2026-11-01T00:00:00Z or 2026-11-01")
        }
        return time
    }

    /// `YYYY-MM-DD` → that day's midnight in UTC; nil for anything else (including 2026-02-30).
    private static func utcDay(_ text: String) -> Date? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard text.utf8.count == 10, parts.count == 3, parts.map(\.count) == [4, 2, 2],
            parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2])
        else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        guard let utc = TimeZone(secondsFromGMT: 0) else { return nil }
        calendar.timeZone = utc
        let components = DateComponents(year: year, month: month, day: day)
        guard let date = calendar.date(from: components) else { return nil }
        let back = calendar.dateComponents([.year, .month, .day], from: date)
        guard back.year == year, back.month == month, back.day == day else { return nil }
        return date
    }
}

// MARK: - Reading it

/// Who may read the SLA report, and reading it from the store.
public struct SLAReportService: Sendable {
    let deps: VigilDependencies

    /// Supervisors, admins and auditors (agents work cases; they do not read the desk's figures).
    public static let roles: Set<AgentRole> = [.supervisor, .admin, .auditor]

    public init(_ deps: VigilDependencies) { self.deps = deps }

    /// The report for an agent session with one of `roles`.
    public func report(from: Date, to: Date, by principal: Principal) async throws -> SLAReport {
        try principal.require(role: Self.roles)
        return try await report(from: from, to: to)
    }

    /// After the role check only. (`vigil report sla` is the operator's: it reads the database
    /// and builds `SLAReport` itself.)
    private func report(from: Date, to: Date) async throws -> SLAReport {
        let records = try await deps.store.read { try $0.caseSLARecords(openedFrom: from, to: to) }
        return SLAReport(records: records, from: from, to: to, now: deps.clock.now(), supportTimeZone: deps.policies.sla.supportTimeZone)
    }
}
