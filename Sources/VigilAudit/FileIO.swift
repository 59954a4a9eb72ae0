#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a file line by line through one reused buffer: memory stays flat whatever the
/// file's size, and a line is lent in place, never copied.
final class LineReader {
    private let fd: Int32
    private let path: String
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var eof = false
    /// Longest line accepted, newline excluded.
    let maxLineBytes: Int
    /// True when the last line read had no final newline.
    private(set) var lastLineUnterminated = false

    init(path: String, maxLineBytes: Int = 1 << 20) throws(AuditError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, reason: errno == ENOENT ? "no such file" : "cannot be opened") }
        self.fd = fd
        self.path = path
        self.maxLineBytes = maxLineBytes
        self.buffer = .allocate(byteCount: max(1 << 20, maxLineBytes + 1), alignment: 16)
    }

    deinit {
        _ = closeFile(fd)
        buffer.deallocate()
    }

    /// Lends the next line (without its newline) to `body`; nil at the end of the file.
    func nextLine<R>(_ body: (UnsafeRawBufferPointer) throws(AuditError) -> R) throws(AuditError) -> R? {
        while true {
            if start < end, let nl = memchr(buffer.baseAddress! + start, 0x0A, end - start) {
                let lineEnd = buffer.baseAddress!.distance(to: UnsafeMutableRawPointer(nl))
                let line = UnsafeRawBufferPointer(rebasing: buffer[start..<lineEnd])
                start = lineEnd + 1
                return try body(line)
            }
            if eof {
                guard start < end else { return nil }
                let line = UnsafeRawBufferPointer(rebasing: buffer[start..<end])
                start = end
                lastLineUnterminated = true
                return try body(line)
            }
            guard end - start <= maxLineBytes else { throw .malformed("\(path): a line is longer than \(maxLineBytes) bytes") }
            // Move the partial line to the front and refill.
            if start > 0 {
                if end > start { memmove(buffer.baseAddress!, buffer.baseAddress! + start, end - start) }
                end -= start
                start = 0
            }
            let n = read(fd, buffer.baseAddress! + end, buffer.count - end)
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, reason: "read failed")
            }
            if n == 0 { eof = true } else { end += n }
        }
    }
}

/// Writes a new file through a buffer; the file must not exist (`O_EXCL`).
final class BufferedWriter {
    private let fd: Int32
    let path: String
    private var buffer: [UInt8] = []
    private let capacity = 1 << 20
    private var closed = false

    init(path: String) throws(AuditError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(path: path, reason: errno == EEXIST ? "already exists" : "cannot be created") }
        self.fd = fd
        self.path = path
        buffer.reserveCapacity(capacity)
    }

    deinit {
        if !closed { _ = closeFile(fd) }
    }

    func write(_ bytes: some Collection<UInt8>) throws(AuditError) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= capacity { try flush() }
    }

    func write(_ text: String) throws(AuditError) { try write(text.utf8) }

    func flush() throws(AuditError) {
        var written = 0
        while written < buffer.count {
            let n = buffer[written...].withUnsafeBytes { writeFile(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw .io(path: path, reason: "write failed") }
            written += n
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, syncs to disk and closes.
    func close() throws(AuditError) {
        try flush()
        guard fsync(fd) == 0 else { throw .io(path: path, reason: "fsync failed") }
        closed = true
        guard closeFile(fd) == 0 else { throw .io(path: path, reason: "close failed") }
    }
}

private func closeFile(_ fd: Int32) -> Int32 { close(fd) }

private func writeFile(_ fd: Int32, _ p: UnsafeRawPointer?, _ n: Int) -> Int { write(fd, p, n) }

/// The whole of a small file (manifest, checkpoints, keys, proofs).
func readSmallFile(_ path: String, limit: Int = 64 << 20) throws(AuditError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw .io(path: path, reason: errno == ENOENT ? "no such file" : "cannot be opened") }
    defer { _ = closeFile(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { throw .io(path: path, reason: "read failed") }
        if n == 0 { return out }
        out.append(contentsOf: chunk[0..<n])
        guard out.count <= limit else { throw .malformed("\(path): larger than \(limit) bytes") }
    }
}

/// Writes a small file that must not exist yet.
func writeSmallFile(_ path: String, _ bytes: [UInt8]) throws(AuditError) {
    let w = try BufferedWriter(path: path)
    try w.write(bytes)
    try w.close()
}

/// Creates `path` as a directory if it does not exist.
func makeDirectory(_ path: String) throws(AuditError) {
    if mkdir(path, 0o755) != 0 && errno != EEXIST { throw .io(path: path, reason: "cannot create directory") }
}
