import Hummingbird
import NIOCore
import VigilCore

/// Liveness, readiness and the API description.
///
/// | method | path          | who       | audit |
/// |--------|---------------|-----------|-------|
/// | GET    | /healthz      | anyone    | none  |
/// | GET    | /readyz       | anyone    | none  |
/// | GET    | /openapi.yaml | anyone    | none  |
struct HealthController {
    let api: APIContext

    struct Health: Encodable, Sendable {
        let status: String
    }
    struct Readiness: Encodable, Sendable {
        let status: String
        let checks: [String: String]
    }

    func register(on router: Router<VigilRequestContext>) {
        router.get("/healthz") { _, _ in JSONResponse(.ok, Health(status: "ok")) }
        router.get("/readyz") { _, _ in
            var checks: [String: String] = ["database": await api.deps.core.store.ping() ? "ok" : "failing"]
            for (name, check) in api.deps.readinessChecks { checks[name] = check() ? "ok" : "failing" }
            let ready = checks.values.allSatisfy { $0 == "ok" }
            return JSONResponse(ready ? .ok : .serviceUnavailable, Readiness(status: ready ? "ready" : "not_ready", checks: checks))
        }
        router.get("/openapi.yaml") { _, _ in
            guard let doc = api.deps.openAPIDocument else { throw VigilError.notFound(resource: "API description") }
            return Response(
                status: .ok,
                headers: [.contentType: "application/yaml; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: doc))
            )
        }
    }
}
