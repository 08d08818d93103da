#!/usr/bin/env python3
"""include_graph_test.py - scripts/include-graph.py on server/ and on small made-up trees.

The made-up trees show that the script fails, and says why, on an include
cycle, on an include across the layers the wrong way, on a module in no
layer, on an include of a missing file and on a tool outside server/tools/
(or another module in it); then server/ itself must pass.
Ends with "N passed, N failed".
"""

import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "scripts", "include-graph.py")
SERVER = os.path.join(HERE, "..", "server")


def run(root):
    p = subprocess.run([sys.executable, SCRIPT, "--root", root],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=60)
    return p.returncode, p.stdout


TEMPS = []


def tree(files):
    d = tempfile.mkdtemp(prefix="incgraph.")
    TEMPS.append(d)
    root = os.path.join(d, "server")
    for name, text in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fp:
            fp.write(text)
    return root


def inc(*names):
    return "".join('#include "%s"\n' % n for n in names)


CASES = [
    # name, files, expected exit code, what the output must say
    ("clean_tree_passes",
     {"diag.h": "", "policy.h": inc("diag.h"), "policy.c": inc("policy.h"),
      "log.h": inc("loglevel.h"), "loglevel.h": ""},
     0, ["include-graph: 5 passed, 0 failed"]),
    ("cycle_is_named",
     {"http.h": "", "http.c": inc("http.h", "conn.h"),
      "conn.h": "", "conn.c": inc("conn.h", "http.h")},
     1, ["include cycle among 2 modules (conn, http)", "conn -> http",
         "http -> conn (server/http.c:2)"]),
    ("pure_module_including_log_fails",
     {"log.h": "", "policy.h": "", "policy.c": inc("policy.h", "log.h")},
     1, ["server/policy.c:2: policy (pure) includes log (runtime)"]),
    ("lower_layer_including_upper_fails",
     {"snapshot.h": "", "snapshot.c": inc("snapshot.h", "http.h"), "http.h": ""},
     1, ["snapshot (loading) includes http (services)"]),
    ("module_in_no_layer_fails",
     {"gadget.c": "", "diag.h": ""},
     1, ["gadget is in no layer"]),
    ("include_of_missing_file_fails",
     {"diag.c": inc("nowhere.h")},
     1, ["includes \"nowhere.h\", which is no file of"]),
    ("subfolder_module_is_checked",
     {"tools/check.c": inc("../server.h"), "server.h": ""},
     1, ["tools/check (tools) includes server (process)"]),
    ("tool_outside_its_folder_fails",
     {"check.c": "", "tools/policy.c": ""},
     1, ["check (tools): the tools layer is exactly the modules in server/tools/",
         "tools/policy (pure): the tools layer is exactly"]),
]


def main():
    passed = failed = 0
    for name, files, want_rc, want in CASES:
        rc, out = run(tree(files))
        missing = [w for w in want if w not in out]
        if rc != want_rc or missing:
            failed += 1
            print("FAIL %s: exit %d (want %d); missing %r in:\n%s" %
                  (name, rc, want_rc, missing, out))
        else:
            passed += 1
            print("PASS %s" % name)
    rc, out = run(SERVER)
    if rc != 0:
        failed += 1
        print("FAIL server_tree_is_layered:\n" + out)
    else:
        passed += 1
        print("PASS server_tree_is_layered: " + out.strip().splitlines()[-1])
    for d in TEMPS:
        shutil.rmtree(d, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
