import Foundation
import Testing

/// `vigil serve` refuses every bad setting, flag or environment variable, before anything
/// starts: the real binary, run as a process. Each case changes one setting of a working
/// configuration (the last test shows that it starts and listens) and must exit with status
/// 2, name the flag or variable on stderr in `vigil: error:` lines, create no database, and
/// leave nothing listening — neither on its port nor on the port a wrapped-around number
/// would have given (99999 → 34463, 65537 → 1, 70000 → 4464).
@Suite("vigil serve refuses bad configuration", .serialized)
struct ServeConfigurationTests {
    /// One bad setting. In `arguments` and `environment`, `{dir}` is the fixture's folder,
    /// `{repo}` the repository and `{port}` a free port.
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var arguments: [String] = []
        var environment: [String: String] = [:]
        /// Each must appear on stderr.
        var mentions: [String]
        /// Ports that must not be listened on, besides the case's own.
        var probes: [Int] = []

        var testDescription: String { name }
    }

    static let secretText = String(repeating: "deadbeef", count: 8)
    static let url = "https://wallet.example/hooks/vigil"

    static let cases: [Case] = [
        // --port and VIGIL_PORT
        Case(name: "--port 99999", arguments: ["--port", "99999"], mentions: ["--port", "1 to 65535", "'99999'"], probes: [34463]),
        Case(name: "--port 65537", arguments: ["--port", "65537"], mentions: ["--port", "1 to 65535"], probes: [1]),
        Case(name: "--port 0", arguments: ["--port", "0"], mentions: ["--port", "1 to 65535"]),
        Case(name: "--port abc", arguments: ["--port", "abc"], mentions: ["--port", "1 to 65535", "'abc'"]),
        Case(name: "--port +80", arguments: ["--port", "+80"], mentions: ["--port", "1 to 65535"], probes: [80]),
        Case(name: "--port -1", arguments: ["--port", "-1"], mentions: ["--port", "1 to 65535", "'-1'"]),
        Case(name: "--port empty", arguments: ["--port", ""], mentions: ["--port is empty"]),
        Case(name: "VIGIL_PORT=abc", environment: ["VIGIL_PORT": "abc"], mentions: ["VIGIL_PORT", "1 to 65535"], probes: [8080]),
        Case(name: "VIGIL_PORT=70000", environment: ["VIGIL_PORT": "70000"], mentions: ["VIGIL_PORT", "1 to 65535"], probes: [4464]),
        Case(name: "VIGIL_PORT empty", environment: ["VIGIL_PORT": ""], mentions: ["VIGIL_PORT is set but empty"], probes: [8080]),
        // --host and VIGIL_HOST
        Case(name: "--host with a space", arguments: ["--host", "not a host"], mentions: ["--host", "IP address or a host name"]),
        Case(name: "--host 256.1.1.1", arguments: ["--host", "256.1.1.1"], mentions: ["--host", "'256.1.1.1'"]),
        Case(name: "--host 1.2.3 (what inet_aton would take)", arguments: ["--host", "1.2.3"], mentions: ["--host"]),
        Case(name: "--host [::1] (brackets)", arguments: ["--host", "[::1]"], mentions: ["--host"]),
        Case(
            name: "VIGIL_HOST with an underscore",
            environment: ["VIGIL_HOST": "wallet_host"],
            mentions: ["VIGIL_HOST", "IP address or a host name"]
        ),
        Case(name: "VIGIL_HOST empty", environment: ["VIGIL_HOST": ""], mentions: ["VIGIL_HOST is set but empty"]),
        Case(
            name: "--host 192.0.2.1 (not this machine's)",
            arguments: ["--host", "192.0.2.1"],
            mentions: ["cannot listen on 192.0.2.1:", "cannot assign requested address"]
        ),
        Case(name: "--host that does not resolve", arguments: ["--host", "nothing.invalid"], mentions: ["cannot listen on nothing.invalid:"]),
        // VIGIL_LOG_LEVEL
        Case(name: "VIGIL_LOG_LEVEL=loud", environment: ["VIGIL_LOG_LEVEL": "loud"], mentions: ["VIGIL_LOG_LEVEL", "trace, debug, info", "'loud'"]),
        Case(name: "VIGIL_LOG_LEVEL=INFO", environment: ["VIGIL_LOG_LEVEL": "INFO"], mentions: ["VIGIL_LOG_LEVEL", "critical"]),
        Case(name: "VIGIL_LOG_LEVEL empty", environment: ["VIGIL_LOG_LEVEL": ""], mentions: ["VIGIL_LOG_LEVEL is set but empty"]),
        // --webhook-url, VIGIL_WEBHOOK_URL, --webhook-secret-file, VIGIL_WEBHOOK_SECRET_FILE
        Case(
            name: "--webhook-url ftp://",
            arguments: ["--webhook-url", "ftp://wallet.example/hooks", "--webhook-secret-file", "{dir}/webhook.secret"],
            mentions: ["--webhook-url must be an http(s) URL with a host"]
        ),
        Case(
            name: "--webhook-url without a host",
            arguments: ["--webhook-url", "https://", "--webhook-secret-file", "{dir}/webhook.secret"],
            mentions: ["--webhook-url must be an http(s) URL with a host"]
        ),
        Case(
            name: "--webhook-url with port 99999",
            arguments: ["--webhook-url", "https://wallet.example:99999/hooks", "--webhook-secret-file", "{dir}/webhook.secret"],
            mentions: ["--webhook-url", "1 to 65535"]
        ),
        Case(
            name: "VIGIL_WEBHOOK_URL http:// off loopback",
            environment: ["VIGIL_WEBHOOK_URL": "http://wallet.example/hooks", "VIGIL_WEBHOOK_SECRET_FILE": "{dir}/webhook.secret"],
            mentions: ["VIGIL_WEBHOOK_URL must be https"]
        ),
        Case(
            name: "VIGIL_WEBHOOK_URL not a URL",
            environment: ["VIGIL_WEBHOOK_URL": "not a url", "VIGIL_WEBHOOK_SECRET_FILE": "{dir}/webhook.secret"],
            mentions: ["VIGIL_WEBHOOK_URL must be an http(s) URL"]
        ),
        Case(
            name: "VIGIL_WEBHOOK_URL empty",
            environment: ["VIGIL_WEBHOOK_URL": "", "VIGIL_WEBHOOK_SECRET_FILE": "{dir}/webhook.secret"],
            mentions: ["VIGIL_WEBHOOK_URL is set but empty"]
        ),
        Case(
            name: "--webhook-url without --webhook-secret-file",
            arguments: ["--webhook-url", url],
            mentions: ["--webhook-url is set but neither --webhook-secret-file nor VIGIL_WEBHOOK_SECRET_FILE"]
        ),
        Case(
            name: "--webhook-secret-file missing",
            arguments: ["--webhook-url", url, "--webhook-secret-file", "{dir}/missing.secret"],
            mentions: ["--webhook-secret-file", "{dir}/missing.secret does not exist"]
        ),
        Case(
            name: "--webhook-secret-file mode 0644",
            arguments: ["--webhook-url", url, "--webhook-secret-file", "{dir}/open.secret"],
            mentions: ["--webhook-secret-file", "{dir}/open.secret", "mode 644", "chmod 600"]
        ),
        Case(
            name: "VIGIL_WEBHOOK_SECRET_FILE too short",
            environment: ["VIGIL_WEBHOOK_URL": url, "VIGIL_WEBHOOK_SECRET_FILE": "{dir}/short.secret"],
            mentions: ["VIGIL_WEBHOOK_SECRET_FILE", "at least 32 characters"]
        ),
        Case(
            name: "VIGIL_WEBHOOK_SECRET_FILE a folder",
            environment: ["VIGIL_WEBHOOK_URL": url, "VIGIL_WEBHOOK_SECRET_FILE": "{dir}"],
            mentions: ["VIGIL_WEBHOOK_SECRET_FILE", "cannot be read"]
        ),
        Case(
            name: "--webhook-secret-file without a URL",
            arguments: ["--webhook-secret-file", "{dir}/webhook.secret"],
            mentions: ["--webhook-secret-file is set but neither --webhook-url nor VIGIL_WEBHOOK_URL"]
        ),
        Case(
            name: "VIGIL_WEBHOOK_SECRET_FILE empty",
            environment: ["VIGIL_WEBHOOK_SECRET_FILE": ""],
            mentions: ["VIGIL_WEBHOOK_SECRET_FILE is set but empty"]
        ),
        // --database and VIGIL_DATABASE
        Case(
            name: "--database under a regular file",
            arguments: ["--database", "{dir}/a-file/vigil.sqlite"],
            mentions: ["--database", "{dir}/a-file/vigil.sqlite", "{dir}/a-file is not a directory"]
        ),
        Case(
            name: "VIGIL_DATABASE two folders under a regular file",
            environment: ["VIGIL_DATABASE": "{dir}/a-file/data/vigil.sqlite"],
            mentions: ["VIGIL_DATABASE", "{dir}/a-file/data/vigil.sqlite"]
        ),
        Case(name: "--database a folder", arguments: ["--database", "{dir}"], mentions: ["--database", "{dir}", "not a regular file"]),
        Case(
            name: "--database on a file system that refuses folders",
            arguments: ["--database", "/proc/vigil-test/vigil.sqlite"],
            mentions: ["--database", "/proc/vigil-test/vigil.sqlite"]
        ),
        Case(name: "VIGIL_DATABASE empty", environment: ["VIGIL_DATABASE": ""], mentions: ["VIGIL_DATABASE is set but empty"]),
        // --keys-dir, VIGIL_KEYS_DIR, --policies-dir, VIGIL_POLICIES_DIR
        Case(
            name: "--keys-dir a regular file",
            arguments: ["--keys-dir", "{dir}/a-file"],
            mentions: ["--keys-dir", "{dir}/a-file is not a directory"]
        ),
        Case(name: "VIGIL_KEYS_DIR empty", environment: ["VIGIL_KEYS_DIR": ""], mentions: ["VIGIL_KEYS_DIR is set but empty"]),
        Case(
            name: "--policies-dir missing",
            arguments: ["--policies-dir", "{dir}/no-policies"],
            mentions: ["--policies-dir", "{dir}/no-policies does not exist"]
        ),
        Case(
            name: "VIGIL_POLICIES_DIR a regular file",
            environment: ["VIGIL_POLICIES_DIR": "{dir}/a-file"],
            mentions: ["VIGIL_POLICIES_DIR", "not a directory"]
        ),
        // --openapi, --outbox-dir, VIGIL_OUTBOX_DIR
        Case(
            name: "--openapi missing",
            arguments: ["--openapi", "{dir}/openapi.yaml"],
            mentions: ["--openapi", "{dir}/openapi.yaml does not exist"]
        ),
        Case(
            name: "--outbox-dir a regular file",
            arguments: ["--outbox-dir", "{dir}/a-file"],
            mentions: ["--outbox-dir", "{dir}/a-file is not a directory"]
        ),
        Case(
            name: "VIGIL_OUTBOX_DIR under a regular file",
            environment: ["VIGIL_OUTBOX_DIR": "{dir}/a-file/outbox"],
            mentions: ["VIGIL_OUTBOX_DIR", "{dir}/a-file"]
        ),
        Case(name: "VIGIL_OUTBOX_DIR empty", environment: ["VIGIL_OUTBOX_DIR": ""], mentions: ["VIGIL_OUTBOX_DIR is set but empty"]),
        // ArgumentParser's own errors
        Case(name: "an unknown flag", arguments: ["--frobnicate"], mentions: ["vigil: error: unknown option --frobnicate"]),
        Case(name: "--port without its value", arguments: ["--port"], mentions: ["vigil: error: missing value for --port"]),
        Case(name: "--host without its value", arguments: ["--host"], mentions: ["vigil: error: missing value for --host"]),
        Case(name: "an unexpected argument", arguments: ["extra"], mentions: ["vigil: error: unexpected argument 'extra'"]),
    ]

    /// A working configuration: keys, the shipped policies, a secret file, paths in a fresh folder.
    final class Fixture: @unchecked Sendable {
        let dir: String

        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-cli-\(UUID().uuidString)").path
            let fm = FileManager.default
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
            _ = fm.createFile(atPath: "\(dir)/a-file", contents: Data("not a folder\n".utf8))
            _ = fm.createFile(atPath: "\(dir)/webhook.secret", contents: Data((secretText + "\n").utf8), attributes: [.posixPermissions: 0o600])
            _ = fm.createFile(atPath: "\(dir)/open.secret", contents: Data((secretText + "\n").utf8), attributes: [.posixPermissions: 0o644])
            _ = fm.createFile(atPath: "\(dir)/short.secret", contents: Data("short\n".utf8), attributes: [.posixPermissions: 0o600])
            let keys = try runVigil(["keys", "init", "--keys-dir", "\(dir)/Keys"], environment: [:], in: dir)
            guard keys.status == 0 else { throw FixtureFailed(message: keys.stderr) }
        }

        deinit { try? FileManager.default.removeItem(atPath: dir) }

        struct FixtureFailed: Error { let message: String }

        func expand(_ text: String, port: Int) -> String {
            text.replacingOccurrences(of: "{dir}", with: dir).replacingOccurrences(of: "{repo}", with: repositoryRoot.path)
                .replacingOccurrences(of: "{port}", with: String(port))
        }

        /// The case's command line and environment over the working configuration: a fresh
        /// database path, `--port` a free port unless the case sets the port, `--openapi` the
        /// repository's document unless the case sets it.
        func command(_ c: Case, port: Int, database: String) -> (arguments: [String], environment: [String: String]) {
            var arguments = ["serve"]
            if !c.arguments.contains("--port") && c.environment["VIGIL_PORT"] == nil { arguments += ["--port", String(port)] }
            if !c.arguments.contains("--openapi") { arguments += ["--openapi", "\(repositoryRoot.path)/docs/openapi.yaml"] }
            arguments += c.arguments.map { expand($0, port: port) }
            var environment = [
                "VIGIL_KEYS_DIR": "\(dir)/Keys",
                "VIGIL_POLICIES_DIR": "\(repositoryRoot.path)/Policies",
                "VIGIL_DATABASE": database,
                "VIGIL_OUTBOX_DIR": "\(dir)/outbox",
            ]
            for (name, value) in c.environment { environment[name] = expand(value, port: port) }
            return (arguments, environment)
        }
    }

    static let fixture = Result { try Fixture() }

    @Test("a bad value is refused: exit 2, the flag or variable named, nothing created, nothing listening", arguments: cases)
    func refused(_ c: Case) throws {
        let f = try Self.fixture.get()
        let port = try LoopbackSocket.freePort()
        let database = "\(f.dir)/db-\(UUID().uuidString)/vigil.sqlite"
        // Ports someone else already listens on cannot tell us anything.
        let probes = ([port] + c.probes).filter { !LoopbackSocket.isListening($0) }
        let (arguments, environment) = f.command(c, port: port, database: database)

        let run = try runVigil(arguments, environment: environment, in: f.dir, probes: probes)

        #expect(!run.timedOut, "vigil serve kept running")
        #expect(run.listened.isEmpty, "vigil serve listened on \(run.listened)")
        #expect(run.status == 2, "exit status, stderr: \(run.stderr)")
        for mention in c.mentions.map({ f.expand($0, port: port) }) {
            #expect(run.stderr.contains(mention), "stderr names \(mention): \(run.stderr)")
        }
        let lines = run.stderr.split(separator: "\n")
        #expect(lines.first?.hasPrefix("vigil: error: ") == true, "\(run.stderr)")
        #expect(lines.allSatisfy { ($0.hasPrefix("vigil: error: ") || $0.hasPrefix("vigil: hint: ")) && !$0.hasSuffix(".") }, "\(run.stderr)")
        #expect(run.stdout.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: (database as NSString).deletingLastPathComponent), "nothing was created")
        for probe in probes {
            #expect(!LoopbackSocket.isListening(probe), "nothing listens on \(probe) afterwards")
        }
    }

    @Test("a port in use is refused with its address and port, exit 2")
    func portInUse() throws {
        let f = try Self.fixture.get()
        let occupant = try LoopbackSocket(listen: true)
        let database = "\(f.dir)/db-\(UUID().uuidString)/vigil.sqlite"
        let (arguments, environment) = f.command(Case(name: "port in use", mentions: []), port: occupant.port, database: database)
        let run = try runVigil(arguments, environment: environment, in: f.dir)
        #expect(!run.timedOut)
        #expect(run.status == 2)
        #expect(run.stderr == "vigil: error: cannot listen on 127.0.0.1:\(occupant.port): address already in use\n")
        #expect(!FileManager.default.fileExists(atPath: (database as NSString).deletingLastPathComponent), "nothing was created")
    }

    @Test("the working configuration the cases start from does start and listen")
    func baselineListens() async throws {
        let f = try Self.fixture.get()
        let port = try LoopbackSocket.freePort()
        let database = "\(f.dir)/db-\(UUID().uuidString)/vigil.sqlite"
        let (arguments, environment) = f.command(Case(name: "baseline", mentions: []), port: port, database: database)
        // Run it in the background: it serves until killed.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try vigilBinary())
        p.arguments = arguments
        p.environment = environment.merging(ProcessInfo.processInfo.environment.filter { ["PATH", "HOME"].contains($0.key) }) { a, _ in a }
        p.currentDirectoryURL = URL(fileURLWithPath: f.dir)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer {
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
        }
        var listening = false
        for _ in 0..<300 where p.isRunning {
            if LoopbackSocket.isListening(port) {
                listening = true
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(listening, "vigil serve listens on 127.0.0.1:\(port)")
        #expect(FileManager.default.fileExists(atPath: database))
    }
}

/// ArgumentParser's own messages, rewritten to the message rules.
@Suite("vigil's command-line errors")
struct CommandLineErrorTests {
    func run(_ arguments: [String]) throws -> Run {
        try runVigil(arguments, environment: [:], in: FileManager.default.temporaryDirectory.path)
    }

    @Test("vigil audit export without --out: `vigil: error: missing --out`, exit 2")
    func missingOut() throws {
        let r = try run(["audit", "export"])
        #expect(r.status == 2)
        #expect(r.stderr == "vigil: error: missing --out\nvigil: hint: list the options with: vigil audit export --help\n")
    }

    @Test(
        "usage errors of other verbs",
        arguments: [
            (["report", "sla", "--format", "xml"], "vigil: error: --format must be one of table, json, not 'xml'"),
            (["audit", "prove", "seven"], "vigil: error: invalid value 'seven' for <seq>"),
            (["audit", "verify", "--db=yes"], "vigil: error: --db takes no value"),
            (["keys", "rewrap", "--batch-size", "many"], "vigil: error: invalid value 'many' for --batch-size"),
            (["apikey", "create", "--name", "x"], "vigil: error: missing --scopes"),
            (["no-such-verb"], "vigil: error: unexpected argument 'no-such-verb'"),
            (["keys", "status", "--databse", "x"], "vigil: error: unknown option --databse"),
        ]
    )
    func usageErrors(_ arguments: [String], _ first: String) throws {
        let r = try run(arguments)
        #expect(r.status == 2)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        #expect(lines.first == first, "\(r.stderr)")
        #expect(lines.allSatisfy { ($0.hasPrefix("vigil: error: ") || $0.hasPrefix("vigil: hint: ")) && !$0.hasSuffix(".") }, "\(r.stderr)")
    }

    @Test("--help still prints the help on stdout and exits 0")
    func help() throws {
        for arguments in [["--help"], ["serve", "--help"], ["help", "audit", "export"], []] {
            let r = try run(arguments)
            #expect(r.status == 0, "\(arguments)")
            #expect(r.stdout.contains("USAGE: vigil"), "\(arguments)")
            #expect(r.stderr.isEmpty, "\(arguments)")
        }
    }
}
