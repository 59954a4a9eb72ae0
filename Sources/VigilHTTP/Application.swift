import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import VigilAudit
import VigilCore

/// Settings of the HTTP server.
public struct ServerSettings: Sendable {
    public var host: String
    public var port: Int
    /// Largest request body accepted, in bytes (413 above it).
    public var maxBodyBytes: Int

    public init(host: String = "127.0.0.1", port: Int = 8080, maxBodyBytes: Int = 64 * 1024) {
        self.host = host
        self.port = port
        self.maxBodyBytes = maxBodyBytes
    }
}

/// What the HTTP layer needs: the domain dependencies plus what only HTTP serves.
public struct HTTPDependencies: Sendable {
    public var core: VigilDependencies
    /// The audit log, for `GET /v1/audit/export`, and the verifier keys its manifests list.
    public var auditLog: any AuditLogStore
    public var auditVerifierKeys: [NoteVerifierKey]
    /// The OpenAPI description served at `/openapi.yaml` (the text of `docs/openapi.yaml`).
    public var openAPIDocument: String?
    /// Readiness facts that are not the database: key material and policies loaded.
    public var readinessChecks: [String: @Sendable () -> Bool]

    public init(
        core: VigilDependencies,
        auditLog: any AuditLogStore,
        auditVerifierKeys: [NoteVerifierKey],
        openAPIDocument: String?,
        readinessChecks: [String: @Sendable () -> Bool] = [:]
    ) {
        self.core = core
        self.auditLog = auditLog
        self.auditVerifierKeys = auditVerifierKeys
        self.openAPIDocument = openAPIDocument
        self.readinessChecks = readinessChecks
    }
}

/// Builds the router: the test seam for in-process tests (`app.test(.router)`).
public func buildRouter(_ deps: HTTPDependencies, settings: ServerSettings) -> Router<VigilRequestContext> {
    // HEAD is answered wherever GET is: the GET route's headers, no body.
    let router = Router(context: VigilRequestContext.self, options: .autoGenerateHeadEndpoints)
    let index = RouteIndex()
    router.add(middleware: VigilMiddleware(routes: index))
    let api = APIContext(deps: deps, settings: settings)
    HealthController(api: api).register(on: router)
    SubjectController(api: api).register(on: router)
    AuditController(api: api).register(on: router)
    SecondFactorController(api: api).register(on: router)
    PasswordController(api: api).register(on: router)
    SuspiciousLoginController(api: api).register(on: router)
    OutboxController(api: api).register(on: router)
    PasswordResetController(api: api).register(on: router)
    AgentController(api: api).register(on: router)
    CaseController(api: api).register(on: router)
    CaseWorkflowController(api: api).register(on: router)
    ReportController(api: api).register(on: router)
    CaseFileController(api: api).register(on: router)
    index.set(router.routes.map { (path: $0.path.description, method: $0.method) })
    return router
}

/// The routes' path patterns and methods, for `405 Method Not Allowed` with `Allow` and for
/// answering `HEAD` where `GET` is served. Filled once, when the router is built.
final class RouteIndex: @unchecked Sendable {
    // @unchecked Sendable: `entries` is written once under `lock`, then only read under it.
    private let lock = NSLock()
    private var entries: [(components: [Substring], method: HTTPRequest.Method)] = []

    func set(_ routes: [(path: String, method: HTTPRequest.Method)]) {
        let parsed = routes.map { (components: $0.path.split(separator: "/"), method: $0.method) }
        lock.withLock { entries = parsed }
    }

    /// The methods some route serves at `path` (`HEAD` wherever `GET` is), sorted.
    func methods(at path: String) -> [String] {
        let segments = path.split(separator: "?", maxSplits: 1).first.map { $0.split(separator: "/") } ?? []
        var found = Set<String>()
        for entry in lock.withLock({ entries }) where entry.components.count == segments.count {
            let matches = zip(entry.components, segments).allSatisfy { pattern, segment in
                pattern.hasPrefix("{") || pattern.hasPrefix(":") || pattern == "*" ? !segment.isEmpty : pattern == segment
            }
            guard matches else { continue }
            found.insert(entry.method.rawValue)
            if entry.method == .get { found.insert("HEAD") }
        }
        return found.sorted()
    }
}

/// Builds the application (server + router). `vigil serve` runs it with graceful shutdown
/// on SIGTERM and SIGINT.
public func buildApplication(
    _ deps: HTTPDependencies,
    settings: ServerSettings,
    logger: Logger
)
    -> some ApplicationProtocol
{
    let router = buildRouter(deps, settings: settings)
    return Application(
        router: router,
        configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "vigil"),
        logger: logger
    )
}

/// Shared helpers for controllers: authentication, body decoding, JSON responses.
struct APIContext: Sendable {
    let deps: HTTPDependencies
    let settings: ServerSettings

    var apiKeys: APIKeyService { APIKeyService(deps.core) }

    /// The bearer token of the `Authorization` header, if any.
    /// `Idempotency-Key` (request) and `Idempotent-Replayed: true` (a retry's answer).
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    static let replayed = HTTPField.Name("Idempotent-Replayed")!

    static func bearer(_ request: Request) -> String? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return String(parts[1])
    }

    /// Authenticates the bearer API key and checks `scope`. Agent sessions are not API keys.
    func service(_ request: Request, scope: Scope) async throws -> Principal {
        let principal = try await apiKeys.authenticate(bearer: Self.bearer(request))
        try principal.require(scope)
        return principal
    }

    /// Authenticates an agent session and checks its role. API keys are not agent sessions.
    func agent(_ request: Request, roles: Set<AgentRole>) async throws -> Principal {
        let principal = try await AgentService(deps.core).authenticate(bearer: Self.bearer(request))
        try principal.require(role: roles)
        return principal
    }

    /// Reads and decodes a JSON body of at most `settings.maxBodyBytes` bytes.
    func decode<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        try await decode(type, from: request, flat: { _ in nil })
    }

    /// `decode(_:from:)` with a fast path: when the body is a flat object of plain strings
    /// (`FlatJSON`) and `flat` makes a value of its members, that value; otherwise — and for
    /// every malformed or unusual body — `JSONDecoder`, exactly as `decode(_:from:)`.
    func decode<T: Decodable>(_ type: T.Type, from request: Request, flat: ([String: String?]) -> T?) async throws -> T {
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > settings.maxBodyBytes {
            throw HTTPError(.contentTooLarge)
        }
        var request = request
        let buffer = try await request.collectBody(upTo: settings.maxBodyBytes)
        guard buffer.readableBytes > 0 else { throw VigilError.malformedBody(reason: "a JSON body is required") }
        if let members = FlatJSON.parseStrings(buffer), let value = flat(members) { return value }
        let bytes = buffer.getBytes(at: buffer.readerIndex, length: buffer.readableBytes) ?? []
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw VigilError.from(error)
        }
    }
}

/// A JSON response with a chosen status.
struct JSONResponse<Body: Encodable & Sendable>: ResponseGenerator {
    let status: HTTPResponse.Status
    let body: Body

    init(_ status: HTTPResponse.Status = .ok, _ body: Body) {
        self.status = status
        self.body = body
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(body)
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }
}

/// A JSON response whose bytes the route wrote itself (see `FlatJSON`: the hottest answers,
/// byte for byte what `JSONResponse` would write for the same value).
struct RawJSONResponse: ResponseGenerator {
    let status: HTTPResponse.Status
    let bytes: [UInt8]

    func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }
}

/// Runs the server until SIGTERM or SIGINT, then drains in-flight requests and returns.
public func runServer(_ deps: HTTPDependencies, settings: ServerSettings, logger: Logger) async throws {
    let app = buildApplication(deps, settings: settings, logger: logger)
    try await app.runService()  // its default graceful-shutdown signals are SIGTERM and SIGINT
}
