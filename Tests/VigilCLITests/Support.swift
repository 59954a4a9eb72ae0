import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The repository's root folder.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The `vigil` executable built next to the test bundle (`swift build --build-tests` builds it).
func vigilBinary() throws -> String {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vigil").path
    let candidates = [beside, repositoryRoot.appendingPathComponent(".build/debug/vigil").path]
    return try #require(candidates.first { FileManager.default.isExecutableFile(atPath: $0) }, "build the vigil executable first: swift build")
}

/// What a run of the binary did.
struct Run {
    var status: Int32
    var stdout: String
    var stderr: String
    /// The process was still running at the deadline (and was killed).
    var timedOut: Bool
    /// Of the ports asked about, those that accepted a connection while it ran.
    var listened: [Int]
}

/// Runs `vigil arguments…` in `directory` with exactly `environment` (nothing inherited but
/// `PATH` and `HOME`), waits at most `timeout` seconds, and kills it after that. While it runs,
/// `probes` are tried every 20 ms: a port that accepts a connection is reported in `listened`.
func runVigil(
    _ arguments: [String],
    environment: [String: String],
    in directory: String,
    probes: [Int] = [],
    timeout: TimeInterval = 20
) throws -> Run {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: try vigilBinary())
    p.arguments = arguments
    var env = ProcessInfo.processInfo.environment.filter { ["PATH", "HOME"].contains($0.key) }
    env.merge(environment) { _, new in new }
    p.environment = env
    p.currentDirectoryURL = URL(fileURLWithPath: directory)
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    var listened: Set<Int> = []
    while p.isRunning && Date() < deadline {
        for port in probes where LoopbackSocket.isListening(port) { listened.insert(port) }
        usleep(20_000)
    }
    let timedOut = p.isRunning
    if timedOut { kill(p.processIdentifier, SIGKILL) }
    p.waitUntilExit()
    return Run(
        status: p.terminationStatus,
        stdout: String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
        stderr: String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
        timedOut: timedOut,
        listened: listened.sorted()
    )
}

/// A TCP socket on 127.0.0.1, bound (and listening when asked); closed on `close()` or release.
final class LoopbackSocket {
    let fd: Int32
    let port: Int

    init(port requested: Int = 0, listen shouldListen: Bool = false) throws {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(requested).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard fd >= 0, bound == 0, !shouldListen || listen(fd, 8) == 0 else {
            if fd >= 0 { close(fd) }
            throw SocketFailed()
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }

    struct SocketFailed: Error {}

    /// A port nothing listens on now (bound, then released).
    static func freePort() throws -> Int { try LoopbackSocket().port }

    /// Whether something accepts connections on 127.0.0.1:`port`.
    static func isListening(_ port: Int) -> Bool {
        guard (1...65535).contains(port) else { return false }
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}
