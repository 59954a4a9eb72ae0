import Testing
import VigilCrypto

/// Field encryption: the stored format, binding to table/column/row, versioned keys, rotation.
@Suite("FieldCipher")
struct FieldCipherTests {
    struct FormatCase: Decodable, Sendable, CustomTestStringConvertible {
        var name: String
        var version: UInt32
        var key: String
        var table: String
        var column: String
        var rowID: String
        var stored: String
        var plaintext: String
        var result: String
        var testDescription: String { name }
        var context: FieldContext { FieldContext(table: table, column: column, rowID: rowID) }
    }

    static let email = FieldContext(table: "subjects", column: "email", rowID: "deadbeef-0000-4000-8000-000000000001")
    static let plaintext = Array("alice@example.com".utf8)

    static func keyring(_ versions: [UInt32], current: UInt32) throws -> DataKeys {
        var keys: [UInt32: SecretBytes] = [:]
        for version in versions { keys[version] = try SecretBytes.random(count: 32) }
        return try DataKeys(keys: keys, current: current)
    }

    @Test(
        "the stored format opens as documented (known answer built with PyNaCl)",
        arguments: try Vectors.load("fieldcipher-format.json", as: VectorFile<FormatCase>.self).cases
    )
    func storedFormat(_ vector: FormatCase) throws {
        let keys = try DataKeys(keys: [vector.version: SecretBytes(copying: unhex(vector.key))], current: vector.version)
        let stored = unhex(vector.stored)
        #expect(try FieldCipher.keyVersion(of: stored) == vector.version)
        #expect(try FieldCipher.open(stored, context: vector.context, keys: keys) == unhex(vector.plaintext))
        #expect(throws: CryptoError.authenticationFailed) {
            try FieldCipher.open(stored, context: FieldContext(table: vector.table, column: vector.column, rowID: vector.rowID + "0"), keys: keys)
        }
    }

    @Test("seal writes 0x01, the version big-endian, a nonce, the ciphertext and a tag")
    func sealLayout() throws {
        let keys = try Self.keyring([0x0102_0304], current: 0x0102_0304)
        let stored = try FieldCipher.seal(Self.plaintext, context: Self.email, keys: keys)
        #expect(Array(stored.prefix(5)) == [0x01, 0x01, 0x02, 0x03, 0x04])
        #expect(stored.count == 5 + 24 + Self.plaintext.count + 16)
        #expect(FieldCipher.header(version: 7) == [0x01, 0, 0, 0, 7])
        #expect(try FieldCipher.keyVersion(of: stored) == 0x0102_0304)
        #expect(try FieldCipher.open(stored, context: Self.email, keys: keys) == Self.plaintext)
    }

    @Test("a flipped bit in any byte fails: header, version, nonce, ciphertext or tag")
    func anyFlippedByte() throws {
        let keys = try Self.keyring([1], current: 1)
        let stored = try FieldCipher.seal(Self.plaintext, context: Self.email, keys: keys)
        #expect(throws: CryptoError.malformed("encrypted field")) {
            try FieldCipher.open(flipped(stored, at: 0), context: Self.email, keys: keys)
        }
        for index in 1..<5 {
            #expect(throws: CryptoError.self, "version byte \(index)") {
                try FieldCipher.open(flipped(stored, at: index), context: Self.email, keys: keys)
            }
        }
        for index in 5..<stored.count {
            #expect(throws: CryptoError.authenticationFailed, "byte \(index)") {
                try FieldCipher.open(flipped(stored, at: index, bit: index % 8), context: Self.email, keys: keys)
            }
        }
    }

    @Test("a ciphertext moved to another row, column or table no longer opens")
    func boundToContext() throws {
        let keys = try Self.keyring([1], current: 1)
        let stored = try FieldCipher.seal(Self.plaintext, context: Self.email, keys: keys)
        let elsewhere = [
            FieldContext(table: "subjects", column: "email", rowID: "deadbeef-0000-4000-8000-000000000002"),
            FieldContext(table: "subjects", column: "phone", rowID: Self.email.rowID),
            FieldContext(table: "agents", column: "email", rowID: Self.email.rowID),
            // The separators keep the parts apart: "subjectse" + "mail" is not "subjects" + "email".
            FieldContext(table: "subjectse", column: "mail", rowID: Self.email.rowID),
            FieldContext(table: "subjects", column: "email", rowID: ""),
        ]
        for context in elsewhere {
            #expect(throws: CryptoError.authenticationFailed, "\(context)") { try FieldCipher.open(stored, context: context, keys: keys) }
        }
    }

    @Test("the version in the header cannot be swapped, even to a version holding the same key")
    func versionIsAuthenticated() throws {
        let key = try SecretBytes.random(count: 32)
        let keys = try DataKeys(keys: [1: key, 2: key], current: 1)
        var stored = try FieldCipher.seal(Self.plaintext, context: Self.email, keys: keys)
        stored[4] = 2
        #expect(try FieldCipher.keyVersion(of: stored) == 2)
        #expect(throws: CryptoError.authenticationFailed) { try FieldCipher.open(stored, context: Self.email, keys: keys) }
    }

    @Test("a field under a version the keyring does not hold throws unknownKeyVersion")
    func unknownVersion() throws {
        let stored = try FieldCipher.seal(Self.plaintext, context: Self.email, keys: Self.keyring([2], current: 2))
        #expect(throws: CryptoError.unknownKeyVersion(2)) {
            try FieldCipher.open(stored, context: Self.email, keys: Self.keyring([1, 3], current: 3))
        }
    }

    @Test("data sealed under v1 still opens after v2 becomes current; new data goes under v2")
    func rotation() throws {
        let v1 = try SecretBytes.random(count: 32)
        let before = try DataKeys(keys: [1: v1], current: 1)
        let old = try FieldCipher.seal(Self.plaintext, context: Self.email, keys: before)
        #expect(try FieldCipher.keyVersion(of: old) == 1)

        let after = try DataKeys(keys: [1: v1, 2: SecretBytes.random(count: 32)], current: 2)
        #expect(after.versions == [1, 2])
        #expect(try FieldCipher.open(old, context: Self.email, keys: after) == Self.plaintext)
        let new = try FieldCipher.seal(Self.plaintext, context: Self.email, keys: after)
        #expect(try FieldCipher.keyVersion(of: new) == 2)
        #expect(try FieldCipher.open(new, context: Self.email, keys: after) == Self.plaintext)
        #expect(throws: CryptoError.unknownKeyVersion(2)) { try FieldCipher.open(new, context: Self.email, keys: before) }
    }

    @Test("keyVersion(of:) refuses blobs that are too short or have another format byte")
    func keyVersionMalformed() throws {
        #expect(throws: CryptoError.malformed("encrypted field")) { try FieldCipher.keyVersion(of: []) }
        #expect(throws: CryptoError.malformed("encrypted field")) { try FieldCipher.keyVersion(of: [0x01, 0, 0, 0, 1]) }
        #expect(throws: CryptoError.malformed("encrypted field")) {
            try FieldCipher.keyVersion(of: [0x02, 0, 0, 0, 1] + [UInt8](repeating: 0, count: 40))
        }
        #expect(try FieldCipher.keyVersion(of: [0x01, 0, 0, 1, 0] + [UInt8](repeating: 0, count: 40)) == 256)
        #expect(throws: CryptoError.malformed("encrypted field")) {
            try FieldCipher.open([0x01, 0, 0, 0, 1], context: Self.email, keys: Self.keyring([1], current: 1))
        }
    }

    @Test("a keyring must hold its current version and only 32-byte keys")
    func keyringValidation() throws {
        #expect(throws: CryptoError.unknownKeyVersion(2)) { try DataKeys(keys: [1: SecretBytes.random(count: 32)], current: 2) }
        #expect(throws: CryptoError.malformed("data key length")) { try DataKeys(keys: [1: SecretBytes.random(count: 16)], current: 1) }
    }

    @Test("context parts may not contain NUL, which would make two contexts share associated data")
    func nulInContext() throws {
        let keys = try Self.keyring([1], current: 1)
        let bad = FieldContext(table: "subjects\u{0}email", column: "x", rowID: "1")
        #expect(throws: CryptoError.malformed("field context")) { try FieldCipher.seal(Self.plaintext, context: bad, keys: keys) }
        let stored = try FieldCipher.seal(Self.plaintext, context: Self.email, keys: keys)
        #expect(throws: CryptoError.malformed("field context")) { try FieldCipher.open(stored, context: bad, keys: keys) }
    }
}

/// Key wrapping under the master key, bound to purpose and version.
@Suite("KeyWrap")
struct KeyWrapTests {
    struct FormatCase: Decodable, Sendable, CustomTestStringConvertible {
        var name: String
        var master: String
        var purpose: String
        var version: UInt32
        var wrapped: String
        var key: String
        var result: String
        var testDescription: String { name }
    }

    @Test(
        "the wrapped format opens as documented (known answer built with PyNaCl)",
        arguments: try Vectors.load("keywrap-format.json", as: VectorFile<FormatCase>.self).cases
    )
    func wrappedFormat(_ vector: FormatCase) throws {
        let master = try SecretBytes(copying: unhex(vector.master))
        switch vector.result {
        case "ok":
            let key = try KeyWrap.unwrap(unhex(vector.wrapped), purpose: vector.purpose, version: vector.version, master: master)
            #expect(key.exportForKeyFile() == unhex(vector.key))
        case "bad-mac":
            #expect(throws: CryptoError.authenticationFailed) {
                try KeyWrap.unwrap(unhex(vector.wrapped), purpose: vector.purpose, version: vector.version, master: master)
            }
        default: Issue.record("unknown result \(vector.result)")
        }
    }

    @Test("wrap then unwrap returns the same key")
    func roundTrip() throws {
        let master = try SecretBytes.random(count: 32)
        let key = try SecretBytes.random(count: 32)
        let wrapped = try KeyWrap.wrap(key, purpose: "data-key", version: 1, master: master)
        #expect(wrapped.count == 24 + 32 + 16)
        let unwrapped = try KeyWrap.unwrap(wrapped, purpose: "data-key", version: 1, master: master)
        #expect(unwrapped.constantTimeEquals(key))
    }

    @Test("another purpose, version or master key, or any altered byte, fails")
    func bound() throws {
        let master = try SecretBytes.random(count: 32)
        let wrapped = try KeyWrap.wrap(SecretBytes.random(count: 32), purpose: "data-key", version: 1, master: master)
        #expect(throws: CryptoError.authenticationFailed) { try KeyWrap.unwrap(wrapped, purpose: "audit-key", version: 1, master: master) }
        #expect(throws: CryptoError.authenticationFailed) { try KeyWrap.unwrap(wrapped, purpose: "data-key", version: 2, master: master) }
        #expect(throws: CryptoError.authenticationFailed) { try KeyWrap.unwrap(wrapped, purpose: "data-key", version: 11, master: master) }
        #expect(throws: CryptoError.authenticationFailed) {
            try KeyWrap.unwrap(wrapped, purpose: "data-key", version: 1, master: SecretBytes.random(count: 32))
        }
        for index in wrapped.indices {
            #expect(throws: CryptoError.authenticationFailed, "byte \(index)") {
                try KeyWrap.unwrap(flipped(wrapped, at: index), purpose: "data-key", version: 1, master: master)
            }
        }
    }
}
