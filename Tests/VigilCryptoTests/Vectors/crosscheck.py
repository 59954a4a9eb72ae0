#!/usr/bin/env python3
"""Re-derives the expected values in this folder with implementations other than VigilCrypto.

Run after editing any vector file:

    python3 -m venv /tmp/v && /tmp/v/bin/pip install pynacl && /tmp/v/bin/python crosscheck.py

HMAC and SHA-256 use Python's hmac/hashlib, BLAKE2b Python's own hashlib.blake2b, RFC 4648
the base64 module, and Ed25519, XChaCha20-Poly1305 and argon2 PyNaCl (its bundled libsodium).
The vector files themselves are transcribed from the sources they name; this script only checks.
"""
import base64, hashlib, hmac, json, os, sys

here = os.path.dirname(os.path.abspath(__file__))
failures = 0


def load(name):
    with open(os.path.join(here, name)) as f:
        return json.load(f)


def check(ok, what):
    global failures
    if not ok:
        failures += 1
        print("FAIL", what)


h = bytes.fromhex

for c in load("hmac-rfc2202.json")["cases"]:
    mac = hmac.new(h(c["key"]), h(c["data"]), hashlib.sha1).hexdigest()
    check((mac == c["mac"]) == (c["result"] == "ok"), c["name"])

for c in load("hmac-rfc4231.json")["cases"]:
    n = c.get("truncateBytes", 64) * 2
    for alg, field in ((hashlib.sha256, "sha256"), (hashlib.sha512, "sha512")):
        mac = hmac.new(h(c["key"]), h(c["data"]), alg).hexdigest()[:n]
        check((mac == c[field]) == (c["result"] == "ok"), c["name"] + " " + field)

for c in load("blake2b-kat.json")["cases"]:
    out = hashlib.blake2b(h(c["in"]), key=h(c["key"]), digest_size=64).hexdigest()
    check(out == c["out"], "blake2b in=%d bytes" % (len(c["in"]) // 2))

for c in load("sha256-fips180.json")["cases"]:
    d = hashlib.sha256((c["message"] * c["repeat"]).encode()).hexdigest()
    check(d == c["digest"], c["name"])

v = load("rfc4648.json")
for c in v["cases"]:
    raw = c["input"].encode()
    check(base64.b64encode(raw).decode() == c["base64"], "base64 " + c["input"])
    check(base64.b32encode(raw).decode() == c["base32"], "base32 " + c["input"])
    check(base64.b16encode(raw).decode() == c["base16"], "base16 " + c["input"])

for c in load("hmac-empty.json")["cases"]:
    mac = hmac.new(b"", b"", getattr(hashlib, c["algorithm"].lower())).hexdigest()
    check(mac == c["mac"], "empty HMAC " + c["algorithm"])

v = load("keyed-hasher-format.json")
for c in v["cases"]:
    d = hashlib.blake2b(c["domain"].encode() + b"\0" + c["value"].encode(), key=h(v["key"]), digest_size=32).hexdigest()
    check(d == c["digest"], "keyed hasher " + c["domain"] + "/" + c["value"])

try:
    import nacl.bindings as b
    import nacl.exceptions
    import nacl.pwhash
    import nacl.signing
except ImportError:
    sys.exit("PyNaCl is needed for the Ed25519, XChaCha20-Poly1305 and argon2 checks")

for c in load("ed25519-rfc8032.json")["cases"]:
    sk = nacl.signing.SigningKey(h(c["secretKey"]))
    if c["result"] == "ok":
        check(sk.verify_key.encode().hex() == c["publicKey"], c["name"] + " public key")
        check(sk.sign(h(c["message"])).signature.hex() == c["signature"], c["name"] + " signature")
    try:
        nacl.signing.VerifyKey(h(c["publicKey"])).verify(h(c["message"]), h(c["signature"]))
        verified = True
    except nacl.exceptions.BadSignatureError:
        verified = False
    check(verified == (c["result"] == "ok"), c["name"] + " verify")

for c in load("xchacha20poly1305-draft.json")["cases"]:
    try:
        pt = b.crypto_aead_xchacha20poly1305_ietf_decrypt(
            h(c["ciphertext"] + c["tag"]), h(c["aad"]) or None, h(c["nonce"]), h(c["key"]))
        opened = pt.hex() == c["plaintext"]
    except nacl.exceptions.CryptoError:
        opened = False
    check(opened == (c["result"] == "ok"), c["name"])

for c in load("pwhash-libsodium.json")["cases"]:
    try:
        ok = b.crypto_pwhash_str_verify(c["hash"].encode(), c["password"].encode())
    except (nacl.exceptions.InvalidkeyError, nacl.exceptions.CryptoError, ValueError):
        ok = False
    check(ok == (c["result"] == "ok"), c["name"])

for c in load("fieldcipher-format.json")["cases"]:
    stored = h(c["stored"])
    header = stored[:5]
    check(header == bytes([1]) + c["version"].to_bytes(4, "big"), c["name"] + " header")
    ad = b"\0".join([b"vigil.field.v1", c["table"].encode(), c["column"].encode(), c["rowID"].encode(), b""]) + header
    pt = b.crypto_aead_xchacha20poly1305_ietf_decrypt(stored[29:], ad, stored[5:29], h(c["key"]))
    check(pt.hex() == c["plaintext"], c["name"])

for c in load("keywrap-format.json")["cases"]:
    w = h(c["wrapped"])
    ad = b"vigil.keywrap.v1\0" + c["purpose"].encode() + b"\0" + str(c["version"]).encode()
    try:
        opened = b.crypto_aead_xchacha20poly1305_ietf_decrypt(w[24:], ad, w[:24], h(c["master"])).hex() == c["key"]
    except nacl.exceptions.CryptoError:
        opened = False
    check(opened == (c["result"] == "ok"), c["name"])

if failures:
    sys.exit("%d check(s) failed" % failures)
print("all vectors agree with the independent implementations")
