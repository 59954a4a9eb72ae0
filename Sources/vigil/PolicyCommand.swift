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
            let set: PolicySet
            do {
                set = try PolicySet.load(directory: URL(fileURLWithPath: dir))
            } catch {
                for issue in error.issues { Console.error(issue.description) }
                Console.hint("\(error.issues.count) problem\(error.issues.count == 1 ? "" : "s") in \(dir); nothing was loaded")
                throw ExitCode(1)
            }
            do {
                let list = try PasswordBlocklist.load(policiesDirectory: URL(fileURLWithPath: dir), policy: set.authentication.password)
                Console.info("password blocklist \(set.authentication.password.blocklist): \(list.count) entries")
            } catch {
                Console.error("authentication.yaml: password.blocklist: \(error.description)")
                throw ExitCode(1)
            }
            Console.info("policies in \(dir) are valid (digest \(set.digest))")
            print(set.digest)
        }
    }
}

extension CommonOptions {
    /// Loads the password blocklist the policy names, or explains why not and fails: the
    /// server does not start without it.
    func loadPasswordBlocklist(_ policies: PolicySet) throws -> PasswordBlocklist {
        do {
            return try PasswordBlocklist.load(policiesDirectory: URL(fileURLWithPath: policiesDirectory), policy: policies.authentication.password)
        } catch {
            Console.error(error.description)
            Console.hint(
                "password.blocklist in authentication.yaml names a file in \(policiesDirectory); the shipped one is Policies/common-passwords.txt"
            )
            throw Reported()
        }
    }

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
