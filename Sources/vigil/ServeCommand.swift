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

    @Option(help: "Address to listen on: an IP address or a host name (env VIGIL_HOST, default 127.0.0.1).")
    var host: String?

    // Unconditional: `--port -1` is a bad port, not a missing value.
    @Option(parsing: .unconditional, help: "Port to listen on, 1-65535 (env VIGIL_PORT, default 8080).")
    var port: String?

    @Option(
        name: .customLong("openapi"),
        help: "OpenAPI document to serve at /openapi.yaml (default docs/openapi.yaml, served when present; a given path must be readable)."
    )
    var openAPIPath: String?

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
            // Every setting, then the address: refused before anything is created or opened.
            let config = try ServeConfiguration(self)
            try ListenCheck.check(host: config.host, port: config.port)
            let logger = makeLogger(level: config.logLevel)
            let keys = common.keyPaths
            if !keys.exists {
                do {
                    try keys.initialise()
                } catch let error as KeyFileError {
                    throw error
                } catch {
                    throw ConfigurationError("\(config.keysDirectory.name): cannot create the keys in \(keys.dir)")
                }
                Console.info("first run: created \(keys.master), \(keys.auditSigning) and \(keys.auditSigningPublic)")
                Console.hint("back up \(keys.dir)/ now: without master.key the data cannot be read")
            }
            try keys.checkPermissions()
            let outboxFile: FileChannel
            do {
                outboxFile = try FileChannel(directory: config.outboxDirectory.text)
            } catch {
                throw ConfigurationError("\(config.outboxDirectory.name): cannot create the outbox folder \(config.outboxDirectory.text)")
            }
            let outboxConfig = (file: outboxFile, webhook: config.webhook)
            let policies = try common.loadPolicies()
            let blocklist = try common.loadPasswordBlocklist(policies)
            let store = try common.openStore(policies: policies)
            let settings = ServerSettings(host: config.host, port: config.port)
            let openAPI = try? String(contentsOfFile: config.openAPIPath, encoding: .utf8)
            if openAPI == nil { logger.warning("openapi document not found", metadata: ["path": .string(config.openAPIPath)]) }
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

/// Every setting of `vigil serve`, resolved (flag, then environment, then default) and checked
/// by the rules at the top of Configuration.swift, before anything starts.
struct ServeConfiguration {
    var host: String
    var port: Int
    var logLevel: Logger.Level
    var openAPIPath: String
    var keysDirectory: SettingValue
    var outboxDirectory: SettingValue
    var webhook: (url: String, secret: SecretBytes)?

    init(_ command: ServeCommand) throws {
        let common = command.common
        // Values first (no file is looked at)…
        host = try Settings.host(SettingValue.resolve(flag: "--host", command.host, variable: "VIGIL_HOST", default: "127.0.0.1"))
        port = try Settings.port(SettingValue.resolve(flag: "--port", command.port, variable: "VIGIL_PORT", default: "8080"))
        logLevel = try Settings.logLevel(SettingValue.resolve(flag: nil, nil, variable: "VIGIL_LOG_LEVEL", default: "info"))
        let openAPI = try SettingValue.resolve(flag: "--openapi", command.openAPIPath, variable: nil, default: "docs/openapi.yaml")
        outboxDirectory = try SettingValue.resolve(flag: "--outbox-dir", command.outboxDir, variable: "VIGIL_OUTBOX_DIR", default: "data/outbox")
        let url = try SettingValue.resolve(flag: "--webhook-url", command.webhookURL, variable: "VIGIL_WEBHOOK_URL", default: nil)
        let secretFile = try SettingValue.resolve(
            flag: "--webhook-secret-file",
            command.webhookSecretFile,
            variable: "VIGIL_WEBHOOK_SECRET_FILE",
            default: nil
        )
        switch (url, secretFile) {
        case (let url?, nil):
            _ = try Settings.webhookURL(url)
            throw ConfigurationError("\(url.name) is set but neither --webhook-secret-file nor VIGIL_WEBHOOK_SECRET_FILE is")
        case (nil, let secretFile?):
            throw ConfigurationError("\(secretFile.name) is set but neither --webhook-url nor VIGIL_WEBHOOK_URL is")
        default: break
        }
        let webhookURL = try url.map(Settings.webhookURL)
        // …then the paths, without creating anything.
        try PathCheck.databaseFile(try common.databaseSetting)
        keysDirectory = try common.keysSetting
        try PathCheck.creatableFolder(keysDirectory, what: "the key folder")
        try PathCheck.existingFolder(try common.policiesSetting, what: "the policy folder")
        try PathCheck.creatableFolder(outboxDirectory, what: "the outbox folder")
        if !openAPI.isDefault { try PathCheck.readableFile(openAPI, what: "the OpenAPI document") }
        openAPIPath = openAPI.text
        if let webhookURL, let secretFile {
            webhook = (webhookURL, try Self.readSecret(secretFile))
        }
    }

    /// The webhook secret, checked like a key file; a refusal names the setting and the path.
    static func readSecret(_ file: SettingValue) throws -> SecretBytes {
        let minimum = WebhookSignature.minimumSecretBytes
        do {
            return try KeyFile.readSharedSecret(path: file.text, minimumBytes: minimum)
        } catch KeyFileError.malformed(let path) {
            throw ConfigurationError(
                "\(file.name): \(path) must hold one line of at least \(minimum) characters",
                hint: "create one with: (umask 077; openssl rand -hex 32 > \(path))"
            )
        } catch KeyFileError.unreadable(let path) {
            throw ConfigurationError("\(file.name): \(path) cannot be read (it must be a regular file, not a symlink)")
        } catch let error as KeyFileError {
            throw ConfigurationError("\(file.name): \(error.description)")
        }
    }
}

func makeLogger(level: Logger.Level) -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
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
