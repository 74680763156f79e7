"""Which of the core's top-level modules (src/*) use which (`crate::<module>` outside comments
and tests), and the cycles among them: `./build.sh test` fails on any. The core's modules form
layers (docs/layout.md); a cycle would make two of them one.

KNOWN lists cycles accepted for a while, with the issue that unties them; it is empty, and a
listed cycle that no longer exists fails too (so the list never hides one).

    python3 tests/module_cycles.py [src]
"""

import collections
import os
import re
import sys

# The hosts are crates of their own (wasm/, native/, cli/): the compiler keeps the core from
# using them, so this only looks inside the core.
HOSTS = set()
KNOWN = set()


def code_of(path):
    """The file without comments (a doc link is no dependency) and without its test modules
    (`#[cfg(test)] mod x;` or `#[cfg(test)] mod x { ... }`, braces matched)."""
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = "\n".join(line.split("//")[0] for line in text.splitlines())
    out, at = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*([;{])", text):
        if m.start() < at:
            continue
        out.append(text[at:m.start()])
        at = m.end()
        if m.group(1) == "{":
            depth = 1
            while at < len(text) and depth:
                depth += {"{": 1, "}": -1}.get(text[at], 0)
                at += 1
    out.append(text[at:])
    return "".join(out)


def graph(root):
    mods = {n[:-3] if n.endswith(".rs") else n for n in os.listdir(root)
            if (n.endswith(".rs") and n != "lib.rs") or os.path.isdir(os.path.join(root, n))}
    edges = collections.defaultdict(set)
    for m in mods:
        files = [os.path.join(root, m + ".rs")] if os.path.exists(os.path.join(root, m + ".rs")) else []
        for d, _, names in os.walk(os.path.join(root, m)):
            files += [os.path.join(d, n) for n in names if n.endswith(".rs")]
        for f in files:
            if os.sep + "tests" in f[len(root):] or f.endswith("tests.rs"):
                continue
            for used in re.findall(r"\bcrate::([a-z_][a-z0-9_]*)", code_of(f)):
                if used in mods and used != m:
                    edges[m].add(used)
    return mods, edges


def cycles(mods, edges):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            c = set()
            while True:
                w = stack.pop()
                on.discard(w)
                c.add(w)
                if w == v:
                    break
            if len(c) > 1:
                out.append(frozenset(c))

    sys.setrecursionlimit(10000)
    for v in sorted(mods):
        if v not in index:
            visit(v)
    return out


def main(root):
    mods, edges = graph(root)
    wrong = [m for m in mods - HOSTS if edges[m] & HOSTS]
    found = set(cycles(mods - HOSTS, edges))
    bad = False
    for m in sorted(wrong):
        print(f"module cycles: {m} uses a host module ({', '.join(sorted(edges[m] & HOSTS))})")
        bad = True
    for c in found - KNOWN:
        print(f"module cycles: a new cycle among {', '.join(sorted(c))}:")
        for a in sorted(c):
            print(f"  {a} -> {', '.join(sorted(edges[a] & c))}")
        bad = True
    for c in KNOWN - found:
        print(f"module cycles: the known cycle is no longer {', '.join(sorted(c))}: update KNOWN in {__file__}")
        bad = True
    if not bad:
        print(f"module cycles: {len(mods - HOSTS)} core modules, no cycle")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "src"))
