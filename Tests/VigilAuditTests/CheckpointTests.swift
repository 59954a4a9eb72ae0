import Foundation
import Testing
import VigilAudit
import VigilCrypto

@Suite("Checkpoints and signed notes")
struct CheckpointTests {
    let origin = "vigil.audit/test"

    func signer(_ byte: UInt8, name: String? = nil) throws -> NoteSigner {
        try NoteSigner(name: name ?? origin, key: fixedKey(byte))
    }

    func checkpoint(size: UInt64 = 8) throws -> Checkpoint {
        try Checkpoint(origin: origin, size: size, rootHash: hash("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"))
    }

    @Test func `the Go signed-note example is reproduced byte for byte`() throws {
        let v = try loadVector("signed-note")
        let signerKey = v["signer_key"] as! String
        // PRIVATE+KEY+<name>+<hash>+<base64(0x01 ‖ seed)>
        let raw = ByteEncoding.fromBase64(String(signerKey.split(separator: "+", maxSplits: 4)[4]))!
        let signer = try NoteSigner(name: "PeterNeumann", key: Ed25519.SigningKey(seed: SecretBytes(copying: Array(raw.dropFirst()))))
        #expect(signer.verifierKey.text == v["verifier_key"] as! String)
        #expect(signer.verifierKey.keyID == "c74f20a3")
        let note = try SignedNote.sign(text: v["text"] as! String, signers: [signer])
        #expect(note.serialized == v["note"] as! String)

        let parsed = try SignedNote(parsing: v["note"] as! String)
        let key = try NoteVerifierKey(text: v["verifier_key"] as! String)
        #expect(parsed.verify(keys: [key]) == .verified(by: [key]))
        let other = try NoteVerifierKey(text: v["other_verifier_key"] as! String)
        #expect(parsed.verify(keys: [other]) == .unknownKey(keyIDs: ["c74f20a3"]))
    }

    @Test func `a checkpoint body has origin, size and base64 root`() throws {
        let cp = try checkpoint()
        #expect(cp.body == "vigil.audit/test\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n")
        #expect(try Checkpoint(body: cp.body) == cp)
        let withExtension = try Checkpoint(body: cp.body + "extension line\n")
        #expect(withExtension.extensionLines == ["extension line"])
    }

    @Test(arguments: [
        "vigil.audit/test\n08\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
        "vigil.audit/test\n-8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
        "vigil.audit/test\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQy=\n",
        "vigil.audit/test\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg\n",
        "vigil.audit/test\n8\n",
        "\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
        "vigil.audit/test\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
    ])
    func `malformed checkpoint bodies are rejected`(_ body: String) {
        #expect(throws: AuditError.self) { try Checkpoint(body: body) }
    }

    @Test func `sign, parse and verify; a wrong key is unknown and an altered signature is bad`() throws {
        let s = try signer(7)
        let signed = try SignedCheckpoint(signing: checkpoint(), with: [s])
        let text = signed.text
        #expect(text.hasPrefix(try checkpoint().body + "\n\u{2014} vigil.audit/test "))
        let parsed = try SignedCheckpoint(parsing: text)
        #expect(parsed == signed)
        #expect(parsed.verify(keys: [s.verifierKey]) == .verified(by: [s.verifierKey]))

        let stranger = try signer(9)
        #expect(parsed.verify(keys: [stranger.verifierKey]) == .unknownKey(keyIDs: [s.verifierKey.keyID]))

        // Same name and key hash, different key: the signature is attributed to it and fails.
        var sig = parsed.note.signatures[0].signature
        sig[10] ^= 1
        let altered = try SignedNote(
            text: parsed.note.text,
            signatures: [NoteSignature(name: s.verifierKey.name, keyHash: s.verifierKey.keyHash, signature: sig)]
        )
        #expect(altered.verify(keys: [s.verifierKey]) == .badSignature(keyName: origin, keyID: s.verifierKey.keyID))

        // Altered text.
        let forged = try SignedNote(parsing: text.replacingOccurrences(of: "\n8\n", with: "\n9\n"))
        #expect(forged.verify(keys: [s.verifierKey]) == .badSignature(keyName: origin, keyID: s.verifierKey.keyID))
    }

    @Test func `several signatures: either key verifies, for key rotation`() throws {
        let old = try signer(7)
        let new = try signer(8)
        let both = try SignedCheckpoint(signing: checkpoint(), with: [old, new])
        let parsed = try SignedCheckpoint(parsing: both.text)
        #expect(parsed.note.signatures.count == 2)
        #expect(parsed.verify(keys: [old.verifierKey]) == .verified(by: [old.verifierKey]))
        #expect(parsed.verify(keys: [new.verifierKey]) == .verified(by: [new.verifierKey]))
        #expect(parsed.verify(keys: [new.verifierKey, old.verifierKey]) == .verified(by: [old.verifierKey, new.verifierKey]))
        // An old checkpoint signed only by the retired key stays verifiable with it.
        let legacy = try SignedCheckpoint(signing: checkpoint(size: 4), with: [old])
        #expect(legacy.verify(keys: [new.verifierKey, old.verifierKey]) == .verified(by: [old.verifierKey]))
    }

    @Test func `verifier keys: text form, key hash and public-key files`() throws {
        let s = try signer(7)
        let text = s.verifierKey.text
        #expect(text.hasPrefix("vigil.audit/test+\(s.verifierKey.keyID)+A"))
        #expect(try NoteVerifierKey(text: text) == s.verifierKey)
        let file = "# audit signing keys\n\n\(text)\n\(try signer(8).verifierKey.text)\n"
        #expect(try NoteVerifierKey.parseList(file).count == 2)

        let parts = text.split(separator: "+", maxSplits: 2).map(String.init)
        for bad in [
            "other+\(parts[1])+\(parts[2])", "\(parts[0])+00000000+\(parts[2])", "\(parts[0])+\(parts[1])",
            "\(parts[0])+\(parts[1])+\(parts[2].dropLast(2))", "",
        ] {
            #expect(throws: AuditError.self) { try NoteVerifierKey(text: bad) }
        }
        #expect(throws: AuditError.self) { try NoteSigner(name: "has space", key: fixedKey(1)) }
        #expect(throws: AuditError.self) { try NoteSigner(name: "has+plus", key: fixedKey(1)) }
        #expect(throws: AuditError.self) { try NoteVerifierKey.parseList("# nothing\n") }
    }

    @Test(arguments: [
        "vigil.audit/test\n8\nroot\n",
        "vigil.audit/test\n8\nroot\n\n- vigil.audit/test AAAA\n",
        "vigil.audit/test\n8\nroot\n\n\u{2014} vigil.audit/test !!!\n",
        "vigil.audit/test\n8\nroot\n\n\u{2014} vigil.audit/test AAAA\n",
        "vigil.audit/test\n8\nroot\n\n\u{2014} vigil.audit/test AAAAAAAA",
        "vigil.audit/test\n8\u{7}\nroot\n\n\u{2014} vigil.audit/test AAAAAAAA\n",
        "vigil.audit/test\n\n8\nroot\n\n\u{2014} vigil.audit/test AAAAAAAA\n",
    ])
    func `malformed notes are rejected`(_ text: String) {
        #expect(throws: AuditError.self) { try SignedNote(parsing: text) }
    }
}
