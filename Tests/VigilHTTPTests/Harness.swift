import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing
import VigilAudit
import VigilCore
import VigilCrypto
import VigilHTTP
import VigilStore
import VigilTestSupport

/// Collects every log line the service writes, message and metadata, so tests can assert
/// that no secret or personal value reaches the logs.
final class LogCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
    var text: String { all.joined(separator: "\n") }

    var logger: Logger {
        Logger(label: "vigil-test") { label in CapturingHandler(capture: self) }
    }

    struct CapturingHandler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            capture.append(
                "\(event.level) \(event.message) \(merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))"
            )
        }
    }
}

/// A Vigil service over a real SQLite file in a temporary directory, with an injected clock.
struct TestService {
    let dir: TemporaryDirectory
    let clock = TestClock()
    let store: SQLiteStore
    let logs = LogCapture()
    let settings = ServerSettings(maxBodyBytes: 16 * 1024)

    let policies: PolicySet
    let passwordHasher: PasswordHasher
    let passwordBlocklist: PasswordBlocklist

    static func shippedPolicies() throws -> PolicySet {
        try PolicySet.load(directory: Self.repoRoot.appendingPathComponent("Policies"))
    }

    /// The shipped blocklist, loaded once for the whole test run.
    static let shippedBlocklist: Result<PasswordBlocklist, any Error> = Result {
        try PasswordBlocklist.load(file: repoRoot.appendingPathComponent("Policies/common-passwords.txt"))
    }

    /// `origin`: the checkpoints' origin line (the shipped policy's, for a test that runs the
    /// `vigil` executable on the same database).
    init(policies: PolicySet? = nil, passwordHasher: PasswordHasher = PasswordHasher(), origin: String = Fixtures.auditOrigin) throws {
        self.policies = try policies ?? Self.shippedPolicies()
        self.passwordHasher = passwordHasher
        passwordBlocklist = try Self.shippedBlocklist.get()
        dir = try TemporaryDirectory()
        store = try SQLiteStore(
            path: dir.file("vigil.sqlite"),
            masterKey: Fixtures.masterKey(),
            signing: AuditSigning(signers: [Fixtures.auditSigner()], origin: origin, everyEntries: 4),
            clock: clock
        )
    }

    var deps: HTTPDependencies { deps(policies: policies) }

    /// The same store, clock and hasher under other policies (a policy change between runs).
    func deps(policies: PolicySet) -> HTTPDependencies {
        HTTPDependencies(
            core: VigilDependencies(
                store: store,
                clock: clock,
                policies: policies,
                passwordHasher: passwordHasher,
                passwordBlocklist: passwordBlocklist
            ),
            auditLog: store,
            auditVerifierKeys: [Fixtures.auditSigner().verifierKey],
            openAPIDocument: try? String(contentsOf: Self.openAPIURL, encoding: .utf8),
            readinessChecks: ["keys": { true }, "policies": { true }]
        )
    }

    /// A `Keys/` folder holding the fixtures' master and audit keys, so the `vigil` executable
    /// opens this service's database; returns the `--database`, `--keys-dir` and
    /// `--policies-dir` arguments.
    func cliArguments() throws -> [String] {
        let keys = dir.file("Keys")
        if !FileManager.default.fileExists(atPath: keys) {
            try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true)
            try KeyFile.createSecret(path: keys + "/master.key", label: "vigil-master-key-v1", secret: Fixtures.masterKey())
            try KeyFile.createSecret(
                path: keys + "/audit-signing.key",
                label: "vigil-audit-signing-ed25519-v1",
                secret: Fixtures.auditSigningKey().seed
            )
            try KeyFile.createPublic(path: keys + "/audit-signing.pub", contents: Fixtures.auditSigner().verifierKey.text + "\n")
        }
        return ["--database", dir.file("vigil.sqlite"), "--keys-dir", keys, "--policies-dir", Self.repoRoot.appendingPathComponent("Policies").path]
    }

    static var repoRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
    static var openAPIURL: URL { repoRoot.appendingPathComponent("docs/openapi.yaml") }

    /// Creates an API key with `scopes` and returns its full text.
    func apiKey(_ scopes: [Scope], name: String = "wallet-backend") async throws -> String {
        try await APIKeyService(deps.core).create(name: name, scopes: scopes, actor: .cli("test")).1.revealOnce()
    }

    func revoke(_ key: String) async throws {
        let id = String(key.dropFirst(4).prefix(16))
        try await APIKeyService(deps.core).revoke(id: id, actor: .cli("test"))
    }

    func router(policies: PolicySet? = nil) -> Router<VigilRequestContext> {
        buildRouter(deps(policies: policies ?? self.policies), settings: settings)
    }

    /// Runs `body` against the real router, in process (`.router`), or through a real HTTP
    /// server on loopback (`.live`, `.ahc(.http)` for concurrent connections); `policies` replaces the service's policies for this run.
    func test(
        _ framework: TestingSetup = .router,
        policies: PolicySet? = nil,
        _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        let app = Application(router: router(policies: policies), configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logs.logger)
        try await app.test(framework, body)
    }
}

extension TestClientProtocol {
    /// POST with a JSON body (a string, sent as is).
    func post(_ path: String, key: String?, json: String) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let key { headers[.authorization] = "Bearer \(key)" }
        return try await execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: json))
    }

    func get(_ path: String, key: String? = nil) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let key { headers[.authorization] = "Bearer \(key)" }
        return try await execute(uri: path, method: .get, headers: headers, body: nil)
    }
}

/// The one error shape: `{"error": {"code", "message", "request_id"[, "field"]}}`, with the
/// request id equal to the `X-Request-Id` header. Returns the code.
@discardableResult
func expectErrorShape(
    _ response: TestResponse,
    status: HTTPResponse.Status,
    code: String,
    field: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> String {
    #expect(response.status == status, sourceLocation: sourceLocation)
    #expect(response.headers[.contentType]?.hasPrefix("application/json") == true, sourceLocation: sourceLocation)
    let object = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
    let error = try #require(object?["error"] as? [String: Any], sourceLocation: sourceLocation)
    #expect(Set(object?.keys.map { $0 } ?? []) == ["error"], sourceLocation: sourceLocation)
    #expect(error["code"] as? String == code, sourceLocation: sourceLocation)
    #expect((error["message"] as? String)?.isEmpty == false, sourceLocation: sourceLocation)
    let requestID = try #require(error["request_id"] as? String, sourceLocation: sourceLocation)
    #expect(requestID == response.headers[HTTPField.Name("X-Request-Id")!], sourceLocation: sourceLocation)
    #expect(error["field"] as? String == field, sourceLocation: sourceLocation)
    let allowed: Set<String> = field == nil ? ["code", "message", "request_id"] : ["code", "message", "request_id", "field"]
    #expect(Set(error.keys) == allowed, sourceLocation: sourceLocation)
    return code
}

func json(_ response: TestResponse) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
}

extension Data {
    init(buffer: ByteBuffer) {
        self.init(buffer.getBytes(at: buffer.readerIndex, length: buffer.readableBytes) ?? [])
    }
}

extension PolicySet {
    /// Raises every verification rate limit (for tests that fire many requests at once).
    mutating func setRateLimit(limit: Int) {
        var auth = authentication
        for name in AuthenticationPolicy.RateLimited.allCases { auth.rateLimits[name].limit = limit }
        self = PolicySet(authentication: auth, recovery: recovery, sla: sla, retention: retention, audit: audit, digest: digest)
    }
}
