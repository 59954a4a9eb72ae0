import Foundation
import Testing

/// Every vector file names its source and gives each case an expected outcome.
@Suite("Vector files")
struct VectorFileTests {
    static let outcomes: Set<String> = ["ok", "bad-mac", "bad-signature", "mismatch", "malformed"]

    @Test("every vector file names its source and every case its expected result")
    func filesAreSelfDescribing() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Vectors.folder.path)
            .filter { $0.hasSuffix(".json") }
            .sorted()
        #expect(names.count >= 10)
        for name in names {
            let data = try Data(contentsOf: Vectors.folder.appendingPathComponent(name))
            let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(name)")
            let source = object["source"] as? String ?? ""
            #expect(source.count > 20, "\(name) must name its source")
            let cases = try #require(object["cases"] as? [[String: Any]], "\(name) has no cases")
            #expect(!cases.isEmpty, "\(name) has no cases")
            for (index, item) in cases.enumerated() {
                let result = item["result"] as? String ?? "<none>"
                #expect(Self.outcomes.contains(result), "\(name) case \(index): result \(result)")
            }
        }
    }
}
