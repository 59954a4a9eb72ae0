import CSodium

/// Secret key material in guarded memory.
///
/// Rules:
/// - long-lived keys live in `sodium_malloc` memory (guard pages, canary, locked where the OS
///   allows), made read-only after construction and zeroed by `sodium_free` on release;
/// - the value never prints, encodes or compares with `==`: `description` is redacted and
///   equality is `constantTimeEquals`;
/// - the only way out is `withUnsafeBytes` for a primitive, or `exportForKeyFile()`, named so
///   that every place that writes a secret somewhere is easy to find.
public final class SecretBytes: @unchecked Sendable, CustomStringConvertible,
    CustomDebugStringConvertible
{
    // @unchecked Sendable: the memory is written once in init, then made read-only with
    // sodium_mprotect_readonly; concurrent readers are safe.
    private let pointer: UnsafeMutableRawPointer
    /// Number of secret bytes.
    public let count: Int
    /// Guarded (`sodium_malloc`) or transient (ordinary heap, zeroed on release).
    private let guarded: Bool

    /// Copies `bytes` into guarded memory. The caller should zero its own copy.
    public init(copying bytes: some Collection<UInt8>) throws {
        try Sodium.ready()
        let n = bytes.count
        guard let p = sodium_malloc(Swift.max(n, 1)) else { throw CryptoError.primitiveFailed("sodium_malloc") }
        let typed = p.bindMemory(to: UInt8.self, capacity: Swift.max(n, 1))
        var i = 0
        for b in bytes {
            typed[i] = b
            i += 1
        }
        self.pointer = p
        self.count = n
        self.guarded = true
        _ = sodium_mprotect_readonly(p)
    }

    /// Copies `bytes` into ordinary heap memory that is zeroed (`sodium_memzero`) on release,
    /// without guard pages. For short-lived, per-request secrets — a TOTP secret decrypted for
    /// one verification — where `sodium_malloc`'s mmap/mprotect/munmap (and the TLB shootdowns
    /// they cause across cores) would dominate the request. Long-lived keys use
    /// `init(copying:)`. The value still never prints, encodes or compares with `==`.
    public init(transient bytes: some Collection<UInt8>) throws {
        try Sodium.ready()
        let n = bytes.count
        let p = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(n, 1), alignment: 16)
        let typed = p.bindMemory(to: UInt8.self, capacity: Swift.max(n, 1))
        let copied = bytes.withContiguousStorageIfAvailable { source in
            if let base = source.baseAddress { typed.update(from: base, count: n) }
            return true
        }
        if copied == nil {
            var i = 0
            for b in bytes {
                typed[i] = b
                i += 1
            }
        }
        self.pointer = p
        self.count = n
        self.guarded = false
    }

    /// Fills `count` bytes of guarded memory with `fill`, which writes them in place.
    public init(
        count: Int,
        fill: (UnsafeMutableRawBufferPointer) throws -> Void
    )
        throws
    {
        try Sodium.ready()
        guard let p = sodium_malloc(Swift.max(count, 1)) else { throw CryptoError.primitiveFailed("sodium_malloc") }
        do {
            try fill(UnsafeMutableRawBufferPointer(start: p, count: count))
        } catch {
            sodium_free(p)
            throw error
        }
        self.pointer = p
        self.count = count
        self.guarded = true
        _ = sodium_mprotect_readonly(p)
    }

    /// A new secret of `count` random bytes.
    public static func random(count: Int) throws -> SecretBytes {
        try SecretBytes(count: count) { buffer in
            randombytes_buf(buffer.baseAddress!, buffer.count)
        }
    }

    deinit {
        if guarded {
            sodium_free(pointer)
        } else {
            sodium_memzero(pointer, Swift.max(count, 1))
            pointer.deallocate()
        }
    }

    /// Lends the bytes to a primitive. Do not copy them out of the closure.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    /// Compares with another secret in constant time (for equal lengths).
    public func constantTimeEquals(_ other: SecretBytes) -> Bool {
        guard count == other.count else { return false }
        return sodium_memcmp(pointer, other.pointer, count) == 0
    }

    /// Copies the bytes out, for writing to a key file or wrapping. The name is deliberately
    /// explicit: every call site is a place where a secret leaves guarded memory.
    public func exportForKeyFile() -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    public var description: String { "SecretBytes(<redacted \(count) bytes>)" }
    public var debugDescription: String { description }
}
