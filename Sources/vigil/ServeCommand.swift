import ArgumentParser
import Foundation
import Logging
import VigilCore
import VigilCrypto
import VigilDelivery
import VigilHTTP
import VigilStore

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP service (creates keys on first run; migrates the database)."
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "Address to listen on (env VIGIL_HOST, default 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on (env VIGIL_PORT, default 8080).")
    var port: Int?

    @Option(name: .customLong("openapi"), help: "OpenAPI document to serve at /openapi.yaml (default docs/openapi.yaml).")
    var openAPIPath: String = "docs/openapi.yaml"

    @Option(name: .customLong("outbox-dir"), help: "Folder of the file channel (env VIGIL_OUTBOX_DIR, default data/outbox).")
    var outboxDir: String?

    @Option(name: .customLong("webhook-url"), help: "URL the webhook channel posts messages to (env VIGIL_WEBHOOK_URL).")
    var webhookURL: String?

    @Option(
        name: .customLong("webhook-secret-file"),
        help: "File (mode 0600) with the webhook signing secret (env VIGIL_WEBHOOK_SECRET_FILE)."
    )
    var webhookSecretFile: String?

    func run() async throws {
        try await reporting {
            try initialiseCrypto()
            let logger = makeLogger()
            let keys = common.keyPaths
            if !keys.exists {
                try keys.initialise()
                Console.info("first run: created \(keys.master), \(keys.auditSigning) and \(keys.auditSigningPublic)")
                Console.hint("back up \(keys.dir)/ now: without master.key the data cannot be read")
            }
            try keys.checkPermissions()
            let outboxConfig = try outboxConfiguration()
            let policies = try common.loadPolicies()
            let blocklist = try common.loadPasswordBlocklist(policies)
            let store = try common.openStore(policies: policies)
            let settings = ServerSettings(
                host: host ?? env("VIGIL_HOST") ?? "127.0.0.1",
                port: port ?? env("VIGIL_PORT").flatMap(Int.init) ?? 8080
            )
            let openAPI = try? String(contentsOfFile: openAPIPath, encoding: .utf8)
            if openAPI == nil { logger.warning("openapi document not found", metadata: ["path": .string(openAPIPath)]) }
            let hasher = PasswordHasher()
            var core = VigilDependencies(
                store: store,
                clock: SystemClock(),
                policies: policies,
                passwordHasher: hasher,
                passwordBlocklist: blocklist
            )
            core.noticeChannels = outboxConfig.webhook != nil ? [.webhook] : [.file]
            try await RunRecord.recordStart(core, component: "serve")
            let deps = HTTPDependencies(
                core: core,
                auditLog: store,
                auditVerifierKeys: try keys.loadVerifierKeys(),
                openAPIDocument: openAPI,
                readinessChecks: ["keys": { true }, "policies": { true }]
            )
            logger.info(
                "starting",
                metadata: [
                    "host": .string(settings.host), "port": .stringConvertible(settings.port), "database": .string(common.databasePath),
                    "argon2id_workers": .stringConvertible(hasher.workers), "argon2id_queue": .stringConvertible(hasher.queueLimit),
                    "password_blocklist_entries": .stringConvertible(blocklist.count),
                ]
            )
            // Checkpoints every `audit.checkpoint.every_seconds` (appends also sign every N entries)
            // and once more at shutdown, so nothing the server wrote is left unsigned.
            let interval = policies.audit.checkpointEverySeconds
            let checkpointer = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(interval))
                    do {
                        try await store.checkpoint()
                    } catch {
                        logger.error("audit checkpoint failed", metadata: ["error_type": .string(String(reflecting: type(of: error)))])
                    }
                }
            }
            // The webhook's HTTP client is made as late as it can be: from here on every path
            // reaches its `shutdown()`.
            let webhook = try outboxConfig.webhook.map { try WebhookChannel(url: $0.url, secret: $0.secret) }
            // The outbox worker: woken by commits that enqueue messages, polling every second
            // for the rest (other instances, retries coming due). Stopped after the server has
            // drained, so requests still in progress can enqueue; attempts in flight finish and
            // are recorded before it returns.
            let worker = OutboxWorker(
                store: store,
                clock: SystemClock(),
                policies: policies,
                channels: [outboxConfig.file] + (webhook.map { [$0] } ?? []),
                doorbell: store.outboxDoorbell,
                logger: logger
            )
            logger.info(
                "outbox",
                metadata: [
                    "channels": .string(worker.served.map(\.rawValue).joined(separator: ",")),
                    "notices": .string(core.noticeChannels.map(\.rawValue).joined(separator: ",")),
                    "outbox_dir": .string(outboxConfig.file.directory),
                ]
            )
            let delivering = Task { await worker.run() }
            // The password-reset worker: resolves queued reset requests off the response path
            // (so the answer to a request is the same work for every identifier).
            let resets = PasswordResetService(core)
            let resolving = Task {
                while !Task.isCancelled {
                    do {
                        let done = try await resets.processPending()
                        if done.issued + done.unknown + done.limited > 0 { continue }
                    } catch {
                        logger.error("password reset worker failed", metadata: ["error_type": .string(String(reflecting: type(of: error)))])
                    }
                    try? await Task.sleep(for: .milliseconds(250))
                }
            }
            var serverError: (any Error)?
            do {
                try await runServer(deps, settings: settings, logger: logger)
            } catch {
                serverError = error
            }
            resolving.cancel()
            _ = await resolving.value
            delivering.cancel()
            await delivering.value
            try? await webhook?.shutdown()
            if let serverError { throw serverError }
            checkpointer.cancel()
            try await store.checkpoint()
            logger.info("stopped")
        }
    }
}

extension ServeCommand {
    /// The outbox's settings, checked before anything starts: the file channel's folder (made
    /// if missing), and the webhook's URL and secret (its file checked like a key file).
    func outboxConfiguration() throws -> (file: FileChannel, webhook: (url: String, secret: SecretBytes)?) {
        let file = try FileChannel(directory: outboxDir ?? env("VIGIL_OUTBOX_DIR") ?? "data/outbox")
        let url = webhookURL ?? env("VIGIL_WEBHOOK_URL")
        let secretPath = webhookSecretFile ?? env("VIGIL_WEBHOOK_SECRET_FILE")
        guard let url else {
            if secretPath != nil {
                Console.error("VIGIL_WEBHOOK_SECRET_FILE is set but VIGIL_WEBHOOK_URL is not")
                throw Reported()
            }
            return (file, nil)
        }
        try WebhookChannel.validate(url: url)
        guard let secretPath else { throw OutboxConfigurationError.missingSecret }
        do {
            return (file, (url, try KeyFile.readSharedSecret(path: secretPath, minimumBytes: WebhookSignature.minimumSecretBytes)))
        } catch KeyFileError.malformed(let path) {
            Console.error("\(path) must hold one line of at least \(WebhookSignature.minimumSecretBytes) characters")
            Console.hint("create one with: (umask 077; openssl rand -hex 32 > \(path))")
            throw Reported()
        }
    }
}

func makeLogger() -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = env("VIGIL_LOG_LEVEL").flatMap { Logger.Level(rawValue: $0) } ?? .info
        return handler
    }
    return Logger(label: "vigil")
}

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "migrate", abstract: "Apply pending database migrations.")

    @OptionGroup var common: CommonOptions

    func run() async throws {
        try await reporting {
            let version = try await common.withStore { try await $0.schemaVersion() }
            Console.info("database \(common.databasePath) is at schema version \(version)")
        }
    }
}
