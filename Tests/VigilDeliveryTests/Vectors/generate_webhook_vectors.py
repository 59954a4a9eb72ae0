#!/usr/bin/env python3
"""Generates webhook-signature.json with Python's hmac and hashlib only (independent of
Vigil's code): the expected `Vigil-Signature` header for a secret, a timestamp and a body,
and cases a receiver must refuse, each naming its expected outcome."""
import hashlib, hmac, json

SECRET = "deadbeef" * 8  # 64 characters, as `openssl rand -hex 32` would write
BODY = ('{"channel":"webhook","created_at":"2009-02-13T23:31:30.000Z","id":"msg_00112233445566778899aabbccddeeff",'
        '"kind":"security_notice","payload":{"event":"totp_added","occurred_at":"2009-02-13T23:31:30.000Z"},'
        '"recipient":null,"subject_id":"deadbeef-0001","version":1}')
NOW = 1234567890

def sign(secret, ts, body):
    return "v1=" + hmac.new(secret.encode(), f"{ts}.".encode() + body.encode(), hashlib.sha256).hexdigest()

good = sign(SECRET, NOW, BODY)
vectors = [
    {"name": "the message as sent", "secret": SECRET, "timestamp": str(NOW), "body": BODY, "now": NOW,
     "header": good, "result": "ok"},
    {"name": "several signatures during a secret rotation, one matching", "secret": SECRET, "timestamp": str(NOW),
     "body": BODY, "now": NOW, "header": sign("another-secret-" + "0" * 32, NOW, BODY) + ", " + good, "result": "ok"},
    {"name": "300 s of clock skew is tolerated", "secret": SECRET, "timestamp": str(NOW), "body": BODY,
     "now": NOW + 300, "header": good, "result": "ok"},
    {"name": "one byte of the body changed", "secret": SECRET, "timestamp": str(NOW), "body": BODY.replace("totp_added", "totp_addee"),
     "now": NOW, "header": good, "result": "bad-mac"},
    {"name": "the timestamp changed", "secret": SECRET, "timestamp": str(NOW + 1), "body": BODY, "now": NOW,
     "header": good, "result": "bad-mac"},
    {"name": "signed with another secret", "secret": SECRET, "timestamp": str(NOW), "body": BODY, "now": NOW,
     "header": sign("f" * 64, NOW, BODY), "result": "bad-mac"},
    {"name": "a replay 301 s later", "secret": SECRET, "timestamp": str(NOW), "body": BODY, "now": NOW + 301,
     "header": good, "result": "expired"},
    {"name": "no v1 signature", "secret": SECRET, "timestamp": str(NOW), "body": BODY, "now": NOW,
     "header": good.replace("v1=", "v0="), "result": "malformed"},
    {"name": "timestamp not a number", "secret": SECRET, "timestamp": "yesterday", "body": BODY, "now": NOW,
     "header": good, "result": "malformed"},
]
doc = {"source": "generate_webhook_vectors.py: Python hmac.new(secret, f'{timestamp}.'.encode() + body, sha256)",
       "cases": vectors}
with open("webhook-signature.json", "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
