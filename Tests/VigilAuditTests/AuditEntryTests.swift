import Foundation
import Testing
import VigilAudit

@Suite("Audit entries and canonical JSON")
struct AuditEntryTests {
    let date = Date(timeIntervalSince1970: 1_795_801_000.123)

    func entry(seq: UInt64 = 41, details: [String: AuditEntry.DetailValue] = [:], requestID: String? = "req-deadbeef") throws -> AuditEntry {
        try AuditEntry(
            seq: seq,
            date: date,
            event: AuditEvent(
                actor: .init(type: .service, id: "ak_1234567890"),
                action: "totp.verify.failed",
                target: .init(type: "subject", idHash: "9f86d081884c7d65"),
                outcome: .failure,
                requestID: requestID,
                details: details
            )
        )
    }

    @Test func `time is UTC RFC 3339 with milliseconds, from the injected date`() {
        #expect(AuditTime.format(date) == "2026-11-27T17:36:40.123Z")
        #expect(AuditTime.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(AuditTime.format(Date(timeIntervalSince1970: -0.001)) == "1969-12-31T23:59:59.999Z")
        #expect(AuditTime.format(Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29T00:00:00.000Z")
        #expect(AuditTime.parse("2026-11-27T17:36:40.123Z") == Date(timeIntervalSince1970: 1_795_801_000.123))
        for bad in [
            "2026-02-30T00:00:00.000Z", "2026-11-28T13:36:40Z", "2026-11-28T13:36:40.123+00:00", "2026-11-28 13:36:40.123Z",
            "2026-13-01T00:00:00.000Z",
        ] {
            #expect(AuditTime.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func `canonical bytes sort keys, omit absent fields and have no whitespace`() throws {
        let e = try entry(details: ["attempt": 3, "channel": "api"])
        let expected =
            #"{"action":"totp.verify.failed","actor":{"id":"ak_1234567890","type":"service"},"details":{"attempt":3,"channel":"api"},"outcome":"failure","request_id":"req-deadbeef","seq":41,"target":{"id_hash":"9f86d081884c7d65","type":"subject"},"time":"2026-11-27T17:36:40.123Z"}"#
        #expect(String(decoding: e.canonicalBytes(), as: UTF8.self) == expected)
        #expect(try AuditEntry(canonicalBytes: e.canonicalBytes()) == e)
        let bare = try entry(requestID: nil)
        #expect(!String(decoding: bare.canonicalBytes(), as: UTF8.self).contains("request_id"))
        #expect(String(decoding: bare.canonicalBytes(), as: UTF8.self).contains(#""details":{}"#))
        #expect(e.leafHash() == MerkleHashing.leafHash(Array(expected.utf8)))
    }

    static let trickyStrings: [String] = [
        "quote \" and backslash \\ and slash /",
        "controls \u{0}\u{1}\u{8}\u{9}\u{A}\u{B}\u{C}\u{D}\u{1F} del \u{7F}",
        "non-ASCII: é ß 漢字 😀 \u{2028}\u{2029} \u{FEFF}",
        "emoji key order \u{1F600} vs \u{FFFD}",
        "",
    ]

    @Test(arguments: trickyStrings)
    func `tricky strings round trip`(_ value: String) throws {
        let e = try entry(details: ["note": .string(value), "n": -9_007_199_254_740_991])
        let bytes = e.canonicalBytes()
        #expect(!bytes.contains(0x0A), "a newline must be escaped: entries are lines")
        #expect(try AuditEntry(canonicalBytes: bytes) == e)
    }

    @Test(.enabled(if: pythonAvailable(), "python3 is not installed"))
    func `Python's json.dumps with sorted keys reproduces the canonical bytes`() throws {
        for value in Self.trickyStrings {
            let e = try entry(details: ["note": .string(value), "count": 9_007_199_254_740_991, "zz": "\u{10FFFF}"])
            let bytes = e.canonicalBytes()
            let script = """
                import json, sys
                raw = sys.stdin.buffer.read()
                obj = json.loads(raw)
                out = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
                sys.exit(0 if out == raw else 1)
                """
            let dir = try temporaryDirectory()
            let path = dir + "/entry.json"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let result = try run("sh", ["-c", "python3 -c '\(script.replacingOccurrences(of: "'", with: "'\\''"))' < \(path)"])
            #expect(result.status == 0, "Python re-encodes \(String(decoding: bytes, as: UTF8.self)) differently: \(result.output)")
        }
    }

    @Test(arguments: [
        #"{"action":"a.b", "actor":{"id":"x","type":"system"},"details":{},"outcome":"success","seq":0,"time":"2026-11-27T17:36:40.123Z"}"#,
        #"{"actor":{"id":"x","type":"system"},"action":"a.b","details":{},"outcome":"success","seq":0,"time":"2026-11-27T17:36:40.123Z"}"#,
        #"{"action":"a.b","actor":{"id":"x","type":"system"},"details":{},"outcome":"success","seq":0,"time":"2026-11-27T17:36:40.123Z","extra":"1"}"#,
        #"{"action":"a.b","actor":{"id":"x","type":"system"},"details":{"f":1.5},"outcome":"success","seq":0,"time":"2026-11-27T17:36:40.123Z"}"#,
        #"{"action":"a.b","actor":{"id":"x","type":"system"},"details":{"s":"\u0041"},"outcome":"success","seq":0,"time":"2026-11-27T17:36:40.123Z"}"#,
        #"{"action":"a.b","actor":{"id":"x","type":"system"},"details":{"s":"\/"},"outcome":"success","seq":0,"time":"2026-11-27T17:36:40.123Z"}"#,
        #"{"action":"a.b","actor":{"id":"x","type":"system"},"details":{},"outcome":"success","seq":0,"seq":1,"time":"2026-11-27T17:36:40.123Z"}"#,
        #"{"action":"a.b","actor":{"id":"x","type":"system"},"details":{},"outcome":"success","seq":01,"time":"2026-11-27T17:36:40.123Z"}"#,
        #"{"action":"a.b","actor":{"id":"x","type":"robot"},"details":{},"outcome":"success","seq":0,"time":"2026-11-27T17:36:40.123Z"}"#,
        #"{"action":"a.b","actor":{"id":"x","type":"system"},"details":{"b":true},"outcome":"success","seq":0,"time":"2026-11-27T17:36:40.123Z"}"#,
        #"{"action":"a.b","actor":{"id":"x","type":"system"},"details":{},"outcome":"success","seq":0,"time":"2026-11-27T17:36:40.123Z"} "#,
    ])
    func `non-canonical or invalid bytes are rejected`(_ text: String) {
        #expect(throws: AuditError.self) { try AuditEntry(canonicalBytes: Array(text.utf8)) }
    }

    @Test func `a minimal valid line parses`() throws {
        let text = #"{"action":"a.b","actor":{"id":"x","type":"system"},"details":{},"outcome":"success","seq":0,"time":"2026-11-27T17:36:40.123Z"}"#
        let e = try AuditEntry(canonicalBytes: Array(text.utf8))
        #expect(e.target == nil && e.actor.type == .system)
    }

    @Test func `entries that break the rules are refused`() throws {
        let good = try entry()
        func variant(_ change: (inout AuditEvent) -> Void) -> AuditEvent {
            var e = good.event
            change(&e)
            return e
        }
        let bad: [AuditEvent] = [
            variant { $0.action = "created" },
            variant { $0.action = "Subject.Created" },
            variant { $0.action = "subject..created" },
            variant { $0.actor.id = "" },
            variant { $0.actor.id = "line\nbreak" },
            variant { $0.outcome = "Denied" },
            variant { $0.target = .init(type: "Subject", idHash: "x") },
            variant { $0.target = .init(type: "subject", idHash: "") },
            variant { $0.details = ["CamelCase": 1] },
            variant { $0.details = ["big": .integer(9_007_199_254_740_992)] },
            variant { $0.details = ["long": .string(String(repeating: "x", count: 20_000))] },
            variant { $0.requestID = "" },
        ]
        for event in bad {
            #expect(throws: AuditError.self) { try AuditEntry(seq: 1, date: date, event: event) }
        }
        #expect(throws: AuditError.self) { try AuditEntry(seq: AuditEntry.maxSeq + 1, date: date, event: good.event) }
        #expect(throws: AuditError.self) {
            try AuditEntry(seq: 1, time: "2026-11-28T13:36:40Z", actor: good.actor, action: good.action, target: nil, outcome: .success)
        }
    }
}
