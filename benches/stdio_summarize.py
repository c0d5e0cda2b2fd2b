#!/usr/bin/env python3
"""benches/stdio_summarize.py: turns benches/compare_stdio.sh's raw records
into benches/results/stdio.json and a table.

usage: stdio_summarize.py RAW.jsonl --settings JSON --json OUT [--check]

RAW holds one JSON object per line:
  {"kind":"load","path":P,"round":N,"concurrency":C,"report":<bench --json>,
   "cpu":<stdio_cputree.py output>}            one measured run
  {"kind":"load","path":P,"round":N,"concurrency":C,"failed":"why"}
  {"kind":"check","path":P,"clients":N,"result":<stdio_check.py output>}

Per path (medians over rounds): throughput, p50, p99; errors summed; CPU per
request = CPU seconds / (measured + warm-up requests), for the proxy and all
its descendants ("tree"), the proxy process alone ("proxy") and the
difference ("children"). Ratios are Switchyard / peer for throughput and
peer / Switchyard for CPU per request. The bar (issue 4): Switchyard at least
20x each peer's throughput, at most 50 µs of its own CPU per request, and no
errors or wrong answers on the Switchyard path.

--check (CI smoke): exits 1 unless the result is well formed and the
Switchyard path ran without errors and answered every check call correctly.
"""

import argparse
import json
import math
import statistics
import sys

BAR_RATIO = 20.0
BAR_CPU_US = 50.0
ORDER = ["switchyard", "supergateway", "mcp-proxy"]


def per_request_us(ticks, clk_tck, n):
    return ticks / clk_tck * 1e6 / n if n else None


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(records, settings):
    paths = {}
    for r in records:
        if r.get("kind") != "load":
            continue
        p = paths.setdefault(r["path"], {"runs": [], "failed": []})
        if "failed" in r:
            p["failed"].append({"round": r["round"], "concurrency": r.get("concurrency"), "why": r["failed"]})
        else:
            p["runs"].append(r)
    out_paths = {}
    for name, p in paths.items():
        runs = p["runs"]
        rows = []
        errors_by_kind = {}
        for r in runs:
            rep, cpu = r["report"], r["cpu"]
            n = rep["requests"] + rep["warmup_requests"]
            tree = per_request_us(cpu["tree_ticks"], cpu["clk_tck"], n)
            root = per_request_us(cpu["root_ticks"], cpu["clk_tck"], n)
            rows.append({
                "round": r["round"], "concurrency": r["concurrency"], "rps": rep["rps"],
                "p50_us": rep["latency_us"]["p50"], "p99_us": rep["latency_us"]["p99"],
                "requests": rep["requests"], "warmup_requests": rep["warmup_requests"],
                "errors": rep["errors"],
                "cpu_tree_us_per_req": tree, "cpu_proxy_us_per_req": root,
                "cpu_children_us_per_req": None if tree is None else tree - root,
                "load_cpu_us_per_req": cpu["load_cpu_s"] * 1e6 / n if n else None,
                "descendants_max": cpu["descendants_max"], "descendants_seen": cpu["descendants_seen"],
                "rss_peak_kb": cpu["rss_peak_kb"],
            })
            for k, v in rep.get("errors_by_kind", {}).items():
                errors_by_kind[k] = errors_by_kind.get(k, 0) + v
        concs = sorted({r["concurrency"] for r in runs})
        out_paths[name] = {
            "rounds": len(rows),
            "concurrency": concs[0] if len(concs) == 1 else concs,
            "rps": median([r["rps"] for r in rows]),
            "p50_us": median([r["p50_us"] for r in rows]),
            "p99_us": median([r["p99_us"] for r in rows]),
            "requests": sum(r["requests"] for r in rows),
            "errors": sum(r["errors"] for r in rows),
            "errors_by_kind": errors_by_kind,
            "cpu_tree_us_per_req": median([r["cpu_tree_us_per_req"] for r in rows]),
            "cpu_proxy_us_per_req": median([r["cpu_proxy_us_per_req"] for r in rows]),
            "cpu_children_us_per_req": median([r["cpu_children_us_per_req"] for r in rows]),
            "load_cpu_us_per_req": median([r["load_cpu_us_per_req"] for r in rows]),
            "child_processes_max": max((r["descendants_max"] for r in rows), default=None),
            "rss_peak_kb": max((r["rss_peak_kb"] for r in rows), default=None),
            "failed_runs": p["failed"],
            "runs": rows,
        }
    checks = {}
    for r in records:
        if r.get("kind") == "check":
            res = r["result"]
            checks.setdefault(r["path"], []).append({
                "clients": r["clients"], "sent": res.get("sent"), "ok": res.get("ok"), "bad": res.get("bad"),
                "outcomes": res.get("outcomes", {}), "init_errors": res.get("init_errors", []),
                "examples": res.get("examples", []), "seconds": res.get("seconds"),
                **({"failed": res["failed"]} if "failed" in res else {}),
            })
    sy = out_paths.get("switchyard")
    ratios = {}
    for name, p in out_paths.items():
        if name == "switchyard" or sy is None:
            continue
        ratios[name] = {
            "throughput": sy["rps"] / p["rps"] if sy["rps"] and p["rps"] else None,
            "cpu_tree_per_req": (p["cpu_tree_us_per_req"] / sy["cpu_tree_us_per_req"]
                                 if p["cpu_tree_us_per_req"] and sy["cpu_tree_us_per_req"] else None),
        }
    findings = []
    for name in sorted(out_paths, key=lambda n: ORDER.index(n) if n in ORDER else 99):
        p = out_paths[name]
        if p["errors"]:
            findings.append("%s: %d errors in %d requests at concurrency %s (%s)" % (
                name, p["errors"], p["requests"], p["concurrency"],
                ", ".join("%s %d" % kv for kv in sorted(p["errors_by_kind"].items()))))
        for f in p["failed_runs"]:
            findings.append("%s: run failed at concurrency %s (round %s): %s" % (
                name, f["concurrency"], f["round"], f["why"]))
    for name, cs in checks.items():
        for c in cs:
            if c.get("bad") or c.get("init_errors") or c.get("failed"):
                kinds = {k: v for k, v in c["outcomes"].items() if k != "ok"}
                findings.append("%s: answer check with %d clients: %s of %s calls wrong or failed %s%s" % (
                    name, c["clients"], c.get("bad"), c.get("sent"), json.dumps(kinds, sort_keys=True),
                    " (%d sessions failed to open)" % len(c["init_errors"]) if c.get("init_errors") else ""))
    bar = None
    if sy is not None:
        peer_ratios = {n: r["throughput"] for n, r in ratios.items()}
        sy_checks_ok = all(not c.get("bad") and not c.get("init_errors") and not c.get("failed")
                           for c in checks.get("switchyard", []))
        bar = {
            "throughput_ratio_min": BAR_RATIO,
            "throughput_ratio": peer_ratios,
            "throughput_met": (all(r is not None and r >= BAR_RATIO for r in peer_ratios.values())
                               if peer_ratios else None),
            "switchyard_cpu_us_per_req_max": BAR_CPU_US,
            "switchyard_cpu_us_per_req": sy["cpu_proxy_us_per_req"],
            "cpu_met": sy["cpu_proxy_us_per_req"] is not None and sy["cpu_proxy_us_per_req"] <= BAR_CPU_US,
            "switchyard_correct": sy["errors"] == 0 and not sy["failed_runs"] and sy_checks_ok,
        }
        bar["met"] = bool(bar["throughput_met"]) and bar["cpu_met"] and bar["switchyard_correct"]
    return {"settings": settings, "paths": out_paths, "ratios": ratios, "checks": checks,
            "findings": findings, "bar": bar}


def fmt(x, spec="{:,.0f}"):
    return "-" if x is None else spec.format(x)


def table(s):
    lines = []
    st = s["settings"]
    length = "300-request runs" if st.get("smoke") else "%s runs after %s warm-up" % (st.get("duration"), st.get("warmup"))
    lines.append("stdio mix: tools/call echo to `switchyard mock --stdio`, %s era, %s, medians of %s rounds"
                 % (st.get("era"), length, st.get("rounds")))
    lines.append("")
    lines.append("| path | clients | req/s | Switchyard / peer | p50 µs | p99 µs | errors | CPU µs/req proxy+child(ren) "
                 "| proxy alone | child(ren) | child processes |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in sorted(s["paths"], key=lambda n: ORDER.index(n) if n in ORDER else 99):
        p = s["paths"][name]
        ratio = s["ratios"].get(name, {}).get("throughput")
        lines.append("| %s | %s | %s | %s | %s | %s | %d / %s | %s | %s | %s | %s |" % (
            name, p["concurrency"], fmt(p["rps"]),
            "—" if name == "switchyard" else fmt(ratio, "{:.1f}×"),
            fmt(p["p50_us"]), fmt(p["p99_us"]), p["errors"], "{:,}".format(p["requests"]),
            fmt(p["cpu_tree_us_per_req"], "{:.1f}"), fmt(p["cpu_proxy_us_per_req"], "{:.1f}"),
            fmt(p["cpu_children_us_per_req"], "{:.1f}"), fmt(p["child_processes_max"], "{}")))
    if s["checks"]:
        lines.append("")
        lines.append("answer checks (each client its own session and text, all reusing ids 1..K):")
        for name in sorted(s["checks"], key=lambda n: ORDER.index(n) if n in ORDER else 99):
            parts = []
            for c in s["checks"][name]:
                bad = {k: v for k, v in c["outcomes"].items() if k != "ok"}
                parts.append("%d clients: %s/%s ok%s%s" % (
                    c["clients"], c.get("ok"), c.get("sent"),
                    (" " + json.dumps(bad, sort_keys=True)) if bad else "",
                    " FAILED: %s" % c["failed"] if c.get("failed") else ""))
            lines.append("  %-13s %s" % (name, "; ".join(parts)))
    if s["findings"]:
        lines.append("")
        lines.append("findings:")
        lines.extend("  - " + f for f in s["findings"])
    b = s["bar"]
    if b:
        lines.append("")
        if st.get("smoke"):
            lines.append("(smoke run: far too short for these figures to mean anything)")
        rs = ", ".join("%s %s" % (n, fmt(r, "{:.1f}×")) for n, r in b["throughput_ratio"].items()) or "no peers run"
        lines.append("bar: throughput ≥ %g× each peer: %s -> %s" % (
            b["throughput_ratio_min"], rs,
            "n/a" if b["throughput_met"] is None else ("met" if b["throughput_met"] else "NOT met")))
        lines.append("     Switchyard CPU ≤ %g µs/req (its own, child excluded): %s -> %s" % (
            b["switchyard_cpu_us_per_req_max"], fmt(b["switchyard_cpu_us_per_req"], "{:.1f}"),
            "met" if b["cpu_met"] else "NOT met"))
        lines.append("     Switchyard errors/wrong answers: %s" % ("none" if b["switchyard_correct"] else "SOME"))
    return "\n".join(lines)


def check(s):
    problems = []
    sy = s["paths"].get("switchyard")
    if sy is None:
        return ["no Switchyard runs"]
    for k in ("rps", "p50_us", "p99_us", "cpu_tree_us_per_req", "cpu_proxy_us_per_req"):
        v = sy.get(k)
        if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            problems.append("switchyard.%s is %r" % (k, v))
    if not sy["rps"]:
        problems.append("switchyard throughput is zero")
    if sy["errors"] or sy["failed_runs"]:
        problems.append("switchyard had errors: %r %r" % (sy["errors_by_kind"], sy["failed_runs"]))
    if not s["checks"].get("switchyard"):
        problems.append("no answer check on the Switchyard path")
    for c in s["checks"].get("switchyard", []):
        if c.get("bad") or c.get("init_errors") or c.get("failed") or not c.get("sent"):
            problems.append("switchyard answer check failed: %r" % c)
    if s["bar"] is None:
        problems.append("no bar verdict")
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("--settings", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    with open(a.raw) as f:
        records = [json.loads(line) for line in f if line.strip()]
    s = summarize(records, json.loads(a.settings))
    text = json.dumps(s, indent=2, ensure_ascii=False) + "\n"
    with open(a.json, "w") as f:
        f.write(text)
    print(table(s))
    if a.check:
        # Read back what was written: the file itself must be well formed.
        with open(a.json) as f:
            problems = check(json.load(f))
        if problems:
            print("\nsmoke check FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
            return 1
        print("\nsmoke check: %s is well formed, Switchyard path clean" % a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
