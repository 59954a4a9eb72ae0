import ArgumentParser
import Foundation
import VigilAudit

struct CaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "case",
        abstract: "Work with support cases offline.",
        subcommands: [Verify.self]
    )

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a case file (JSON or its HTML page) offline: signatures, inclusion proofs, and every section against the entries.",
            discussion: "Prints `ok: case <id>, N entries, checkpoint size S`, or names what failed and exits 1."
        )
        @OptionGroup var common: CommonOptions
        @Argument(help: "A case file from GET /v1/cases/{id}/file (JSON, or the page from ?format=html).") var file: String
        @Option(name: [.customLong("key"), .customLong("public-key")], help: "Verifier keys file (default: Keys/audit-signing.pub).")
        var key: String?

        func run() async throws {
            try await reporting {
                let keyFile = key ?? common.keyPaths.auditSigningPublic
                guard let text = try? String(contentsOfFile: keyFile, encoding: .utf8) else {
                    Console.error("cannot read the public key file \(keyFile)")
                    throw Reported(2)
                }
                let keys = try NoteVerifierKey.parseList(text)
                guard let data = FileManager.default.contents(atPath: file) else {
                    Console.error("cannot read the case file \(file)")
                    throw Reported(2)
                }
                switch CaseFileVerifier.verify(Array(data), keys: keys) {
                case .success(let summary):
                    print(summary.description)
                case .failure(let failure):
                    Console.error(failure.description)
                    throw Reported(1)
                }
            }
        }
    }
}
