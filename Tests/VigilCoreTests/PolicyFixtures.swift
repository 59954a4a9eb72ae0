import Foundation
import Testing
import VigilCore

/// The repository's `Policies/` folder and disposable copies of it.
enum PolicyFixtures {
    /// `<repo>/Policies`, found from this file's path (`<repo>/Tests/VigilCoreTests/…`).
    static let shippedDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("Policies")

    /// The shipped policy files, name → bytes.
    static func shippedFiles() throws -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        for name in PolicySet.fileNames {
            files[name] = [UInt8](try Data(contentsOf: shippedDirectory.appendingPathComponent(name)))
        }
        return files
    }

    /// The text of one shipped file.
    static func shippedText(_ name: String) -> String {
        (try? String(contentsOf: shippedDirectory.appendingPathComponent(name), encoding: .utf8)) ?? ""
    }

    /// A fresh temporary copy of the shipped folder; the caller removes it.
    static func copyOfShipped() throws -> URL {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("vigil-policy-test-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: shippedDirectory, to: directory)
        return directory
    }

    /// Replaces the one occurrence of `old` in `file` of `directory` with `new`.
    static func edit(_ directory: URL, _ file: String, replacing old: String, with new: String) throws {
        let url = directory.appendingPathComponent(file)
        let text = try String(contentsOf: url, encoding: .utf8)
        let occurrences = text.components(separatedBy: old).count - 1
        try #require(occurrences == 1, "'\(old)' occurs \(occurrences) times in \(file); the edit needs exactly one")
        try text.replacingOccurrences(of: old, with: new).write(to: url, atomically: true, encoding: .utf8)
    }

    /// The issues `PolicySet.load` reports for `directory` (none when it loads).
    static func issues(loading directory: URL) -> [PolicyIssue] {
        do {
            _ = try PolicySet.load(directory: directory)
            return []
        } catch {
            return error.issues
        }
    }
}

/// One edit to one shipped file and the issues it must produce.
struct PolicyMutation: Sendable, CustomTestStringConvertible {
    var name: String
    var file: String
    var old: String
    var new: String
    var expected: [Expected]

    struct Expected: Sendable, Equatable, CustomStringConvertible {
        var file: String
        var keyPath: String
        var kind: PolicyIssue.Kind
        var reason: String

        init(_ file: String, _ keyPath: String, _ kind: PolicyIssue.Kind, _ reason: String) {
            self.file = file
            self.keyPath = keyPath
            self.kind = kind
            self.reason = reason
        }

        init(_ issue: PolicyIssue) {
            self.init(issue.file, issue.keyPath, issue.kind, issue.reason)
        }

        var description: String { "\(file): \(keyPath): [\(kind.rawValue)] \(reason)" }
    }

    init(_ name: String, _ file: String, replacing old: String, with new: String, _ expected: [Expected]) {
        self.name = name
        self.file = file
        self.old = old
        self.new = new
        self.expected = expected
    }

    var testDescription: String { name }
}
