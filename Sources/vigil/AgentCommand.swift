import ArgumentParser
import Foundation
import VigilCore
import VigilStore

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Manage support-agent accounts.",
        subcommands: [Create.self, List.self, Disable.self, Unlock.self]
    )

    /// The dependencies an agent verb needs (the policies and blocklist for passwords).
    static func dependencies(_ common: CommonOptions, store: SQLiteStore) throws -> VigilDependencies {
        let policies = try common.loadPolicies()
        return VigilDependencies(
            store: store,
            clock: SystemClock(),
            policies: policies,
            passwordHasher: PasswordHasher(),
            passwordBlocklist: try common.loadPasswordBlocklist(policies)
        )
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an agent; prints a one-time setup token, alone on stdout (valid 24 h)."
        )
        @OptionGroup var common: CommonOptions
        @Option(help: "The agent's work email address.") var email: String
        @Option(help: "agent, supervisor, auditor or admin.") var role: String

        func run() async throws {
            try await reporting {
                guard let parsed = AgentRole(rawValue: role) else {
                    throw ValidationError("--role must be one of \(AgentRole.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                let (id, token) = try await common.withStore { store in
                    try await AgentService(try AgentCommand.dependencies(common, store: store)).create(
                        email: email,
                        role: parsed,
                        actor: .cli("agent create")
                    )
                }
                print(token)
                Console.info("created agent \(id) (\(parsed.rawValue))")
                Console.hint("give the setup token to the agent over a trusted channel; it sets a password and TOTP with it")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List agents (ids and roles; never emails or secrets).")
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await reporting {
                let agents = try await common.withStore { store in
                    try await AgentService(try AgentCommand.dependencies(common, store: store)).list()
                }
                let now = Date()
                for a in agents {
                    var state = a.disabled ? "disabled" : (a.active ? "active" : "setup pending")
                    for factor in [AuthenticationPolicy.Factor.password, .totp] {
                        guard let f = a.failures[factor] else { continue }
                        if f.lockedIndefinitely {
                            state += "  locked (\(factor.rawValue), \(f.consecutiveFailures) failures, until unlocked)"
                        } else if let until = f.lockedUntil, until > now {
                            state += "  locked (\(factor.rawValue), \(f.consecutiveFailures) failures, until \(Timestamp.format(until)))"
                        } else {
                            state += "  \(factor.rawValue) failures: \(f.consecutiveFailures)"
                        }
                    }
                    print("\(a.id)  \(a.role.rawValue)  \(Timestamp.format(a.createdAt))  \(state)")
                }
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable an agent and end its sessions at once.")
        @OptionGroup var common: CommonOptions
        @Argument(help: "The agent id (agt_…).") var id: String

        func run() async throws {
            try await reporting {
                let cancelled = try await common.withStore { store in
                    try await AgentService(try AgentCommand.dependencies(common, store: store)).disable(id: id, actor: .cli("agent disable"))
                }
                Console.info("disabled agent \(id); its sessions are revoked")
                for a in cancelled {
                    Console.info("cancelled its pending \(a.action.rawValue) request \(a.id) on case \(a.caseID)")
                }
            }
        }
    }

    struct Unlock: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Clear an agent's console-login failures and lock (password and TOTP); audited."
        )
        @OptionGroup var common: CommonOptions
        @Argument(help: "The agent id (agt_…).") var id: String

        func run() async throws {
            try await reporting {
                let cleared = try await common.withStore { store in
                    try await AgentService(try AgentCommand.dependencies(common, store: store)).unlock(id: id, actor: .cli("agent unlock"))
                }
                Console.info(cleared ? "unlocked agent \(id)" : "agent \(id) had no failures or lock to clear")
            }
        }
    }
}
