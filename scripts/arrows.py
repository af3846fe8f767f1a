#!/usr/bin/env python3
"""Checks that the imports between livecart's folders run the way
ARCHITECTURE.md draws them, and prints the arrows between the folders of
src/server. Exits 1, naming the import, when one runs the wrong way.

    scripts/arrows.py          # check, and print the arrows
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
SERVER = os.path.join(ROOT, 'src', 'server')

# Folder -> folders it must never import (besides any cycle at all).
NEVER = {
    'store': '*',
    'notifier': '*',
    'network': '*',
    'clock': '*',
    'covers': '*',
    'writer': {'inventory', 'staff', 'web', 'import', 'routes'},
    'inventory': {'web', 'staff', 'routes'},
    'staff': {'web', 'inventory', 'routes'},
    'web': {'routes'},
}
# Outside src/server: who may name what.
OUTSIDE = [
    # (folder, forbidden text, the one file allowed to, why)
    ('src/server', 'crate::app', 'src/server/routes.rs', 'only the route table renders the pages'),
    ('src/app', 'crate::server', 'src/app/api.rs', "only server functions' bodies call the server"),
    ('src/shared', 'crate::server', 'src/shared/error.rs',
     "only a server function's unparsed arguments set their status (answer_unparsed)"),
]


def rust_files(folder):
    for dp, _, fs in os.walk(folder):
        for f in sorted(fs):
            if f.endswith('.rs'):
                yield os.path.join(dp, f)


def server_arrows():
    mods = {n[:-3] if n.endswith('.rs') else n for n in os.listdir(SERVER)} - {'mod'}
    edges = {}
    for path in rust_files(SERVER):
        rel = os.path.relpath(path, SERVER).split(os.sep)
        me = rel[0][:-3] if rel[0].endswith('.rs') else rel[0]
        if me == 'mod':
            continue
        src = open(path).read()
        names = re.findall(r'crate::server::([a-z_]+)', src)
        for group in re.findall(r'crate::server::\{([^}]*)\}', src):
            names += re.findall(r'\b([a-z_]+)\b', group)
        # `super::x` in a file at the top of src/server names a sibling.
        if len(rel) == 1:
            names += re.findall(r'\bsuper::([a-z_]+)', src)
        for name in names:
            if name in mods and name != me:
                edges.setdefault((me, name), os.path.relpath(path, ROOT))
    return edges


def main():
    wrong = []
    edges = server_arrows()
    for (a, b), where in sorted(edges.items()):
        never = NEVER.get(a, set())
        if never == '*' or b in never:
            wrong.append(f'{where}: {a} imports {b}')
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)

    def reaches(start):
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    for m in sorted(graph):
        if m in reaches(m):
            wrong.append(f'{m} is in a cycle of imports')
    for folder, text, allowed, why in OUTSIDE:
        for path in rust_files(os.path.join(ROOT, folder)):
            rel = os.path.relpath(path, ROOT)
            if rel != allowed and text in open(path).read():
                wrong.append(f'{rel} names {text}: {why}')
    by_source = {}
    for a, b in sorted(edges):
        by_source.setdefault(a, []).append(b)
    for a, bs in sorted(by_source.items()):
        print(f'{a:9} -> {", ".join(bs)}')
    for w in wrong:
        print(f'WRONG WAY: {w}', file=sys.stderr)
    sys.exit(1 if wrong else 0)


if __name__ == '__main__':
    main()
