import ArgumentParser
import Foundation
import VigilCore
import VigilStore

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Reports for the support desk (no personal data).",
        subcommands: [SLA.self]
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case table, json
    }

    struct SLA: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sla",
            abstract: "First response and resolution p50/p90, breaches, CSAT and resolution codes of the cases opened in a range.",
            discussion: """
                Grouped by priority, channel, category and hour of day (UTC and support_time_zone of \
                sla.yaml). Open cases already past due count as breached. See docs/reports.md.
                """
        )
        @OptionGroup var common: CommonOptions
        @Option(help: "Start, RFC 3339 or a UTC date (default: 30 days before --to).") var from: String?
        @Option(help: "End, RFC 3339 (excluded) or a UTC date (included) (default: now).") var to: String?
        @Option(help: "table or json.") var format: Format = .table

        func run() async throws {
            try await reporting {
                let now = SystemClock().now()
                let range: (from: Date, to: Date)
                do throws(VigilError) {
                    range = try SLAReport.range(from: from, to: to, now: now)
                } catch {
                    guard case .invalidField(let field, let reason) = error else { throw error }
                    throw ValidationError("--\(field) " + reason.replacingOccurrences(of: "after from", with: "after --from"))
                }
                let policies = try common.loadPolicies()
                let store = try common.openStore(policies: policies)
                let records = try await store.read { try $0.caseSLARecords(openedFrom: range.from, to: range.to) }
                let report = SLAReport(
                    records: records,
                    from: range.from,
                    to: range.to,
                    now: now,
                    supportTimeZone: policies.sla.supportTimeZone
                )
                switch format {
                case .table:
                    print(report.table(), terminator: "")
                case .json:
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
                    FileHandle.standardOutput.write(try encoder.encode(report))
                    print()
                }
            }
        }
    }
}
