#!/usr/bin/env python3
"""Where the CPU of `fundtrail bench verify`'s timed audits goes, from a
perf profile with call graphs.

Usage:
    perf record -F 499 --call-graph dwarf,16384 -o perf.data \\
        target/release/fundtrail bench verify
    perf script -i perf.data > perf.txt
    scripts/perf/audit_profile.py perf.txt [--class replay|staging|signatures]
        [--top N]

Only samples inside an audit count: an audit is a burst of samples whose
stacks hold the staging thread (`stage_groups`) or the replaying thread
(`replay_arriving`); the limit rounds and the chain's construction between
audits are left out. Each sample is classed as signatures (a stack through
`verify_chunk`), replay, staging or other. Prints each class's share, then
for one class the functions on the most stacks (inclusive) and the leaf
functions (self).
"""
import argparse
import collections
import re

GAP_SECONDS = 0.2
SHORTEST_AUDIT = 0.3


def samples(path):
    """(time, frames leaf first) for each sample of `perf script` output."""
    time, frames = None, []
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        if not line:
            if time is not None:
                yield time, frames
            time, frames = None, []
        elif not line.startswith(("\t", " ")):
            m = re.search(r"\s(\d+\.\d+):", line)
            time = float(m.group(1)) if m else 0.0
        else:
            parts = line.strip().split(None, 1)
            if len(parts) == 2:
                frames.append(name(parts[1]))
    if time is not None:
        yield time, frames


def name(frame):
    frame = re.sub(r"\+0x[0-9a-f]+", "", frame)
    frame = re.sub(r"::h[0-9a-f]{16}", "", frame)
    return frame.split(" (")[0]


def classify(frames):
    stack = " ".join(frames)
    if "verify_chunk" in stack:
        return "signatures"
    if "replay_arriving" in stack:
        return "replay"
    if "stage_groups" in stack:
        return "staging"
    return "other"


def audit_windows(all_samples):
    marks = sorted(
        t for t, fr in all_samples if classify(fr) in ("replay", "staging")
    )
    windows = []
    for t in marks:
        if windows and t - windows[-1][1] < GAP_SECONDS:
            windows[-1][1] = t
        else:
            windows.append([t, t])
    return [w for w in windows if w[1] - w[0] > SHORTEST_AUDIT]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("perf_script_output")
    ap.add_argument("--class", dest="cls", default="replay")
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args()
    all_samples = list(samples(args.perf_script_output))
    windows = audit_windows(all_samples)
    print("audits (start, seconds):", [(round(a, 2), round(b - a, 2)) for a, b in windows])
    classes = collections.Counter()
    inclusive, leaves = collections.Counter(), collections.Counter()
    for t, frames in all_samples:
        if not any(a <= t <= b for a, b in windows):
            continue
        cls = classify(frames)
        classes[cls] += 1
        if cls == args.cls and frames:
            leaves[frames[0]] += 1
            inclusive.update(set(frames))
    total = sum(classes.values())
    for cls, n in classes.most_common():
        print(f"{cls:12s} {n:6d} {100 * n / total:5.1f} %")
    n = max(classes[args.cls], 1)
    print(f"--- {args.cls}: functions on the most stacks ---")
    for f, k in inclusive.most_common(args.top):
        print(f"{100 * k / n:5.1f} % {f[:140]}")
    print(f"--- {args.cls}: leaf functions ---")
    for f, k in leaves.most_common(args.top):
        print(f"{100 * k / n:5.1f} % {f[:140]}")


if __name__ == "__main__":
    main()
