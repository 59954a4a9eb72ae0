#!/usr/bin/env bash
# HTTP benchmark of a release build of `vigil` on loopback, driven by wrk.
#
#   scripts/bench.sh [--duration 10s] [--connections 64[,16,1...]] [--threads 2]
#                    [--warmup 2s] [--routes healthz,subjects] [--log-level warning]
#                    [--no-build] [--keep] [--totp-subjects 10000]
#
# Steps: build release (`swift build -c release --scratch-path .build-release`, skipped when
# the binary is newer than every source), make a temporary directory with fresh keys, a fresh
# database and a `subjects:write` API key, start `vigil serve` on a free 127.0.0.1 port, wait
# for /healthz, then for each connection count and each route: a short warm-up run, then the
# measured run. Each wrk run prints one `BENCH key=value ...` line (scripts/bench/common.lua);
# at the end a table. The server is stopped with SIGTERM and the directory deleted.
#
# Exit status: 0 when every run finished with no non-2xx response, no socket error and no
# timeout and the server shut down cleanly; 1 otherwise (the table still shows everything).
#
# Adding a route: write scripts/bench/<name>.lua (see subjects.lua) and add a line to ROUTES.
# If it needs more setup (another API key scope, an enrolled credential...), do that in
# `prepare_fixtures` and pass it to the Lua script through an environment variable.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_DIR="$ROOT/scripts/bench"

# name | method and path (for the table) | Lua script in scripts/bench/
ROUTES=(
  "healthz|GET /healthz|healthz.lua"
  "subjects|POST /v1/subjects|subjects.lua"
  "totp_valid|POST …/totp/verify valid|totp_valid.lua"
  "totp_invalid|POST …/totp/verify invalid|totp_invalid.lua"
)
# Routes whose measured run must not be preceded by a warm-up (it would use up fixtures).
NO_WARMUP=" totp_valid "
totp_subjects=10000

duration=10s
connections=64
threads=2
warmup=2s
only_routes=""
log_level=warning
build=1
keep=0

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --routes) only_routes=$2; shift 2 ;;
    --log-level) log_level=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --keep) keep=1; shift ;;
    --totp-subjects) totp_subjects=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

say() { echo "bench: $*" >&2; }
die() { say "error: $*"; exit 1; }

# Seconds in a wrk time argument (10s, 1m, 500ms is not accepted by wrk either).
seconds_of() {
  case "$1" in
    *m) echo $((${1%m} * 60)) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}
[[ "$(seconds_of "$duration")" =~ ^[0-9]+$ ]] || die "--duration takes whole seconds or minutes, e.g. 10s or 1m"
[[ "$(seconds_of "$warmup")" =~ ^[0-9]+$ ]] || die "--warmup takes whole seconds, e.g. 2s (0s for none)"
[ "$(seconds_of "$duration")" -ge 1 ] && [ "$(seconds_of "$duration")" -le 600 ] || die "--duration must be 1s..10m"
[[ "$threads" =~ ^[0-9]+$ ]] && [ "$threads" -ge 1 ] || die "--threads must be a positive integer"

if [ -n "$only_routes" ]; then
  IFS=',' read -r -a wanted <<<"$only_routes"
  for w in "${wanted[@]}"; do
    printf '%s\n' "${ROUTES[@]}" | grep -q "^$w|" || die "unknown route '$w' (known: $(printf '%s\n' "${ROUTES[@]}" | cut -d'|' -f1 | paste -sd, -))"
  done
fi

# --- wrk --------------------------------------------------------------------------------------
if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing wrk"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null || die "apt-get install wrk failed"
  else
    die "wrk is not installed: run 'sudo apt-get install -y wrk'"
  fi
fi
command -v curl >/dev/null 2>&1 || die "curl is needed (apt-get install -y curl)"

# --- build ------------------------------------------------------------------------------------
SCRATCH="$ROOT/.build-release"
VIGIL="$SCRATCH/release/vigil"
if [ "$build" = 1 ]; then
  newest_source=$(find "$ROOT/Sources" "$ROOT/Package.swift" "$ROOT/Package.resolved" -type f -newer "$VIGIL" -print -quit 2>/dev/null)
  if [ ! -x "$VIGIL" ] || [ -n "$newest_source" ]; then
    say "building release (swift build -c release --scratch-path .build-release --product vigil)"
    (cd "$ROOT" && swift build -c release --scratch-path "$SCRATCH" --product vigil) >&2 || die "release build failed"
  else
    say "release build is up to date ($VIGIL)"
  fi
fi
[ -x "$VIGIL" ] || die "no release binary at $VIGIL (run without --no-build)"

# --- fixtures ---------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vigil-bench.XXXXXX")
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  if [ "$keep" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

KEYS="$WORK/Keys"
DB="$WORK/data/vigil.sqlite"
SERVER_LOG="$WORK/server.log"
# Flags, not the environment, say where things are; drop inherited settings.
unset VIGIL_KEYS_DIR VIGIL_DATABASE VIGIL_HOST VIGIL_PORT VIGIL_POLICIES_DIR

POLICIES="$WORK/Policies"
wants_route() { [ -z "$only_routes" ] || [[ ",$only_routes," == *",$1,"* ]]; }
prepare_fixtures() {
  # The shipped policies, with the TOTP lockout and verify rate limits raised so that wrong codes
  # in the totp_invalid run are answered {valid:false} rather than 429 (the counters still run).
  cp -r "$ROOT/Policies" "$POLICIES"
  python3 - "$POLICIES/authentication.yaml" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
s = re.sub(r"(  totp:\n    free_failures: )\d+", r"\g<1>98", s)
s = re.sub(r"(  totp:\n(?:    .*\n)*?    max_consecutive_failures: )\d+", r"\g<1>100", s)
s = re.sub(r"(  totp_verify:\n    limit: )\d+", r"\g<1>1000", s)
open(p, "w").write(s)
PY
  "$VIGIL" policy check "$POLICIES" >/dev/null 2>"$WORK/policy.log" || { cat "$WORK/policy.log" >&2; die "bench policy copy is invalid"; }
  "$VIGIL" keys init --keys-dir "$KEYS" 2>"$WORK/keys-init.log" || { cat "$WORK/keys-init.log" >&2; die "keys init failed"; }
  API_KEY=$("$VIGIL" apikey create --keys-dir "$KEYS" --database "$DB" --policies-dir "$POLICIES" --name bench --scopes subjects:write,credentials:verify 2>"$WORK/apikey.log") \
    || { cat "$WORK/apikey.log" >&2; die "apikey create failed"; }
  [ -n "$API_KEY" ] || die "apikey create printed no key"
}

free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
  else
    local p
    for _ in $(seq 1 50); do
      p=$((20000 + RANDOM % 40000))
      (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
    die "no free port found"
  fi
}

start_server() {
  PORT=$(free_port)
  VIGIL_LOG_LEVEL="$log_level" "$VIGIL" serve --keys-dir "$KEYS" --database "$DB" --policies-dir "$POLICIES" --host 127.0.0.1 --port "$PORT" \
    --openapi "$ROOT/docs/openapi.yaml" >"$SERVER_LOG" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 150); do
    curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$SERVER_LOG" >&2; die "server exited during start-up"; }
    sleep 0.1
  done
  cat "$SERVER_LOG" >&2
  die "server did not answer /healthz within 15 s"
}

# Server CPU time (user + system) in clock ticks, from /proc.
server_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat" 2>/dev/null || echo 0; }
TICKS=$(getconf CLK_TCK)
# Machine-wide "busy idle" counters from /proc/stat: prints "<idle+iowait> <total>" ticks.
machine_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print $5 + $6, t }' /proc/stat; }

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
prepare_fixtures
start_server
say "server pid $SERVER_PID on 127.0.0.1:$PORT, log level $log_level, work dir $WORK ($(df -T "$WORK" | awk 'NR==2 { print $2 }'))"

# Sanity check each route once, so a broken fixture fails loudly before any load.
probe=$(curl -s -o "$WORK/probe" -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/v1/subjects" \
  -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
  -d '{"subject_id":"bench-probe","email":"probe@example.com","phone":"+4915100000000","display_name":"Probe"}')
[ "$probe" = 201 ] || { cat "$WORK/probe" >&2; die "POST /v1/subjects probe answered $probe, not 201"; }

TOTP_SECRETS="$WORK/totp-secrets.txt"
TOTP_CODES="$WORK/totp-codes.txt"
if wants_route totp_valid || wants_route totp_invalid; then
  python3 -c "import pyotp" 2>/dev/null || die "python3 with pyotp is needed for the TOTP routes (scripts/install-deps --test)"
  say "enrolling $totp_subjects subjects in TOTP (register, enrol, activate with pyotp)"
  python3 "$BENCH_DIR/totp_prepare.py" enrol "$PORT" "$API_KEY" "$totp_subjects" "$TOTP_SECRETS" || die "TOTP enrolment failed"
fi

# --- runs -------------------------------------------------------------------------------------
RESULTS="$WORK/results"
: >"$RESULTS"
failed=0
run=0

run_wrk() { # name script conns threads duration run_id
  local name=$1 script=$2 conns=$3 thr=$4 dur=$5 rid=$6 secs
  secs=$(seconds_of "$dur")
  BENCH_DIR="$BENCH_DIR" BENCH_ROUTE="$name" BENCH_CONNECTIONS="$conns" BENCH_THREADS="$thr" \
    BENCH_RUN_ID="$rid" BENCH_API_KEY="$API_KEY" BENCH_TOTP_CODES="$TOTP_CODES" \
    timeout $((secs + 30)) wrk --threads "$thr" --connections "$conns" --duration "$dur" --timeout 5s \
    --script "$BENCH_DIR/$script" "http://127.0.0.1:$PORT"
}

IFS=',' read -r -a conn_list <<<"$connections"
for conns in "${conn_list[@]}"; do
  [[ "$conns" =~ ^[0-9]+$ ]] && [ "$conns" -ge 1 ] || die "bad connection count '$conns'"
  thr=$threads
  [ "$thr" -gt "$conns" ] && thr=$conns # wrk needs at least one connection per thread
  for entry in "${ROUTES[@]}"; do
    IFS='|' read -r name label script <<<"$entry"
    if [ -n "$only_routes" ] && [[ ",$only_routes," != *",$name,"* ]]; then continue; fi
    run=$((run + 1))
    # Fresh one-use codes for each valid-code run (and the subject list for the invalid one).
    if [[ "$name" == totp_* ]]; then python3 "$BENCH_DIR/totp_prepare.py" codes "$TOTP_SECRETS" "$TOTP_CODES" || die "codes"; fi
    if [ "$(seconds_of "$warmup")" -gt 0 ] && [[ "$NO_WARMUP" != *" $name "* ]]; then
      say "warm-up $label, $conns connections, $warmup"
      warm=$(run_wrk "$name" "$script" "$conns" "$thr" "$warmup" "w$run-$$" 2>&1 | grep '^BENCH ')
      grep -q ' non2xx=0 socket_errors=0 timeouts=0 ' <<<"$warm" || say "warning: warm-up had errors: $warm"
    fi
    say "measuring $label, $conns connections, $thr threads, $duration"
    before=$(server_ticks)
    read -r idle0 total0 < <(machine_ticks)
    out=$(run_wrk "$name" "$script" "$conns" "$thr" "$duration" "m$run-$$" 2>&1)
    rc=$?
    after=$(server_ticks)
    read -r idle1 total1 < <(machine_ticks)
    line=$(grep '^BENCH ' <<<"$out")
    extra=$(grep '^BENCHX ' <<<"$out" | sed 's/^BENCHX //')
    [ -n "$extra" ] && line="$line $extra"
    if [ $rc -ne 0 ] || [ -z "$line" ]; then
      say "error: wrk failed (exit $rc) for $label:"
      echo "$out" >&2
      failed=1
      continue
    fi
    requests=$(sed -E 's/.* requests=([0-9]+) .*/\1/' <<<"$line")
    cpu_us=$(awk -v t=$((after - before)) -v hz="$TICKS" -v n="$requests" 'BEGIN { printf "%.1f", (n > 0 ? t / hz * 1e6 / n : 0) }')
    idle_pct=$(awk -v i=$((idle1 - idle0)) -v t=$((total1 - total0)) 'BEGIN { printf "%.0f", (t > 0 ? 100 * i / t : 0) }')
    line="$line server_cpu_us_per_req=$cpu_us machine_idle_pct=$idle_pct"
    echo "$line"
    echo "$name|$label|$line" >>"$RESULTS"
    grep -q ' non2xx=0 socket_errors=0 timeouts=0 ' <<<"$line" || failed=1
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      say "error: the server died during $label"
      tail -20 "$SERVER_LOG" >&2
      SERVER_PID=""
      failed=1
      break 2
    fi
  done
done

# --- shutdown ---------------------------------------------------------------------------------
if [ -n "$SERVER_PID" ]; then
  kill -TERM "$SERVER_PID"
  t0=$(date +%s.%N)
  wait "$SERVER_PID"
  server_rc=$?
  t1=$(date +%s.%N)
  SERVER_PID=""
  say "server stopped by SIGTERM in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s, exit status $server_rc"
  [ $server_rc -eq 0 ] || failed=1
fi
log_errors=$(grep -c -E ' (error|critical) ' "$SERVER_LOG" || true)
[ "$log_errors" = 0 ] || { say "warning: $log_errors error/critical lines in the server log:"; grep -E ' (error|critical) ' "$SERVER_LOG" | head -5 >&2; }

# --- table ------------------------------------------------------------------------------------
field() { local v; v=$(grep -o -E " $1=[^ ]*" <<<" $2" | head -1); v=${v#* $1=}; echo "${v:-?}"; }
echo
printf '%-30s %6s %10s %9s %9s %9s %9s %12s %6s %s\n' route conns 'req/s' 'p50 ms' 'p90 ms' 'p99 ms' 'max ms' 'cpu us/req' 'idle%' errors
while IFS='|' read -r name label line; do
  non2xx=$(field non2xx "$line"); sock=$(field socket_errors "$line"); tmo=$(field timeouts "$line")
  if [ "$non2xx" = 0 ] && [ "$sock" = 0 ] && [ "$tmo" = 0 ]; then errors=0
  else errors="non2xx=$non2xx socket=$sock timeouts=$tmo statuses=$(field statuses "$line")"; fi
  v=$(field valid_true "$line"); [ "$v" != "?" ] && errors="$errors (valid:true $v)"
  printf '%-30s %6s %10s %9s %9s %9s %9s %12s %6s %s\n' "$label" "$(field connections "$line")" "$(field rps "$line")" \
    "$(field p50_ms "$line")" "$(field p90_ms "$line")" "$(field p99_ms "$line")" "$(field max_ms "$line")" \
    "$(field server_cpu_us_per_req "$line")" "$(field machine_idle_pct "$line")" "$errors"
done <"$RESULTS"
echo
echo "duration $duration per run (after $warmup warm-up), wrk threads $threads, server log level $log_level, $(nproc) CPUs shared by wrk and the server"
echo "load average at start $LOAD_AT_START, at end $(cut -d' ' -f1-3 /proc/loadavg); cpu us/req = server user+system CPU per request; idle% = whole machine during the run"
[ "$failed" = 0 ] || { say "FAILED: some run had errors, or the server did not stop cleanly (see above)"; exit 1; }
