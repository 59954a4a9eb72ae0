#!/usr/bin/env python3
"""A webhook receiver for Vigil's outbox tests, independent of Vigil's code: Python's hmac,
hashlib and http.server only, following docs/outbox.md.

It verifies every request's signature (which covers Vigil-Message-Id, Vigil-Timestamp and the
body), fails the first --fail-first requests with 500 (counted across restarts), acknowledges the
rest with 200, and dedupes by the signed Vigil-Message-Id. Its state
lives in --state DIR, written and fsynced before it answers, so a restart forgets nothing:

  accepted.jsonl    one line per message acknowledged for the first time (with the request's
                    Vigil-Timestamp, Vigil-Signature and raw body, so a test can replay it)
  duplicates.jsonl  one line per request for a message already acknowledged (answered 200 again)
  rejected.jsonl    one line per request refused (bad signature, stale timestamp, malformed)
  failed.count      how many requests it has failed on purpose

Prints "listening <port>" on stdout once it accepts connections. SIGTERM stops it gracefully:
requests in progress finish and are answered first.

Usage: receiver.py --secret-file FILE --state DIR [--port N] [--fail-first N] [--delay SECONDS]
                   [--status CODE] [--tolerance SECONDS]
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = None
lock = threading.Lock()
accepted = set()


def append(name, record):
    path = os.path.join(args.state, name)
    with open(path, "a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def failed_so_far():
    try:
        with open(os.path.join(args.state, "failed.count")) as f:
            return int(f.read().strip() or 0)
    except FileNotFoundError:
        return 0


def set_failed(n):
    path = os.path.join(args.state, "failed.count")
    with open(path + ".tmp", "w") as f:
        f.write(str(n))
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)


def verify(secret, headers, body):
    """The receiver's check, as docs/outbox.md describes it (scheme v2: the signature covers the
    message id, the timestamp and the body; v1 is refused). Returns None or a reason."""
    msg_id = headers.get("Vigil-Message-Id", "")
    ts = headers.get("Vigil-Timestamp", "")
    sig = headers.get("Vigil-Signature", "")
    if not re.fullmatch(r"msg_[0-9a-f]{32}", msg_id):
        return "malformed message id"
    if not re.fullmatch(r"[0-9]{1,18}", ts):
        return "malformed timestamp"
    if abs(time.time() - int(ts)) > args.tolerance:
        return "stale timestamp"
    signed = b"v2:" + msg_id.encode() + b"." + ts.encode() + b"." + body
    expected = hmac.new(secret, signed, hashlib.sha256).hexdigest().encode()
    candidates = [p.strip()[3:].encode("utf-8", "replace") for p in sig.split(",") if p.strip().startswith("v2=")]
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        return "bad signature"
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # An idle keep-alive connection is closed after a second, so a graceful stop (which waits
    # for every connection's thread) does not wait for the client to hang up.
    timeout = 1

    def log_message(self, *a):
        pass

    def answer(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if args.delay:
            time.sleep(args.delay)
        msg_id = self.headers.get("Vigil-Message-Id", "")
        attempt = self.headers.get("Vigil-Attempt", "")
        reason = verify(SECRET, self.headers, body)
        if reason is None:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict) or parsed.get("id") != msg_id:
                reason = "body id does not match Vigil-Message-Id"
        with lock:
            if reason is not None:
                append("rejected.jsonl", {"id": msg_id, "reason": reason})
                self.answer(401)
                return
            n = failed_so_far()
            if n < args.fail_first:
                set_failed(n + 1)
                self.answer(500)
                return
            if args.status:
                self.answer(args.status)
                return
            record = {"id": msg_id, "attempt": attempt, "at": time.time(), "body": parsed,
                      "timestamp": self.headers.get("Vigil-Timestamp", ""),
                      "signature": self.headers.get("Vigil-Signature", ""),
                      "raw": base64.b64encode(body).decode()}
            if msg_id in accepted:
                append("duplicates.jsonl", record)
            else:
                append("accepted.jsonl", record)
                accepted.add(msg_id)
        self.answer(200)


def main():
    global args, SECRET
    p = argparse.ArgumentParser()
    p.add_argument("--secret-file", required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--delay", type=float, default=0)
    p.add_argument("--status", type=int, default=0)
    p.add_argument("--tolerance", type=int, default=300)
    args = p.parse_args()
    with open(args.secret_file, "rb") as f:
        SECRET = f.read().strip()
    os.makedirs(args.state, exist_ok=True)
    try:
        with open(os.path.join(args.state, "accepted.jsonl")) as f:
            for line in f:
                accepted.add(json.loads(line)["id"])
    except FileNotFoundError:
        pass
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = False
    ThreadingHTTPServer.block_on_close = True
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)

    def stop(*_):
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    # A parent may hand down a signal mask that blocks SIGTERM (Foundation's Process on Linux
    # spawns from a thread that blocks it); unblock it, or a graceful stop never arrives.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
