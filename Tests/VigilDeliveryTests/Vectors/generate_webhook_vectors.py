#!/usr/bin/env python3
"""Generates webhook-signature.json with Python's hmac and hashlib only (independent of
Vigil's code), following docs/outbox.md: the expected `Vigil-Signature` header for a secret, a
message id, a timestamp and a body (scheme v2, HMAC-SHA256 over
"v2:<message id>.<timestamp>.<body>"), and the cases a receiver must refuse, each naming its
expected outcome (ok, bad-mac, expired, malformed).

Run it from this folder: python3 generate_webhook_vectors.py"""
import hashlib, hmac, json

SECRET = "deadbeef" * 8  # 64 characters, as `openssl rand -hex 32` would write
MESSAGE_ID = "msg_00112233445566778899aabbccddeeff"
OTHER_ID = "msg_ffeeddccbbaa99887766554433221100"
BODY = ('{"channel":"webhook","created_at":"2009-02-13T23:31:30.000Z","id":"msg_00112233445566778899aabbccddeeff",'
        '"kind":"security_notice","payload":{"event":"totp_added","occurred_at":"2009-02-13T23:31:30.000Z"},'
        '"recipient":null,"subject_id":"deadbeef-0001","version":1}')
NOW = 1234567890


def mac(secret, data):
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def sign(secret, msg_id, ts, body):
    return "v2=" + mac(secret, b"v2:" + msg_id.encode() + b"." + str(ts).encode() + b"." + body.encode())


def sign_v1(secret, ts, body):
    """The retired scheme: the timestamp and the body only, the id unsigned."""
    return "v1=" + mac(secret, str(ts).encode() + b"." + body.encode())


good = sign(SECRET, MESSAGE_ID, NOW, BODY)


def case(name, result, header=good, message_id=MESSAGE_ID, timestamp=str(NOW), body=BODY, now=NOW):
    return {"name": name, "secret": SECRET, "message_id": message_id, "timestamp": timestamp, "body": body,
            "now": now, "header": header, "result": result}


dotted = "msg_0011.2233445566778899aabbccddeeff"
vectors = [
    case("the message as sent", "ok"),
    case("several signatures during a secret rotation, one matching", "ok",
         header=sign("another-secret-" + "0" * 32, MESSAGE_ID, NOW, BODY) + ", " + good),
    case("an item of an unknown later scheme beside the v2 one is ignored", "ok", header="v3=abcdef, " + good),
    case("300 s of clock skew is tolerated", "ok", now=NOW + 300),
    case("300 s of clock skew the other way is tolerated", "ok", now=NOW - 300),
    case("one byte of the body changed", "bad-mac", body=BODY.replace("totp_added", "totp_addee")),
    case("the timestamp changed", "bad-mac", timestamp=str(NOW + 1)),
    case("the Vigil-Message-Id header changed (a replay under a new id, to get past dedupe)", "bad-mac",
         message_id=OTHER_ID),
    case("signed with another secret", "bad-mac", header=sign("f" * 64, MESSAGE_ID, NOW, BODY)),
    case("a replay 301 s later", "expired", now=NOW + 301),
    case("a timestamp 301 s ahead", "expired", now=NOW - 301),
    case("only a v1 signature (the retired scheme, id unsigned)", "malformed", header=sign_v1(SECRET, NOW, BODY)),
    case("a v1 signature of the changed id's replay", "malformed", header=sign_v1(SECRET, NOW, BODY),
         message_id=OTHER_ID),
    case("no v2 item", "malformed", header=good.replace("v2=", "v0=")),
    case("the signature in uppercase hex", "malformed", header="v2=" + good[3:].upper()),
    case("the signature not hex", "malformed", header="v2=" + "zz" * 32),
    case("an empty signature header", "malformed", header=""),
    case("timestamp not a number", "malformed", timestamp="yesterday"),
    case("timestamp with a sign", "malformed", timestamp="+" + str(NOW), header=sign(SECRET, MESSAGE_ID, "+" + str(NOW), BODY)),
    case("timestamp empty", "malformed", timestamp="", header=sign(SECRET, MESSAGE_ID, "", BODY)),
    case("a message id containing the separator, signed as such", "malformed", message_id=dotted,
         header=sign(SECRET, dotted, NOW, BODY)),
    case("an empty message id", "malformed", message_id="", header=sign(SECRET, "", NOW, BODY)),
    case("a message id in uppercase hex, signed as such", "malformed", message_id=MESSAGE_ID.upper().replace("MSG_", "msg_"),
         header=sign(SECRET, MESSAGE_ID.upper().replace("MSG_", "msg_"), NOW, BODY)),
]
doc = {"source": "generate_webhook_vectors.py: Python hmac.new(secret, b'v2:' + message_id + b'.' + timestamp + b'.' + body, sha256)",
       "cases": vectors}
with open("webhook-signature.json", "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
