#!/usr/bin/env bash
# benches/compare.sh: the mock MCP server reached directly, through Switchyard,
# and through nginx (a plain keep-alive reverse proxy), side by side on this
# machine, measured with `switchyard bench`.
#
# What it reports, per mix (call, list, read, churn) and path:
#   - throughput (median of the rounds) and its ratio to direct (and, for
#     Switchyard, to nginx); p50 and p99 latency;
#   - the proxy's CPU time per request (utime+stime from /proc/PID/stat before
#     and after the run, nginx master+workers summed, divided by all requests
#     sent, warm-up included), and the mock's and the load generator's too;
#   - the proxy's RSS (VmRSS) idle and at its peak under load;
# plus a concurrency-1 run (added p50 latency over direct) and a memory run
# (proxy RSS while N sessions are active: `bench --concurrency N`).
#
# The list mix has a fourth path, `cached`: the same Switchyard process, on a
# second route whose backend (the same mock) has `cache = {}`, so that the
# cache's throughput is compared with the direct path in the same run.
#
# A fifth path, `bridged`, is the same Switchyard process on a route whose
# backend is a second mock that speaks only the other era (`--era`), so that
# the client's requests cross the era bridge: its CPU per request is compared
# with the same-era `switchyard` path's in the same run (`--no-bridged`
# skips it).
#
# Paths are alternated A B C, A B C ... for --rounds rounds per mix, so drift
# (thermal, noisy neighbours) spreads over all three instead of biasing one.
#
# CPU pinning (taskset, when present). Defaults: the proxy under test gets
# cpu 0 alone; the mock gets cpu 1; the load generator cpu 2.. if the machine
# has them, else cpu 1 with the mock. On a 2-core box that means the proxy's
# core is its own, and direct vs proxied compares "mock+load on one core"
# against "mock+load on one core, proxy on another": read the CPU µs/request
# column for the proxy's cost, the ratio for what a client would see.
# Switchyard gets TOKIO_WORKER_THREADS = the number of proxy CPUs, nginx as
# many worker processes. Switchyard runs without its access log, as nginx does
# (`--switchyard-log` changes that).
#
# Writes $OUT/latest.json, $OUT/latest.svg and every run's raw record in
# $OUT/latest.runs.jsonl (smoke mode: smoke.*), and prints a table. Needs
# bash, python3, curl; installs nginx with apt-get when it is missing (not in
# --smoke mode, which skips nginx then). Runs non-interactively; every process
# it starts is stopped on exit.
set -euo pipefail
exec </dev/null

usage() {
    cat <<'EOF'
usage: benches/compare.sh [options]
  --rounds N           rounds per mix, paths alternated each round (default 3)
  --duration D         measured time per run (default 5s)
  --warmup D           warm-up per run (default 1s)
  --concurrency N      clients in the throughput runs (default 32)
  --mixes LIST         comma-separated (default call,list,read,churn)
  --era E              session | stateless (default session)
  --sessions N         sessions in the memory run (default 1000; 0 skips it)
  --backend-cpus SET   taskset CPU list for the mock (default 1)
  --proxy-cpus SET     ... for Switchyard and nginx (default 0)
  --load-cpus SET      ... for the load generator (default 2-N, or 1 on 2 cores)
  --no-pin             don't use taskset at all
  --no-nginx           skip the nginx path
  --no-cached          skip the cached Switchyard path of the list mix
  --no-bridged         skip the bridged path (a mock of the other era behind Switchyard)
  --mock-latency D     the mock waits D before each answer (default 0ms), to
                       model a backend with a real cost
  --no-build           use the existing target/release/switchyard
  --switchyard-log F   Switchyard's --log filter (default info,switchyard::access=off)
  --out DIR            results directory (default benches/results)
  --smoke              CI: a few hundred requests per path, one round; checks
                       the report and exits non-zero if it is not well formed
EOF
}

MOCK_LATENCY=0ms ROUNDS=3 DURATION=5s WARMUP=1s CONCURRENCY=32 MIXES=call,list,read,churn ERA=session SESSIONS=1000
NCPU=$(nproc 2>/dev/null || echo 1)
BACKEND_CPUS=1 PROXY_CPUS=0 LOAD_CPUS=1
if ((NCPU >= 3)); then LOAD_CPUS="2-$((NCPU - 1))"; fi
PIN=1 NGINX=1 CACHED=1 BRIDGED=1 BUILD=1 SMOKE=0 SY_LOG="info,switchyard::access=off"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/benches/results"

while (($#)); do
    case "$1" in
        --rounds) ROUNDS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --warmup) WARMUP=$2; shift ;;
        --concurrency) CONCURRENCY=$2; shift ;;
        --mixes) MIXES=$2; shift ;;
        --era) ERA=$2; shift ;;
        --sessions) SESSIONS=$2; shift ;;
        --backend-cpus) BACKEND_CPUS=$2; shift ;;
        --proxy-cpus) PROXY_CPUS=$2; shift ;;
        --load-cpus) LOAD_CPUS=$2; shift ;;
        --no-pin) PIN=0 ;;
        --no-nginx) NGINX=0 ;;
        --no-cached) CACHED=0 ;;
        --no-bridged) BRIDGED=0 ;;
        --mock-latency) MOCK_LATENCY=$2; shift ;;
        --no-build) BUILD=0 ;;
        --switchyard-log) SY_LOG=$2; shift ;;
        --out) OUT=$2; shift ;;
        --smoke) SMOKE=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

if ((SMOKE)); then
    ROUNDS=1 CONCURRENCY=8 WARMUP=0s
    ((SESSIONS > 100)) && SESSIONS=100
    NAME=smoke
else
    NAME=latest
fi
if ((NCPU < 2)) || ! command -v taskset >/dev/null; then
    ((PIN)) && echo "note: not pinning CPUs (taskset missing or a single CPU)"
    PIN=0
fi

log() { printf '==> %s\n' "$*" >&2; }

cd "$ROOT"
if ((BUILD)); then
    log "cargo build --release"
    cargo build --release --quiet
fi
BIN="$ROOT/target/release/switchyard"
[[ -x $BIN ]] || { echo "missing $BIN (drop --no-build)" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-compare.XXXXXX")
PIDS=()
CURRENT_BENCH=
alive() { # alive PID: running, and not a zombie waiting to be reaped
    local stat
    read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
}
cleanup() {
    local rc=$?
    # A bench run in flight: its subshell's child, then the subshell.
    if [[ -n $CURRENT_BENCH ]]; then
        pkill -P "$CURRENT_BENCH" 2>/dev/null || true
        kill "$CURRENT_BENCH" 2>/dev/null || true
    fi
    local pid left
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    # Up to 5 s for a graceful exit, then SIGKILL.
    for _ in $(seq 50); do
        left=0
        for pid in "${PIDS[@]}"; do alive "$pid" && left=1; done
        ((left)) || break
        sleep 0.1
    done
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if ((rc != 0)); then
        echo "compare.sh failed (exit $rc); logs kept in $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# pinned CPUS CMD...: runs CMD on CPUS.
pinned() {
    local cpus=$1; shift
    if ((PIN)) && [[ -n $cpus ]]; then taskset -c "$cpus" "$@"; else "$@"; fi
}
# spawn CPUS CMD... &: like pinned, but exec'd, so that $! is CMD's own pid
# (taskset and env exec too), which /proc/$!/stat then measures.
spawn() {
    local cpus=$1; shift
    if ((PIN)) && [[ -n $cpus ]]; then exec taskset -c "$cpus" "$@"; else exec "$@"; fi
}
cpu_count() {
    if ((PIN)) && [[ -n $1 ]]; then taskset -c "$1" nproc; else echo "$NCPU"; fi
}
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# ticks PID...: utime+stime of the processes, in clock ticks.
ticks() {
    local t=0 p line rest
    for p in "$@"; do
        read -r line <"/proc/$p/stat" || continue
        rest=${line##*) }
        read -r -a f <<<"$rest"
        t=$((t + f[11] + f[12]))
    done
    echo "$t"
}
# rss PID...: VmRSS summed, in kB.
rss() {
    local total=0 p k v _
    for p in "$@"; do
        while read -r k v _; do
            if [[ $k == VmRSS: ]]; then total=$((total + v)); break; fi
        done <"/proc/$p/status" || true
    done
    echo "$total"
}
wait_for() { # wait_for WHAT CMD...: retries CMD for up to 15 s.
    local what=$1; shift
    for _ in $(seq 150); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "timed out waiting for $what" >&2
    return 1
}

# --- the backend -------------------------------------------------------------
log "starting the mock (cpus ${BACKEND_CPUS:-any})"
spawn "$BACKEND_CPUS" env TOKIO_WORKER_THREADS="$(cpu_count "$BACKEND_CPUS")" \
    "$BIN" --log warn mock --http 127.0.0.1:0 --json-only --latency "$MOCK_LATENCY" >"$TMP/mock.out" 2>"$TMP/mock.err" &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
wait_for "the mock's URL" test -s "$TMP/mock.out"
MOCK_URL=$(head -n1 "$TMP/mock.out")
log "mock at $MOCK_URL"
OTHER_ERA=stateless
[[ $ERA == stateless ]] && OTHER_ERA=session
MOCK2_URL=
if ((BRIDGED)); then
    spawn "$BACKEND_CPUS" env TOKIO_WORKER_THREADS="$(cpu_count "$BACKEND_CPUS")" \
        "$BIN" --log warn mock --http 127.0.0.1:0 --json-only --latency "$MOCK_LATENCY" --era "$OTHER_ERA" \
        >"$TMP/mock2.out" 2>"$TMP/mock2.err" &
    PIDS+=("$!")
    wait_for "the $OTHER_ERA-only mock's URL" test -s "$TMP/mock2.out"
    MOCK2_URL=$(head -n1 "$TMP/mock2.out")
    log "$OTHER_ERA-only mock at $MOCK2_URL (the bridged path)"
fi

# --- Switchyard --------------------------------------------------------------
SY_PORT=$(free_port)
cat >"$TMP/switchyard.toml" <<EOF
[gateway]
listen = "127.0.0.1:$SY_PORT"
session_key = "compare-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
max_connections = 50000
max_connections_per_ip = 0

[[backends]]
name = "mock"
instances = [{ url = "$MOCK_URL" }]

[[routes]]
path = "/mcp"
backend = "mock"

[[backends]]
name = "mock-cached"
instances = [{ url = "$MOCK_URL" }]
cache = {}

[[routes]]
path = "/cached"
backend = "mock-cached"
EOF
if ((BRIDGED)); then
    cat >>"$TMP/switchyard.toml" <<EOF

[[backends]]
name = "mock-bridged"
instances = [{ url = "$MOCK2_URL" }]
era = "$OTHER_ERA"

[[routes]]
path = "/bridged"
backend = "mock-bridged"
EOF
fi
SY_THREADS=$(cpu_count "$PROXY_CPUS")
log "starting Switchyard (cpus ${PROXY_CPUS:-any}, $SY_THREADS worker threads)"
spawn "$PROXY_CPUS" env TOKIO_WORKER_THREADS="$SY_THREADS" \
    "$BIN" --log "$SY_LOG" run --config "$TMP/switchyard.toml" >"$TMP/switchyard.out" 2>"$TMP/switchyard.err" &
SY_PID=$!
PIDS+=("$SY_PID")
wait_for "Switchyard's /health/live" curl -fsS "http://127.0.0.1:$SY_PORT/health/live"

# --- nginx -------------------------------------------------------------------
NGINX_BIN=$(command -v nginx || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true)
if ((NGINX)) && [[ -z $NGINX_BIN ]]; then
    if ((SMOKE)); then
        log "nginx is not installed: skipping the nginx path in smoke mode"
        NGINX=0
    else
        log "nginx is not installed: installing it with apt-get install -y nginx"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q nginx >"$TMP/apt.log" 2>&1 ||
            { apt-get update -q >>"$TMP/apt.log" 2>&1 && apt-get install -y -q nginx >>"$TMP/apt.log" 2>&1; } ||
            { cat "$TMP/apt.log" >&2; echo "cannot install nginx (use --no-nginx)" >&2; exit 1; }
        NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
    fi
fi
PATHS="direct switchyard"
NGINX_PIDS=()
if ((NGINX)); then
    NG_PORT=$(free_port)
    NG_WORKERS=$(cpu_count "$PROXY_CPUS")
    mkdir -p "$TMP/nginx/logs" "$TMP/nginx/tmp"
    MOCK_HOSTPORT=${MOCK_URL#http://}
    MOCK_HOSTPORT=${MOCK_HOSTPORT%%/*}
    cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes $NG_WORKERS;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/tmp/body;
    proxy_temp_path $TMP/nginx/tmp/proxy;
    fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
    scgi_temp_path $TMP/nginx/tmp/scgi;
    keepalive_requests 1000000;
    upstream mock {
        server $MOCK_HOSTPORT;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$NG_PORT;
        location / {
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
EOF
    log "starting nginx (cpus ${PROXY_CPUS:-any}, $NG_WORKERS workers): $($NGINX_BIN -v 2>&1)"
    spawn "$PROXY_CPUS" "$NGINX_BIN" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g 'daemon off;' \
        >"$TMP/nginx/logs/stdout" 2>&1 &
    NG_PID=$!
    PIDS+=("$NG_PID")
    wait_for "nginx" curl -s -o /dev/null "http://127.0.0.1:$NG_PORT/mcp"
    read -r -a NGINX_PIDS <<<"$NG_PID $(cat "/proc/$NG_PID/task/$NG_PID/children")"
    PATHS="direct switchyard nginx"
fi
((BRIDGED)) && PATHS="$PATHS bridged"

url_of() {
    case $1 in
        direct) echo "$MOCK_URL" ;;
        switchyard) echo "http://127.0.0.1:$SY_PORT/mcp" ;;
        cached) echo "http://127.0.0.1:$SY_PORT/cached" ;;
        bridged) echo "http://127.0.0.1:$SY_PORT/bridged" ;;
        nginx) echo "http://127.0.0.1:$NG_PORT/mcp" ;;
    esac
}
proxy_pids() {
    case $1 in
        direct) ;;
        switchyard | cached | bridged) echo "$SY_PID" ;;
        nginx) echo "${NGINX_PIDS[*]}" ;;
    esac
}

RAW="$TMP/raw.jsonl"
: >"$RAW"
LOAD_THREADS=$(cpu_count "$LOAD_CPUS")
CLK_TCK=$(getconf CLK_TCK)

# measure KIND PATH MIX ROUND BENCH-ARGS...: one bench run, with the proxy's
# and the mock's CPU ticks around it and the proxy's RSS sampled during it.
measure() {
    local kind=$1 path=$2 mix=$3 round=$4; shift 4
    local json="$TMP/run.json"
    local -a pids
    read -r -a pids <<<"$(proxy_pids "$path")"
    rm -f "$json"
    local rss_idle=0 rss_peak=0 p_before=0 p_after=0 m_before m_after
    if ((${#pids[@]})); then rss_idle=$(rss "${pids[@]}"); p_before=$(ticks "${pids[@]}"); fi
    m_before=$(ticks "$MOCK_PID")
    (
        TIMEFORMAT='%U %S'
        time pinned "$LOAD_CPUS" env TOKIO_WORKER_THREADS="$LOAD_THREADS" \
            "$BIN" --log warn bench "$(url_of "$path")" --mix "$mix" --era "$ERA" --quiet --json "$json" "$@" \
            >"$TMP/bench.out" 2>"$TMP/bench.err"
    ) 2>"$TMP/time.out" &
    local bench=$!
    CURRENT_BENCH=$bench
    while kill -0 "$bench" 2>/dev/null; do
        if ((${#pids[@]})); then
            local now
            now=$(rss "${pids[@]}")
            ((now > rss_peak)) && rss_peak=$now
        fi
        sleep 0.25
    done
    CURRENT_BENCH=
    if ! wait "$bench" || [[ ! -s $json ]]; then
        echo "bench failed on $path ($mix):" >&2
        cat "$TMP/bench.err" "$TMP/bench.out" >&2
        exit 1
    fi
    if ((${#pids[@]})); then p_after=$(ticks "${pids[@]}"); fi
    m_after=$(ticks "$MOCK_PID")
    local rss_after=0
    ((${#pids[@]})) && rss_after=$(rss "${pids[@]}")
    # A run shorter than the sampling period may end between samples.
    ((rss_after > rss_peak)) && rss_peak=$rss_after
    local load_cpu
    load_cpu=$(tail -n1 "$TMP/time.out" | awk '{ print $1 + $2 }')
    printf '{"kind":"%s","path":"%s","mix":"%s","round":%s,"clk_tck":%s,"proxy_ticks":%s,"mock_ticks":%s,"load_cpu_s":%s,"rss_idle_kb":%s,"rss_peak_kb":%s,"rss_after_kb":%s,"report":%s}\n' \
        "$kind" "$path" "$mix" "$round" "$CLK_TCK" $((p_after - p_before)) $((m_after - m_before)) \
        "${load_cpu:-0}" "$rss_idle" "$rss_peak" "$rss_after" "$(tr -d '\n' <"$json")" >>"$RAW"
    python3 - "$RAW" <<'EOF' >&2
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
rep = r["report"]
n = rep["requests"] + rep["warmup_requests"]
cpu = r["proxy_ticks"] / r["clk_tck"] * 1e6 / n if n and r["path"] != "direct" else None
print("    %-6s %-6s r%s %-10s %9.0f req/s  p50 %5d µs  p99 %6d µs  errors %d%s" % (
    r["kind"], r["mix"], r["round"], r["path"], rep["rps"], rep["latency_us"]["p50"],
    rep["latency_us"]["p99"], rep["errors"], "" if cpu is None else "  proxy %.1f µs CPU/req" % cpu))
EOF
}

if ((SMOKE)); then
    LENGTH=(--requests 300 --warmup 0s --concurrency "$CONCURRENCY")
    C1=(--requests 100 --warmup 0s --concurrency 1)
    MEM=(--requests "$((SESSIONS * 3))" --warmup 0s --concurrency "$SESSIONS")
else
    LENGTH=(--duration "$DURATION" --warmup "$WARMUP" --concurrency "$CONCURRENCY")
    C1=(--duration 3s --warmup 500ms --concurrency 1)
    MEM=(--duration 3s --warmup 0s --concurrency "$SESSIONS")
fi

IFS=, read -r -a MIX_LIST <<<"$MIXES"
log "throughput: mixes ${MIX_LIST[*]}, $ROUNDS rounds, paths: $PATHS (load cpus ${LOAD_CPUS:-any})"
for mix in "${MIX_LIST[@]}"; do
    mix_paths=$PATHS
    # Only lists are cached by default, so only the list mix measures the cache.
    [[ $mix == list ]] && ((CACHED)) && mix_paths="$PATHS cached"
    for round in $(seq "$ROUNDS"); do
        for path in $mix_paths; do measure load "$path" "$mix" "$round" "${LENGTH[@]}"; done
    done
done
log "latency at concurrency 1 (call)"
for round in $(seq "$ROUNDS"); do
    for path in $PATHS; do measure c1 "$path" call "$round" "${C1[@]}"; done
done
if ((SESSIONS > 0)); then
    log "memory: $SESSIONS concurrent sessions"
    for path in $PATHS; do
        [[ $path == direct ]] && continue
        measure sessions "$path" call 1 "${MEM[@]}"
    done
fi

mkdir -p "$OUT"
SETTINGS=$(printf '{"era":"%s","mock_latency":"%s","cached":%s,"bridged":%s,"rounds":%s,"duration":"%s","warmup":"%s","concurrency":%s,"sessions":%s,"pinned":%s,"backend_cpus":"%s","proxy_cpus":"%s","load_cpus":"%s","switchyard_threads":%s,"switchyard_log":"%s","nginx":"%s","cpus":%s,"smoke":%s}' \
    "$ERA" "$MOCK_LATENCY" "$CACHED" "$BRIDGED" "$ROUNDS" "$DURATION" "$WARMUP" "$CONCURRENCY" "$SESSIONS" "$PIN" "$BACKEND_CPUS" "$PROXY_CPUS" \
    "$LOAD_CPUS" "$SY_THREADS" "$SY_LOG" "$( ((NGINX)) && $NGINX_BIN -v 2>&1 | sed 's/.*: //' || echo skipped)" \
    "$NCPU" "$SMOKE")
CHECK=()
((SMOKE)) && CHECK=(--check)
cp "$RAW" "$OUT/$NAME.runs.jsonl"
python3 "$ROOT/benches/summarize.py" "$RAW" --settings "$SETTINGS" \
    --json "$OUT/$NAME.json" --svg "$OUT/$NAME.svg" "${CHECK[@]}"
log "wrote $OUT/$NAME.json, $OUT/$NAME.svg and the raw runs in $OUT/$NAME.runs.jsonl"
