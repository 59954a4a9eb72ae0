import Foundation
import Testing
import VigilAudit
import VigilCore
import VigilCrypto
import VigilDelivery
import VigilStore
import VigilTestSupport

#if canImport(Glibc)
import Glibc
#endif

enum Resources {
    struct Missing: Error {}

    static func url(_ name: String) throws -> URL {
        guard let url = Bundle.module.url(forResource: name, withExtension: nil) else { throw Missing() }
        return url
    }
}

/// `Receiver/receiver.py`, a webhook receiver in another process that checks signatures with
/// Python's own `hmac` (not Vigil's code), dedupes by message id and keeps its state in files.
final class PythonReceiver: @unchecked Sendable {
    // @unchecked Sendable: a test drives it from one task at a time.
    let state: String
    let secretFile: String
    private(set) var port = 0
    private var process: Process?

    init(state: String, secretFile: String) {
        self.state = state
        self.secretFile = secretFile
    }

    deinit {
        if let p = process, p.isRunning { kill(p.processIdentifier, SIGKILL) }
    }

    /// Starts it (on `port` when given, else on the last port or a free one) and waits until it
    /// accepts connections.
    func start(port requested: Int? = nil, failFirst: Int = 0, delay: Double = 0, status: Int = 0) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [
            "python3", try Resources.url("Receiver/receiver.py").path,
            "--secret-file", secretFile, "--state", state,
            "--port", String(requested ?? port),
            "--fail-first", String(failFirst), "--delay", String(delay), "--status", String(status),
        ]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        process = p
        var line = [UInt8]()
        while true {
            let chunk = out.fileHandleForReading.readData(ofLength: 1)
            if chunk.isEmpty { throw ReceiverFailed() }
            if chunk.first == 0x0A { break }
            line.append(contentsOf: chunk)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("listening "), let n = Int(text.dropFirst(10)) else { throw ReceiverFailed() }
        port = n
    }

    struct ReceiverFailed: Error {}

    /// SIGTERM: requests in progress are answered, then it exits (SIGKILL after 5 s).
    func stop() {
        guard let p = process else { return }
        p.terminate()
        let deadline = Date().addingTimeInterval(5)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        process = nil
    }

    var url: String { "http://127.0.0.1:\(port)/hooks/vigil" }

    func records(_ file: String) throws -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: (state as NSString).appendingPathComponent(file), encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    /// POSTs `body` to the receiver with the given signed headers (Python's `http.client`);
    /// returns the status.
    func post(messageID: String, timestamp: String, signature: String, body: Data) throws -> Int {
        let script = """
            import http.client, sys
            c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
            c.request("POST", "/hooks/vigil", sys.stdin.buffer.read(), {"Content-Type": "application/json",
                      "Vigil-Message-Id": sys.argv[2], "Vigil-Timestamp": sys.argv[3], "Vigil-Signature": sys.argv[4]})
            print(c.getresponse().status)
            """
        let status = try python(["-c", script, String(port), messageID, timestamp, signature], stdin: body)
        return try #require(Int(status))
    }

    var accepted: [[String: Any]] { get throws { try records("accepted.jsonl") } }
    var duplicates: [[String: Any]] { get throws { try records("duplicates.jsonl") } }
    var rejected: [[String: Any]] { get throws { try records("rejected.jsonl") } }
}

/// Runs `python3` with `arguments` (and `stdin`), returns its standard output, trimmed; fails
/// when it exits non-zero.
func python(_ arguments: [String], stdin: Data? = nil) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3"] + arguments
    let out = Pipe()
    let err = Pipe()
    let input = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = input
    try p.run()
    input.fileHandleForWriting.write(stdin ?? Data())
    try input.fileHandleForWriting.close()
    let output = out.fileHandleForReading.readDataToEndOfFile()
    let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw PythonFailed(message: "python3 exited \(p.terminationStatus): \(errors.suffix(800))") }
    return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

struct PythonFailed: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// A store on a temporary file, a webhook secret file (0600), and policies with a short backoff.
struct DeliveryFixture {
    let dir: TemporaryDirectory
    let clock: TestClock
    let store: SQLiteStore
    let secretFile: String
    let secret: SecretBytes
    let policies: PolicySet

    /// The secret the receiver and Vigil share: 64 characters, as `openssl rand -hex 32` writes.
    static let secretText = String(repeating: "deadbeef", count: 8)

    /// `clock` starts at the real time: the receiver refuses timestamps more than 300 s from its own clock.
    init(maxAttempts: Int = 10, baseBackoff: Int = 1, maxBackoff: Int = 4) throws {
        dir = try TemporaryDirectory()
        clock = TestClock(Date())
        store = try SQLiteStore(
            path: dir.file("vigil.sqlite"),
            masterKey: Fixtures.masterKey(),
            signing: AuditSigning(signers: [Fixtures.auditSigner()], origin: Fixtures.auditOrigin, everyEntries: 16),
            clock: clock
        )
        secretFile = dir.file("webhook.secret")
        _ = FileManager.default.createFile(
            atPath: secretFile,
            contents: Data((Self.secretText + "\n").utf8),
            attributes: [.posixPermissions: 0o600]
        )
        secret = try KeyFile.readSharedSecret(path: secretFile, minimumBytes: 32)
        let shipped = try PolicySet.load(
            directory: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Policies")
        )
        var recovery = shipped.recovery
        recovery.outbox = .init(maxAttempts: maxAttempts, baseBackoffSeconds: baseBackoff, maxBackoffSeconds: maxBackoff)
        policies = PolicySet(
            authentication: shipped.authentication,
            recovery: recovery,
            sla: shipped.sla,
            retention: shipped.retention,
            audit: shipped.audit,
            digest: shipped.digest
        )
    }

    func receiver() -> PythonReceiver {
        PythonReceiver(state: dir.file("receiver-state"), secretFile: secretFile)
    }

    func worker(_ channels: [any DeliveryChannel], batchSize: Int = 8) -> OutboxWorker {
        OutboxWorker(
            store: store,
            clock: clock,
            policies: policies,
            channels: channels,
            doorbell: store.outboxDoorbell,
            settings: .init(batchSize: batchSize, leaseSeconds: 30)
        )
    }

    /// Enqueues `count` messages with a recipient and a reset link in each; returns them.
    func enqueue(_ count: Int, channel: OutboundMessage.Channel = .webhook) async throws -> [OutboundMessage] {
        let now = clock.now()
        let messages = (0..<count).map { i in
            OutboundMessage(
                kind: .passwordReset,
                subjectID: "deadbeef-\(String(format: "%04d", i))",
                channel: channel,
                recipient: i % 2 == 0 ? .email("quokka\(i)@example.org") : .phone("+4915100\(String(format: "%06d", i))"),
                payload: ["link": .string("https://wallet.example/reset?token=tok-\(i)-\(UUID().uuidString)"), "expires_in_seconds": 900],
                createdAt: now
            )
        }
        for message in messages {
            try await store.write { tx in try tx.enqueueMessage(message) }
        }
        return messages
    }

    func statuses(_ messages: [OutboundMessage]) async throws -> [OutboxMessageStatus] {
        try await store.read { tx in try messages.compactMap { try tx.outboxMessage(id: $0.id) } }
    }
}

/// Runs `body` with a webhook channel and shuts its HTTP client down on every path (a client
/// released without `shutdown()` traps in debug builds, which would end the whole test run).
func withWebhook<T>(
    url: String,
    secret: SecretBytes,
    timeoutSeconds: Int64 = 10,
    _ body: (WebhookChannel) async throws -> T
) async throws -> T {
    let webhook = try WebhookChannel(url: url, secret: secret, timeoutSeconds: timeoutSeconds)
    do {
        let result = try await body(webhook)
        try await webhook.shutdown()
        return result
    } catch {
        try? await webhook.shutdown()
        throw error
    }
}
