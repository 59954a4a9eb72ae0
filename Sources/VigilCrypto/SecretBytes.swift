import CSodium

/// Secret key material in guarded memory.
///
/// Rules:
/// - the bytes live in `sodium_malloc` memory (guard pages, canary, locked where the OS
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
        _ = sodium_mprotect_readonly(p)
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
        _ = sodium_mprotect_readonly(p)
    }

    /// A new secret of `count` random bytes.
    public static func random(count: Int) throws -> SecretBytes {
        try SecretBytes(count: count) { buffer in
            randombytes_buf(buffer.baseAddress!, buffer.count)
        }
    }

    deinit {
        sodium_free(pointer)
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
