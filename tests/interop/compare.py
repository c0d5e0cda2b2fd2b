#!/usr/bin/env python3
"""Compare two runs of the MCP conformance suite's server scenarios.

usage: compare.py DIRECT_RESULTS_DIR GATEWAY_RESULTS_DIR

Each directory is the `-o` folder of `conformance server`, holding one
`server-<scenario>-<timestamp>/checks.json` per scenario. Prints a side-by-side
table (scenario, check, direct, gateway) and exits 1 when any check that
succeeds directly does not succeed through the gateway. Checks that fail
directly are reported but never fail the comparison.
"""

import json
import re
import sys
from pathlib import Path

TS_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$")

SHORT = {
    "SUCCESS": "pass",
    "FAILURE": "FAIL",
    "WARNING": "warn",
    "INFO": "info",
    "SKIPPED": "skip",
    None: "-",
}


def load(results_dir: Path):
    """Return ({scenario: [(check_key, check_dict), ...]}, [scenario order])."""
    out = {}
    if not results_dir.is_dir():
        return out
    def run_order(p: Path):
        # Folders end in the scenario's start time: sort by it, i.e. run order.
        m = TS_SUFFIX.search(p.name)
        return (m.group(0) if m else "~", p.name)

    for d in sorted(results_dir.iterdir(), key=run_order):
        checks_file = d / "checks.json"
        if not d.is_dir() or not checks_file.is_file():
            continue
        name = TS_SUFFIX.sub("", d.name)
        if name.startswith("server-"):
            name = name[len("server-"):]
        try:
            checks = json.loads(checks_file.read_text())
        except (OSError, ValueError) as e:
            checks = [{"id": "(unreadable checks.json)", "status": "FAILURE",
                       "errorMessage": str(e)}]
        seen = {}
        rows = []
        for c in checks:
            cid = str(c.get("id") or c.get("name") or "?")
            seen[cid] = seen.get(cid, 0) + 1
            key = cid if seen[cid] == 1 else f"{cid}#{seen[cid]}"
            rows.append((key, c))
        # A scenario run twice in one folder (should not happen): keep the last.
        out[name] = rows
    return out


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    direct = load(Path(sys.argv[1]))
    gateway = load(Path(sys.argv[2]))
    if not direct:
        print(f"compare: no conformance results in {sys.argv[1]}", file=sys.stderr)
        return 1
    if not gateway:
        print(f"compare: no conformance results in {sys.argv[2]}", file=sys.stderr)
        return 1

    scenarios = list(direct)
    scenarios += [s for s in gateway if s not in direct]

    table = []  # (scenario, check, direct, gateway, note, detail)
    lost, gained = [], []
    counts = {"direct": [0, 0], "gateway": [0, 0]}  # [pass, fail]
    for s in scenarios:
        d_rows = dict(direct.get(s, []))
        g_rows = dict(gateway.get(s, []))
        keys = [k for k, _ in direct.get(s, [])]
        keys += [k for k, _ in gateway.get(s, []) if k not in d_rows]
        for k in keys:
            dc, gc = d_rows.get(k), g_rows.get(k)
            ds = dc.get("status") if dc else None
            gs = gc.get("status") if gc else None
            for side, st in (("direct", ds), ("gateway", gs)):
                if st == "SUCCESS":
                    counts[side][0] += 1
                elif st == "FAILURE":
                    counts[side][1] += 1
            note, detail = "", ""
            if ds == "SUCCESS" and gs != "SUCCESS":
                note = "LOST"
                detail = (gc or {}).get("errorMessage") or (
                    "check missing from gateway run" if gc is None else f"status {gs}")
                lost.append((s, k, detail, gc))
            elif ds != "SUCCESS" and gs == "SUCCESS":
                note = "gained"
                gained.append((s, k))
            elif ds == "FAILURE" and gs == "FAILURE":
                note = "fails directly"
            elif ds == "WARNING" and gs == "FAILURE":
                note = "worse (warn->FAIL)"
            table.append((s, k, SHORT.get(ds, ds), SHORT.get(gs, gs), note, detail))

    w_s = max(len("scenario"), *(len(r[0]) for r in table))
    w_c = max(len("check"), *(len(r[1]) for r in table))
    header = f"{'scenario':<{w_s}}  {'check':<{w_c}}  {'direct':<6}  {'gateway':<7}  note"
    print(header)
    print("-" * len(header))
    prev = None
    for s, k, ds, gs, note, detail in table:
        shown = s if s != prev else ""
        prev = s
        line = f"{shown:<{w_s}}  {k:<{w_c}}  {ds:<6}  {gs:<7}  {note}"
        if detail:
            line += f": {detail}"
        print(line.rstrip())
    print("-" * len(header))
    print(f"direct:  {counts['direct'][0]} passed, {counts['direct'][1]} failed")
    print(f"gateway: {counts['gateway'][0]} passed, {counts['gateway'][1]} failed")
    if gained:
        print(f"{len(gained)} check(s) pass through the gateway but not directly: "
              + ", ".join(f"{s}/{k}" for s, k in gained))
    if lost:
        print(f"\n{len(lost)} check(s) LOST through the gateway (pass directly, not via gateway):")
        for s, k, detail, gc in lost:
            print(f"  - {s}/{k}: {detail}")
            if gc and gc.get("details"):
                print("      details: " + json.dumps(gc["details"])[:2000])
        return 1
    print("\nno conformance check lost through the gateway")
    return 0


if __name__ == "__main__":
    sys.exit(main())
