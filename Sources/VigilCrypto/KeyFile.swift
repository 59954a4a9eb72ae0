import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Problems with a key file. Messages name the file, never its contents.
public enum KeyFileError: Error, Equatable, Sendable, CustomStringConvertible {
    case exists(path: String)
    case missing(path: String)
    case tooOpen(path: String, mode: UInt16)
    case unreadable(path: String)
    case malformed(path: String)
    case writeFailed(path: String)

    public var description: String {
        switch self {
        case .exists(let p): "\(p) already exists; refusing to overwrite a key"
        case .missing(let p): "\(p) does not exist"
        case .tooOpen(let p, let mode):
            "\(p) is readable by group or others (mode \(String(mode, radix: 8))); fix it with: chmod 600 \(p)"
        case .unreadable(let p): "\(p) cannot be read"
        case .malformed(let p): "\(p) is not a valid key file"
        case .writeFailed(let p): "\(p) could not be written"
        }
    }
}

/// Key files on disk: one labelled line, `<label> <base64>\n`.
///
/// Rules (after age and ssh): secret files are created exclusively (`O_CREAT|O_EXCL`) with
/// mode 0600 and never overwritten; a secret file that group or others may read is refused.
public enum KeyFile {
    /// Writes a new secret key file; fails if the file exists.
    public static func createSecret(path: String, label: String, secret: SecretBytes) throws {
        var bytes = secret.exportForKeyFile()
        defer { for i in bytes.indices { bytes[i] = 0 } }
        try create(path: path, contents: "\(label) \(ByteEncoding.base64(bytes))\n", mode: 0o600)
    }

    /// Writes a new public file (mode 0644); fails if the file exists.
    public static func createPublic(path: String, contents: String) throws {
        try create(path: path, contents: contents, mode: 0o644)
    }

    private static func create(path: String, contents: String, mode: mode_t) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        if fd < 0 {
            if errno == EEXIST { throw KeyFileError.exists(path: path) }
            throw KeyFileError.writeFailed(path: path)
        }
        defer { close(fd) }
        // umask may have narrowed the mode; set it exactly.
        _ = fchmod(fd, mode)
        let bytes = Array(contents.utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 {
                unlink(path)
                throw KeyFileError.writeFailed(path: path)
            }
            written += n
        }
        guard fsync(fd) == 0 else {
            // A partial key file would block the retry with `.exists`.
            unlink(path)
            throw KeyFileError.writeFailed(path: path)
        }
    }

    /// Checks that a secret key file is private to its owner (no group/other bits).
    public static func checkPrivate(path: String) throws {
        let fd = try openPrivate(path: path)
        close(fd)
    }

    /// Opens a secret file without following a symlink and checks, on the open descriptor (so
    /// the file cannot change between check and read), that it is a regular file with no
    /// group or other permission bits.
    private static func openPrivate(path: String) throws -> Int32 {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            throw errno == ENOENT ? KeyFileError.missing(path: path) : KeyFileError.unreadable(path: path)
        }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw KeyFileError.unreadable(path: path)
        }
        let mode = UInt16(st.st_mode & 0o777)
        if mode & 0o077 != 0 {
            close(fd)
            throw KeyFileError.tooOpen(path: path, mode: mode)
        }
        return fd
    }

    /// Reads a secret shared with another party (the webhook signing secret), after the same
    /// checks as a key file (regular file, not a symlink, no group or other bits). The file holds
    /// one line; the secret is that line's UTF-8 bytes without surrounding whitespace, so both
    /// parties can use the same file as is. Fewer than `minimumBytes` bytes is `malformed`.
    public static func readSharedSecret(path: String, minimumBytes: Int) throws -> SecretBytes {
        try withPrivateBytes(path: path) { text in
            func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
            guard let first = text.firstIndex(where: { !isSpace($0) }), let last = text.lastIndex(where: { !isSpace($0) }) else {
                throw KeyFileError.malformed(path: path)
            }
            let secret = text[first...last]
            guard secret.count >= minimumBytes, !secret.contains(0x0A), !secret.contains(0x0D) else {
                throw KeyFileError.malformed(path: path)
            }
            return try SecretBytes(copying: secret)
        }
    }

    /// Reads a secret key file written by `createSecret`, after checking its permissions.
    public static func readSecret(path: String, label: String, byteCount: Int) throws -> SecretBytes {
        try withPrivateBytes(path: path) { text in
            let line = String(decoding: text, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            let parts = line.split(separator: " ")
            guard parts.count == 2, parts[0] == label, var raw = ByteEncoding.fromBase64(String(parts[1])),
                raw.count == byteCount
            else { throw KeyFileError.malformed(path: path) }
            defer { for i in raw.indices { raw[i] = 0 } }
            return try SecretBytes(copying: raw)
        }
    }

    /// Reads a private file (checked by `openPrivate`, at most 4 KiB) and lends its bytes to
    /// `body`; the buffers are zeroed afterwards.
    private static func withPrivateBytes<T>(path: String, _ body: ([UInt8]) throws -> T) throws -> T {
        let fd = try openPrivate(path: path)
        defer { close(fd) }
        var text = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 512)
        defer {
            for i in text.indices { text[i] = 0 }
            for i in chunk.indices { chunk[i] = 0 }
        }
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { throw KeyFileError.unreadable(path: path) }
            if n == 0 { break }
            text.append(contentsOf: chunk[0..<n])
            if text.count > 4096 { throw KeyFileError.malformed(path: path) }
        }
        return try body(text)
    }
}
