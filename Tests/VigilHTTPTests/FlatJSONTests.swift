import Foundation
import NIOCore
import Testing

@testable import VigilHTTP

/// The verify route's fast path (`FlatJSON`) against `JSONDecoder`/`JSONEncoder`: whatever the
/// fast path accepts must decode to the same value with `JSONDecoder`; whatever it cannot read
/// falls back, so odd bodies keep `JSONDecoder`'s answers; the hand-written answer is byte for
/// byte `JSONResponse`'s.
@Suite struct FlatJSONTests {
    typealias Body = SecondFactorController.VerifyBody

    func fast(_ text: String) -> Body? {
        FlatJSON.parseStrings(ByteBuffer(string: text)).flatMap(SecondFactorController.verifyBody)
    }

    func slow(_ text: String) -> Body? {
        try? JSONDecoder().decode(Body.self, from: Data(text.utf8))
    }

    func same(_ a: Body?, _ b: Body?) -> Bool {
        a?.code == b?.code && a?.recovery_code == b?.recovery_code && (a == nil) == (b == nil)
    }

    @Test(arguments: [
        #"{"code":"123456"}"#,
        #" { "code" : "123456" , "extra" : "x" }  "#,
        "{\n\t\"recovery_code\": \"abcd-efgh-ijkl\"\r\n}",
        #"{"code":null,"recovery_code":"abcd"}"#,
        #"{"code":""}"#,
        "{}",
        "{ }",
    ])
    func readsFlatObjectsLikeJSONDecoder(_ text: String) throws {
        let f = try #require(fast(text), "the fast path should read \(text)")
        #expect(same(f, slow(text)))
    }

    @Test(arguments: [
        #"{"code":"12\u0033456"}"#,  // an escape: JSONDecoder reads "123456"
        #"{"code":"12\"3"}"#,
        #"{"code":123456}"#,  // a number: JSONDecoder refuses the type
        #"{"code":true}"#,
        #"{"code":"1","code":"2"}"#,  // a duplicate key
        #"{"code":"1"} x"#,  // trailing bytes
        #"{"code":"1",}"#,
        #"{"code":"1""#,
        #"["code"]"#,
        #"{"code":"ü"}"#,  // not ASCII
        #"{"a":{"b":"c"},"code":"1"}"#,  // nested
        #"{"code":nul}"#,
        "{\"code\":\"1\u{7}\"}",  // a control character
        "",
    ])
    func fallsBackOnAnythingElse(_ text: String) {
        #expect(fast(text) == nil, "the fast path must leave \(text) to JSONDecoder")
    }

    /// Random edits of valid bodies: whenever the fast path reads one, JSONDecoder reads the
    /// same value from it.
    @Test func randomEditsNeverDisagreeWithJSONDecoder() {
        var rng = SystemRandomNumberGenerator()
        let seeds = [#"{"code":"123456"}"#, #"{"recovery_code":"ab-cd","code":null}"#, #" {"x":"y", "code" : "1"} "#]
        let alphabet = Array(#"{}[]":, \nabc019-\u"#.utf8) + [0x00, 0x7F, 0xC3, 0xBC]
        var fastHits = 0
        for _ in 0..<20_000 {
            var bytes = Array(seeds[Int.random(in: 0..<seeds.count, using: &rng)].utf8)
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let at = Int.random(in: 0...bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes.insert(alphabet.randomElement(using: &rng)!, at: at)
                case 1: if at < bytes.count { bytes.remove(at: at) }
                default: if at < bytes.count { bytes[at] = alphabet.randomElement(using: &rng)! }
                }
            }
            let f = FlatJSON.parseStrings(ByteBuffer(bytes: bytes)).flatMap(SecondFactorController.verifyBody)
            guard let f else { continue }
            fastHits += 1
            let s = try? JSONDecoder().decode(Body.self, from: Data(bytes))
            #expect(same(f, s), "fast path and JSONDecoder disagree on \(String(decoding: bytes, as: UTF8.self).debugDescription)")
        }
        #expect(fastHits > 100)
    }

    @Test(arguments: [("totp", 10, true), ("totp", 0, false), ("recovery_code", 3, true), ("recovery_code", 0, false)])
    func verifyAnswerIsJSONEncodersBytes(_ method: String, _ remaining: Int, _ valid: Bool) throws {
        let answer = SecondFactorController.VerifyResponse(valid: valid, method: method, recovery_codes_remaining: remaining)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        #expect(answer.json == Array(try encoder.encode(answer)))
    }
}
