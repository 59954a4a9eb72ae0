import ArgumentParser
import Foundation

// Rules for the errors of the command line (STYLE.md practice 12):
// - ArgumentParser's own messages are rewritten into one `vigil: error: …` line: lower case,
//   no trailing period, a flag named as it is typed (`missing --out`, not
//   `Missing expected argument '--out <out>'`), then one `vigil: hint:` naming the verb's
//   `--help`; a message not recognised is lower-cased and kept;
// - a usage error exits with status 2; `--help` (and `vigil` alone) prints the help on stdout
//   and exits 0;
// - an `ExitCode` thrown by a verb (`reporting {}` has already explained it) exits silently
//   with its code; any other error is one `vigil: error:` line and its code.

enum CommandLineError {
    static let usageStatus: Int32 = 2

    static func exit(with error: any Error) -> Never {
        let code = Vigil.exitCode(for: error)
        if code == .success {
            let text = Vigil.fullMessage(for: error)
            if !text.isEmpty { print(text) }
            Foundation.exit(0)
        }
        if let exitCode = error as? ExitCode { Foundation.exit(exitCode.rawValue) }
        let message = Vigil.message(for: error)
        guard code == .validationFailure else {
            if !message.isEmpty { Console.error(clause(message)) }
            Foundation.exit(code.rawValue)
        }
        let rewritten = rewrite(message)
        Console.error(rewritten.line)
        if let hint = rewritten.hint {
            Console.hint(hint)
        } else if rewritten.isParserMessage, let help = helpCommand(in: Vigil.fullMessage(for: error)) {
            Console.hint("list the options with: \(help)")
        }
        Foundation.exit(usageStatus)
    }

    /// One of ArgumentParser's messages in Vigil's words. `isParserMessage` is false for a
    /// message it does not know (a `ValidationError` of Vigil's own, already in these words).
    static func rewrite(_ message: String) -> (line: String, hint: String?, isParserMessage: Bool) {
        let first = String(message.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
        if let m = first.wholeMatch(of: #/Missing expected argument '(?<argument>[^']+)'/#) {
            return ("missing \(name(m.argument))", nil, true)
        }
        if let m = first.wholeMatch(of: #/Missing one of: '(?<arguments>.+)'/#) {
            let names = m.arguments.components(separatedBy: "', '").map { name(Substring($0)) }
            return ("missing one of \(names.joined(separator: ", "))", nil, true)
        }
        if let m = first.wholeMatch(of: #/Unknown option '(?<option>[^']+)'(\. Did you mean '(?<suggestion>[^']+)'\?)?/#) {
            return ("unknown option \(Settings.printable(String(m.option)))", m.suggestion.map { "did you mean \($0)?" }, true)
        }
        if let m = first.wholeMatch(of: #/Missing value for '(?<option>[^']+)'/#) {
            return ("missing value for \(name(m.option))", nil, true)
        }
        if let m = message.wholeMatch(of: #/The value '(?<value>.*?)' is invalid for '(?<argument>[^']+)'(?<rest>[\s\S]*)/#) {
            let argument = name(m.argument)
            let value = Settings.printable(String(m.value))
            let rest = String(m.rest)
            if rest.hasPrefix(": ") {
                return ("invalid value '\(value)' for \(argument): \(clause(String(rest.dropFirst(2))))", nil, true)
            }
            if rest.hasPrefix(". Please provide one of") {
                return ("\(argument) must be one of \(allowedValues(rest).joined(separator: ", ")), not '\(value)'", nil, true)
            }
            return ("invalid value '\(value)' for \(argument)", nil, true)
        }
        if let m = first.wholeMatch(of: #/Unexpected argument '(?<value>.*)'/#) {
            return ("unexpected argument '\(Settings.printable(String(m.value)))'", nil, true)
        }
        if let m = first.wholeMatch(of: #/\d+ unexpected arguments: (?<values>.*)/#) {
            return ("unexpected arguments \(Settings.printable(String(m.values)))", nil, true)
        }
        if let m = first.wholeMatch(of: #/The option '(?<option>[^']+)' does not take any value, but '.*' was specified\./#) {
            return ("\(m.option) takes no value", nil, true)
        }
        if first == "Missing required subcommand." {
            return ("missing subcommand", nil, true)
        }
        return (clause(first), nil, false)
    }

    /// `--out <out>` → `--out`; a positional `<seq>` stays as it is.
    static func name(_ synopsis: Substring) -> String {
        synopsis.hasPrefix("-") ? String(synopsis.split(separator: " ").first ?? synopsis) : String(synopsis)
    }

    /// The values of ". Please provide one of 'a', 'b' or 'c'." or of the bulleted form.
    static func allowedValues(_ text: String) -> [String] {
        if text.contains("\n") {
            return text.split(separator: "\n").compactMap { line in
                let item = line.trimmingCharacters(in: .whitespaces)
                return item.hasPrefix("- ") ? String(item.dropFirst(2)) : nil
            }
        }
        return text.matches(of: #/'(?<value>[^']*)'/#).map { String($0.value) }
    }

    /// The command in ArgumentParser's "See 'vigil audit export --help' for more information."
    static func helpCommand(in fullMessage: String) -> String? {
        fullMessage.firstMatch(of: #/See '(?<command>[^']+)' for more information/#).map { String($0.command) }
    }

    /// A message as a clause: a first word in lower case (unless it is a name such as
    /// `VIGIL_PORT` or `SQLite`), no trailing period.
    static func clause(_ text: String) -> String {
        var text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        while text.hasSuffix(".") { text.removeLast() }
        let word = text.prefix { $0 != " " }
        guard let first = word.first, first.isUppercase, word.dropFirst().allSatisfy({ $0.isLowercase }) else { return text }
        return first.lowercased() + text.dropFirst()
    }
}
