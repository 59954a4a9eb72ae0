import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import VigilCore

/// The audit log for auditors.
///
/// | method | path             | who                           | audit            |
/// |--------|------------------|-------------------------------|------------------|
/// | GET    | /v1/audit/export | service client, `audit:read`  | `audit.exported` |
///
/// `?from=` and `?to=` are RFC 3339 times (inclusive, either may be left out). The answer is
/// a POSIX tar (ustar) of the export folder — `entries.jsonl`, `leaf-hashes.txt`,
/// `checkpoints.txt`, `manifest.json` — streamed from disk, so memory stays flat; it verifies
/// offline with `vigil audit verify` or `scripts/verify_audit_export.py`.
struct AuditController {
    let api: APIContext

    static let files = ["manifest.json", "checkpoints.txt", "leaf-hashes.txt", "entries.jsonl"]

    func register(on router: Router<VigilRequestContext>) {
        router.get("/v1/audit/export") { request, context in
            let principal = try await api.service(request, scope: .auditRead)
            func time(_ name: String) throws -> Date? {
                guard let text = request.uri.queryParameters.get(name) else { return nil }
                guard let date = Timestamp.parse(text) else {
                    throw VigilError.invalidField(field: name, reason: "must be an RFC 3339 time, e.g. 2026-11-27T00:00:00Z")
                }
                return date
            }
            let from = try time("from")
            let to = try time("to")
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-export-\(UUID().uuidString)").path
            let written: (entries: UInt64, checkpoints: Int)
            do {
                written = try await api.deps.auditLog.exportAudit(to: dir, from: from, to: to, keys: api.deps.auditVerifierKeys)
            } catch {
                try? FileManager.default.removeItem(atPath: dir)
                throw error
            }
            let now = api.deps.core.clock.now()
            let info = context.requestInfo
            try await api.deps.core.store.write { tx in
                try tx.appendAudit(
                    AuditRecord(
                        action: "audit.exported",
                        actor: principal.actor,
                        requestID: info.requestID,
                        sourceIP: info.sourceIP,
                        details: ["entries": .int(Int64(written.entries)), "checkpoints": .int(Int64(written.checkpoints))],
                        time: now
                    )
                )
            }
            let body = ResponseBody { writer in
                defer { try? FileManager.default.removeItem(atPath: dir) }
                for name in Self.files {
                    try await Tar.writeFile(at: dir + "/" + name, as: "vigil-audit-export/" + name, to: &writer)
                }
                try await writer.write(ByteBuffer(repeating: 0, count: 1024))
                try await writer.finish(nil)
            }
            return Response(
                status: .ok,
                headers: [
                    .contentType: "application/x-tar",
                    .contentDisposition: "attachment; filename=\"vigil-audit-export.tar\"",
                ],
                body: body
            )
        }
    }
}

/// Just enough POSIX ustar to stream regular files.
enum Tar {
    static func header(name: String, size: Int, mtime: Int) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int, width: Int) {
            for (i, b) in text.utf8.prefix(width).enumerated() { h[offset + i] = b }
        }
        func octal(_ value: Int, width: Int) -> String {
            let digits = String(value, radix: 8)
            return String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits
        }
        put(name, at: 0, width: 100)
        put(octal(0o644, width: 8), at: 100, width: 8)
        put(octal(0, width: 8), at: 108, width: 8)
        put(octal(0, width: 8), at: 116, width: 8)
        put(octal(size, width: 12), at: 124, width: 12)
        put(octal(mtime, width: 12), at: 136, width: 12)
        put("        ", at: 148, width: 8)
        h[156] = UInt8(ascii: "0")
        put("ustar", at: 257, width: 6)
        put("00", at: 263, width: 2)
        let sum = h.reduce(0) { $0 + Int($1) }
        put(octal(sum, width: 7), at: 148, width: 7)
        h[155] = UInt8(ascii: " ")
        return h
    }

    static func writeFile(at path: String, as name: String, to writer: inout any ResponseBodyWriter) async throws {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let size = (attributes[.size] as? Int) ?? 0
        let mtime = Int((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)
        try await writer.write(ByteBuffer(bytes: header(name: name, size: size, mtime: mtime)))
        guard let handle = FileHandle(forReadingAtPath: path) else { throw VigilError.unavailable(reason: "export file vanished") }
        defer { try? handle.close() }
        var sent = 0
        while sent < size {
            let chunk = handle.readData(ofLength: min(65_536, size - sent))
            if chunk.isEmpty { break }
            try await writer.write(ByteBuffer(bytes: chunk))
            sent += chunk.count
        }
        let padding = (512 - size % 512) % 512
        if padding > 0 { try await writer.write(ByteBuffer(repeating: 0, count: padding)) }
    }
}
