#!/usr/bin/env python3
"""include-graph.py - check the #include "..." graph of server/ against the layers.

Reads every .c and .h file under server/ (subfolders too), takes each
`#include "x.h"` as an edge from the including file's module to x's module
(a module is a file name without its extension: conn.c and conn.h are both
"conn"), and fails when

  - the graph has a cycle (each one is named, with the include that closes
    it), or
  - a module includes one of a layer it may not include (LAYERS below), or
  - a module is in no layer, or an include names no file of server/, or
  - a module of the tools layer is outside server/tools/, or one in it is of
    another layer.

docs/ARCHITECTURE.md shows the same table. Prints one line per problem and
ends with "include-graph: N passed, N failed" (one check per module, plus the
cycle check). Exit 0 when clean, 1 otherwise.

usage: include-graph.py [--root DIR]   (DIR defaults to server/ beside scripts/)
"""

import os
import re
import sys

# (layer, its modules, the layers it may include). A module may include
# modules of its own layer only as long as that makes no cycle.
LAYERS = [
    # files: the one writer of the storage's files (challenge.c in loading,
    # acme.c and acmed.c in acme); it logs nothing, as the rest of core
    ("core", ["loglevel", "diag", "strmap", "json", "files"],
     ["core"]),
    ("pure", ["names", "policy", "records", "config", "changes", "httpresp"],
     ["core", "pure"]),
    ("runtime", ["log", "loop", "netio"],
     ["core", "runtime"]),
    ("loading", ["certs", "certset", "trim", "snapshot", "challenge"],
     ["core", "pure", "loading"]),
    ("services", ["metrics", "tls", "http", "admin", "reload", "http01",
                  "mhdloop"],
     ["core", "pure", "runtime", "loading", "services"]),
    # the ACME client (issue 13), started by the process layer
    ("acme", ["jose", "x509gen", "httpc", "acme", "acmed"],
     ["core", "pure", "runtime", "loading", "services", "acme"]),
    # tools: `certs` reads the manager\'s state files (acmed.h)
    ("tools", ["resolve", "probe", "publish", "check", "health", "tool",
               "certstate"],
     ["core", "pure", "runtime", "loading", "acme", "tools"]),
    ("connections", ["conn"],
     ["core", "pure", "runtime", "loading", "services", "connections"]),
    ("process", ["server", "main"],
     ["core", "pure", "runtime", "loading", "services", "acme", "tools",
      "connections", "process"]),
]

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def module_of(root, path):
    """server/sub/x.c -> "sub/x"; the layer table uses the file name alone"""
    rel = os.path.relpath(path, root)
    return os.path.splitext(rel)[0]


def read_graph(root):
    """{module: {included module: (file, line)}}, and problems found"""
    graph, problems = {}, []
    for d, _, files in os.walk(root):
        for f in sorted(files):
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(d, f)
            mod = module_of(root, path)
            edges = graph.setdefault(mod, {})
            with open(path, encoding="utf-8", errors="replace") as fp:
                text = fp.read()
            for m in INCLUDE.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                where = "%s:%d" % (os.path.relpath(path, os.path.dirname(root)), line)
                target = None
                for base in (d, root):
                    cand = os.path.normpath(os.path.join(base, m.group(1)))
                    if os.path.isfile(cand):
                        target = cand
                        break
                if target is None or not target.startswith(root + os.sep):
                    problems.append("%s: includes \"%s\", which is no file of "
                                    "%s" % (where, m.group(1), root))
                    continue
                dep = module_of(root, target)
                if dep != mod and dep not in edges:
                    edges[dep] = where
    return graph, problems


def find_cycles(graph):
    """every strongly connected component of more than one module, each as
    one cycle through it: [m0, m1, ..., m0]"""
    index, low, stack, on, comps = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        # iterative Tarjan: no recursion limit on a big tree
        work = [(v, iter(sorted(graph.get(v, {}))))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        while work:
            node, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, {})))))
                    advanced = True
                    break
                if w in on:
                    low[node] = min(low[node], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    comps.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    cycles = []
    for comp in comps:
        members = set(comp)
        # shortest way back to the first module, within the component
        start = comp[0]
        prev, queue, seen = {}, [start], {start}
        found = None
        while queue and found is None:
            nxt = []
            for v in queue:
                for w in sorted(graph.get(v, {})):
                    if w not in members:
                        continue
                    if w == start:
                        found = v
                        break
                    if w not in seen:
                        seen.add(w)
                        prev[w] = v
                        nxt.append(w)
                if found is not None:
                    break
            queue = nxt
        path = [found]
        while path[-1] != start:
            path.append(prev[path[-1]])
        path.reverse()
        cycles.append((path + [start], comp))
    return cycles


def main(argv):
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server")
    if len(argv) == 3 and argv[1] == "--root":
        root = argv[2]
    elif len(argv) != 1:
        print("usage: include-graph.py [--root DIR]", file=sys.stderr)
        return 2
    root = os.path.normpath(os.path.abspath(root))
    layer_of, allowed = {}, {}
    for name, mods, may in LAYERS:
        allowed[name] = may
        for m in mods:
            layer_of[m] = name

    graph, problems = read_graph(root)
    passed = failed = 0
    for mod in sorted(graph):
        bad = []
        base = os.path.basename(mod)
        if base not in layer_of:
            bad.append("%s is in no layer: add it to LAYERS in %s and to the "
                       "table in docs/ARCHITECTURE.md" % (mod, sys.argv[0]))
        else:
            mine = layer_of[base]
            # the command-line tools sit apart: their folder holds the tools
            # layer, and nothing else
            if (mine == "tools") != (os.path.dirname(mod) == "tools"):
                bad.append("%s (%s): the tools layer is exactly the modules "
                           "in server/tools/" % (mod, mine))
            for dep, where in sorted(graph[mod].items()):
                theirs = layer_of.get(os.path.basename(dep))
                if theirs is not None and theirs not in allowed[mine]:
                    bad.append("%s: %s (%s) includes %s (%s); a %s module may "
                               "include only %s" % (where, mod, mine, dep, theirs,
                                                    mine, ", ".join(allowed[mine])))
        bad += [p for p in problems if module_of(root, os.path.join(
            os.path.dirname(root), p.split(":")[0])) == mod]
        if bad:
            failed += 1
            for b in bad:
                print("FAIL " + b)
        else:
            passed += 1

    cycles = find_cycles(graph)
    if cycles:
        failed += 1
        for path, comp in cycles:
            steps = []
            for a, b in zip(path, path[1:]):
                steps.append("%s -> %s (%s)" % (a, b, graph[a][b]))
            print("FAIL include cycle among %d modules (%s): %s" %
                  (len(comp), ", ".join(comp), "; ".join(steps)))
    else:
        passed += 1
    print("include-graph: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
