import ArgumentParser
import Foundation
import Logging
import VigilCore
import VigilCrypto
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
            let core = VigilDependencies(
                store: store,
                clock: SystemClock(),
                policies: policies,
                passwordHasher: hasher,
                passwordBlocklist: blocklist
            )
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
            try await runServer(deps, settings: settings, logger: logger)
            checkpointer.cancel()
            try await store.checkpoint()
            logger.info("stopped")
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
