#!/usr/bin/env python3
"""CPU time of every running `fundtrail run` node, by thread kind.

Usage: scripts/perf/node_cpu.py [--every SECONDS]

Start it before a cluster (`fundtrail bench cluster`, `fundtrail devnet`);
it waits for nodes, prints the CPU seconds each kind of thread used in
every interval (tokio-rt-worker: the node's own work; rocksdb:high:
memtable flushes; rocksdb:low: compactions), and once every node has
exited, the totals per node. Linux only (/proc).
"""
import argparse
import collections
import os
import re
import time

TICK = os.sysconf("SC_CLK_TCK")


def nodes():
    """(pid, name) of each node process; name is its config's directory."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if len(argv) > 2 and argv[1] == b"run":
            config = next((a.decode() for a in argv if a.endswith(b".toml")), pid)
            yield pid, os.path.basename(os.path.dirname(config)) or pid


def threads(pid):
    """(tid, kind, cpu seconds) of each thread of `pid`."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        stat = open(f"/proc/{pid}/task/{tid}/stat").read()
        kind = re.sub(r"[-:]?\d+$", "", stat[stat.index("(") + 1 : stat.rindex(")")])
        fields = stat[stat.rindex(")") + 2 :].split()
        yield tid, kind, (int(fields[11]) + int(fields[12])) / TICK


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=float, default=30)
    args = parser.parse_args()
    last = {}  # (pid, tid) -> (node, kind, cpu seconds), kept after exit
    seen, gone, printed = False, 0, collections.Counter()
    next_report = None
    while not seen or gone < 4:
        found = list(nodes())
        seen, gone = seen or bool(found), 0 if found else gone + 1
        for pid, name in found:
            try:
                for tid, kind, cpu in threads(pid):
                    last[(pid, tid)] = (name, kind, cpu)
            except OSError:
                pass
        now = time.time()
        if found and next_report is None:
            next_report = now + args.every
        if next_report is not None and now >= next_report and found:
            totals = collections.Counter()
            for _, kind, cpu in last.values():
                totals[kind] += cpu
            delta = {k: totals[k] - printed[k] for k in sorted(totals)}
            print(time.strftime("%H:%M:%S"), ", ".join(f"{k} {v:.1f}" for k, v in delta.items() if v >= 0.5), flush=True)
            printed, next_report = totals, next_report + args.every
        time.sleep(0.5)
    per_node = collections.defaultdict(collections.Counter)
    for name, kind, cpu in last.values():
        per_node[name][kind] += cpu
    for name, kinds in sorted(per_node.items()):
        top = ", ".join(f"{k} {v:.1f}" for k, v in kinds.most_common(4))
        print(f"{name}: {sum(kinds.values()):.1f} s ({top})")
    print(f"all nodes: {sum(sum(k.values()) for k in per_node.values()):.1f} s")


if __name__ == "__main__":
    main()
