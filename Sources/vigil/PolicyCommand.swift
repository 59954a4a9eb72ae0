import ArgumentParser
import Foundation
import VigilCore

struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Work with the policy files.",
        subcommands: [Check.self]
    )

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a policy folder; prints every problem with its file, key path and reason."
        )

        @Argument(help: "The folder (default: --policies-dir, VIGIL_POLICIES_DIR, or Policies).")
        var directory: String?

        @OptionGroup var common: CommonOptions

        func run() async throws {
            let dir = directory ?? common.policiesDirectory
            do {
                let set = try PolicySet.load(directory: URL(fileURLWithPath: dir))
                Console.info("policies in \(dir) are valid (digest \(set.digest))")
                print(set.digest)
            } catch {
                for issue in error.issues { Console.error(issue.description) }
                Console.hint("\(error.issues.count) problem\(error.issues.count == 1 ? "" : "s") in \(dir); nothing was loaded")
                throw ExitCode(1)
            }
        }
    }
}

extension CommonOptions {
    /// Loads and validates the policy folder, or explains every problem and fails.
    func loadPolicies() throws -> PolicySet {
        do {
            return try PolicySet.load(directory: URL(fileURLWithPath: policiesDirectory))
        } catch {
            for issue in error.issues { Console.error(issue.description) }
            Console.hint("fix the policy files, then check them with: vigil policy check \(policiesDirectory)")
            throw Reported()
        }
    }
}
