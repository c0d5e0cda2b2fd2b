#!/usr/bin/env bash
# benches/compare_stdio.sh: a stdio MCP server (`switchyard mock --stdio`,
# tool `echo {text}`) reached over Streamable HTTP three ways, each path
# fronting its own copy of the same child command:
#   switchyard    `[[backends]] transport = "stdio"`, processes = 1
#   supergateway  npm `supergateway --stdio CMD --outputTransport streamableHttp
#                 --stateful` (it starts one child per session)
#   mcp-proxy     PyPI `mcp-proxy --host 127.0.0.1 --port P -- CMD` (one
#                 child shared by every session)
# measured with `switchyard bench --mix call` (session era by default).
#
# What it reports, per path (medians over --rounds rounds, the paths
# alternated in each round so that drift spreads over all three):
#   - throughput, its ratio Switchyard / peer, p50 and p99 latency, errors;
#   - CPU time per request of the proxy *and its children* (every process in
#     its tree, sampled from /proc during the run by benches/stdio_cputree.py),
#     of the proxy process alone, and of the child(ren);
#   - answer checks (benches/stdio_check.py), before the load runs: N clients
#     at once, each its own session and text, all reusing the same ids, must
#     each get their own echo back (the bench counts errors but does not read
#     answers, so cross-talk between clients would pass it unseen).
# and the issue's bar: Switchyard >= 20x each peer's throughput, <= 50 µs of its
# own CPU per request (child excluded), no errors on its path.
#
# CPU pinning (taskset, when present): the proxy under test and its children
# get --proxy-cpus (default 0); the load generator, the samplers and the
# checker get --load-cpus (default 1, or 1-N on a bigger machine). The child
# inherits the proxy's affinity, unless --child-cpus gives it CPUs of its own
# (then the child command is `taskset -c SET <switchyard> mock --stdio` on
# every path; taskset execs, so the child is still one process). The child runs
# with TOKIO_WORKER_THREADS = the number of its CPUs on every path, and
# Switchyard with as many worker threads as proxy CPUs and without its access
# log; the peers log at warning (mcp-proxy) or not at all (supergateway).
#
# Installs the peers (unless --no-install) into benches/.deps/ (git-ignored):
# supergateway with npm into benches/.deps/npm (needs Node >= 20: `node` on
# PATH, else the Node 22 that tests/interop/run.sh leaves in
# tests/interop/.deps/node22), mcp-proxy into the venv benches/.deps/venv.
# supergateway has no option to choose its listen address (it binds every
# interface); it runs with benches/stdio_loopback.mjs preloaded, which pins its
# listener to 127.0.0.1.
#
# Writes $OUT/stdio.json and every raw record in $OUT/stdio.runs.jsonl
# (--smoke: stdio.smoke.*), and prints a table. Ports are picked free at run
# time. Runs non-interactively; every process it starts, children included,
# is stopped on exit. Needs bash, python3, curl; npm for the install.
set -euo pipefail
exec </dev/null

usage() {
    cat <<'EOF'
usage: benches/compare_stdio.sh [options]
  --rounds N            rounds, paths alternated each round (default 3)
  --duration D          measured time per run (default 5s)
  --warmup D            warm-up per run (default 1s)
  --concurrency N       clients in the load runs (default 32)
  --peer-concurrency N  clients for the peers' load runs (default: --concurrency)
  --check-clients LIST  client counts for the answer checks (default 1,8,<concurrency>)
  --check-calls N       calls per client in each answer check (default 50)
  --era E               session | stateless (default session); the answer
                        checks always use the session era
  --paths LIST          comma-separated (default switchyard,supergateway,mcp-proxy)
  --proxy-cpus SET      taskset CPU list for the proxy and its children (default 0)
  --child-cpus SET      ... for the stdio child alone (default: the proxy's)
  --load-cpus SET       ... for the load generator and helpers (default 1-N, or 1)
  --no-pin              don't use taskset at all
  --no-build            use the existing target/release/switchyard
  --no-install          don't install the peers; fail if they are missing
  --node PATH           node binary for supergateway (default: see above)
  --switchyard-log F    Switchyard's --log filter (default info,switchyard::access=off)
  --out DIR             results directory (default benches/results)
  --smoke               CI: Switchyard path only, a few hundred requests, one
                        round; exits non-zero unless the JSON is well formed
                        and the Switchyard path was clean
Environment: SUPERGATEWAY_PKG (default supergateway@4.0.0),
             MCP_PROXY_PKG (default mcp-proxy==0.13.0)
EOF
}

ROUNDS=3 DURATION=5s WARMUP=1s CONCURRENCY=32 PEER_CONCURRENCY= ERA=session
CHECK_CLIENTS= CHECK_CALLS=50 PATHS_ARG=switchyard,supergateway,mcp-proxy
NCPU=$(nproc 2>/dev/null || echo 1)
PROXY_CPUS=0 LOAD_CPUS=1 CHILD_CPUS=
if ((NCPU >= 3)); then LOAD_CPUS="1-$((NCPU - 1))"; fi
PIN=1 BUILD=1 INSTALL=1 SMOKE=0 NODE= SY_LOG="info,switchyard::access=off"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/benches/results"
DEPS="$ROOT/benches/.deps"
SUPERGATEWAY_PKG=${SUPERGATEWAY_PKG:-supergateway@4.0.0}
MCP_PROXY_PKG=${MCP_PROXY_PKG:-mcp-proxy==0.13.0}

while (($#)); do
    case "$1" in
        --rounds) ROUNDS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --warmup) WARMUP=$2; shift ;;
        --concurrency) CONCURRENCY=$2; shift ;;
        --peer-concurrency) PEER_CONCURRENCY=$2; shift ;;
        --check-clients) CHECK_CLIENTS=$2; shift ;;
        --check-calls) CHECK_CALLS=$2; shift ;;
        --era) ERA=$2; shift ;;
        --paths) PATHS_ARG=$2; shift ;;
        --proxy-cpus) PROXY_CPUS=$2; shift ;;
        --child-cpus) CHILD_CPUS=$2; shift ;;
        --load-cpus) LOAD_CPUS=$2; shift ;;
        --no-pin) PIN=0 ;;
        --no-build) BUILD=0 ;;
        --no-install) INSTALL=0 ;;
        --node) NODE=$2; shift ;;
        --switchyard-log) SY_LOG=$2; shift ;;
        --out) OUT=$2; shift ;;
        --smoke) SMOKE=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

if ((SMOKE)); then
    ROUNDS=1 CONCURRENCY=8 WARMUP=0s PATHS_ARG=switchyard CHECK_CALLS=20
    NAME=stdio.smoke
else
    NAME=stdio
fi
PEER_CONCURRENCY=${PEER_CONCURRENCY:-$CONCURRENCY}
CHECK_CLIENTS=${CHECK_CLIENTS:-1,8,$CONCURRENCY}
IFS=, read -r -a PATHS <<<"$PATHS_ARG"
for p in "${PATHS[@]}"; do
    case $p in switchyard | supergateway | mcp-proxy) ;; *) echo "unknown path: $p" >&2; exit 2 ;; esac
done
case $ERA in session | stateless) ;; *) echo "--era: session or stateless" >&2; exit 2 ;; esac
if ((NCPU < 2)) || ! command -v taskset >/dev/null; then
    ((PIN)) && echo "note: not pinning CPUs (taskset missing or a single CPU)"
    PIN=0
fi
has_path() { [[ " ${PATHS[*]} " == *" $1 "* ]]; }

T0=$SECONDS
log() { printf '==> [%3ds] %s\n' "$((SECONDS - T0))" "$*" >&2; }

cd "$ROOT"
if ((BUILD)); then
    log "cargo build --release"
    cargo build --release --quiet
fi
BIN="$ROOT/target/release/switchyard"
[[ -x $BIN ]] || { echo "missing $BIN (drop --no-build)" >&2; exit 1; }

# --- the peers ---------------------------------------------------------------
SG_JS="$DEPS/npm/node_modules/supergateway/dist/index.js"
MP_BIN="$DEPS/venv/bin/mcp-proxy"
node_major() { "$1" --version 2>/dev/null | sed -nE 's/^v([0-9]+).*/\1/p'; }
if has_path supergateway; then
    if [[ -z $NODE ]]; then
        NODE22=$(ls "$ROOT"/tests/interop/.deps/node22/node_modules/node-linux-*/bin/node 2>/dev/null | head -n1)
        if command -v node >/dev/null && (($(node_major node || true) + 0 >= 20)); then
            NODE=$(command -v node)
        elif [[ -n $NODE22 && -x $NODE22 ]]; then
            NODE=$NODE22
        else
            echo "supergateway needs Node >= 20: put one on PATH, pass --node, or run tests/interop/run.sh" >&2
            exit 1
        fi
    fi
    if [[ ! -f $SG_JS || "$(cat "$DEPS/npm/.stamp" 2>/dev/null)" != "$SUPERGATEWAY_PKG" ]]; then
        ((INSTALL)) || { echo "supergateway is not installed in $DEPS/npm (drop --no-install)" >&2; exit 1; }
        log "installing $SUPERGATEWAY_PKG into $DEPS/npm"
        mkdir -p "$DEPS/npm"
        # npm's CLI runs on the node first on PATH: make that the chosen one.
        PATH="$(dirname "$NODE"):$PATH" npm install --prefix "$DEPS/npm" --no-audit --no-fund \
            --loglevel=error "$SUPERGATEWAY_PKG" >&2
        echo "$SUPERGATEWAY_PKG" >"$DEPS/npm/.stamp"
    fi
fi
if has_path mcp-proxy; then
    if [[ ! -x $MP_BIN || "$(cat "$DEPS/venv/.stamp" 2>/dev/null)" != "$MCP_PROXY_PKG" ]]; then
        ((INSTALL)) || { echo "mcp-proxy is not installed in $DEPS/venv (drop --no-install)" >&2; exit 1; }
        log "installing $MCP_PROXY_PKG into the venv $DEPS/venv"
        [[ -x $DEPS/venv/bin/python ]] || python3 -m venv "$DEPS/venv"
        "$DEPS/venv/bin/pip" install --quiet --disable-pip-version-check "$MCP_PROXY_PKG" >&2
        echo "$MCP_PROXY_PKG" >"$DEPS/venv/.stamp"
    fi
fi

# --- processes and cleanup ---------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-stdio.XXXXXX")
PIDS=()          # the proxies, as started
CURRENT=         # a helper in flight (sampler + bench, or checker)
alive() { # alive PID: running, and not a zombie waiting to be reaped
    local stat
    read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
}
descendants() { # descendants PID: every process below PID, one per line
    local c
    for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        echo "$c"
        descendants "$c"
    done
}
cleanup() {
    local rc=$?
    set +e
    if [[ -n $CURRENT ]]; then
        kill "$CURRENT" 2>/dev/null
        wait "$CURRENT" 2>/dev/null
    fi
    # Remember every descendant first: a proxy killed before it stops its
    # children (supergateway puts each in its own process group) leaves them.
    local -a all=()
    local pid left
    for pid in "${PIDS[@]}"; do
        all+=("$pid")
        # shellcheck disable=SC2207
        all+=($(descendants "$pid"))
    done
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    # Up to 8 s for a graceful exit (supergateway gives a child 5 s), then SIGKILL.
    for _ in $(seq 80); do
        left=0
        for pid in "${all[@]}"; do alive "$pid" && left=1; done
        ((left)) || break
        sleep 0.1
    done
    for pid in "${all[@]}"; do alive "$pid" && kill -KILL "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    if ((rc != 0)); then
        echo "compare_stdio.sh failed (exit $rc); logs kept in $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

pinned() { # pinned CPUS CMD...: runs CMD on CPUS.
    local cpus=$1; shift
    if ((PIN)) && [[ -n $cpus ]]; then taskset -c "$cpus" "$@"; else "$@"; fi
}
spawn() { # spawn CPUS CMD... &: like pinned, but exec'd, so that $! is CMD's pid.
    local cpus=$1; shift
    if ((PIN)) && [[ -n $cpus ]]; then exec taskset -c "$cpus" "$@"; else exec "$@"; fi
}
cpu_count() {
    if ((PIN)) && [[ -n $1 ]]; then taskset -c "$1" nproc; else echo "$NCPU"; fi
}
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_for() { # wait_for WHAT PID CMD...: retries CMD for up to 30 s while PID lives.
    local what=$1 pid=$2; shift 2
    for _ in $(seq 300); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        alive "$pid" || { echo "$what exited while starting; its log:" >&2; cat "$TMP/$what.log" >&2; exit 1; }
        sleep 0.1
    done
    echo "timed out waiting for $what; its log:" >&2
    cat "$TMP/$what.log" >&2
    exit 1
}
http_answers() { # http_answers URL: any HTTP status at all
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1") || true
    [[ $code != 000 ]]
}
listen_addrs() { # listen_addrs PID...: the TCP addresses these processes listen on
    local inodes=() p fd link
    for p in "$@"; do
        for fd in /proc/"$p"/fd/*; do
            link=$(readlink "$fd" 2>/dev/null) || continue
            [[ $link == socket:* ]] && inodes+=("${link//[^0-9]/}")
        done
    done
    ((${#inodes[@]})) || return 0
    python3 - "${inodes[@]}" <<'EOF'
import socket, struct, sys
want = set(sys.argv[1:])
out = []
for fam, path in ((4, "/proc/net/tcp"), (6, "/proc/net/tcp6")):
    try:
        lines = open(path).read().splitlines()[1:]
    except OSError:
        continue
    for l in lines:
        f = l.split()
        if f[3] != "0A" or f[9] not in want:  # 0A = LISTEN
            continue
        addr, port = f[1].split(":")
        raw = bytes.fromhex(addr)
        if fam == 4:
            host = socket.inet_ntop(socket.AF_INET, raw[::-1])
        else:
            host = "[" + socket.inet_ntop(socket.AF_INET6, b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))) + "]"
        out.append("%s:%d" % (host, int(port, 16)))
print(" ".join(sorted(set(out))))
EOF
}

PROXY_THREADS=$(cpu_count "$PROXY_CPUS")
LOAD_THREADS=$(cpu_count "$LOAD_CPUS")
# The child command, the same on every path.
CHILD=("$BIN" mock --stdio)
CHILD_THREADS=$PROXY_THREADS
if ((PIN)) && [[ -n $CHILD_CPUS ]]; then
    CHILD=("$(command -v taskset)" -c "$CHILD_CPUS" "${CHILD[@]}")
    CHILD_THREADS=$(cpu_count "$CHILD_CPUS")
else
    CHILD_CPUS=
fi
CHILD_DESC="${CHILD[*]}"
toml_list() { # toml_list WORD...: a TOML array of strings
    python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$@"
}
declare -A URL PID BINDS

# --- Switchyard --------------------------------------------------------------
start_switchyard() {
    local port
    port=$(free_port)
    cat >"$TMP/switchyard.toml" <<EOF
[gateway]
listen = "127.0.0.1:$port"
session_key = "stdio-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
max_connections = 50000
max_connections_per_ip = 0

[[backends]]
name = "mock"
transport = "stdio"
command = "${CHILD[0]}"
args = $(toml_list "${CHILD[@]:1}")
env = { TOKIO_WORKER_THREADS = "$CHILD_THREADS" }
processes = 1

[[routes]]
path = "/mcp"
backend = "mock"
EOF
    log "starting Switchyard (cpus ${PROXY_CPUS:-any}, $PROXY_THREADS worker threads) -> $CHILD_DESC"
    spawn "$PROXY_CPUS" env TOKIO_WORKER_THREADS="$PROXY_THREADS" \
        "$BIN" --log "$SY_LOG" run --config "$TMP/switchyard.toml" >"$TMP/switchyard.log" 2>&1 &
    PID[switchyard]=$!
    PIDS+=("$!")
    URL[switchyard]="http://127.0.0.1:$port/mcp"
    wait_for switchyard "$!" curl -fsS "http://127.0.0.1:$port/health/ready"
}

# --- supergateway ------------------------------------------------------------
start_supergateway() {
    local port
    port=$(free_port)
    log "starting supergateway $("$NODE" "$SG_JS" --version 2>/dev/null) on node $("$NODE" --version) (cpus ${PROXY_CPUS:-any}) -> $CHILD_DESC"
    # The child command goes through `sh -c` (supergateway spawns with a shell).
    spawn "$PROXY_CPUS" env TOKIO_WORKER_THREADS="$CHILD_THREADS" \
        "$NODE" --import "file://$ROOT/benches/stdio_loopback.mjs" "$SG_JS" \
        --stdio "$CHILD_DESC" --outputTransport streamableHttp --stateful \
        --port "$port" --logLevel none >"$TMP/supergateway.log" 2>&1 &
    PID[supergateway]=$!
    PIDS+=("$!")
    URL[supergateway]="http://127.0.0.1:$port/mcp"
    wait_for supergateway "$!" http_answers "${URL[supergateway]}"
}

# --- mcp-proxy ---------------------------------------------------------------
start_mcp_proxy() {
    local port
    port=$(free_port)
    log "starting mcp-proxy $("$MP_BIN" --version 2>/dev/null | tr -d '\n') (cpus ${PROXY_CPUS:-any}) -> $CHILD_DESC"
    # mcp-proxy gives its child a minimal environment: -e passes the one we set.
    spawn "$PROXY_CPUS" "$MP_BIN" --host 127.0.0.1 --port "$port" --log-level WARNING \
        -e TOKIO_WORKER_THREADS "$CHILD_THREADS" -- "${CHILD[@]}" \
        >"$TMP/mcp-proxy.log" 2>&1 &
    PID[mcp-proxy]=$!
    PIDS+=("$!")
    URL[mcp-proxy]="http://127.0.0.1:$port/mcp"
    wait_for mcp-proxy "$!" curl -fsS "http://127.0.0.1:$port/status"
}

for p in "${PATHS[@]}"; do
    "start_${p//-/_}"
    BINDS[$p]=$(listen_addrs "${PID[$p]}")
    log "  $p at ${URL[$p]} (pid ${PID[$p]}; listening on ${BINDS[$p]:-?})"
done

RAW="$TMP/raw.jsonl"
: >"$RAW"

# --- answer checks -----------------------------------------------------------
# shellcheck disable=SC2207
CHECK_LIST=($(tr , '\n' <<<"$CHECK_CLIENTS" | awk 'NF && !seen[$1]++'))
log "answer checks: ${CHECK_LIST[*]} clients x $CHECK_CALLS calls per path"
for p in "${PATHS[@]}"; do
    for n in "${CHECK_LIST[@]}"; do
        pinned "$LOAD_CPUS" python3 "$ROOT/benches/stdio_check.py" "${URL[$p]}" --clients "$n" \
            --calls "$CHECK_CALLS" --json "$TMP/check.json" >"$TMP/check.out" 2>"$TMP/check.err" &
        CURRENT=$!
        wait "$CURRENT" || true
        CURRENT=
        if [[ -s $TMP/check.json ]]; then
            result=$(tr -d '\n' <"$TMP/check.json")
        else
            result=$(python3 -c 'import json,sys; print(json.dumps({"failed": sys.argv[1][-500:]}))' \
                "$(cat "$TMP/check.err")")
        fi
        rm -f "$TMP/check.json"
        printf '{"kind":"check","path":"%s","clients":%s,"result":%s}\n' "$p" "$n" "$result" >>"$RAW"
        python3 - "$RAW" <<'EOF' >&2
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
res = r["result"]
bad = {k: v for k, v in res.get("outcomes", {}).items() if k != "ok"}
print("    check %-13s %3d clients: %s/%s ok%s%s" % (r["path"], r["clients"], res.get("ok"), res.get("sent"),
      " " + json.dumps(bad) if bad else "", " FAILED: " + res["failed"] if "failed" in res else ""))
EOF
    done
done

# --- load runs ---------------------------------------------------------------
if ((SMOKE)); then
    LENGTH=(--requests 300 --warmup 0s)
else
    LENGTH=(--duration "$DURATION" --warmup "$WARMUP")
fi

# measure PATH ROUND: one bench run, with the CPU of the proxy's process tree
# sampled around it.
measure() {
    local path=$1 round=$2 conc=$CONCURRENCY
    [[ $path != switchyard ]] && conc=$PEER_CONCURRENCY
    local json="$TMP/run.json" cpu="$TMP/cpu.json"
    rm -f "$json" "$cpu"
    pinned "$LOAD_CPUS" python3 "$ROOT/benches/stdio_cputree.py" --root "${PID[$path]}" --json "$cpu" -- \
        env TOKIO_WORKER_THREADS="$LOAD_THREADS" "$BIN" --log warn bench "${URL[$path]}" --mix call \
        --era "$ERA" --concurrency "$conc" --quiet --json "$json" "${LENGTH[@]}" \
        >"$TMP/bench.out" 2>"$TMP/bench.err" &
    CURRENT=$!
    local rc=0
    wait "$CURRENT" || rc=$?
    CURRENT=
    if ((rc != 0)) || [[ ! -s $json || ! -s $cpu ]]; then
        local why
        why=$(tail -c 400 "$TMP/bench.err" | tr '\n' ' ')
        echo "    bench failed on $path (exit $rc): $why" >&2
        [[ $path == switchyard ]] && exit 1
        python3 -c 'import json,sys; print(json.dumps({"kind":"load","path":sys.argv[1],"round":int(sys.argv[2]),"concurrency":int(sys.argv[3]),"failed":sys.argv[4]}))' \
            "$path" "$round" "$conc" "exit $rc: $why" >>"$RAW"
        alive "${PID[$path]}" || { echo "$path died; its log:" >&2; tail -n 50 "$TMP/$path.log" >&2; exit 1; }
        return 0
    fi
    printf '{"kind":"load","path":"%s","round":%s,"concurrency":%s,"report":%s,"cpu":%s}\n' \
        "$path" "$round" "$conc" "$(tr -d '\n' <"$json")" "$(tr -d '\n' <"$cpu")" >>"$RAW"
    python3 - "$RAW" <<'EOF' >&2
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
rep, cpu = r["report"], r["cpu"]
n = rep["requests"] + rep["warmup_requests"]
us = lambda t: t / cpu["clk_tck"] * 1e6 / n if n else float("nan")
print("    r%s %-13s c%-3d %8.0f req/s  p50 %6d µs  p99 %7d µs  errors %d  CPU/req %6.1f µs (proxy %.1f, %d child proc)" % (
    r["round"], r["path"], r["concurrency"], rep["rps"], rep["latency_us"]["p50"], rep["latency_us"]["p99"],
    rep["errors"], us(cpu["tree_ticks"]), us(cpu["root_ticks"]), cpu["descendants_max"]))
EOF
}

log "load: $ROUNDS rounds of ${PATHS[*]} (concurrency $CONCURRENCY, peers $PEER_CONCURRENCY, era $ERA, load cpus ${LOAD_CPUS:-any})"
for round in $(seq "$ROUNDS"); do
    for p in "${PATHS[@]}"; do measure "$p" "$round"; done
done

# --- report ------------------------------------------------------------------
versions() {
    local sg=skipped mp=skipped nodev=
    has_path supergateway && { sg=$("$NODE" "$SG_JS" --version 2>/dev/null | tr -d '\n'); nodev=$("$NODE" --version); }
    has_path mcp-proxy && mp=$("$MP_BIN" --version 2>/dev/null | awk '{print $NF}' | tr -d '\n')
    printf '"supergateway":"%s","node":"%s","mcp_proxy":"%s"' "$sg" "$nodev" "$mp"
}
binds_json() {
    local p first=1
    printf '{'
    for p in "${PATHS[@]}"; do
        ((first)) || printf ','
        first=0
        printf '"%s":"%s"' "$p" "${BINDS[$p]}"
    done
    printf '}'
}
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || GIT_REV="$GIT_REV+dirty"
BIN_BUILT=$(date -u -r "$BIN" +%Y-%m-%dT%H:%M:%SZ)
SETTINGS=$(printf '{"git":"%s","binary_built":"%s","measured":"%s","era":"%s","rounds":%s,"duration":"%s","warmup":"%s","concurrency":%s,"peer_concurrency":%s,"check_clients":"%s","check_calls":%s,"paths":"%s","child":"%s","pinned":%s,"proxy_cpus":"%s","child_cpus":"%s","load_cpus":"%s","proxy_threads":%s,"switchyard_log":"%s",%s,"listen":%s,"cpus":%s,"smoke":%s,"seconds":%s}' \
    "$GIT_REV" "$BIN_BUILT" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$ERA" "$ROUNDS" "$DURATION" "$WARMUP" "$CONCURRENCY" "$PEER_CONCURRENCY" "$CHECK_CLIENTS" "$CHECK_CALLS" \
    "$PATHS_ARG" "$CHILD_DESC" "$PIN" "$PROXY_CPUS" "$CHILD_CPUS" "$LOAD_CPUS" "$PROXY_THREADS" "$SY_LOG" "$(versions)" \
    "$(binds_json)" "$NCPU" "$SMOKE" "$((SECONDS - T0))")
mkdir -p "$OUT"
cp "$RAW" "$OUT/$NAME.runs.jsonl"
CHECK=()
((SMOKE)) && CHECK=(--check)
python3 "$ROOT/benches/stdio_summarize.py" "$RAW" --settings "$SETTINGS" --json "$OUT/$NAME.json" "${CHECK[@]}"
log "wrote $OUT/$NAME.json and the raw records in $OUT/$NAME.runs.jsonl"
