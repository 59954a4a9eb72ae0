import Foundation
import Testing
import VigilCrypto

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Key files: created exclusive and 0600, never overwritten, refused when others can read them.
/// Serialized: one test changes the process umask, which the others must not see.
@Suite("KeyFile", .serialized)
struct KeyFileTests {
    static func mode(of path: String) -> mode_t {
        var st = stat()
        precondition(stat(path, &st) == 0, "stat \(path)")
        return st.st_mode & 0o777
    }

    @Test("createSecret writes mode 0600 and readSecret returns the same bytes")
    func roundTrip() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/master.key"
            let raw = SecureRandom.bytes(32)
            try KeyFile.createSecret(path: path, label: "vigil-master-key-v1", secret: SecretBytes(copying: raw))
            #expect(Self.mode(of: path) == 0o600)
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text == "vigil-master-key-v1 \(Data(raw).base64EncodedString())\n")
            let back = try KeyFile.readSecret(path: path, label: "vigil-master-key-v1", byteCount: 32)
            #expect(back.exportForKeyFile() == raw)
        }
    }

    @Test("the mode is 0600 even under a permissive umask")
    func permissiveUmask() throws {
        try withTemporaryDirectory { dir in
            let old = umask(0)
            defer { umask(old) }
            let path = dir + "/audit-signing.key"
            try KeyFile.createSecret(path: path, label: "x", secret: SecretBytes.random(count: 32))
            #expect(Self.mode(of: path) == 0o600)
        }
    }

    @Test("an existing file is never overwritten (KeyFileError.exists)")
    func refusesOverwrite() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/master.key"
            try KeyFile.createSecret(path: path, label: "k", secret: SecretBytes(copying: [UInt8](repeating: 1, count: 32)))
            #expect(throws: KeyFileError.exists(path: path)) {
                try KeyFile.createSecret(path: path, label: "k", secret: SecretBytes(copying: [UInt8](repeating: 2, count: 32)))
            }
            #expect(throws: KeyFileError.exists(path: path)) { try KeyFile.createPublic(path: path, contents: "pub\n") }
            #expect(try KeyFile.readSecret(path: path, label: "k", byteCount: 32).exportForKeyFile() == [UInt8](repeating: 1, count: 32))
        }
    }

    @Test("a secret file that group or others can read is refused, naming the file and the fix")
    func tooOpen() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/master.key"
            try KeyFile.createSecret(path: path, label: "k", secret: SecretBytes.random(count: 32))
            for mode: mode_t in [0o644, 0o640, 0o604, 0o660, 0o606] {
                #expect(chmod(path, mode) == 0)
                let error = #expect(throws: KeyFileError.self) { try KeyFile.readSecret(path: path, label: "k", byteCount: 32) }
                #expect(error == .tooOpen(path: path, mode: UInt16(mode)))
                let message = error.map(\.description) ?? ""
                #expect(message.contains(path))
                #expect(message.contains("chmod 600"))
                #expect(message.contains(String(mode, radix: 8)))
            }
            #expect(chmod(path, 0o400) == 0)
            #expect(try KeyFile.readSecret(path: path, label: "k", byteCount: 32).count == 32)
        }
    }

    @Test("createPublic writes mode 0644, which readSecret refuses")
    func publicFile() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/audit-signing.pub"
            try KeyFile.createPublic(path: path, contents: "vigil-audit-pub AAAA\n")
            #expect(Self.mode(of: path) == 0o644)
            #expect(throws: KeyFileError.tooOpen(path: path, mode: 0o644)) {
                try KeyFile.readSecret(path: path, label: "vigil-audit-pub", byteCount: 3)
            }
        }
    }

    @Test("a missing file is .missing")
    func missing() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/nope.key"
            #expect(throws: KeyFileError.missing(path: path)) { try KeyFile.readSecret(path: path, label: "k", byteCount: 32) }
        }
    }

    @Test("malformed files are .malformed, and the message does not echo the contents")
    func malformed() throws {
        let goodKey = Data([UInt8](repeating: 7, count: 32)).base64EncodedString()
        let contents = [
            "", "\n", "k", "k \n", "other \(goodKey)\n", "k \(goodKey) extra\n", "k not-base64!!\n",
            "k \(Data([UInt8](repeating: 7, count: 31)).base64EncodedString())\n", "k \(goodKey)\nk \(goodKey)\n",
        ]
        try withTemporaryDirectory { dir in
            for (index, text) in contents.enumerated() {
                let path = dir + "/bad-\(index).key"
                #expect(FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]))
                let error = #expect(throws: KeyFileError.self, "\(text.debugDescription)") {
                    try KeyFile.readSecret(path: path, label: "k", byteCount: 32)
                }
                #expect(error == .malformed(path: path))
                let message = error.map(\.description) ?? ""
                #expect(!message.contains(goodKey))
            }
        }
    }

    @Test("createSecret into a missing directory is writeFailed")
    func writeFailed() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/no/such/dir/master.key"
            #expect(throws: KeyFileError.writeFailed(path: path)) {
                try KeyFile.createSecret(path: path, label: "k", secret: SecretBytes.random(count: 32))
            }
        }
    }

    @Test("a shared secret file is one line used as is; too short, several lines, group-readable or a symlink is refused")
    func sharedSecret() throws {
        try withTemporaryDirectory { (dir: String) throws in
            func make(_ name: String, _ text: String, mode: mode_t = 0o600) -> String {
                let path = dir + "/" + name
                let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode)
                precondition(fd >= 0)
                _ = text.withCString { write(fd, $0, strlen($0)) }
                _ = fchmod(fd, mode)
                close(fd)
                return path
            }
            let hex = String(repeating: "deadbeef", count: 8)
            let good = make("webhook.secret", "  \(hex)\n")
            #expect(try KeyFile.readSharedSecret(path: good, minimumBytes: 32).exportForKeyFile() == Array(hex.utf8))
            let short = make("short.secret", "deadbeef\n")
            #expect(throws: KeyFileError.malformed(path: short)) { try KeyFile.readSharedSecret(path: short, minimumBytes: 32) }
            let twoLines = make("two.secret", "\(hex)\n\(hex)\n")
            #expect(throws: KeyFileError.malformed(path: twoLines)) { try KeyFile.readSharedSecret(path: twoLines, minimumBytes: 32) }
            let readable = make("open.secret", hex, mode: 0o640)
            #expect(throws: KeyFileError.tooOpen(path: readable, mode: 0o640)) { try KeyFile.readSharedSecret(path: readable, minimumBytes: 32) }
            let link = dir + "/link.secret"
            precondition(symlink(good, link) == 0)
            #expect(throws: KeyFileError.unreadable(path: link)) { try KeyFile.readSharedSecret(path: link, minimumBytes: 32) }
            let missing = dir + "/missing.secret"
            #expect(throws: KeyFileError.missing(path: missing)) { try KeyFile.readSharedSecret(path: missing, minimumBytes: 32) }
        }
    }
}
