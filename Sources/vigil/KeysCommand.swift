import ArgumentParser
import Foundation
import VigilAudit
import VigilCore
import VigilCrypto
import VigilStore

struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Create, inspect and rotate keys.",
        subcommands: [Init.self, Status.self, Rotate.self, Rewrap.self]
    )

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write master.key, audit-signing.key (mode 0600) and audit-signing.pub; never overwrites."
        )
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await reporting {
                let keys = common.keyPaths
                try keys.initialise()
                Console.info("created \(keys.master), \(keys.auditSigning) and \(keys.auditSigningPublic)")
                Console.hint("back up \(keys.dir)/ somewhere safe: without master.key the data cannot be read")
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show data-key versions and how many fields each holds.")
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await reporting {
                let status = try await common.withStore { try await $0.keyStatus() }
                print("version  created                   fields  state")
                for v in status.versions {
                    let state = v.version == status.current ? "current" : (v.fields == 0 ? "retired" : "needs rewrap")
                    print(
                        "\(String(v.version).padding(toLength: 8, withPad: " ", startingAt: 0)) \(Timestamp.format(v.createdAt))  \(String(v.fields).padding(toLength: 6, withPad: " ", startingAt: 0))  \(state)"
                    )
                }
                if status.fieldsNotCurrent > 0 {
                    Console.hint("\(status.fieldsNotCurrent) fields are under older versions; run: vigil keys rewrap")
                }
            }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a data-key version that encrypts new writes from now on (old data stays readable).",
            discussion: """
                With --audit, replaces the audit signing key instead: everything so far is signed with the \
                old key, a checkpoint over the rotation entry is signed by both keys, and the new public key is \
                appended to audit-signing.pub so older checkpoints stay verifiable. Restart the server afterwards.
                """
        )
        @OptionGroup var common: CommonOptions
        @Flag(help: "Rotate the audit signing key instead of the data key.") var audit = false

        func run() async throws {
            try await reporting {
                if audit {
                    try await rotateAudit()
                    return
                }
                let version = try await common.withStore { try await $0.rotateDataKey(actor: .cli("keys rotate")) }
                Console.info("data key version \(version) is now current")
                Console.hint("re-encrypt existing fields with: vigil keys rewrap")
            }
        }

        private func rotateAudit() async throws {
            let keys = common.keyPaths
            let old = try keys.loadAuditSigner()
            // 1. Everything written so far: signed by the old key alone.
            try await common.openStore().checkpoint()
            // 2. The rotation entry, and a checkpoint over it signed by both keys.
            let newKey = try Ed25519.SigningKey.generate()
            let new = try NoteSigner(name: KeyPaths.auditKeyName, key: newKey)
            let both = try common.openStore(extraSigners: [new])
            let now = Date()
            try await both.write { tx in
                try tx.appendAudit(
                    AuditRecord(
                        action: "keys.audit.rotated",
                        actor: .cli("keys rotate --audit"),
                        details: ["old_key_id": .string(old.verifierKey.keyID), "new_key_id": .string(new.verifierKey.keyID)],
                        time: now
                    )
                )
            }
            try await both.checkpoint()
            // 3. The files.
            try keys.rotateAuditSigning(to: newKey)
            Console.info("audit signing key \(new.verifierKey.keyID) replaces \(old.verifierKey.keyID); both are in \(keys.auditSigningPublic)")
            Console.hint("restart vigil serve so that it signs with the new key")
        }
    }

    struct Rewrap: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-encrypt every stored field under the current data key, in batches; safe to interrupt and rerun."
        )
        @OptionGroup var common: CommonOptions
        @Option(help: "Fields per transaction.") var batchSize: Int = 500

        func run() async throws {
            try await reporting {
                guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
                let done = try await common.withStore { store in
                    let total = try await store.keyStatus().fieldsNotCurrent
                    var done = 0
                    while true {
                        let n = try await store.rewrapBatch(batchSize: batchSize, actor: .cli("keys rewrap"))
                        if n == 0 { break }
                        done += n
                        Console.progress("rewrap", done: min(done, max(total, done)), total: max(total, done))
                    }
                    return done
                }
                Console.info("rewrapped \(done) fields; all fields are under the current key")
            }
        }
    }
}

struct APIKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apikey",
        abstract: "Manage API keys of service clients.",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key; prints it once, alone on stdout.")
        @OptionGroup var common: CommonOptions
        @Option(help: "A name for the client, e.g. wallet-backend.") var name: String
        @Option(help: "Comma-separated scopes: \(Scope.allCases.map(\.rawValue).joined(separator: ", ")).") var scopes: String

        func run() async throws {
            try await reporting {
                let parsed = try Scope.parseList(scopes)
                let (record, token) = try await common.withStore { store in
                    try await APIKeyService(store: store, clock: SystemClock()).create(name: name, scopes: parsed, actor: .cli("apikey create"))
                }
                print(token.revealOnce())
                Console.info("created api key \(record.id) (\(record.name)) with scopes \(parsed.map(\.rawValue).joined(separator: ","))")
                Console.hint("the key is shown only this once; store it in the client's secret manager")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never their secrets).")
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await reporting {
                let keys = try await common.withStore { try await APIKeyService(store: $0, clock: SystemClock()).list() }
                for k in keys {
                    let state = k.revokedAt.map { "revoked \(Timestamp.format($0))" } ?? "active"
                    print("\(k.id)  \(k.name)  \(k.scopes.map(\.rawValue).joined(separator: ","))  \(Timestamp.format(k.createdAt))  \(state)")
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key; takes effect at the next request.")
        @OptionGroup var common: CommonOptions
        @Argument(help: "The key id (the part after vgl_, before the second _).") var id: String

        func run() async throws {
            try await reporting {
                try await common.withStore { store in
                    try await APIKeyService(store: store, clock: SystemClock()).revoke(id: id, actor: .cli("apikey revoke"))
                }
                Console.info("revoked api key \(id)")
            }
        }
    }
}
