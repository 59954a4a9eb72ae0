#!/usr/bin/env python3
"""Enumeration check for POST /v1/password-resets against a live server.

    enumeration_check.py PORT API_KEY

Registers 200 subjects with email addresses, then sends 200 reset requests for those addresses
and 200 for unknown addresses, interleaved at random, over one keep-alive connection, each with
its own end-user address (`client_ip`). It checks
that every response is 202 with a body identical apart from nothing (the body carries no request
id; the X-Request-Id header differs), and compares the two latency distributions: medians, p90,
and a two-sample Kolmogorov–Smirnov test (asymptotic p-value). Exit 1 when the bodies or
statuses differ, or when the KS test rejects equality at the 1 % level.
"""
import http.client, json, math, random, sys, time


def ks_two_sample(a, b):
    a, b = sorted(a), sorted(b)
    n, m = len(a), len(b)
    i = j = 0
    d = 0.0
    while i < n and j < m:
        x = min(a[i], b[j])
        while i < n and a[i] <= x:
            i += 1
        while j < m and b[j] <= x:
            j += 1
        d = max(d, abs(i / n - j / m))
    en = math.sqrt(n * m / (n + m))
    lam = (en + 0.12 + 0.11 / en) * d
    p = 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))
    return d, max(0.0, min(1.0, p))


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main():
    port, key = int(sys.argv[1]), sys.argv[2]
    headers = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
    c = http.client.HTTPConnection("127.0.0.1", port)
    stamp = str(int(time.time() * 1000))
    known = []
    for i in range(200):
        email = f"enum{stamp}x{i}@example.org"
        c.request("POST", "/v1/subjects", json.dumps({"subject_id": f"enum-{stamp}-{i}", "email": email}), headers)
        r = c.getresponse(); r.read()
        assert r.status == 201, r.status
        known.append(email)
    unknown = [f"ghost{stamp}x{i}@example.org" for i in range(200)]
    work = [("known", e) for e in known] + [("unknown", e) for e in unknown]
    random.shuffle(work)
    # Warm-up, not measured.
    for _ in range(20):
        c.request("POST", "/v1/password-resets", json.dumps({"identifier": "warmup@example.org"}), headers)
        c.getresponse().read()
    lat = {"known": [], "unknown": []}
    bodies, statuses = set(), set()
    for n, (kind, ident) in enumerate(work):
        # Each request from its own end-user address (as the wallet backend passes it on), so the
        # per-address limit never refuses a known one: the worker issues real tokens meanwhile.
        body = json.dumps({"identifier": ident, "client_ip": "198.51.%d.%d" % (100 + n // 250, n % 250 + 1)})
        t0 = time.perf_counter()
        c.request("POST", "/v1/password-resets", body, headers)
        r = c.getresponse()
        data = r.read()
        lat[kind].append((time.perf_counter() - t0) * 1000)
        bodies.add(data)
        statuses.add(r.status)
    d, p = ks_two_sample(lat["known"], lat["unknown"])
    print(
        "enumeration: 200 known / 200 unknown identifiers: statuses %s, %d distinct body; "
        "median %.3f / %.3f ms, p90 %.3f / %.3f ms; KS D=%.3f p=%.3f"
        % (sorted(statuses), len(bodies), pct(lat["known"], 0.5), pct(lat["unknown"], 0.5), pct(lat["known"], 0.9),
           pct(lat["unknown"], 0.9), d, p))
    if statuses != {202} or len(bodies) != 1 or p < 0.01:
        sys.exit(1)


if __name__ == "__main__":
    main()
