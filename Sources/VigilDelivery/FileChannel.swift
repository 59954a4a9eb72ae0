import Foundation
import VigilCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The `file` channel: appends each message as one line of JSON (its body, which carries its
/// `id`) to `<directory>/messages-<YYYY-MM-DD>.jsonl` (UTC date of the attempt), fsyncs the
/// file, and only then reports the message delivered.
///
/// Rules:
/// - the folder is created 0700 and the files 0600: a line holds personal data in plain text
///   (a contact address, a reset link) — this channel is for development and for a local
///   relay, not for a shared disk;
/// - at least once: a crash after the fsync and before the store records the delivery leaves
///   the line in the file and the message pending, so it is appended again on the next attempt
///   with the same `id`; a reader dedupes by `id`;
/// - a line cut short by a crash is closed with a newline before the next one is written, so a
///   reader skips one malformed line and loses nothing else;
/// - appends are serialised within the process and use `O_APPEND`.
public final class FileChannel: DeliveryChannel, @unchecked Sendable {
    // @unchecked Sendable: the file work runs only on `queue`, a serial queue.
    public let channel = OutboundMessage.Channel.file
    public let directory: String
    private let queue = DispatchQueue(label: "vigil.outbox.file")

    /// Creates the folder (0700) when it is missing.
    public init(directory: String) throws {
        self.directory = directory
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            try FileManager.default.createDirectory(
                atPath: directory,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
        } else if !isDirectory.boolValue {
            throw OutboxConfigurationError.notADirectory(path: directory)
        }
    }

    /// The file a message attempted at `time` goes to.
    public func path(for time: Date) -> String {
        let day = String(Timestamp.format(time).prefix(10))
        return (directory as NSString).appendingPathComponent("messages-\(day).jsonl")
    }

    public func deliver(_ attempt: DeliveryAttempt) async throws {
        let path = path(for: attempt.time)
        let line = attempt.body + [0x0A]
        let directory = self.directory
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            queue.async {
                c.resume(with: Result { try Self.append(line, to: path, directory: directory) })
            }
        }
    }

    private static func append(_ line: [UInt8], to path: String, directory: String) throws {
        var fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC)
        var created = false
        if fd < 0 && errno == ENOENT {
            fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            created = fd >= 0
            if fd < 0 && errno == EEXIST { fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC) }
        }
        guard fd >= 0 else { throw DeliveryFailure("open failed (errno \(errno))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw DeliveryFailure("fstat failed (errno \(errno))") }
        var bytes = line
        if st.st_size > 0 {
            // A crash mid-write may have left a line without its newline: end it first.
            var last: UInt8 = 0
            guard pread(fd, &last, 1, off_t(st.st_size - 1)) == 1 else { throw DeliveryFailure("pread failed (errno \(errno))") }
            if last != 0x0A { bytes = [0x0A] + bytes }
        }
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw DeliveryFailure("write failed (errno \(errno))")
            }
            written += n
        }
        guard fsync(fd) == 0 else { throw DeliveryFailure("fsync failed (errno \(errno))") }
        if created {
            // The new file's directory entry must be durable too.
            let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if dfd >= 0 {
                _ = fsync(dfd)
                close(dfd)
            }
        }
    }
}
