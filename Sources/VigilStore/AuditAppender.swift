import Foundation
import VigilCore
import VigilCrypto

/// Appends audit entries inside the caller's transaction. If this throws, the caller's
/// transaction rolls back: no audit, no change.
enum AuditAppender {
    static func append(_ event: AuditEvent, conn: SQLiteConnection, keyring: Keyring) throws {
        let next = (try conn.queryOne("SELECT coalesce(max(seq) + 1, 0) FROM audit_entries", [], { $0.int(0) })) ?? 0
        var object: [String: Any] = [
            "seq": next,
            "time": Timestamp.format(event.time),
            "actor": ["type": event.actor.type.rawValue, "id": event.actor.id],
            "action": event.action,
            "outcome": event.outcome.rawValue,
        ]
        if let target = event.target {
            object["target"] = ["type": target.type, "id_hash": keyring.pseudonym(target.type, target.id)]
        }
        if let rid = event.requestID { object["request_id"] = rid }
        if let ip = event.sourceIP { object["source_ip_hash"] = keyring.pseudonym("ip", ip) }
        if !event.details.isEmpty {
            var details: [String: Any] = [:]
            for (k, v) in event.details {
                switch v {
                case .string(let s): details[k] = s
                case .int(let i): details[k] = i
                }
            }
            object["details"] = details
        }
        let bytes = [UInt8](try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
        var leafInput: [UInt8] = [0]
        leafInput.append(contentsOf: bytes)
        try conn.run(
            "INSERT INTO audit_entries (seq, entry, leaf_hash) VALUES (?, ?, ?)",
            [.int(next), .blob(bytes), .blob(SHA256.hash(leafInput))]
        )
    }
}
