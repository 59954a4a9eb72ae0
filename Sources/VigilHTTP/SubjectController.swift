import Foundation
import Hummingbird
import VigilCore

/// Wallet users (subjects).
///
/// | method | path         | who                              | audit             |
/// |--------|--------------|----------------------------------|-------------------|
/// | POST   | /v1/subjects | service client, `subjects:write` | `subject.created` |
struct SubjectController {
    let api: APIContext

    struct CreateSubject: Decodable {
        let subject_id: String
        let email: String?
        let phone: String?
        let display_name: String?
    }

    struct Created: Encodable, Sendable {
        let subject_id: String
        let created_at: String
    }

    func register(on router: Router<VigilRequestContext>) {
        router.post("/v1/subjects") { request, context in
            let principal = try await api.service(request, scope: .subjectsWrite)
            let body = try await api.decode(CreateSubject.self, from: request)
            let created = try await SubjectService(api.deps.core).register(
                SubjectRegistration(subjectID: body.subject_id, email: body.email, phone: body.phone, displayName: body.display_name),
                by: principal,
                request: context.requestInfo
            )
            return JSONResponse(.created, Created(subject_id: body.subject_id, created_at: Timestamp.format(created)))
        }
    }
}
