#!/usr/bin/env python3
"""Summarise the runs of benches/compare.sh: medians per mix and path, a JSON
report, a hand-written SVG chart (no matplotlib), and a table on stdout.

Input: one JSON object per line, as compare.sh's `measure` writes them:
  {"kind": "load"|"c1"|"sessions", "path", "mix", "round", "clk_tck",
   "proxy_ticks", "mock_ticks", "load_cpu_s", "rss_idle_kb", "rss_peak_kb",
   "rss_after_kb", "report": <switchyard bench --json>}

With --check (compare.sh --smoke) it exits 1 unless every run is well formed:
requests counted, no errors, percentiles in order, positive throughput.
"""

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys

PATHS = ["direct", "switchyard", "cached", "nginx", "bridged"]
COLOURS = {"direct": "#9e9e9e", "switchyard": "#1f6fd1", "cached": "#7a3fc0", "nginx": "#2e9d4c", "bridged": "#d1861f"}


def per_request_us(runs, field, clk):
    """CPU µs per request over all runs: total ticks / total requests sent."""
    ticks = sum(r[field] for r in runs)
    sent = sum(r["report"]["requests"] + r["report"]["warmup_requests"] for r in runs)
    return round(ticks / clk * 1e6 / sent, 1) if sent else None


def summarise_runs(runs):
    reps = [r["report"] for r in runs]
    clk = runs[0]["clk_tck"]
    sent = sum(r["requests"] + r["warmup_requests"] for r in reps)
    out = {
        "rps": round(statistics.median(r["rps"] for r in reps), 1),
        "rps_rounds": [round(r["rps"], 1) for r in reps],
        "p50_us": statistics.median(r["latency_us"]["p50"] for r in reps),
        "p99_us": statistics.median(r["latency_us"]["p99"] for r in reps),
        "p999_us": statistics.median(r["latency_us"]["p999"] for r in reps),
        "requests": sum(r["requests"] for r in reps),
        "errors": sum(r["errors"] for r in reps),
        "mock_cpu_us_per_req": per_request_us(runs, "mock_ticks", clk),
        "load_cpu_us_per_req": round(sum(r["load_cpu_s"] for r in runs) * 1e6 / sent, 1) if sent else None,
    }
    if runs[0]["path"] != "direct":
        out["proxy_cpu_us_per_req"] = per_request_us(runs, "proxy_ticks", clk)
        out["proxy_rss_kb_load"] = max(r["rss_peak_kb"] for r in runs)
    return out


def summarise(raw, settings):
    by = {}
    for r in raw:
        by.setdefault((r["kind"], r["mix"], r["path"]), []).append(r)
    paths = [p for p in PATHS if any(k[2] == p for k in by)]
    mixes = []
    for r in raw:
        if r["kind"] == "load" and r["mix"] not in mixes:
            mixes.append(r["mix"])
    throughput = {}
    for mix in mixes:
        row = {p: summarise_runs(by[("load", mix, p)]) for p in paths if ("load", mix, p) in by}
        direct = row.get("direct", {}).get("rps")
        nginx = row.get("nginx", {}).get("rps")
        for p, s in row.items():
            s["ratio_vs_direct"] = round(s["rps"] / direct, 3) if direct else None
            if p == "switchyard" and nginx:
                s["ratio_vs_nginx"] = round(s["rps"] / nginx, 3)
        # The era bridge's cost: its CPU per request over the same-era path's.
        same = row.get("switchyard", {}).get("proxy_cpu_us_per_req")
        if "bridged" in row and same:
            row["bridged"]["cpu_ratio_vs_same_era"] = round(row["bridged"]["proxy_cpu_us_per_req"] / same, 3)
        throughput[mix] = row
    latency = {}
    c1 = {p: summarise_runs(by[("c1", "call", p)]) for p in paths if ("c1", "call", p) in by}
    for p, s in c1.items():
        entry = {"p50_us": s["p50_us"], "p99_us": s["p99_us"], "rps": s["rps"], "errors": s["errors"]}
        if "direct" in c1:
            entry["added_p50_us"] = s["p50_us"] - c1["direct"]["p50_us"]
            entry["added_p99_us"] = s["p99_us"] - c1["direct"]["p99_us"]
        latency[p] = entry
    memory = {}
    for p in paths:
        first = next((r for r in raw if r["path"] == p), None)
        if p == "direct" or first is None:
            continue
        mem = {"rss_kb_idle": first["rss_idle_kb"]}
        sess = by.get(("sessions", "call", p))
        if sess:
            s = sess[0]
            mem.update({
                "sessions": s["report"]["concurrency"],
                "rss_kb_before_sessions": s["rss_idle_kb"],
                "rss_kb_sessions_peak": s["rss_peak_kb"],
                "rss_kb_per_session": round((s["rss_peak_kb"] - s["rss_idle_kb"]) / max(s["report"]["concurrency"], 1), 1),
                "rss_kb_after_sessions": s["rss_after_kb"],
                "sessions_run_rps": round(s["report"]["rps"], 1),
                "sessions_run_errors": s["report"]["errors"],
            })
        memory[p] = mem
    return {
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": {"machine": platform.machine(), "kernel": platform.release(), "cpus": os.cpu_count()},
        "settings": settings,
        "units": "rps: requests/s (a churn = initialize + initialized + call + DELETE counts as one); "
                 "latency µs; CPU µs per request; RSS kB",
        "throughput": throughput,
        "latency_c1": latency,
        "memory": memory,
    }


def check(raw, summary):
    problems = []
    for r in raw:
        rep, tag = r["report"], f'{r["kind"]}/{r["mix"]}/{r["path"]}/round {r["round"]}'
        lat = rep.get("latency_us", {})
        keys = ["requests", "errors", "rps", "latency_us", "errors_by_kind", "duration_s", "concurrency", "mix", "era"]
        missing = [k for k in keys if k not in rep]
        if missing:
            problems.append(f"{tag}: missing {missing}")
            continue
        if rep["requests"] <= 0 or rep["rps"] <= 0:
            problems.append(f"{tag}: no requests measured")
        if rep["errors"]:
            problems.append(f'{tag}: {rep["errors"]} errors {rep["errors_by_kind"]}')
        order = [lat.get(k, -1) for k in ("p50", "p90", "p99", "p999", "max")]
        if order != sorted(order) or order[0] <= 0:
            problems.append(f"{tag}: percentiles out of order {order}")
    if not summary["throughput"] or not summary["latency_c1"]:
        problems.append("summary has no throughput or latency section")
    for mix, row in summary["throughput"].items():
        for p in ("direct", "switchyard"):
            if p not in row:
                problems.append(f"{mix}: no {p} result")
        if mix == "list" and summary["settings"].get("cached") and "cached" not in row:
            problems.append("list: no cached result")
        if summary["settings"].get("bridged") and "bridged" not in row:
            problems.append(f"{mix}: no bridged result")
    return problems


def fmt(v, spec="{:.0f}"):
    return "-" if v is None else spec.format(v)


def table(summary):
    lines = []
    head = f'{"mix":<6} {"path":<11} {"req/s":>9} {"vs direct":>9} {"vs nginx":>8} {"p50 µs":>7} {"p99 µs":>7} ' \
           f'{"proxy CPU":>10} {"mock CPU":>9} {"proxy RSS":>10} {"errors":>6}'
    lines.append(head)
    lines.append(f'{"":<6} {"":<11} {"(median)":>9} {"":>9} {"":>8} {"":>7} {"":>7} {"µs/req":>10} {"µs/req":>9} '
                 f'{"load MiB":>10}')
    for mix, row in summary["throughput"].items():
        for p, s in row.items():
            rss = s.get("proxy_rss_kb_load")
            lines.append(
                f'{mix:<6} {p:<11} {s["rps"]:>9.0f} {fmt(s["ratio_vs_direct"], "{:.3f}"):>9} '
                f'{fmt(s.get("ratio_vs_nginx"), "{:.3f}"):>8} {s["p50_us"]:>7} {s["p99_us"]:>7} '
                f'{fmt(s.get("proxy_cpu_us_per_req"), "{:.1f}"):>10} {fmt(s["mock_cpu_us_per_req"], "{:.1f}"):>9} '
                f'{fmt(None if rss is None else rss / 1024, "{:.1f}"):>10} {s["errors"]:>6}')
    bridged = [(mix, row["bridged"]["cpu_ratio_vs_same_era"]) for mix, row in summary["throughput"].items()
               if "cpu_ratio_vs_same_era" in row.get("bridged", {})]
    if bridged:
        lines.append("")
        lines.append("era bridge, proxy CPU per request over the same-era path's: " +
                     ", ".join(f"{mix} {r:.3f}" for mix, r in bridged))
    lines.append("")
    lines.append("concurrency 1, tools/call:")
    for p, s in summary["latency_c1"].items():
        added = s.get("added_p50_us")
        lines.append(f'  {p:<11} p50 {s["p50_us"]:>6} µs  p99 {s["p99_us"]:>6} µs  '
                     f'added p50 {fmt(added, "{:+d}"):>6} µs  added p99 {fmt(s.get("added_p99_us"), "{:+d}"):>6} µs')
    lines.append("")
    lines.append("proxy memory (VmRSS):")
    for p, m in summary["memory"].items():
        line = f'  {p:<11} idle {m["rss_kb_idle"] / 1024:.1f} MiB'
        if "sessions" in m:
            line += (f'; {m["sessions"]} sessions active: peak {m["rss_kb_sessions_peak"] / 1024:.1f} MiB '
                     f'(+{m["rss_kb_per_session"]:.0f} kB/session over {m["rss_kb_before_sessions"] / 1024:.1f} MiB), '
                     f'after they end {m["rss_kb_after_sessions"] / 1024:.1f} MiB '
                     f'({m["sessions_run_rps"]:.0f} req/s, {m["sessions_run_errors"]} errors)')
        lines.append(line)
    return "\n".join(lines)


def nice_step(raw):
    """The smallest 1, 2, 2.5 or 5 times a power of ten at least `raw`."""
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for m in (1, 2, 2.5, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


def bar_panel(x0, y0, w, h, title, groups, series, values, unit):
    """One grouped bar chart: groups on x, one bar per series, value labels."""
    out = [f'<text x="{x0 + w / 2}" y="{y0 - 12}" text-anchor="middle" font-size="15" font-weight="bold">'
           f'{title}</text>']
    step = nice_step(max([v for v in values.values() if v] + [1]) * 1.1 / 4)
    ticks = 1
    while step * ticks < max([v for v in values.values() if v] + [1]) * 1.1:
        ticks += 1
    top = step * ticks
    out.append(f'<line x1="{x0}" y1="{y0 + h}" x2="{x0 + w}" y2="{y0 + h}" stroke="#333"/>')
    for i in range(ticks + 1):
        v = step * i
        y = y0 + h - h * i / ticks
        out.append(f'<line x1="{x0}" y1="{y}" x2="{x0 + w}" y2="{y}" stroke="#ddd"/>')
        out.append(f'<text x="{x0 - 6}" y="{y + 4}" text-anchor="end" font-size="11">{v:,.0f}</text>')
    gw = w / max(len(groups), 1)
    bw = gw * 0.8 / max(len(series), 1)
    for gi, g in enumerate(groups):
        out.append(f'<text x="{x0 + gw * (gi + 0.5)}" y="{y0 + h + 18}" text-anchor="middle" font-size="13">{g}</text>')
        for si, s in enumerate(series):
            v = values.get((g, s))
            if v is None:
                continue
            bh = h * v / top
            x = x0 + gw * gi + gw * 0.1 + bw * si
            out.append(f'<rect x="{x:.1f}" y="{y0 + h - bh:.1f}" width="{bw - 2:.1f}" height="{bh:.1f}" '
                       f'fill="{COLOURS[s]}"><title>{s} {g}: {v:,.1f} {unit}</title></rect>')
            label = f"{v:,.0f}" if v >= 100 else f"{v:.1f}"
            out.append(f'<text x="{x + bw / 2 - 1:.1f}" y="{y0 + h - bh - 4:.1f}" text-anchor="middle" '
                       f'font-size="10">{label}</text>')
    return out


def svg(summary):
    mixes = list(summary["throughput"])
    paths = [p for p in PATHS if any(p in row for row in summary["throughput"].values())]
    proxies = [p for p in paths if p != "direct"]
    rps = {(m, p): s["rps"] for m, row in summary["throughput"].items() for p, s in row.items()}
    cpu = {(m, p): s.get("proxy_cpu_us_per_req") for m, row in summary["throughput"].items() for p, s in row.items()}
    width, height = 1000, 420
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" viewBox="0 0 {width} {height}">',
             f'<rect width="{width}" height="{height}" fill="white"/>']
    parts += bar_panel(70, 50, 520, 280, "Throughput (req/s, median)", mixes, paths, rps, "req/s")
    parts += bar_panel(680, 50, 290, 280, "Proxy CPU per request (µs)", mixes, proxies, cpu, "µs")
    for i, p in enumerate(paths):
        x = 70 + i * 150
        parts.append(f'<rect x="{x}" y="372" width="14" height="14" fill="{COLOURS[p]}"/>')
        parts.append(f'<text x="{x + 20}" y="384" font-size="13">{p}</text>')
    st = summary["settings"]
    note = (f'{st.get("cpus")} CPUs; proxy cpus {st.get("proxy_cpus")}, mock {st.get("backend_cpus")}, '
            f'load {st.get("load_cpus")}; concurrency {st.get("concurrency")}, era {st.get("era")}, '
            f'{st.get("rounds")} rounds; {summary["generated"]}')
    parts.append(f'<text x="70" y="408" font-size="11" fill="#555">{note}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("raw")
    ap.add_argument("--settings", default="{}")
    ap.add_argument("--json", required=True)
    ap.add_argument("--svg", required=True)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    with open(args.raw) as f:
        raw = [json.loads(line) for line in f if line.strip()]
    if not raw:
        sys.exit("no runs recorded")
    summary = summarise(raw, json.loads(args.settings))
    with open(args.json, "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    with open(args.svg, "w") as f:
        f.write(svg(summary))
    print(table(summary))
    if args.check:
        with open(args.json) as f:
            problems = check(raw, json.load(f))
        if problems:
            print("\nsmoke check FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
            sys.exit(1)
        print("\nsmoke check passed")


if __name__ == "__main__":
    main()
