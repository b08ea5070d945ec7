#!/usr/bin/env python3
"""Where each node's apply time went, per time window, from its node.log.

Usage: scripts/perf/apply_phases.py CLUSTER_DIR [--window SECONDS]

CLUSTER_DIR is what `fundtrail bench cluster --dir DIR` or `fundtrail devnet`
leaves behind (DIR/nodes/<org>/node.log). For every window it prints the
records applied and, per record, the microseconds of each phase the node
logs with every committed block: apply (all of it), admit (form, keys,
signatures, duplicate lookups), execute (contracts, including state_reads)
and commit (the fsynced store write).
"""
import argparse
import datetime
import glob
import re

ANSI = re.compile(r"\x1b\[[0-9;]*m")
FIELD = re.compile(r"\b(records|\w+_ms)=(\d+)")


def blocks(path):
    for line in open(path, errors="replace"):
        line = ANSI.sub("", line)
        if "block committed" not in line:
            continue
        stamp = line.split(" ", 1)[0]
        try:
            at = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        except ValueError:
            continue
        fields = {k: int(v) for k, v in FIELD.findall(line)}
        if "records" in fields and "apply_ms" in fields:
            yield at, fields


def report(path, window):
    rows = list(blocks(path))
    if not rows:
        return
    start = rows[0][0]
    windows = {}
    for at, fields in rows:
        sums = windows.setdefault(int((at - start) // window), {})
        for k, v in fields.items():
            sums[k] = sums.get(k, 0) + v
    print(path)
    for w in sorted(windows):
        sums = windows[w]
        n = sums.pop("records")
        phases = " ".join(
            f"{k[:-3]}={1000 * v / n:.0f}" for k, v in sorted(sums.items(), key=lambda kv: kv[0] != "apply_ms")
        )
        print(f"  {w * window:5d}s {n:8d} records  us/record: {phases}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir")
    parser.add_argument("--window", type=int, default=60)
    args = parser.parse_args()
    for path in sorted(glob.glob(f"{args.dir}/nodes/*/node.log")):
        report(path, args.window)


if __name__ == "__main__":
    main()
