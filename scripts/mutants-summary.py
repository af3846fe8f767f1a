#!/usr/bin/env python3
"""Summarises one cargo-mutants run (its mutants.out directory) as Markdown:
caught, missed, unviable and timeouts per file, then every missed mutant.

    scripts/mutants-summary.py OUT_DIR MODULE COMMIT "FILES"
"""
import collections
import os
import sys

KINDS = ["caught", "missed", "unviable", "timeout"]


def read(out, kind):
    path = os.path.join(out, f"{kind}.txt")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def main():
    out, module, commit, files = sys.argv[1:5]
    found = {kind: read(out, kind) for kind in KINDS}
    per_file = collections.defaultdict(collections.Counter)
    for kind, lines in found.items():
        for line in lines:
            per_file[line.split(":", 1)[0]][kind] += 1
    print(f"# cargo-mutants: {module}\n")
    print(f"Commit {commit}; files `{files}`; run by `scripts/mutants.sh {module}`.\n")
    print("| file | caught | missed | unviable | timeouts |")
    print("|---|---:|---:|---:|---:|")
    totals = collections.Counter()
    for path in sorted(per_file):
        counts = per_file[path]
        totals.update(counts)
        print(f"| `{path}` | " + " | ".join(str(counts[k]) for k in KINDS) + " |")
    print("| **all** | " + " | ".join(f"**{totals[k]}**" for k in KINDS) + " |")
    print("\n## Missed\n")
    if not found["missed"]:
        print("None.")
    for line in found["missed"]:
        print(f"- `{line}`")
    if found["timeout"]:
        print("\n## Timed out\n")
        for line in found["timeout"]:
            print(f"- `{line}`")


if __name__ == "__main__":
    main()
