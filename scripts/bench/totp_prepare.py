#!/usr/bin/env python3
"""Bench fixtures for TOTP verify: enrol N subjects over HTTP, or write one valid code each.

    totp_prepare.py enrol PORT API_KEY N SECRETS_FILE   registers, enrols and activates N subjects
                                                         (pyotp computes the activation codes)
    totp_prepare.py codes SECRETS_FILE CODES_FILE       one code per subject for the step after
                                                         the current one: valid for the next 60-90 s
                                                         (window T-1..T+1) and after every step the
                                                         activation used, so each verifies once
"""
import http.client, json, sys, threading, time

import pyotp


def enrol(port, key, n, out):
    headers = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
    secrets = [None] * n
    stamp = str(int(time.time()))
    errors = []

    def work(start):
        c = http.client.HTTPConnection("127.0.0.1", port)
        for i in range(start, n, 4):
            sid = f"totp-{stamp}-{i}"
            try:
                for path, body in ((f"/v1/subjects", {"subject_id": sid}), (f"/v1/subjects/{sid}/totp", None)):
                    c.request("POST", path, json.dumps(body) if body else "", headers)
                    r = c.getresponse()
                    data = r.read()
                    if r.status != 201:
                        raise RuntimeError(f"{path}: {r.status} {data[:200]!r}")
                secret = json.loads(data)["secret"]
                c.request("POST", f"/v1/subjects/{sid}/totp/activate", json.dumps({"code": pyotp.TOTP(secret).now()}), headers)
                r = c.getresponse()
                data = r.read()
                if r.status != 200:
                    raise RuntimeError(f"activate: {r.status} {data[:200]!r}")
                secrets[i] = (sid, secret)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(str(e))
                return

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        sys.exit("enrol failed: " + errors[0])
    with open(out, "w") as f:
        for sid, secret in secrets:
            f.write(f"{sid} {secret}\n")


def codes(secrets_file, out):
    step = int(time.time()) // 30 + 1
    with open(secrets_file) as f, open(out, "w") as o:
        for line in f:
            sid, secret = line.split()
            o.write(f"{sid} {pyotp.TOTP(secret).at(step * 30)}\n")


if __name__ == "__main__":
    if sys.argv[1] == "enrol":
        enrol(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5])
    elif sys.argv[1] == "codes":
        codes(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
