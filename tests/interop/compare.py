#!/usr/bin/env python3
"""Judge the conformance runs: did the gateway lose a check, and does the mock fail one?

usage: compare.py [--known FILE] [--strict GLOB]... RESULTS_DIR

RESULTS_DIR holds one folder per run, named for it (TARGET-SUITE-ERA, e.g.
`mock-0.2.0-alpha.12-2026-07-28`), each holding `direct/` and `gateway/`: the
`-o` folders of `conformance server` against the backend itself and through
the gateway, with one `server-<scenario>-<timestamp>/checks.json` per scenario.

A check is judged by its worst result when a scenario reports it more than
once (the suite repeats some ids, one per probe). For every run it prints the
checks that do not pass both ways, and it exits 1 when:

- a check passes directly but not through the gateway (LOST), unless FILE
  lists it as `gateway`;
- in a strict run (one whose name matches a --strict GLOB: the mock, which is
  ours and must pass what it serves), a check FAILS directly, unless FILE lists
  it as `backend`. Warnings (SHOULD-level) are printed, never fatal;
- an entry of FILE matches nothing any more: the gap is closed, delete it;
- a run has no results.

Checks that fail directly in a run that is not strict (a third-party backend)
are printed and never fail the comparison: the question there is only what the
gateway loses. The whole table of each run goes to RESULTS_DIR/<run>/table.txt.

FILE has one entry a line, `KIND RUN-GLOB SCENARIO/CHECK-GLOB REASON`, where
KIND is `backend` or `gateway` and the globs are fnmatch patterns; `#` starts
a comment.
"""

import argparse
import fnmatch
import json
import re
import sys
from pathlib import Path

TS_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$")
# Worst first: a check reported several times takes its worst status.
RANK = {"FAILURE": 4, "WARNING": 3, "SUCCESS": 2, "INFO": 1, "SKIPPED": 0}
SHORT = {"SUCCESS": "pass", "FAILURE": "FAIL", "WARNING": "warn", "INFO": "info", "SKIPPED": "skip", None: "-"}


class Known:
    """One line of the known-gaps file."""

    def __init__(self, line_no: int, kind: str, run: str, check: str, reason: str):
        self.line_no, self.kind, self.run, self.check, self.reason = line_no, kind, run, check, reason
        self.used = False

    def matches(self, kind: str, run: str, check: str) -> bool:
        return kind == self.kind and fnmatch.fnmatchcase(run, self.run) and fnmatch.fnmatchcase(check, self.check)


def load_known(path: Path | None) -> list[Known]:
    if path is None:
        return []
    out = []
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 3)
        if len(parts) < 4 or parts[0] not in ("backend", "gateway"):
            sys.exit(f"compare: {path}:{n}: want `backend|gateway RUN-GLOB SCENARIO/CHECK-GLOB REASON`: {raw}")
        out.append(Known(n, *parts))
    return out


def load(results_dir: Path) -> dict[str, dict[str, dict]]:
    """{scenario: {check id: {"status", "count", "message", "details"}}}, in run order."""
    out: dict[str, dict[str, dict]] = {}
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
        name = TS_SUFFIX.sub("", d.name).removeprefix("server-")
        try:
            checks = json.loads(checks_file.read_text())
        except (OSError, ValueError) as e:
            checks = [{"id": "(unreadable checks.json)", "status": "FAILURE", "errorMessage": str(e)}]
        merged = out.setdefault(name, {})
        for c in checks:
            cid = str(c.get("id") or c.get("name") or "?")
            status = c.get("status")
            prev = merged.get(cid)
            if prev is None:
                merged[cid] = {"status": status, "count": 1, "message": c.get("errorMessage"),
                               "details": c.get("details")}
                continue
            prev["count"] += 1
            if RANK.get(status, 4) > RANK.get(prev["status"], 4):
                prev.update(status=status, message=c.get("errorMessage"), details=c.get("details"))
    return out


def judge(run: str, root: Path, strict: bool, known: list[Known]) -> tuple[list[str], list[str]]:
    """Prints one run's verdict; returns (lines for the table file, problems)."""
    direct, gateway = load(root / "direct"), load(root / "gateway")
    problems = []
    if not direct:
        problems.append(f"{run}: no results directly")
    if not gateway:
        problems.append(f"{run}: no results through the gateway")
    if problems:
        return [], problems

    rows = []  # (scenario, check, direct, gateway, note)
    counts = {"direct": [0, 0], "gateway": [0, 0]}
    for scenario in list(direct) + [s for s in gateway if s not in direct]:
        d_checks, g_checks = direct.get(scenario, {}), gateway.get(scenario, {})
        for cid in list(d_checks) + [c for c in g_checks if c not in d_checks]:
            dc, gc = d_checks.get(cid), g_checks.get(cid)
            ds, gs = (dc or {}).get("status"), (gc or {}).get("status")
            for side, st in (("direct", ds), ("gateway", gs)):
                counts[side][0] += st == "SUCCESS"
                counts[side][1] += st == "FAILURE"
            key = f"{scenario}/{cid}"
            notes = []
            if strict and ds == "FAILURE":
                entry = next((k for k in known if k.matches("backend", run, key)), None)
                if entry:
                    entry.used = True
                    notes.append(f"fails directly (known: {entry.reason})")
                else:
                    notes.append("FAILS DIRECTLY")
                    problems.append(f"{run}: {key} fails against the backend itself: {(dc or {}).get('message')}")
            elif ds == "FAILURE":
                notes.append("fails directly")
            if ds == "SUCCESS" and gs != "SUCCESS":
                why = (gc or {}).get("message") or ("missing from the gateway run" if gc is None else f"status {gs}")
                entry = next((k for k in known if k.matches("gateway", run, key)), None)
                if entry:
                    entry.used = True
                    notes.append(f"lost (known: {entry.reason}): {why}")
                else:
                    notes.append(f"LOST: {why}")
                    detail = json.dumps((gc or {}).get("details"))[:1500] if gc and gc.get("details") else ""
                    problems.append(f"{run}: {key} is LOST through the gateway: {why}"
                                    + (f"\n      details: {detail}" if detail else ""))
            elif ds != "SUCCESS" and gs == "SUCCESS":
                notes.append("gained")
            elif ds == "WARNING" or gs == "WARNING":
                notes.append("warning")
            count = max((dc or {}).get("count", 0), (gc or {}).get("count", 0))
            label = cid if count < 2 else f"{cid} (x{count})"
            rows.append((scenario, label, SHORT.get(ds, ds), SHORT.get(gs, gs), "; ".join(notes)))

    table = [f"{'scenario':<46}  {'check':<64}  direct  gateway  note"]
    prev = None
    for scenario, label, ds, gs, note in rows:
        table.append(f"{scenario if scenario != prev else '':<46}  {label:<64}  {ds:<6}  {gs:<7}  {note}".rstrip())
        prev = scenario
    summary = (f"direct {counts['direct'][0]} passed, {counts['direct'][1]} failed; "
               f"gateway {counts['gateway'][0]} passed, {counts['gateway'][1]} failed")
    print(f"\n--- {run}{' (strict: the mock must pass what it serves)' if strict else ''}: {summary}")
    # A third-party backend's own failures, kept the same through the
    # gateway, are only counted here; table.txt lists them.
    both_fail = [r for r in rows if r[4] == "fails directly" and r[3] == "FAIL"]
    shown = [r for r in rows if (r[4] or r[2] != r[3]) and r not in both_fail]
    for scenario, label, ds, gs, note in shown:
        print(f"  {scenario}/{label}: direct {ds}, gateway {gs}{': ' + note if note else ''}")
    if both_fail:
        print(f"  {len(both_fail)} check(s) fail against the backend itself and through the gateway alike "
              f"(see {root / 'table.txt'})")
    if not shown and not both_fail:
        print("  every check passes both ways")
    return table + ["", summary], problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--known", type=Path)
    ap.add_argument("--strict", action="append", default=[])
    ap.add_argument("results", type=Path)
    args = ap.parse_args()
    known = load_known(args.known)
    runs = sorted(p.name for p in args.results.iterdir() if p.is_dir()) if args.results.is_dir() else []
    if not runs:
        print(f"compare: no runs in {args.results}", file=sys.stderr)
        return 1
    problems = []
    for run in runs:
        strict = any(fnmatch.fnmatchcase(run, g) for g in args.strict)
        table, found = judge(run, args.results / run, strict, known)
        (args.results / run / "table.txt").write_text("\n".join(table) + "\n")
        problems += found
    for k in known:
        if not k.used:
            problems.append(f"{args.known}:{k.line_no}: `{k.kind} {k.run} {k.check}` matched nothing: "
                            "that gap is closed, delete the entry")
    print()
    if problems:
        print(f"conformance: {len(problems)} problem(s):")
        for p in problems:
            print(f"  - {p}")
        return 1
    print(f"conformance: {len(runs)} runs, no check lost through the gateway, "
          "and the mock fails nothing it is not known to fail")
    return 0


if __name__ == "__main__":
    sys.exit(main())
