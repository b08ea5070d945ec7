#!/usr/bin/env python3
"""Checks that a crate's top-level modules import one way.

Usage: scripts/module_order.py CRATE_SRC_DIR [...]

For every top-level module (src/x.rs or src/x/) it collects the other
top-level modules it names through `crate::` paths, outside comments, and
fails if the graph has a cycle. On success it prints one valid order,
lowest layer first, which docs/ARCHITECTURE.md writes down.
"""
import pathlib
import re
import sys

PATH = re.compile(r"crate::(\w+)")
GROUP = re.compile(r"crate::\{([^}]*)\}", re.S)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def module_of(src, path):
    rel = path.relative_to(src)
    return rel.parts[0].removesuffix(".rs")


def graph(src):
    roots = {"lib", "main"}
    modules = {module_of(src, p) for p in src.rglob("*.rs")} - roots
    edges = {m: set() for m in modules}
    for path in src.rglob("*.rs"):
        here = module_of(src, path)
        if here in roots:
            continue
        text = strip_comments(path.read_text())
        named = set(PATH.findall(text))
        for group in GROUP.findall(text):
            named.update(re.findall(r"(?:^|,)\s*(\w+)", group))
        edges[here].update(n for n in named if n in modules and n != here)
    return edges


def components(edges):
    """Tarjan's strongly connected components, each sorted."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(m):
        index[m] = low[m] = len(index)
        stack.append(m)
        on.add(m)
        for n in sorted(edges[m]):
            if n not in index:
                visit(n)
                low[m] = min(low[m], low[n])
            elif n in on:
                low[m] = min(low[m], index[n])
        if low[m] == index[m]:
            comp = []
            while True:
                n = stack.pop()
                on.discard(n)
                comp.append(n)
                if n == m:
                    break
            out.append(sorted(comp))

    for m in sorted(edges):
        if m not in index:
            visit(m)
    return out


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    failed = False
    for arg in sys.argv[1:]:
        src = pathlib.Path(arg)
        edges = graph(src)
        comps = components(edges)
        cycles = [c for c in comps if len(c) > 1]
        for cycle in cycles:
            failed = True
            inner = [f"{m} -> {n}" for m in cycle for n in sorted(edges[m]) if n in cycle]
            print(f"{src}: module cycle among {', '.join(cycle)}: " + "; ".join(inner))
        if not cycles:
            print(f"{src}: " + " < ".join(c[0] for c in comps))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
