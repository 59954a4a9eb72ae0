import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import VigilAudit
import VigilCore
import VigilCrypto

/// The case file: a signed record of one case that verifies offline (docs/case-file.md).
///
/// | method | path                 | who                                                      | audit |
/// |--------|----------------------|----------------------------------------------------------|-------|
/// | GET    | /v1/cases/{id}/file  | agent, supervisor, admin, auditor (no personal data)     | `case.file_exported` |
///
/// `?format=json` (default): the file itself, canonical JSON and one newline, served byte for
/// byte as signed. `?format=html`: the printable page, which embeds the file and is itself
/// checked by `vigil case verify`. Service API keys and anonymous callers get 401.
struct CaseFileController {
    let api: APIContext

    /// The page's CSP: nothing may load or run; only its own stylesheet, by hash.
    static let htmlPolicy =
        "default-src 'none'; style-src 'sha256-\(ByteEncoding.base64(SHA256.hash(Array(CaseFileHTML.stylesheet.utf8))))'; frame-ancestors 'none'"

    func register(on router: Router<VigilRequestContext>) {
        let files = CaseFileService(api.deps.core)
        router.get("/v1/cases/:id/file") { request, context in
            let principal = try await api.agent(request, roles: Set(AgentRole.allCases))
            let name = request.uri.queryParameters.get("format") ?? "json"
            guard let format = CaseFileService.Format(rawValue: name) else {
                throw VigilError.invalidField(field: "format", reason: "must be json or html")
            }
            let file = try await files.file(id: try context.parameters.require("id"), format: format, by: principal, request: context.requestInfo)
            switch format {
            case .json:
                return Response(
                    status: .ok,
                    headers: [.contentType: "application/json; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(bytes: try file.fileBytes()))
                )
            case .html:
                return Response(
                    status: .ok,
                    headers: [.contentType: "text/html; charset=utf-8", HTTPField.Name("Content-Security-Policy")!: Self.htmlPolicy],
                    body: .init(byteBuffer: ByteBuffer(bytes: try CaseFileHTML.render(file)))
                )
            }
        }
    }
}
