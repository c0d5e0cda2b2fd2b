#!/usr/bin/env bash
# benches/compare_aggregate.sh: what aggregation costs, measured in one run.
#
# Ten `switchyard mock --http` members behind one gateway, which serves them
# two ways at once:
#   /single   a plain route to member 0
#   /agg      an aggregated route of all ten (prefixes m0 … m9)
# and reports, from paths alternated round by round:
#   - call:  `tools/call` through /single (tool echo) and through /agg (tool
#            m0__echo, the same member): throughput, p50, and the gateway's
#            CPU per request (utime+stime from /proc/PID/stat before and after,
#            divided by the requests sent). The ratio agg/single is the cost of
#            routing by prefix; the target is at most 1.10.
#   - list:  `tools/list` at concurrency 1 through /agg (fanned out to ten
#            members, each read in full, merged, paged) against the same list
#            asked of each member directly; the added p50 over the slowest
#            member is the cost of the fan-out; the target is under 1 ms.
# Pinning (taskset, when present): the gateway on cpu 0, the mocks and the
# load generator on cpu 1 (2 cores) or 1 and 2.. (more). Access log off.
#
# usage: benches/compare_aggregate.sh [--rounds N] [--duration D] [--concurrency N]
#                                     [--no-build] [--smoke] [--out DIR]
# Writes DIR/aggregate.json (smoke: aggregate-smoke.json) and prints a table.
# Runs without stdin; every process it starts is stopped on exit.
set -euo pipefail
exec </dev/null

ROUNDS=3 DURATION=5s CONCURRENCY=16 BUILD=1 SMOKE=0
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/benches/results"
while (($#)); do
    case "$1" in
        --rounds) ROUNDS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --concurrency) CONCURRENCY=$2; shift ;;
        --no-build) BUILD=0 ;;
        --smoke) SMOKE=1 ;;
        --out) OUT=$2; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

NCPU=$(nproc 2>/dev/null || echo 1)
GW_CPUS=0 MOCK_CPUS=1 LOAD_CPUS=1
if ((NCPU >= 3)); then LOAD_CPUS="2-$((NCPU - 1))"; fi
pin() { # CPUS CMD...: runs CMD on CPUS, in place of this (sub)shell, so that
    # a backgrounded `(pin …) &` has the command's own PID in $!.
    local cpus=$1
    shift
    if command -v taskset >/dev/null && ((NCPU >= 2)); then exec taskset -c "$cpus" "$@"; else exec "$@"; fi
}

if ((BUILD)); then
    (cd "$ROOT" && cargo build --release --bin switchyard >/dev/null)
fi
BIN="$ROOT/target/release/switchyard"
[ -x "$BIN" ] || { echo "no $BIN; run without --no-build" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-agg.XXXXXX")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

MOCKS=()
for i in $(seq 0 9); do
    (pin "$MOCK_CPUS" "$BIN" mock --http 127.0.0.1:0 >"$WORK/mock$i.url" 2>"$WORK/mock$i.log") &
    PIDS+=($!)
done
for i in $(seq 0 9); do
    for _ in $(seq 100); do
        url=$(head -n1 "$WORK/mock$i.url" 2>/dev/null | grep -oE '^http://[^[:space:]]+' || true)
        [ -n "$url" ] && break
        sleep 0.1
    done
    [ -n "$url" ] || { echo "mock $i printed no URL" >&2; exit 1; }
    MOCKS+=("$url")
done

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
{
    printf '[gateway]\nlisten = "127.0.0.1:%s"\nsession_key = "bench-aggregate-key"\n\n' "$PORT"
    for i in $(seq 0 9); do
        printf '[[backends]]\nname = "m%s"\ninstances = [{ url = "%s" }]\nhealth = { probe = "none" }\n\n' "$i" "${MOCKS[$i]}"
    done
    printf '[[routes]]\npath = "/single"\nbackend = "m0"\n\n[[routes]]\npath = "/agg"\nmembers = ['
    for i in $(seq 0 9); do printf '{ backend = "m%s" }, ' "$i"; done
    printf ']\nmember_timeout = "5s"\n'
} >"$WORK/gateway.toml"
(TOKIO_WORKER_THREADS=1 pin "$GW_CPUS" "$BIN" run --config "$WORK/gateway.toml" --log "warn,switchyard::access=off" \
    >"$WORK/gateway.log" 2>&1) &
GW_PID=$!
PIDS+=($GW_PID)
GW="http://127.0.0.1:$PORT"
for _ in $(seq 100); do
    curl -sf "$GW/health/live" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -sf "$GW/health/live" >/dev/null || { cat "$WORK/gateway.log" >&2; exit 1; }

ticks() { # utime+stime of PID, in clock ticks
    local stat
    read -r stat <"/proc/$1/stat"
    stat=${stat##*) }
    # shellcheck disable=SC2206
    local f=($stat)
    echo $((f[11] + f[12]))
}
HZ=$(getconf CLK_TCK)

# run NAME URL MIX TOOL CONCURRENCY: one bench run, its JSON in $WORK/NAME.json
# and the gateway's CPU ticks it cost in $WORK/NAME.ticks.
run() {
    local name=$1 url=$2 mix=$3 tool=$4 conc=$5 before after
    local size=(--duration "$DURATION" --warmup 1s)
    ((SMOKE)) && size=(--requests 200 --warmup 0s)
    before=$(ticks "$GW_PID")
    (pin "$LOAD_CPUS" "$BIN" bench "$url" --mix "$mix" --tool "$tool" --concurrency "$conc" "${size[@]}" \
        --quiet --json "$WORK/$name.json" >/dev/null)
    after=$(ticks "$GW_PID")
    echo $((after - before)) >"$WORK/$name.ticks"
}

rounds=$ROUNDS
((SMOKE)) && rounds=1
for r in $(seq 1 "$rounds"); do
    run "call-single-$r" "$GW/single" call echo "$CONCURRENCY"
    run "call-agg-$r" "$GW/agg" call m0__echo "$CONCURRENCY"
    run "list-agg-$r" "$GW/agg" list echo 1
    for i in $(seq 0 9); do
        run "list-direct$i-$r" "${MOCKS[$i]}" list echo 1
    done
done

mkdir -p "$OUT"
RESULT="$OUT/aggregate.json"
((SMOKE)) && RESULT="$OUT/aggregate-smoke.json"
python3 - "$WORK" "$rounds" "$HZ" "$RESULT" "$SMOKE" <<'PY'
import json, os, statistics, sys

work, rounds, hz, out, smoke = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5] == "1"
def load(name):
    with open(os.path.join(work, name + ".json")) as f:
        report = json.load(f)
    with open(os.path.join(work, name + ".ticks")) as f:
        ticks = int(f.read())
    total = report["requests"] + report.get("warmup_requests", 0)
    report["cpu_us"] = ticks * 1e6 / hz / max(total, 1)
    return report

med = statistics.median
rows = {}
for path in ("call-single", "call-agg", "list-agg"):
    runs = [load(f"{path}-{r}") for r in range(1, rounds + 1)]
    errors = sum(x["errors"] for x in runs)
    rows[path] = {
        "rps": med(x["rps"] for x in runs),
        "p50_us": med(x["latency_us"]["p50"] for x in runs),
        "cpu_us": med(x["cpu_us"] for x in runs),
        "errors": errors,
    }
slowest = []
for r in range(1, rounds + 1):
    slowest.append(max(load(f"list-direct{i}-{r}")["latency_us"]["p50"] for i in range(10)))
rows["list-slowest-member"] = {"p50_us": med(slowest)}
ratio = rows["call-agg"]["cpu_us"] / max(rows["call-single"]["cpu_us"], 1e-9)
added = rows["list-agg"]["p50_us"] - rows["list-slowest-member"]["p50_us"]
summary = {"rows": rows, "call_cpu_ratio_agg_over_single": ratio, "list_added_p50_us": added, "rounds": rounds}
with open(out, "w") as f:
    json.dump(summary, f, indent=2)
print(f"{'path':<22}{'req/s':>10}{'p50 µs':>10}{'gateway CPU µs/req':>20}{'errors':>8}")
for name, row in rows.items():
    print(f"{name:<22}{row.get('rps', 0):>10.0f}{row['p50_us']:>10.0f}{row.get('cpu_us', 0):>20.1f}{row.get('errors', 0):>8}")
print(f"tools/call CPU, aggregated / single route: {ratio:.2f} (target <= 1.10)")
print(f"tools/list over 10 members, p50 added over the slowest member: {added:.0f} µs (target < 1000)")
bad = [n for n, r in rows.items() if r.get("errors")]
if bad:
    sys.exit(f"errors on {bad}")
if smoke and not (rows["call-agg"]["rps"] > 0 and rows["list-agg"]["rps"] > 0):
    sys.exit("smoke: a path measured nothing")
PY
