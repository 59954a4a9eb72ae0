import Foundation
import Testing

/// The package graph is the architecture (STYLE.md practice 1). This reads every Swift file
/// under `Sources/` and fails when an import crosses a boundary.
@Suite("Import boundaries")
struct ImportBoundaryTests {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources")

    /// Module (or module prefix) → the only targets allowed to import it.
    static let owners: [(prefix: String, allowed: Set<String>)] = [
        ("Hummingbird", ["VigilHTTP"]),
        ("HTTPTypes", ["VigilHTTP"]),
        ("NIO", ["VigilHTTP", "VigilDelivery"]),
        ("AsyncHTTPClient", ["VigilDelivery"]),
        ("VigilDelivery", ["vigil"]),
        ("CSQLite3", ["VigilStore"]),
        ("CSodium", ["VigilCrypto"]),
        ("COpenSSLCrypto", ["VigilCrypto"]),
        ("VigilStore", ["vigil", "VigilBench"]),
        ("VigilHTTP", ["vigil"]),
        ("ArgumentParser", ["vigil"]),
        ("VigilCore", ["VigilStore", "VigilHTTP", "VigilDelivery", "VigilTestSupport", "vigil", "VigilBench"]),
    ]

    /// Targets that must not depend on anything of Vigil's above them.
    static let forbidden: [String: Set<String>] = [
        "VigilCrypto": ["VigilAudit", "VigilCore", "VigilStore", "VigilHTTP", "Yams", "Logging"],
        "VigilAudit": ["VigilCore", "VigilStore", "VigilHTTP"],
    ]

    static func imports() throws -> [(target: String, file: String, module: String)] {
        var found: [(String, String, String)] = []
        let fm = FileManager.default
        for target in try fm.contentsOfDirectory(atPath: sources.path) {
            let dir = sources.appendingPathComponent(target)
            guard let walker = fm.enumerator(atPath: dir.path) else { continue }
            for case let file as String in walker where file.hasSuffix(".swift") {
                let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
                for line in text.split(separator: "\n") {
                    var words = line.trimmingCharacters(in: .whitespaces).split(separator: " ").map(String.init)
                    while let first = words.first,
                        first.hasPrefix("@") || ["public", "internal", "package", "private", "fileprivate"].contains(first)
                    {
                        words.removeFirst()
                    }
                    guard words.count >= 2, words[0] == "import" else { continue }
                    let module =
                        words.count >= 3 && ["struct", "class", "enum", "func", "protocol", "typealias", "var", "let"].contains(words[1])
                        ? String(words[2].split(separator: ".").first ?? "") : String(words[1].split(separator: ".").first ?? "")
                    found.append((target, "\(target)/\(file)", module))
                }
            }
        }
        return found
    }

    @Test("each C module, Hummingbird and SQLite are imported only by their one owner")
    func ownersOnly() throws {
        let all = try Self.imports()
        #expect(all.count > 20, "the scan found too few imports; is Sources/ where it expects?")
        var violations: [String] = []
        for (target, file, module) in all {
            for owner in Self.owners where module.hasPrefix(owner.prefix) && !owner.allowed.contains(target) && module != target {
                violations.append("\(file) imports \(module); only \(owner.allowed.sorted().joined(separator: ", ")) may")
            }
            if let banned = Self.forbidden[target], banned.contains(module) {
                violations.append("\(file) imports \(module), which \(target) must not depend on")
            }
        }
        #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))")
    }

    @Test("the scanner sees a crossing import when there is one")
    func scannerCatchesACrossing() throws {
        // Guard against a scanner that silently finds nothing: the real owners must be seen.
        let all = try Self.imports()
        #expect(all.contains { $0.target == "VigilStore" && $0.module == "CSQLite3" })
        #expect(all.contains { $0.target == "VigilCrypto" && $0.module == "CSodium" })
        #expect(all.contains { $0.target == "VigilHTTP" && $0.module == "Hummingbird" })
    }
}
