#!/usr/bin/env bash
# Reset-confirm throughput against the argon2id limit and TOTP verify p99 while the argon2id
# pool is saturated (issue 5). Builds release like scripts/bench.sh, runs a server on a fresh
# temporary database with a policy copy whose reset request limits are raised (so one source can
# ask for hundreds of links) and TOTP lockout raised (wrong codes stay 200), then
# scripts/bench/reset_bench.py. Usage: scripts/bench-reset.sh [TOKENS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOKENS=${1:-400}
SCRATCH="$ROOT/.build-release"
VIGIL="$SCRATCH/release/vigil"
(cd "$ROOT" && swift build -c release --scratch-path "$SCRATCH" --product vigil >&2)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vigil-bench-reset.XXXXXX")
PID=""
cleanup() { [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
cp -r "$ROOT/Policies" "$WORK/Policies"
python3 - "$WORK/Policies" <<'PY'
import re, sys
d = sys.argv[1]
r = open(d + "/recovery.yaml").read()
r = re.sub(r"max_requests_per_source_per_hour: \d+", "max_requests_per_source_per_hour: 1000", r)
r = re.sub(r"resend_cooldown_seconds: \d+", "resend_cooldown_seconds: 0", r)
open(d + "/recovery.yaml", "w").write(r)
a = open(d + "/authentication.yaml").read()
a = re.sub(r"(  totp:\n    free_failures: )\d+", r"\g<1>98", a)
a = re.sub(r"(  totp:\n(?:    .*\n)*?    max_consecutive_failures: )\d+", r"\g<1>100", a)
a = re.sub(r"(  totp_verify:\n    limit: )\d+", r"\g<1>1000", a)
open(d + "/authentication.yaml", "w").write(a)
PY
export VIGIL_KEYS_DIR="$WORK/Keys" VIGIL_DATABASE="$WORK/data/vigil.sqlite" VIGIL_POLICIES_DIR="$WORK/Policies" VIGIL_LOG_LEVEL=warning
"$VIGIL" policy check >/dev/null
"$VIGIL" keys init 2>/dev/null
KEY=$("$VIGIL" apikey create --name bench --scopes subjects:write,credentials:verify,recovery:write 2>/dev/null)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$VIGIL" serve --port "$PORT" --outbox-dir "$WORK/outbox" --openapi "$ROOT/docs/openapi.yaml" >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$ROOT/scripts/bench/reset_bench.py" "$PORT" "$KEY" "$WORK/outbox" "$TOKENS" "$(nproc)"
