/// The printable HTML form of a case file (docs/case-file.md §5).
///
/// Rules:
/// - the page is a pure function of the signed file: no clock, locale or environment, so a
///   verifier renders it again and accepts the page only when it is byte for byte the same;
///   the tables on paper are then exactly what the signed file says;
/// - every value is HTML-escaped; the page has no script to run, one inline stylesheet, and
///   the file itself in `<script type="application/json" id="vigil-case-file">`: its canonical
///   JSON with `<`, `>` and `&` written as `\u003c`, `\u003e`, `\u0026` (the same JSON value,
///   and no `</script>` can end the element early).
public enum CaseFileHTML {
    /// The version of the page layout; a verifier renders with the layout it knows.
    public static let layoutVersion = "vigil-case-file-html/1"

    static let scriptOpen = #"<script type="application/json" id="vigil-case-file">"#
    static let scriptClose = "</script>"

    /// The page's only stylesheet (the HTTP layer allows it by hash in its CSP).
    public static let stylesheet = """
        body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#111}\
        h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #999}\
        table{border-collapse:collapse;width:100%}th,td{border:1px solid #bbb;padding:3px 6px;text-align:left;vertical-align:top}\
        th{background:#eee}code{font:12px ui-monospace,monospace;word-break:break-all}.meta{color:#444}\
        @media print{body{margin:0}h2{break-after:avoid}tr{break-inside:avoid}}
        """

    /// The page for a signed file.
    public static func render(_ file: CaseFile) throws(AuditError) -> [UInt8] {
        let json = try file.fileBytes().dropLast()
        let entries = try file.parsedEntries()
        let r = file.record
        let sla = file.sla
        var h = ""
        func row(_ name: String, _ value: String?) {
            h += "<tr><th>\(esc(name))</th><td>\(value.map(esc) ?? "—")</td></tr>\n"
        }
        h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        h += "<meta name=\"generator\" content=\"\(esc(layoutVersion))\">\n"
        h += "<title>Case file \(esc(r.id))</title>\n<style>\(stylesheet)</style>\n</head>\n<body>\n"
        h += "<h1>Case file <code>\(esc(r.id))</code></h1>\n"
        h += "<p class=\"meta\">\(esc(CaseFile.formatVersion)), generated \(esc(file.generatedAt)). "
        h += "\(file.entries.count) audit entries, each with an inclusion proof against checkpoint size "
        h += "\(file.checkpoint.checkpoint.size) of <code>\(esc(file.checkpoint.checkpoint.origin))</code>; "
        h += "signed by key id \(esc(file.signatures.map(\.keyID).joined(separator: ", "))). No personal data.</p>\n"

        h += "<h2>Case</h2>\n<table>\n"
        row("Case id", r.id)
        row("Channel", r.channel)
        row("Category", r.category)
        row("Priority", r.priority)
        row("Status", r.status)
        row("Triage rules", r.triageRules.isEmpty ? nil : r.triageRules.joined(separator: ", "))
        row("Assignee", r.assignee)
        row("Opened", r.openedAt)
        row("First response due", r.firstResponseDue)
        row("First response", r.firstResponseAt)
        row("Resolution due", r.resolutionDue)
        row("Closed", r.closedAt)
        row("Resolution", r.resolution)
        row("CSAT score", r.csatScore.map { "\($0) of 5" })
        h += "</table>\n"

        h += "<h2>SLA outcome</h2>\n<table>\n"
        row("First response", sla.firstResponse)
        row("Resolution", sla.resolution)
        h += "</table>\n"

        h += "<h2>Timeline</h2>\n<table>\n"
        h += "<tr><th>Seq</th><th>Time (UTC)</th><th>Event</th><th>Actor</th><th>Outcome</th><th>Details</th></tr>\n"
        for e in entries {
            let details = e.details.keys.sorted().map { key -> String in
                switch e.details[key] {
                case .string(let s)?: "\(key)=\(s)"
                case .integer(let n)?: "\(key)=\(n)"
                case nil: key
                }
            }
            h += "<tr><td>\(e.seq)</td><td>\(esc(e.time))</td><td>\(esc(e.action))</td>"
            h += "<td>\(esc(e.actor.type.rawValue)) <code>\(esc(e.actor.id))</code></td><td>\(esc(e.outcome.rawValue))</td>"
            h += "<td><code>\(esc(details.joined(separator: " ")))</code></td></tr>\n"
        }
        h += "</table>\n"

        h += "<h2>Verifications</h2>\n"
        if file.verifications.isEmpty {
            h += "<p>None.</p>\n"
        } else {
            h += "<table>\n<tr><th>Id</th><th>Check</th><th>Status</th><th>Agent</th><th>Attempts</th><th>Started</th><th>Completed</th></tr>\n"
            for v in file.verifications {
                h += "<tr><td><code>\(esc(v.id))</code></td><td>\(esc(v.check))</td><td>\(esc(v.status))</td>"
                h += "<td><code>\(esc(v.agent))</code></td><td>\(v.attempts)</td><td>\(esc(v.startedAt))</td>"
                h += "<td>\(v.completedAt.map(esc) ?? "—")</td></tr>\n"
            }
            h += "</table>\n"
        }

        h += "<h2>Actions and approvals</h2>\n"
        if file.actions.isEmpty {
            h += "<p>None.</p>\n"
        } else {
            h += "<table>\n<tr><th>Id</th><th>Action</th><th>Status</th><th>Requested by</th><th>Requested</th><th>Checks</th>"
            h += "<th>Approved or rejected by</th><th>Decided</th><th>Executed</th><th>Hold until</th></tr>\n"
            for a in file.actions {
                h += "<tr><td><code>\(esc(a.id))</code></td><td>\(esc(a.action))</td><td>\(esc(a.status))</td>"
                h += "<td><code>\(esc(a.requestedBy))</code></td><td>\(esc(a.requestedAt))</td>"
                h += "<td>\(esc(a.checks.joined(separator: ", ")))</td><td>\(a.decidedBy.map { "<code>\(esc($0))</code>" } ?? "—")</td>"
                h += "<td>\(a.decidedAt.map(esc) ?? "—")</td><td>\(a.executedAt.map(esc) ?? "—")</td><td>\(a.holdUntil.map(esc) ?? "—")</td></tr>\n"
            }
            h += "</table>\n"
        }

        h += "<h2>Proof</h2>\n"
        h += "<p>Checkpoint (signed note, C2SP tlog-checkpoint):</p>\n<pre><code>\(esc(file.checkpoint.text))</code></pre>\n"
        h += "<table>\n<tr><th>Seq</th><th>Leaf hash (SHA-256 of 0x00 and the entry)</th><th>Path length</th></tr>\n"
        for e in file.entries {
            h += "<tr><td>\(e.seq)</td><td><code>\(MerkleHashing.leafHash(e.bytes).hex)</code></td><td>\(e.inclusionPath.count)</td></tr>\n"
        }
        h += "</table>\n"
        h += "<p>To check this page offline, save it and run <code>vigil case verify FILE --key Keys/audit-signing.pub</code>: "
        h += "it verifies the file's signature, the checkpoint's, every inclusion proof, that every section agrees with the "
        h += "entries, and that this page is exactly the rendering of the file below.</p>\n"
        h += scriptOpen + embed(json) + scriptClose + "\n</body>\n</html>\n"
        return Array(h.utf8)
    }

    /// The file embedded in a page: the canonical JSON and its final newline. Only the shape
    /// is read here; `CaseFileVerifier` checks the rest, the page included.
    static func embeddedFile(in page: [UInt8]) throws(CaseFileFailure) -> [UInt8] {
        let open = Array(scriptOpen.utf8)
        let close = Array(scriptClose.utf8)
        guard let start = find(open, in: page, from: 0) else {
            throw .init(.malformed, "neither a JSON case file nor an HTML page that embeds one")
        }
        let from = start + open.count
        guard let end = find(close, in: page, from: from) else { throw .init(.malformed, "the embedded case file is not closed") }
        do {
            return CanonicalJSON.encode(try CanonicalJSON.parse(Array(page[from..<end]))) + [0x0A]
        } catch {
            throw .init(.malformed, "the embedded case file is not JSON: \(error)")
        }
    }

    /// Canonical JSON as script data: `<`, `>` and `&` (found only inside strings) as `\u00xx`.
    static func embed(_ json: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        for b in json {
            switch b {
            case UInt8(ascii: "<"): out.append(contentsOf: Array("\\u003c".utf8))
            case UInt8(ascii: ">"): out.append(contentsOf: Array("\\u003e".utf8))
            case UInt8(ascii: "&"): out.append(contentsOf: Array("\\u0026".utf8))
            default: out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func esc(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func find(_ needle: [UInt8], in hay: [UInt8], from: Int) -> Int? {
        guard needle.count <= hay.count, from <= hay.count - needle.count else { return nil }
        var i = from
        while i <= hay.count - needle.count {
            if hay[i] == needle[0] && hay[i..<i + needle.count].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}
