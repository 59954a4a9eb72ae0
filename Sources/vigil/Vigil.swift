import ArgumentParser
import Foundation

/// The `vigil` command: the composition root. Message rules (STYLE.md practice 12):
/// errors are `vigil: error: …`, hints `vigil: hint: …`, lower-case, no trailing period, on
/// stderr; a secret created for a person goes alone to stdout, once; progress only on a TTY.
///
/// Exit status: 0 on success and for `--help`; 1 when an operation fails; 2 for a usage error
/// (ArgumentParser's own included, rewritten by `CommandLineError`) or a setting refused at
/// start (`ConfigurationError`).
@main
struct Vigil: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigil",
        abstract: "Account recovery and verification for a crypto-wallet platform.",
        subcommands: [
            ServeCommand.self, MigrateCommand.self, KeysCommand.self, APIKeyCommand.self, PolicyCommand.self,
            AuditCommand.self, AgentCommand.self, ReportCommand.self, CaseCommand.self,
        ]
    )

    /// ArgumentParser's `main`, with its error output rewritten to the message rules.
    static func main() async {
        do {
            var command = try await asyncParseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            CommandLineError.exit(with: error)
        }
    }
}

/// Options shared by every verb that touches the deployment: flag, then environment, then
/// default. Empty values are refused when the command line is parsed (Configuration.swift).
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "SQLite database file (env VIGIL_DATABASE, default data/vigil.sqlite).")
    var database: String?

    @Option(name: .customLong("keys-dir"), help: "Key folder (env VIGIL_KEYS_DIR, default Keys).")
    var keysDir: String?

    @Option(name: .customLong("policies-dir"), help: "Policy folder (env VIGIL_POLICIES_DIR, default Policies).")
    var policiesDir: String?

    var databaseSetting: SettingValue {
        get throws(ConfigurationError) {
            try SettingValue.resolve(flag: "--database", database, variable: "VIGIL_DATABASE", default: "data/vigil.sqlite")
        }
    }
    var keysSetting: SettingValue {
        get throws(ConfigurationError) { try SettingValue.resolve(flag: "--keys-dir", keysDir, variable: "VIGIL_KEYS_DIR", default: "Keys") }
    }
    var policiesSetting: SettingValue {
        get throws(ConfigurationError) {
            try SettingValue.resolve(flag: "--policies-dir", policiesDir, variable: "VIGIL_POLICIES_DIR", default: "Policies")
        }
    }

    // After `validate()`, neither the flags nor the variables are empty.
    var databasePath: String { database ?? env("VIGIL_DATABASE") ?? "data/vigil.sqlite" }
    var keysDirectory: String { keysDir ?? env("VIGIL_KEYS_DIR") ?? "Keys" }
    var policiesDirectory: String { policiesDir ?? env("VIGIL_POLICIES_DIR") ?? "Policies" }

    mutating func validate() throws {
        do {
            _ = try databaseSetting
            _ = try keysSetting
            _ = try policiesSetting
        } catch {
            throw ValidationError(error.message)
        }
    }
}

/// The environment variable `name` as it is (empty included), or nil when it is unset.
func env(_ name: String) -> String? {
    ProcessInfo.processInfo.environment[name]
}

/// Console output following the message rules.
enum Console {
    static func error(_ message: String) { FileHandle.standardError.write(Data("vigil: error: \(message)\n".utf8)) }
    static func hint(_ message: String) { FileHandle.standardError.write(Data("vigil: hint: \(message)\n".utf8)) }
    static func info(_ message: String) { FileHandle.standardError.write(Data("vigil: \(message)\n".utf8)) }
    static var stderrIsTerminal: Bool { isatty(2) == 1 }

    /// A one-line progress bar on stderr, drawn only on a terminal.
    static func progress(_ label: String, done: Int, total: Int) {
        guard stderrIsTerminal, total > 0 else { return }
        let width = 30
        let filled = min(width, done * width / total)
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(done)/\(total)".utf8))
        if done >= total { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

/// A failure already explained on stderr; exits non-zero without more output.
struct Reported: Error {
    let code: Int32
    init(_ code: Int32 = 1) { self.code = code }
}

extension AsyncParsableCommand {
    /// Runs `body`, turning known errors into `vigil: error:` lines and an exit code (2 for a
    /// usage error or a refused setting, else 1).
    func reporting(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as Reported {
            throw ExitCode(error.code)
        } catch let error as ExitCode {
            throw error
        } catch let error as ConfigurationError {
            Console.error(error.message)
            if let hint = error.hint { Console.hint(hint) }
            throw ExitCode(2)
        } catch let error as ValidationError {
            Console.error(error.message)
            throw ExitCode(2)
        } catch {
            Console.error(describe(error))
            throw ExitCode(1)
        }
    }
}
