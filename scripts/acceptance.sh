#!/usr/bin/env bash
# Live-process acceptance checks against a real `vigil` binary, real key files, a real
# SQLite file and a real HTTP server on loopback. Prints one line per check and, last,
# "acceptance: N passed, N failed". Usage: scripts/acceptance.sh PATH/TO/vigil
set -uo pipefail
VIGIL=$(realpath "${1:-.build/debug/vigil}")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
SERVER_PID=""
RECEIVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
  [ -n "$RECEIVER_PID" ] && kill "$RECEIVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
passed=0; failed=0
ok() { echo "ok   - $1"; passed=$((passed + 1)); }
fail() { echo "FAIL - $1"; failed=$((failed + 1)); }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export VIGIL_KEYS_DIR="$WORK/Keys" VIGIL_DATABASE="$WORK/data/vigil.sqlite" VIGIL_POLICIES_DIR="$ROOT/Policies"

start_server() {
  PORT=$(port)
  "$VIGIL" serve --port "$PORT" --openapi "$ROOT/docs/openapi.yaml" >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
stop_server() { kill -TERM "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; local rc=$?; SERVER_PID=""; return $rc; }

# 1. keys init writes 0600 secret files and refuses to overwrite.
"$VIGIL" keys init 2>/dev/null
modes=$(stat -c '%a %n' Keys/master.key Keys/audit-signing.key Keys/audit-signing.pub | tr '\n' ' ')
if [ "$modes" = "600 Keys/master.key 600 Keys/audit-signing.key 644 Keys/audit-signing.pub " ] \
  && ! "$VIGIL" keys init 2>/dev/null; then ok "keys init: 0600 secrets, 0644 public key, refuses to overwrite"
else fail "keys init modes or overwrite ($modes)"; fi

# 2. A secret key file with mode 0644: serve refuses to start and names the file.
chmod 644 Keys/master.key
msg=$("$VIGIL" serve --port "$(port)" 2>&1 >/dev/null); rc=$?
if [ $rc -ne 0 ] && grep -q "Keys/master.key" <<<"$msg" && grep -q "chmod 600" <<<"$msg"; then ok "serve refuses a 0644 master.key: $msg"
else fail "serve with a 0644 key (rc=$rc): $msg"; fi
chmod 600 Keys/master.key
chmod 640 Keys/audit-signing.key
msg=$("$VIGIL" serve --port "$(port)" 2>&1 >/dev/null); rc=$?
if [ $rc -ne 0 ] && grep -q "audit-signing.key" <<<"$msg"; then ok "serve refuses a group-readable audit-signing.key"
else fail "serve with a 0640 audit key (rc=$rc): $msg"; fi
chmod 600 Keys/audit-signing.key

# 3. Plaintext scan over HTTP: distinctive PII never reaches the database, its WAL, or the log.
KEY=$("$VIGIL" apikey create --name acceptance --scopes subjects:write 2>/dev/null)
READONLY_KEY=$("$VIGIL" apikey create --name auditor --scopes audit:read 2>/dev/null)
if ! start_server; then fail "server did not start"; cat "$WORK/server.log"; exit 1; fi
for i in $(seq 1 20); do
  curl -fs -o /dev/null -X POST "http://127.0.0.1:$PORT/v1/subjects" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' \
    -d "{\"subject_id\":\"scan-$i\",\"email\":\"zyxcanary$i.mailbox@plaintext-probe.example\",\"phone\":\"+8613900$(printf %05d $i)\",\"display_name\":\"Quetzalcoatl Canaryname$i\"}" \
    || fail "register subject $i"
done
leaks=0
for f in data/vigil.sqlite data/vigil.sqlite-wal server.log; do
  [ -f "$f" ] || continue
  for needle in zyxcanary plaintext-probe Quetzalcoatl Canaryname 861390000 "$KEY"; do
    if grep -a -q -- "$needle" "$f"; then echo "  found '$needle' in $f"; leaks=$((leaks + 1)); fi
  done
done
[ -s data/vigil.sqlite-wal ] || [ -s data/vigil.sqlite ] || leaks=99
dbmode=$(stat -c %a data/vigil.sqlite)
[ "$dbmode" = 600 ] && ok "the database file is created 0600" || fail "database file mode $dbmode"
if [ $leaks -eq 0 ]; then ok "plaintext scan: 20 subjects over HTTP, no email/phone/name/key in the db, WAL or server log"
else fail "plaintext scan found $leaks leaks"; fi

# 4. Bad input over a live server: each gets its 4xx in the JSON shape, and the server keeps serving.
check() { # name expected_status expected_code curl-args...
  local name=$1 status=$2 code=$3; shift 3
  local out; out=$(curl -s -o "$WORK/body" -w '%{http_code}' "$@")
  if [ "$out" = "$status" ] && python3 - "$WORK/body" "$code" <<'PY'
import json, sys
body = json.load(open(sys.argv[1]))
err = body["error"]
assert set(body) == {"error"} and err["code"] == sys.argv[2] and err["message"] and err["request_id"].startswith("req_")
PY
  then ok "$name -> $status $code"; else fail "$name -> got $out $(cat "$WORK/body")"; fi
}
U="http://127.0.0.1:$PORT/v1/subjects"
J=(-H 'Content-Type: application/json')
check "malformed JSON" 400 malformed_body -X POST "$U" -H "Authorization: Bearer $KEY" "${J[@]}" -d '{"subject_id":'
check "wrong type" 400 invalid_field -X POST "$U" -H "Authorization: Bearer $KEY" "${J[@]}" -d '{"subject_id":42}'
head -c 200000 /dev/zero | tr '\0' 'a' >"$WORK/big"
check "oversized body" 413 payload_too_large -X POST "$U" -H "Authorization: Bearer $KEY" "${J[@]}" --data-binary @"$WORK/big"
check "missing API key" 401 unauthenticated -X POST "$U" "${J[@]}" -d '{"subject_id":"x1"}'
check "invalid API key" 401 unauthenticated -X POST "$U" -H "Authorization: Bearer vgl_nope" "${J[@]}" -d '{"subject_id":"x1"}'
check "wrong scope" 403 forbidden -X POST "$U" -H "Authorization: Bearer $READONLY_KEY" "${J[@]}" -d '{"subject_id":"x1"}'
KEY_ID=${KEY:4:16}
"$VIGIL" apikey revoke "$KEY_ID" 2>/dev/null
check "revoked API key (revoked by the CLI while the server runs)" 401 unauthenticated -X POST "$U" -H "Authorization: Bearer $KEY" "${J[@]}" -d '{"subject_id":"x1"}'
check "unknown route" 404 not_found "http://127.0.0.1:$PORT/v2/nothing"
if curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null; then ok "server still serving after bad input"; else fail "server died"; fi

# 4b. Password-reset requests answer the same for 200 known and 200 unknown identifiers, and
#     their latencies cannot be told apart (two-sample Kolmogorov–Smirnov, 1 % level).
RESET_KEY=$("$VIGIL" apikey create --name resets --scopes subjects:write,recovery:write 2>/dev/null)
# First one request for a known address: the worker resolves it off the response path and the
# outbox's file channel (data/outbox) gets the link. (The enumeration run below gives each request
# its own client_ip: the limits are per account and per end-user address, never per caller, so
# the worker issues real tokens for the known identifiers while the answers are timed.)
curl -s -o /dev/null -X POST "http://127.0.0.1:$PORT/v1/password-resets" -H "Authorization: Bearer $RESET_KEY" \
  -H 'Content-Type: application/json' -d '{"identifier":"zyxcanary1.mailbox@plaintext-probe.example"}'
for _ in $(seq 1 50); do
  links=$(cat data/outbox/*.jsonl 2>/dev/null | grep -c '"kind":"password_reset"' || true)
  [ "${links:-0}" -ge 1 ] && break
  sleep 0.2
done
if [ "${links:-0}" -ge 1 ] && ! cat data/outbox/*.jsonl | grep '"kind":"password_reset"' | grep -q ghost; then
  ok "reset links reach the outbox file channel ($links so far), none for unknown identifiers"
else fail "reset links in the outbox: ${links:-0}"; fi
if out=$(python3 "$ROOT/scripts/enumeration_check.py" "$PORT" "$RESET_KEY" 2>&1); then ok "$out"; else fail "$out"; fi

# 5. Rotation and a rewrap killed midway while the server keeps serving.
KEY=$("$VIGIL" apikey create --name rotation --scopes subjects:write 2>/dev/null)
python3 - "$PORT" "$KEY" <<'PY'
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
for i in range(600):
    body = json.dumps({"subject_id": f"rot-{i}", "email": f"rot{i}@example.org", "phone": f"+4915200{i:06d}", "display_name": f"R {i}"})
    c.request("POST", "/v1/subjects", body, {"Authorization": "Bearer " + sys.argv[2], "Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    assert r.status == 201, r.status
PY
"$VIGIL" keys rotate 2>/dev/null
before=$("$VIGIL" keys status 2>/dev/null | awk '$1=="1"{print $3}')
"$VIGIL" keys rewrap --batch-size 1 >/dev/null 2>&1 &
REWRAP=$!
# Keep the server busy during the rewrap.
python3 - "$PORT" "$KEY" >"$WORK/during.txt" <<'PY' &
import http.client, json, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
ok = 0
for i in range(100):
    c.request("POST", "/v1/subjects", json.dumps({"subject_id": f"during-{i}", "email": f"d{i}@example.org"}),
              {"Authorization": "Bearer " + sys.argv[2], "Content-Type": "application/json"})
    r = c.getresponse(); r.read(); ok += r.status == 201
print(ok)
PY
LOAD=$!
# Kill it as soon as it has made progress (whatever the machine's speed), never after it finished.
for _ in $(seq 1 200); do
  now_left=$("$VIGIL" keys status 2>/dev/null | awk '$1=="1"{print $3}')
  [ -n "$now_left" ] && [ "$now_left" -lt "${before:-0}" ] && break
  sleep 0.05
done
kill -9 $REWRAP 2>/dev/null; wait $REWRAP 2>/dev/null
midway=$("$VIGIL" keys status 2>/dev/null | awk '$1=="1"{print $3}')
wait $LOAD
during=$(cat "$WORK/during.txt")
"$VIGIL" keys rewrap >/dev/null 2>&1; rc=$?
after=$("$VIGIL" keys status 2>/dev/null | awk '$1=="1"{print $3}')
if [ "${midway:-0}" -gt 0 ] && [ "${midway:-0}" -lt "${before:-0}" ] && [ $rc -eq 0 ] && [ "$after" = "0" ] && [ "$during" = "100" ]; then
  ok "rotate + rewrap killed midway ($midway of $before fields left under v1), rerun completes (0 left), 100/100 writes served meanwhile"
else fail "rewrap kill/resume: before=$before midway=$midway rc=$rc after=$after during=$during"; fi

# 6. Graceful shutdown on SIGTERM: exits 0, and signs a final checkpoint.
if stop_server; then ok "SIGTERM: graceful shutdown, exit 0"; else fail "SIGTERM exit code"; fi

# 7. The audit log: the live database verifies, an export verifies with our verifier and with
#    the independent Python one (hashlib + PyNaCl, following docs/audit-format.md only), and a
#    flipped byte is caught by both, naming the seq.
if out=$("$VIGIL" audit verify --db 2>&1); then ok "audit verify --db: $out"; else fail "audit verify --db: $out"; fi
"$VIGIL" audit export --out "$WORK/export1" 2>/dev/null
if out=$("$VIGIL" audit verify "$WORK/export1" 2>&1) && py=$(python3 "$ROOT/scripts/verify_audit_export.py" "$WORK/export1" --public-key Keys/audit-signing.pub 2>&1); then
  ok "audit export verifies (vigil: $out) (python: $py)"
else fail "audit export verify: $out / $py"; fi
cp -r "$WORK/export1" "$WORK/tampered"
python3 - "$WORK/tampered/entries.jsonl" <<'PY'
import sys
p = sys.argv[1]
lines = open(p, "rb").read().split(b"\n")
lines[7] = lines[7].replace(b'"outcome":"success"', b'"outcome":"failure"', 1)
open(p, "wb").write(b"\n".join(lines))
PY
vout=$("$VIGIL" audit verify "$WORK/tampered" 2>&1); vrc=$?
pout=$(python3 "$ROOT/scripts/verify_audit_export.py" "$WORK/tampered" --public-key Keys/audit-signing.pub 2>&1); prc=$?
if [ $vrc -ne 0 ] && [ $prc -ne 0 ] && grep -q "seq 7" <<<"$vout" && grep -q "7" <<<"$pout"; then ok "a changed entry is caught at seq 7 (vigil: $vout) (python: $pout)"
else fail "tampered export: vigil rc=$vrc $vout / python rc=$prc $pout"; fi

# 8. Rotating the audit signing key keeps older checkpoints verifiable.
cp Keys/audit-signing.pub "$WORK/old.pub"
"$VIGIL" keys rotate --audit 2>/dev/null
"$VIGIL" apikey create --name after-rotation --scopes audit:read >/dev/null 2>&1
"$VIGIL" audit export --out "$WORK/export2" 2>/dev/null
tail -n 1 Keys/audit-signing.pub >"$WORK/new-only.pub"
if out=$("$VIGIL" audit verify "$WORK/export2" 2>&1) && [ "$(grep -c vigil-audit Keys/audit-signing.pub)" = 2 ] \
  && ! "$VIGIL" audit verify "$WORK/export2" --public-key "$WORK/new-only.pub" >/dev/null 2>&1 \
  && python3 "$ROOT/scripts/verify_audit_export.py" "$WORK/export2" --public-key Keys/audit-signing.pub >/dev/null 2>&1; then
  ok "after keys rotate --audit the whole log verifies with both keys ($out), not with the new key alone"
else fail "audit key rotation: $out"; fi

# 9. The outbox. Without a webhook, security notices go to the file channel: one JSON line per
#    message, carrying its id, in a 0600 file.
FKEY=$("$VIGIL" apikey create --name outbox --scopes subjects:write 2>/dev/null)
if ! start_server; then fail "server did not start (outbox)"; cat "$WORK/server.log"; exit 1; fi
curl -fs -o /dev/null -X POST "http://127.0.0.1:$PORT/v1/subjects" -H "Authorization: Bearer $FKEY" "${J[@]}" -d '{"subject_id":"file-1"}'
curl -fs -o /dev/null -X POST "http://127.0.0.1:$PORT/v1/subjects/file-1/recovery-codes" -H "Authorization: Bearer $FKEY"
for _ in $(seq 1 50); do
  status=$(curl -fs "http://127.0.0.1:$PORT/v1/subjects/file-1/messages" -H "Authorization: Bearer $FKEY" \
    | python3 -c 'import json,sys; m=json.load(sys.stdin)["messages"]; print(m[0]["status"], m[0]["id"]) if m else print("none")')
  [ "${status%% *}" = delivered ] && break; sleep 0.1
done
line=$(cat data/outbox/messages-*.jsonl 2>/dev/null)
if [ "${status%% *}" = delivered ] && grep -q "\"id\":\"${status#* }\"" <<<"$line" && grep -q recovery_codes_regenerated <<<"$line" \
  && [ "$(stat -c %a data/outbox/messages-*.jsonl)" = 600 ] && [ "$(stat -c %a data/outbox)" = 700 ]; then
  ok "file channel: a security notice is one JSON line with its id in data/outbox (0600 file, 0700 folder), status delivered"
else fail "file channel: status=$status line=$line"; fi
stop_server

# 10. The webhook channel against a receiver in Python (http.server + hmac, not Vigil's code) that
#     fails its first 5 deliveries and is stopped and restarted midway; vigil is restarted with
#     SIGTERM and later killed with SIGKILL, each while deliveries are in flight (the receiver
#     takes 0.5 s a request). Every message arrives and every signature verifies; after the
#     SIGTERM nothing is sent twice; after the SIGKILL a message reaches the receiver twice only
#     if it was in flight when vigil died (first acknowledged within a second of the kill) — the
#     documented window between the receiver's 2xx and the commit that records it — and the
#     receiver dedupes it by Vigil-Message-Id.
RECEIVER="$ROOT/Tests/VigilDeliveryTests/Receiver/receiver.py"
(umask 077; python3 -c 'import secrets; print(secrets.token_hex(32))' >"$WORK/webhook.secret")
RPORT=$(port)
start_receiver() { # fail-first delay
  python3 "$RECEIVER" --secret-file "$WORK/webhook.secret" --state "$WORK/receiver" --port "$RPORT" \
    --fail-first "$1" --delay "$2" >"$WORK/receiver.out" 2>&1 &
  RECEIVER_PID=$!
  for _ in $(seq 1 50); do grep -q listening "$WORK/receiver.out" && return 0; sleep 0.1; done; return 1
}
notices() { # from to: one security notice each (new recovery codes for a new subject)
  python3 - "$PORT" "$FKEY" "$1" "$2" <<'PY'
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
h = {"Authorization": "Bearer " + sys.argv[2], "Content-Type": "application/json"}
for i in range(int(sys.argv[3]), int(sys.argv[4])):
    for path, body in (("/v1/subjects", json.dumps({"subject_id": f"hook-{i}"})), (f"/v1/subjects/hook-{i}/recovery-codes", "")):
        c.request("POST", path, body, h); r = c.getresponse(); r.read(); assert r.status == 201, (path, r.status)
PY
}
undelivered() { # how many of hook-0 … hook-(n-1)'s messages are not delivered yet
  python3 - "$PORT" "$FKEY" "$1" <<'PY'
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
n = 0
for i in range(int(sys.argv[3])):
    c.request("GET", f"/v1/subjects/hook-{i}/messages", headers={"Authorization": "Bearer " + sys.argv[2]})
    r = c.getresponse(); n += sum(m["status"] != "delivered" for m in json.loads(r.read())["messages"])
print(n)
PY
}
# serve refuses a webhook it cannot use: no secret file, a group-readable one, a short one, http off loopback.
(umask 077; echo short >"$WORK/short.secret")
refusals=0
VIGIL_WEBHOOK_URL=https://wallet.example/hooks "$VIGIL" serve --port "$(port)" >/dev/null 2>&1 || refusals=$((refusals + 1))
chmod 644 "$WORK/webhook.secret"
msg=$(VIGIL_WEBHOOK_URL=https://wallet.example/hooks VIGIL_WEBHOOK_SECRET_FILE="$WORK/webhook.secret" "$VIGIL" serve --port "$(port)" 2>&1 >/dev/null) \
  || { grep -q "webhook.secret" <<<"$msg" && grep -q "chmod 600" <<<"$msg" && refusals=$((refusals + 1)); }
chmod 600 "$WORK/webhook.secret"
VIGIL_WEBHOOK_URL=https://wallet.example/hooks VIGIL_WEBHOOK_SECRET_FILE="$WORK/short.secret" "$VIGIL" serve --port "$(port)" >/dev/null 2>&1 \
  || refusals=$((refusals + 1))
msg=$(VIGIL_WEBHOOK_URL=http://wallet.example/hooks VIGIL_WEBHOOK_SECRET_FILE="$WORK/webhook.secret" "$VIGIL" serve --port "$(port)" 2>&1 >/dev/null) \
  || { grep -q "must be https" <<<"$msg" && refusals=$((refusals + 1)); }
if [ $refusals -eq 4 ]; then ok "serve refuses a webhook URL without a secret file, with a 0644 or short secret, or over http off loopback"
else fail "webhook configuration refusals: $refusals of 4"; fi
start_receiver 5 0.05
export VIGIL_WEBHOOK_URL="http://127.0.0.1:$RPORT/hooks/vigil" VIGIL_WEBHOOK_SECRET_FILE="$WORK/webhook.secret"
start_server || { fail "server did not start (webhook)"; cat "$WORK/server.log"; }
notices 0 30
sleep 1
kill -TERM "$RECEIVER_PID"; wait "$RECEIVER_PID" 2>/dev/null      # the receiver goes down midway
notices 30 45
sleep 2
start_receiver 0 0.5                                                # and comes back, with its state, slower
notices 45 55
sleep 0.2
at_sigterm=$(undelivered 55)
TERMED_AT=$(date +%s.%N)
stop_server                                                         # graceful: in-flight attempts finish
start_server || { fail "server did not restart after SIGTERM"; cat "$WORK/server.log"; }
sleep 2                                                             # keep the two windows apart
notices 55 65
sleep 0.2
at_sigkill=$(undelivered 65)
KILLED_AT=$(date +%s.%N)
kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""  # vigil dies mid-delivery
start_server || { fail "server did not restart after SIGKILL"; cat "$WORK/server.log"; }
result=$(python3 - "$PORT" "$FKEY" "$WORK/receiver" "$KILLED_AT" "$at_sigterm" "$at_sigkill" "$TERMED_AT" <<'PY'
import http.client, json, os, sys, time
port, key, state, killed = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
at_sigterm, at_sigkill, termed = int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7])
def records(name):
    try: return [json.loads(l) for l in open(os.path.join(state, name))]
    except FileNotFoundError: return []
c = http.client.HTTPConnection("127.0.0.1", port)
deadline = time.time() + 120
while True:
    ids, statuses = set(), {}
    for i in range(65):
        c.request("GET", f"/v1/subjects/hook-{i}/messages", headers={"Authorization": "Bearer " + key})
        r = c.getresponse(); body = json.loads(r.read())
        for m in body["messages"]:
            ids.add(m["id"]); statuses[m["status"]] = statuses.get(m["status"], 0) + 1
    if statuses.get("delivered", 0) == 65 or time.time() > deadline: break
    time.sleep(1)
accepted = records("accepted.jsonl"); dups = records("duplicates.jsonl"); rejected = records("rejected.jsonl")
first_ack = {a["id"]: a["at"] for a in accepted}
# In flight when vigil died: sent before the kill, acknowledged by the receiver around it.
in_window = all(abs(first_ack.get(d["id"], 0) - killed) <= 1.0 for d in dups)
after_sigterm = sum(abs(first_ack.get(d["id"], 0) - termed) <= 1.0 for d in dups)
failed = int(open(os.path.join(state, "failed.count")).read())
ok = (len(ids) == 65 and statuses == {"delivered": 65} and {a["id"] for a in accepted} == ids
      and not rejected and in_window and after_sigterm == 0 and failed == 5 and at_sigterm > 0 and at_sigkill > 0)
print(("ok" if ok else "FAIL") + f" {len(ids)} messages, statuses {statuses}; {at_sigterm} undelivered at the SIGTERM, "
      f"{at_sigkill} at the SIGKILL; {len(accepted)} acknowledged once; {len(dups)} acknowledged again and deduped by id, "
      f"all in flight at the SIGKILL: {in_window}, from the SIGTERM: {after_sigterm}; {len(rejected)} bad signatures; {failed} deliberate 500s")
if not ok:
    for d in dups:
        print(f"  duplicate {d['id']}: first ack {first_ack.get(d['id'], 0) - killed:+.3f} s, again {d['at'] - killed:+.3f} s "
              f"from the kill, attempts {[a['attempt'] for a in accepted if a['id'] == d['id']]} then {d['attempt']}")
PY
)
if [ "${result%% *}" = ok ]; then ok "webhook outbox through 500s, a receiver restart, a SIGTERM and a SIGKILL of vigil: ${result#* }"
else fail "webhook outbox: $result"; tail -20 "$WORK/server.log"; fi
stop_server
if out=$("$VIGIL" audit verify --db 2>&1); then ok "audit log verifies after the SIGKILL and a restart: $out"; else fail "audit verify after SIGKILL: $out"; fi
kill -TERM "$RECEIVER_PID" 2>/dev/null; wait "$RECEIVER_PID" 2>/dev/null
unset VIGIL_WEBHOOK_URL VIGIL_WEBHOOK_SECRET_FILE

# 11. The SLA report from the CLI: cases opened over HTTP show up in `vigil report sla` (JSON and
#     table), with no personal data; a bad date is a `vigil: error:` line; the HTTP report refuses
#     API keys.
SLA_KEY=$("$VIGIL" apikey create --name sla --scopes cases:write 2>/dev/null)
if ! start_server; then fail "server did not start (sla report)"; cat "$WORK/server.log"; exit 1; fi
for c in wechat:suspicious_login email:transfer in_app:other; do
  curl -fs -o /dev/null -X POST "http://127.0.0.1:$PORT/v1/cases" -H "Authorization: Bearer $SLA_KEY" "${J[@]}" \
    -d "{\"channel\":\"${c%%:*}\",\"category\":\"${c#*:}\",\"summary\":\"slacanary ${c}\",\"contact\":\"slacanary@plaintext-probe.example\"}" \
    || fail "open case $c"
done
check "SLA report with an API key" 401 unauthenticated "http://127.0.0.1:$PORT/v1/reports/sla" -H "Authorization: Bearer $SLA_KEY"
stop_server
"$VIGIL" report sla --format json >"$WORK/sla.json" 2>"$WORK/sla.err"; rc=$?
sla=$(python3 - "$WORK/sla.json" 2>&1 <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
o = r["overall"]
p1 = next(g for g in r["by_priority"] if g["key"] == "P1")
assert o["cases"] == 3 and o["open"] == 3 and p1["cases"] == 1, (o["cases"], o["open"], p1["cases"])
assert len(r["by_hour_utc"]) == 24 and len(r["by_hour_support_time_zone"]) == 24
print(f"{o['cases']} cases, {o['first_response']['pending']} first responses pending, zone {r['support_time_zone']}")
PY
); pyrc=$?
table=$("$VIGIL" report sla 2>&1)
bad=$("$VIGIL" report sla --from yesterday 2>&1 >/dev/null); badrc=$?
if [ $rc -eq 0 ] && [ $pyrc -eq 0 ] && ! grep -q slacanary "$WORK/sla.json" && ! grep -q slacanary <<<"$table" && grep -q "by hour of opening, Asia/Shanghai" <<<"$table" \
  && [ $badrc -ne 0 ] && grep -q "^vigil: error: --from" <<<"$bad"; then ok "vigil report sla: $sla; table and json without personal data; a bad --from is refused"
else fail "vigil report sla: rc=$rc $sla $(cat "$WORK/sla.err") / bad rc=$badrc $bad"; fi

# 12. The case file. An agent (set up with a password and TOTP codes from oathtool) takes on a
#     case the wallet backend opened and fetches its file as JSON and as the printable page; with the
#     server stopped, `vigil case verify` accepts both offline (and the Python verifier, written
#     from docs/case-file.md, the JSON), and refuses a changed byte and another deployment's key. A service key gets 401; the filed summary and contact are in
#     neither form.
CKEY=$("$VIGIL" apikey create --name cases --scopes cases:write 2>/dev/null)
SETUP=$("$VIGIL" agent create --email casefile.agent@vigil.example --role agent 2>/dev/null)
if ! start_server; then fail "server did not start (case file)"; cat "$WORK/server.log"; exit 1; fi
B="http://127.0.0.1:$PORT"
field() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
PASS="a long case-file passphrase"
SECRET=$(curl -fs -X POST "$B/v1/agent/setup" "${J[@]}" -d "{\"setup_token\":\"$SETUP\",\"password\":\"$PASS\"}" | field totp_secret)
curl -fs -o /dev/null -X POST "$B/v1/agent/setup/complete" "${J[@]}" \
  -d "{\"setup_token\":\"$SETUP\",\"code\":\"$(oathtool --totp -b "$SECRET")\"}"
SESSION=$(curl -fs -X POST "$B/v1/agent/sessions" "${J[@]}" \
  -d "{\"email\":\"casefile.agent@vigil.example\",\"password\":\"$PASS\",\"code\":\"$(oathtool --totp -b -N 'now + 30 seconds' "$SECRET")\"}" \
  | field session_token)
CASE=$(curl -fs -X POST "$B/v1/cases" -H "Authorization: Bearer $CKEY" "${J[@]}" \
  -d '{"channel":"in_app","category":"lost_2fa","summary":"CANARY-SUMMARY lost my phone","contact":"canary.case@example.org"}' | field case_id)
curl -fs -o /dev/null -X POST "$B/v1/cases/$CASE/assign" -H "Authorization: Bearer $SESSION"
curl -fs -o "$WORK/case.json" "$B/v1/cases/$CASE/file" -H "Authorization: Bearer $SESSION"
curl -fs -o "$WORK/case.html" "$B/v1/cases/$CASE/file?format=html" -H "Authorization: Bearer $SESSION"
svc=$(curl -s -o /dev/null -w '%{http_code}' "$B/v1/cases/$CASE/file" -H "Authorization: Bearer $CKEY")
stop_server
python3 - "$WORK/case.json" "$WORK/case.tampered.json" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[len(b) // 2] ^= 1; open(sys.argv[2], "wb").write(b)
PY
VIGIL_KEYS_DIR="$WORK/other-keys" "$VIGIL" keys init 2>/dev/null
jout=$("$VIGIL" case verify "$WORK/case.json" 2>&1); jrc=$?
hout=$("$VIGIL" case verify "$WORK/case.html" --key Keys/audit-signing.pub 2>&1); hrc=$?
tout=$("$VIGIL" case verify "$WORK/case.tampered.json" 2>&1); trc=$?
kout=$("$VIGIL" case verify "$WORK/case.json" --key "$WORK/other-keys/audit-signing.pub" 2>&1); krc=$?
pout=$(python3 "$ROOT/scripts/verify_case_file.py" "$WORK/case.json" --public-key Keys/audit-signing.pub 2>&1); prc=$?
ptout=$(python3 "$ROOT/scripts/verify_case_file.py" "$WORK/case.tampered.json" --public-key Keys/audit-signing.pub 2>&1); ptrc=$?
if [ $jrc -eq 0 ] && [ "$jout" = "ok: case $CASE, 3 entries, checkpoint size ${jout##* }" ] && [ $hrc -eq 0 ] && [ "${hout%%,*}" = "ok: case $CASE" ] \
  && [ $trc -eq 1 ] && grep -q "^vigil: error: " <<<"$tout" && [ $krc -eq 1 ] && grep -q "unknown_key" <<<"$kout" && [ "$svc" = 401 ] \
  && [ $prc -eq 0 ] && [ "$pout" = "$jout" ] && [ $ptrc -eq 1 ] \
  && ! grep -q -e CANARY-SUMMARY -e canary.case "$WORK/case.json" "$WORK/case.html"; then
  ok "case file: vigil case verify accepts the JSON ($jout) and the page, so does the Python verifier; a changed byte ($tout) and another key are refused; service key $svc"
else fail "case file: json rc=$jrc $jout / html rc=$hrc $hout / tampered rc=$trc $tout / other key rc=$krc $kout / python rc=$prc $pout, tampered rc=$ptrc / service key $svc"; fi

# 13. Console logins lock (issue 11): an agent with the right password and wrong TOTP codes is
#     locked after the policy's free failures (then even the right code gets the same 401);
#     `vigil agent list` shows the lock, `vigil agent unlock` (audited) clears it, and the
#     right code then logs in.
LSETUP=$("$VIGIL" agent create --email lockout.agent@vigil.example --role agent 2>"$WORK/agent.err")
LID=$(grep -o 'agt_[0-9a-f]*' "$WORK/agent.err" | head -1)
if ! start_server; then fail "server did not start (agent lockout)"; cat "$WORK/server.log"; exit 1; fi
B="http://127.0.0.1:$PORT"
LSECRET=$(curl -fs -X POST "$B/v1/agent/setup" "${J[@]}" -d "{\"setup_token\":\"$LSETUP\",\"password\":\"$PASS\"}" | field totp_secret)
curl -fs -o /dev/null -X POST "$B/v1/agent/setup/complete" "${J[@]}" -d "{\"setup_token\":\"$LSETUP\",\"code\":\"$(oathtool --totp -b "$LSECRET")\"}"
valid=" $(oathtool --totp -b -w 2 -N 'now - 30 seconds' "$LSECRET" | tr '\n' ' ') "
wrong=100000
while grep -q " $wrong " <<<"$valid"; do wrong=$((wrong + 1)); done
login() { curl -s -o /dev/null -w '%{http_code}' -X POST "$B/v1/agent/sessions" "${J[@]}" \
  -d "{\"email\":\"lockout.agent@vigil.example\",\"password\":\"$PASS\",\"code\":\"$1\"}"; }
statuses=""
for _ in 1 2 3 4; do statuses="$statuses$(login "$wrong") "; done
right=$(oathtool --totp -b -N 'now + 30 seconds' "$LSECRET")
locked=$(login "$right")
listed=$("$VIGIL" agent list 2>/dev/null | grep "^$LID ")
"$VIGIL" agent unlock "$LID" 2>/dev/null; urc=$?
after=$(login "$right")
relisted=$("$VIGIL" agent list 2>/dev/null | grep "^$LID ")
stop_server
unlocked=$("$VIGIL" audit verify --db 2>/dev/null >/dev/null && echo verified)
if [ "$statuses" = "401 401 401 401 " ] && [ "$locked" = 401 ] && grep -q "locked (totp, 4 failures, until " <<<"$listed" && [ $urc -eq 0 ] \
  && [ "$after" = 201 ] && ! grep -q locked <<<"$relisted" && [ "$unlocked" = verified ]; then
  ok "agent lockout: 4 wrong codes then the right one: $statuses$locked; listed as '${listed##*active  }'; unlocked, then $after"
else fail "agent lockout: $statuses/ $locked / '$listed' / unlock rc=$urc / after $after / '$relisted' / audit $unlocked"; fi

echo "acceptance: $passed passed, $failed failed"
[ $failed -eq 0 ]
