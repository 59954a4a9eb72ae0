#!/usr/bin/env python3
"""Reset-confirm throughput against the argon2id limit, and TOTP verify latency while the argon2id
pool is saturated (issue 5). Driven by scripts/bench-reset.sh against a live release server.

    reset_bench.py PORT API_KEY OUTBOX_DIR TOKENS CORES

1. registers TOKENS subjects, requests a reset for each, and reads the links from the outbox's
   file channel (as a receiver would);
2. measures argon2id at the policy cost (m = 19 MiB, t = 2) with PyNaCl — libsodium, the same
   implementation — in this run, just before and just after the throughput phase: 10 hashes one
   after another each time; the limit is CORES / the mean time of one hash (the definition). For
   information it also times CORES hashes running at once, one per core;
3. confirms half the tokens with as many client threads as the pool admits (workers + queue =
   3 × CORES with the server's defaults), so the queue never runs dry and nothing is refused:
   throughput, as a share of the limit;
4. measures TOTP verify latency (one connection, paced, wrong codes on 64 enrolled subjects) idle,
   then while the other half of the confirms keeps the pool saturated — only for as long as at
   least a pool's worth of confirms is still waiting, so that every sample is taken with the pool
   full: p50 / p99 of both.
"""
import glob, http.client, json, sys, threading, time

import nacl.pwhash
import pyotp

port, key, outbox, n, cores = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
H = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}


def call(c, method, path, body=None):
    c.request(method, path, json.dumps(body) if body is not None else "", H)
    r = c.getresponse()
    return r.status, r.read()


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


c = http.client.HTTPConnection("127.0.0.1", port)
stamp = str(int(time.time()))
for i in range(n):
    s, b = call(c, "POST", "/v1/subjects", {"subject_id": f"rb-{stamp}-{i}", "email": f"rb{stamp}x{i}@example.org"})
    assert s == 201, (s, b)
    s, _ = call(c, "POST", "/v1/password-resets", {"identifier": f"rb{stamp}x{i}@example.org"})
    assert s == 202
tokens = {}
deadline = time.time() + 60
while len(tokens) < n and time.time() < deadline:
    for f in glob.glob(outbox + "/*.jsonl"):
        for line in open(f):
            try:
                m = json.loads(line)
            except ValueError:
                continue
            m = m.get("message", m)
            if m.get("kind") == "password_reset" and m.get("subject_id", "").startswith(f"rb-{stamp}-"):
                tokens[m["subject_id"]] = m["payload"]["link"].split("token=")[1]
    time.sleep(0.2)
assert len(tokens) == n, f"only {len(tokens)} of {n} links arrived"
toks = list(tokens.values())

# TOTP fixtures: a few enrolled subjects, verified with wrong codes.
totp_subjects = []
for i in range(64):
    sid = f"rbt-{stamp}-{i}"
    call(c, "POST", "/v1/subjects", {"subject_id": sid})
    s, b = call(c, "POST", f"/v1/subjects/{sid}/totp")
    secret = json.loads(b)["secret"]
    s, _ = call(c, "POST", f"/v1/subjects/{sid}/totp/activate", {"code": pyotp.TOTP(secret).now()})
    assert s == 200
    totp_subjects.append(sid)

def hash_once():
    nacl.pwhash.argon2id.str(b"correct horse battery staple", opslimit=2, memlimit=19456 * 1024)


def time_sequential(n=10):
    t0 = time.perf_counter()
    for _ in range(n):
        hash_once()
    return (time.perf_counter() - t0) / n


def time_parallel(rounds=5):
    """Seconds per hash when CORES hashes run at once (one thread per core; PyNaCl releases the GIL)."""
    def work():
        for _ in range(rounds):
            hash_once()
    ts = [threading.Thread(target=work) for _ in range(cores)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return (time.perf_counter() - t0) / rounds


capacity = 3 * cores  # the pool admits workers + queue = cores + 2 × cores with the server's defaults
remaining = {"n": 0}


def confirm_all(batch, threads):
    q = list(enumerate(batch))
    remaining["n"] = len(q)
    lock = threading.Lock()
    codes = {}

    def work():
        cc = http.client.HTTPConnection("127.0.0.1", port)
        while True:
            with lock:
                if not q:
                    return
                i, t = q.pop()
            s, _ = call(cc, "POST", "/v1/password-resets/confirm", {"token": t, "new_password": f"bench passphrase {i} of {stamp}"})
            with lock:
                codes[s] = codes.get(s, 0) + 1
                remaining["n"] -= 1

    ts = [threading.Thread(target=work) for _ in range(threads)]
    start = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return time.perf_counter() - start, codes


def totp_latencies(seconds, while_saturated=False):
    cc = http.client.HTTPConnection("127.0.0.1", port)
    lat, end, i = [], time.time() + seconds, 0
    while time.time() < end:
        if while_saturated and remaining["n"] < 2 * capacity:
            break  # fewer confirms left than keep the pool full (running, queued, in flight)
        sid = totp_subjects[i % len(totp_subjects)]
        i += 1
        t = time.perf_counter()
        s, _ = call(cc, "POST", f"/v1/subjects/{sid}/totp/verify", {"code": "000000"})
        lat.append((time.perf_counter() - t) * 1000)
        assert s == 200, s
        time.sleep(0.004)  # paced: a few wrong codes per subject, far from the raised lockout
    return lat


half = n // 2
before = time_sequential()
wall, codes = confirm_all(toks[:half], capacity)
after = time_sequential()
parallel = time_parallel()
hash_s = (before + after) / 2
limit = cores / hash_s
rate = half / wall
print(f"argon2id (m=19 MiB, t=2, PyNaCl, same run): {before * 1000:.1f} ms per hash before the confirms, {after * 1000:.1f} ms after "
      f"-> limit {cores} cores / {hash_s * 1000:.1f} ms = {limit:.1f} confirms/s; "
      f"{cores} hashes at once: {parallel * 1000:.1f} ms per round = {cores / parallel:.1f} hashes/s")
print(f"reset confirm: {half} confirms in {wall:.2f} s with {capacity} client threads = {rate:.1f}/s = {100 * rate / limit:.0f} % of the limit; statuses {codes}")

idle = totp_latencies(3)
result = {}
bg = threading.Thread(target=lambda: result.update(zip(("wall", "codes"), confirm_all(toks[half:], capacity))))
bg.start()
time.sleep(0.3)
busy = totp_latencies(10, while_saturated=True)
bg.join()
print(f"TOTP verify, one connection: idle p50 {pct(idle, .5):.2f} ms p99 {pct(idle, .99):.2f} ms ({len(idle)} requests); "
      f"argon2id pool saturated p50 {pct(busy, .5):.2f} ms p99 {pct(busy, .99):.2f} ms ({len(busy)} requests); "
      f"p99 ratio {pct(busy, .99) / pct(idle, .99):.2f}; confirms meanwhile {result.get('codes')} "
      f"in {result.get('wall', 0):.2f} s = {half / result.get('wall', 1):.1f}/s")
