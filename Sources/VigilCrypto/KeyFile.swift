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
            if n <= 0 { throw KeyFileError.writeFailed(path: path) }
            written += n
        }
        guard fsync(fd) == 0 else { throw KeyFileError.writeFailed(path: path) }
    }

    /// Checks that a secret key file is private to its owner (no group/other bits).
    public static func checkPrivate(path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw errno == ENOENT ? KeyFileError.missing(path: path) : KeyFileError.unreadable(path: path)
        }
        let mode = UInt16(st.st_mode & 0o777)
        if mode & 0o077 != 0 { throw KeyFileError.tooOpen(path: path, mode: mode) }
    }

    /// Reads a secret key file written by `createSecret`, after checking its permissions.
    public static func readSecret(path: String, label: String, byteCount: Int) throws -> SecretBytes {
        try checkPrivate(path: path)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KeyFileError.unreadable(path: path)
        }
        var text = [UInt8](data)
        defer { for i in text.indices { text[i] = 0 } }
        let line = String(decoding: text, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let parts = line.split(separator: " ")
        guard parts.count == 2, parts[0] == label, var raw = ByteEncoding.fromBase64(String(parts[1])),
            raw.count == byteCount
        else { throw KeyFileError.malformed(path: path) }
        defer { for i in raw.indices { raw[i] = 0 } }
        return try SecretBytes(copying: raw)
    }
}
