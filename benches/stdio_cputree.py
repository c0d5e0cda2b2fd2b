#!/usr/bin/env python3
"""benches/stdio_cputree.py: CPU time of a process and all its descendants
while a command (the load generator) runs.

usage: stdio_cputree.py --root PID [--interval S] [--json FILE] -- CMD [ARGS...]

Runs CMD and, from just before it starts until just after it exits, samples
every --interval seconds the process tree under PID (children found through
/proc/PID/task/*/children, recursively). A process once seen is followed by
its pid (and start time) even after it leaves the tree, as an orphan does.

The sum is exact for processes alive at the end (utime+stime of all their
threads, plus cutime+cstime: the children they reaped) and for processes
reaped by a parent that was still there to reap them (their CPU reaches an
ancestor's cutime/cstime; only their CPU before the run is subtracted). A
process whose parent was gone first (an orphan: supergateway stops `sh -c CMD`
and CMD together, by process group) counts with its values at its last
sample, so its last moments (under --interval) are missed. A process born and
reaped between two samples is counted through its parent's cutime.

Writes one JSON object (to --json FILE, or stdout): clk_tck, root_ticks (the
root process alone: its own utime+stime), tree_ticks (root and descendants),
descendants_seen, descendants_max (most alive at once), orphans (descendants
that outlived their parent), rss_peak_kb (tree, summed), load_cpu_s (CMD's own
user+system CPU), rc (CMD's exit status). Exits with CMD's status. On
SIGTERM/SIGINT it stops CMD and exits.
"""

import json
import os
import resource
import signal
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def stat(pid):
    """(start, own ticks, reaped children's ticks, ppid, rss_kb, zombie), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            line = f.read()
    except OSError:
        return None
    f = line[line.rindex(")") + 2:].split()
    # After the command: state ppid ... utime(11) stime(12) cutime(13)
    # cstime(14) ... starttime(19) vsize(20) rss(21).
    return (int(f[19]), int(f[11]) + int(f[12]), int(f[13]) + int(f[14]), int(f[1]),
            int(f[21]) * PAGE_KB, f[0] == "Z")


def children(pid):
    out = []
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for t in tasks:
        try:
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                out.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def tree(root):
    seen, todo = [], [root]
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(c for c in children(p) if c not in seen)
    return seen


class Proc:
    __slots__ = ("pid", "start", "base", "own0", "own", "kids", "ppid", "gone", "accounted", "orphan")

    def __init__(self, pid, st, first):
        self.pid, self.start = pid, st[0]
        # CPU before the run: everything at the first sample, nothing if born since.
        self.base = st[1] + st[2] if first else 0
        self.own0 = st[1] if first else 0
        self.own, self.kids, self.ppid = st[1], st[2], st[3]
        self.gone = self.accounted = self.orphan = False


class Sampler:
    def __init__(self, root):
        self.root = root
        self.procs = {}   # pid -> Proc (the newest process with that pid)
        self.order = []   # every Proc, in the order first seen
        self.first = True
        self.descendants_max = 0
        self.rss_peak_kb = 0

    def sample(self):
        # New processes in the tree.
        for pid in tree(self.root):
            p = self.procs.get(pid)
            st = stat(pid)
            if st is None or (p is not None and p.start == st[0]):
                continue
            p = Proc(pid, st, self.first)
            self.procs[pid] = p
            self.order.append(p)
        self.first = False
        # Then every process followed, children before parents (the reverse
        # of the order seen), so that a child found gone was reaped, if by its
        # parent, before the parent's figures are read in this same pass.
        rss = alive = 0
        gone_now = []
        for p in reversed(self.order):
            if p.gone:
                continue
            st = stat(p.pid)
            if st is None or st[0] != p.start:
                p.gone = True
                gone_now.append(p)
                continue
            p.own, p.kids = st[1], st[2]
            if st[3] != p.ppid:
                p.orphan = True  # reparented: its old parent died first
                p.ppid = st[3]
            rss += st[4]
            if p.pid != self.root and not st[5]:
                alive += 1
        for p in gone_now:
            parent = self.procs.get(p.ppid)
            # Reaped by its parent, which was still there in this pass: its
            # CPU is now in the parent's cutime/cstime.
            p.accounted = not p.orphan and parent is not None and not parent.gone
        self.descendants_max = max(self.descendants_max, alive)
        self.rss_peak_kb = max(self.rss_peak_kb, rss)

    def report(self):
        total = 0
        root = 0
        for p in self.order:
            if not p.gone or not p.accounted:
                total += p.own + p.kids - p.base
            else:
                total -= p.base
            if p.pid == self.root and p is self.order[0]:
                root = p.own - p.own0
        return {
            "clk_tck": CLK_TCK,
            "root_ticks": root,
            "tree_ticks": total,
            "descendants_seen": len(self.order) - 1,
            "descendants_max": self.descendants_max,
            "orphans": sum(1 for p in self.order if p.orphan or (p.gone and not p.accounted)),
            "rss_peak_kb": self.rss_peak_kb,
        }


def main(argv):
    root, interval, out = None, 0.1, None
    i = 0
    while i < len(argv) and argv[i] != "--":
        if argv[i] == "--root":
            root = int(argv[i + 1]); i += 2
        elif argv[i] == "--interval":
            interval = float(argv[i + 1]); i += 2
        elif argv[i] == "--json":
            out = argv[i + 1]; i += 2
        else:
            print(__doc__, file=sys.stderr)
            return 2
    cmd = argv[i + 1:]
    if root is None or not cmd:
        print(__doc__, file=sys.stderr)
        return 2
    s = Sampler(root)
    s.sample()
    child = subprocess.Popen(cmd)

    def stop(signum, _frame):
        child.terminate()
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            child.kill()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        try:
            rc = child.wait(timeout=interval)
            break
        except subprocess.TimeoutExpired:
            s.sample()
    s.sample()
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    rep = s.report()
    rep["load_cpu_s"] = round(ru.ru_utime + ru.ru_stime, 4)
    rep["rc"] = rc
    text = json.dumps(rep)
    if out:
        with open(out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
