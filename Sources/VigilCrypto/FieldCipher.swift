/// Where an encrypted value lives. Bound into the associated data, so a ciphertext copied to
/// another table, column or row no longer decrypts.
public struct FieldContext: Sendable, Equatable {
    public var table: String
    public var column: String
    public var rowID: String

    public init(table: String, column: String, rowID: String) {
        self.table = table
        self.column = column
        self.rowID = rowID
    }
}

/// A set of versioned data keys, one of which is current for new writes.
public struct DataKeys: Sendable {
    public private(set) var keys: [UInt32: SecretBytes]
    public private(set) var current: UInt32

    public init(keys: [UInt32: SecretBytes], current: UInt32) throws {
        guard keys[current] != nil else { throw CryptoError.unknownKeyVersion(current) }
        for key in keys.values where key.count != XChaCha20Poly1305.keyBytes {
            throw CryptoError.malformed("data key length")
        }
        self.keys = keys
        self.current = current
    }

    public var versions: [UInt32] { keys.keys.sorted() }
}

/// Field-level encryption: XChaCha20-Poly1305 under a versioned data key.
///
/// Stored form (a BLOB): `0x01 ‖ key version (u32, big-endian) ‖ nonce (24) ‖ ciphertext ‖ tag (16)`.
/// Associated data: `"vigil.field.v1" 0x00 table 0x00 column 0x00 rowID 0x00 ‖ the 5 header bytes`.
/// A context part containing 0x00 is refused (`malformed`), so the encoding stays unambiguous.
/// The header is authenticated too, so the version cannot be swapped. Byte 1…4 being the
/// version in big-endian lets SQL find fields still under an old key with
/// `substr(col, 2, 4) < x'…'` without decrypting.
public enum FieldCipher {
    public static let formatByte: UInt8 = 0x01
    public static let headerBytes = 5

    public static func seal(_ plaintext: [UInt8], context: FieldContext, keys: DataKeys) throws -> [UInt8] {
        try checkContext(context)
        let version = keys.current
        guard let key = keys.keys[version] else { throw CryptoError.unknownKeyVersion(version) }
        let header = header(version: version)
        let sealed = try XChaCha20Poly1305.seal(
            plaintext,
            additionalData: associatedData(context, header: header),
            key: key
        )
        return header + sealed
    }

    public static func open(_ stored: [UInt8], context: FieldContext, keys: DataKeys) throws -> [UInt8] {
        try checkContext(context)
        let version = try keyVersion(of: stored)
        guard let key = keys.keys[version] else { throw CryptoError.unknownKeyVersion(version) }
        let header = Array(stored[0..<headerBytes])
        return try XChaCha20Poly1305.open(
            stored[headerBytes...],
            additionalData: associatedData(context, header: header),
            key: key
        )
    }

    /// The data-key version a stored field was sealed under.
    public static func keyVersion(of stored: [UInt8]) throws -> UInt32 {
        guard stored.count >= headerBytes + XChaCha20Poly1305.nonceBytes + XChaCha20Poly1305.tagBytes,
            stored[0] == formatByte
        else { throw CryptoError.malformed("encrypted field") }
        return stored[1..<5].reduce(0) { $0 << 8 | UInt32($1) }
    }

    public static func header(version: UInt32) -> [UInt8] {
        [formatByte, UInt8(version >> 24), UInt8(version >> 16 & 0xff), UInt8(version >> 8 & 0xff), UInt8(version & 0xff)]
    }

    /// The context parts are joined with 0x00, so a part containing 0x00 could give two different
    /// contexts the same associated data (table "a\0b", column "c" and table "a", column "b\0c").
    /// Such a context is refused rather than encoded ambiguously.
    static func checkContext(_ c: FieldContext) throws {
        for part in [c.table, c.column, c.rowID] where part.utf8.contains(0) {
            throw CryptoError.malformed("field context")
        }
    }

    static func associatedData(_ c: FieldContext, header: [UInt8]) -> [UInt8] {
        var ad = Array("vigil.field.v1".utf8)
        for part in [c.table, c.column, c.rowID] {
            ad.append(0)
            ad.append(contentsOf: part.utf8)
        }
        ad.append(0)
        ad.append(contentsOf: header)
        return ad
    }
}

/// Wrapping of data keys (and other database-held keys) under the master key.
///
/// Wrapped form: XChaCha20-Poly1305 of the 32-byte key, associated data
/// `"vigil.keywrap.v1" 0x00 purpose 0x00 version(decimal)`, so a wrapped key cannot be
/// presented as another purpose or version.
public enum KeyWrap {
    public static func wrap(
        _ key: SecretBytes,
        purpose: String,
        version: UInt32,
        master: SecretBytes
    ) throws
        -> [UInt8]
    {
        var plain = key.exportForKeyFile()
        defer { for i in plain.indices { plain[i] = 0 } }
        return try XChaCha20Poly1305.seal(plain, additionalData: ad(purpose, version), key: master)
    }

    public static func unwrap(
        _ wrapped: [UInt8],
        purpose: String,
        version: UInt32,
        master: SecretBytes
    ) throws
        -> SecretBytes
    {
        var plain = try XChaCha20Poly1305.open(wrapped[...], additionalData: ad(purpose, version), key: master)
        defer { for i in plain.indices { plain[i] = 0 } }
        return try SecretBytes(copying: plain)
    }

    private static func ad(_ purpose: String, _ version: UInt32) -> [UInt8] {
        Array("vigil.keywrap.v1\u{0}\(purpose)\u{0}\(version)".utf8)
    }
}
