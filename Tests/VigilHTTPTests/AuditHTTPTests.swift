import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import VigilAudit
import VigilCore
import VigilHTTP
import VigilStore
import VigilTestSupport

@Suite("Audit export over HTTP")
struct AuditHTTPTests {
    @Test("an auditor's export is a tar that the system tar unpacks and the offline verifier accepts")
    func exportVerifies() async throws {
        let service = try TestService()
        let writer = try await service.apiKey([.subjectsWrite])
        let auditor = try await service.apiKey([.auditRead], name: "auditor")
        let out = service.dir.file("unpacked")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try await service.test { client in
            for i in 0..<6 {
                service.clock.advance(seconds: 60)
                _ = try await client.post("/v1/subjects", key: writer, json: #"{"subject_id":"deadbeef-\#(i)","email":"a\#(i)@example.org"}"#)
            }
            let r = try await client.get("/v1/audit/export", key: auditor)
            #expect(r.status == .ok)
            #expect(r.headers[.contentType] == "application/x-tar")
            let tarPath = service.dir.file("export.tar")
            try Data(buffer: r.body).write(to: URL(fileURLWithPath: tarPath))
            let tar = Process()
            tar.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            tar.arguments = ["tar", "-xf", tarPath, "-C", out]
            try tar.run()
            tar.waitUntilExit()
            #expect(tar.terminationStatus == 0)
        }
        let summary = try AuditExportVerifier.verify(directory: out + "/vigil-audit-export", keys: [Fixtures.auditSigner().verifierKey]).get()
        #expect(summary.entries >= 9)  // bootstrap, 2 api keys, 6 subjects
        let entries = try String(contentsOfFile: out + "/vigil-audit-export/entries.jsonl", encoding: .utf8)
        #expect(entries.contains("\"action\":\"subject.created\""))
        #expect(!entries.contains("deadbeef-3"), "a subject id appears in the clear")
        #expect(!entries.contains("a3@example.org"))
    }

    @Test("the export needs audit:read, and bad times are a 400 naming the parameter")
    func exportAuthorisation() async throws {
        let service = try TestService()
        let writer = try await service.apiKey([.subjectsWrite])
        let auditor = try await service.apiKey([.auditRead], name: "auditor")
        try await service.test { client in
            try expectErrorShape(try await client.get("/v1/audit/export"), status: .unauthorized, code: "unauthenticated")
            try expectErrorShape(try await client.get("/v1/audit/export", key: writer), status: .forbidden, code: "forbidden")
            try expectErrorShape(
                try await client.get("/v1/audit/export?from=yesterday", key: auditor),
                status: .badRequest,
                code: "invalid_field",
                field: "from"
            )
            try expectErrorShape(
                try await client.get("/v1/audit/export?from=2030-01-01T00:00:00Z", key: auditor),
                status: .notFound,
                code: "not_found"
            )
        }
    }
}
