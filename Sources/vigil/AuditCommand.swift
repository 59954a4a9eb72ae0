import ArgumentParser
import Foundation
import VigilAudit
import VigilCore
import VigilStore

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Export, verify and prove the tamper-evident audit log.",
        subcommands: [Export.self, Verify.self, Prove.self]
    )

    static func parseTime(_ text: String?, _ flag: String) throws -> Date? {
        guard let text else { return nil }
        guard let date = Timestamp.parse(text) else {
            throw ValidationError("\(flag) must be an RFC 3339 time, e.g. 2026-11-27T00:00:00Z")
        }
        return date
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write entries.jsonl, leaf-hashes.txt, checkpoints.txt and manifest.json to a new folder."
        )
        @OptionGroup var common: CommonOptions
        @Option(help: "The folder to create (must not exist, or be empty).") var out: String
        @Option(help: "First entry time to include (RFC 3339).") var from: String?
        @Option(help: "Last entry time to include (RFC 3339).") var to: String?

        func run() async throws {
            try await reporting {
                let range = SQLiteStore.AuditRange(from: try parseTime(from, "--from"), to: try parseTime(to, "--to"))
                let store = try common.openStore()
                let keys = try common.keyPaths.loadVerifierKeys()
                let manifest = try await store.exportAudit(to: out, range: range, keys: keys) { done, total in
                    Console.progress("export", done: Int(done), total: Int(total))
                }
                Console.info(
                    "exported \(manifest.entryCount) entries (seq \(manifest.fromSeq)…\(manifest.toSeq)) and \(manifest.checkpointCount) checkpoints to \(out)"
                )
                Console.hint("verify offline with: vigil audit verify \(out) --public-key \(common.keyPaths.auditSigningPublic)")
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check an export folder (offline), or the live database with --db: every leaf, root and signature."
        )
        @OptionGroup var common: CommonOptions
        @Argument(help: "An export folder.") var directory: String?
        @Flag(help: "Verify the live database instead of an export.") var db = false
        @Option(name: .customLong("public-key"), help: "Verifier keys file (default: Keys/audit-signing.pub).") var publicKey: String?
        @Flag(help: "Accept entries after the last checkpoint (not yet signed).") var allowUnsigned = false

        func run() async throws {
            try await reporting {
                guard db != (directory != nil) else { throw ValidationError("give an export folder, or --db, not both") }
                let keyFile = publicKey ?? common.keyPaths.auditSigningPublic
                guard let text = try? String(contentsOfFile: keyFile, encoding: .utf8) else {
                    Console.error("cannot read the public key file \(keyFile)")
                    throw Reported(2)
                }
                let keys = try NoteVerifierKey.parseList(text)
                let result: Result<AuditVerificationSummary, AuditVerificationFailure>
                if db {
                    result = try await common.openStore().verifyAudit(keys: keys, allowUnsigned: allowUnsigned) { done, total in
                        Console.progress("verify", done: Int(done), total: Int(total))
                    }
                } else {
                    result = AuditExportVerifier.verify(
                        directory: directory ?? "",
                        keys: keys,
                        options: .init(allowUnsigned: allowUnsigned)
                    ) { done in
                        if Console.stderrIsTerminal { FileHandle.standardError.write(Data("\rverify: \(done) entries".utf8)) }
                    }
                    if Console.stderrIsTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
                }
                switch result {
                case .success(let summary):
                    print(summary.description)
                case .failure(let failure):
                    Console.error(failure.description)
                    throw Reported(1)
                }
            }
        }
    }

    struct Prove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print an inclusion proof (JSON) of entry SEQ against the latest signed checkpoint."
        )
        @OptionGroup var common: CommonOptions
        @Argument(help: "The entry's seq.") var seq: UInt64

        func run() async throws {
            try await reporting {
                let bundle = try await common.openStore().proveAudit(seq: seq)
                FileHandle.standardOutput.write(Data(bundle.jsonBytes()))
                print()
            }
        }
    }
}
