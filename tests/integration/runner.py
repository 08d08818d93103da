"""The one test runner of the Python integration suites.

run.py, reload_test.py, observe_test.py (through harness.py) and
hostile_test.py each hand it their list of test functions. For each test it
makes a fresh Env (own directory and port), runs the test, stops every server
the test started, and prints

    PASS name (1.2 s)
    FAIL name: reason          (then the notes and the servers' stderr)
    SKIP name: why

followed by any "    # ..." lines the test put in env.info. A test fails
when it raises Fail or anything unexpected, when a server died during it or
did not exit 0 on SIGTERM, or when any mta-stsd output holds a sanitizer
report. The last line is "N passed, N failed" (", N skipped" when some were),
the line tests/run-all.sh reads; the exit status is 1 when a test failed.

The suites' test framework (PKI, Env, Server and the globals BINARY and
VERBOSE) lives in run.py; the runner is given that module rather than
importing it, so run.py can pass itself when it is the main script.
"""

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
import traceback

# anything a sanitizer prints, including "LeakSanitizer has encountered a fatal error"
SANITIZER_ANY_RE = re.compile(
    r"^.*(ERROR: (Address|Leak|Memory|Thread|UndefinedBehavior)Sanitizer|"
    r"(Address|Leak)Sanitizer|runtime error:).*$", re.M)

LOG_LINES = 120     # lines of each server's stderr shown for a failed test
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def is_asan_binary(path):
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def _setup_failure(message):
    print("FAIL %s" % message)
    print("0 passed, 1 failed")
    return 1


def _run_one(fw, pki, t):
    """Run test t in a fresh Env; returns (env, status, reason)."""
    env = fw.Env(pki, t.__name__)
    env.info = []       # lines printed after the result (numbers worth seeing)
    env.cleanups = []   # called after the test, before its servers are stopped
    status, reason = "PASS", ""
    try:
        t(env)
    except fw.Skip as e:
        status, reason = "SKIP", str(e)
    except fw.Fail as e:
        status, reason = "FAIL", str(e)
    except Exception as e:
        status = "FAIL"
        reason = "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc())
    finally:
        for fn in env.cleanups:
            try:
                fn()
            except Exception as e:
                env.notes.append("cleaning up after the test: %r" % e)
        problems = env.stop_servers()   # also completes their logs
        for s in env.servers:
            m = SANITIZER_ANY_RE.search(s.log())
            if m and not any("sanitizer" in p for p in problems):
                problems.append("sanitizer output: %s" % m.group(0).strip())
    if problems and status != "FAIL":
        status, reason = "FAIL", "; ".join(problems)
    elif problems:
        reason += "\n(and: %s)" % "; ".join(problems)
    return env, status, reason


def _show_failure(env):
    for note in env.notes:
        for line in note.rstrip().splitlines():
            print("    | " + line)
    for i, s in enumerate(env.servers):
        print("    --- server %d stderr (%s)" % (i, " ".join(s.args)))
        lines = s.log().rstrip().splitlines()
        if len(lines) > LOG_LINES:
            print("    | ... (%d earlier lines)" % (len(lines) - LOG_LINES))
        for line in lines[-LOG_LINES:]:
            print("    | " + line)


def main(fw, tests, description, add_arguments=None, configure=None):
    """Parse the command line and run the tests; returns the exit status.

    fw is the framework module (run.py). add_arguments(parser) adds a suite's
    own options, configure(args) applies them before the first test. A test
    ends helper processes it leaves running by adding a function to
    env.cleanups."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--binary", default=os.path.join(REPO, "build/mta-stsd"))
    ap.add_argument("-k", dest="pattern", help="run only tests whose name contains this")
    ap.add_argument("-v", action="store_true", help="print the notes and server log of "
        "passing tests too")
    ap.add_argument("--list", action="store_true")
    if add_arguments is not None:
        add_arguments(ap)
    args = ap.parse_args()
    if args.list:
        for t in tests:
            print(t.__name__)
        return 0
    fw.BINARY = os.path.abspath(args.binary)
    fw.VERBOSE = args.v
    if configure is not None:
        configure(args)
    if not os.access(fw.BINARY, os.X_OK):
        return _setup_failure("binary: %s is missing or not executable (run make)" % fw.BINARY)
    if not shutil.which("openssl"):
        return _setup_failure("setup: the openssl command is needed to make test certificates")
    selected = [t for t in tests if not args.pattern or args.pattern in t.__name__]
    pki_dir = tempfile.mkdtemp(prefix="mtastsd-pki-")
    os.chmod(pki_dir, 0o755)    # helpers running as another user read root.pem
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    t_start = time.monotonic()
    print("# binary %s%s" % (fw.BINARY, " (ASan)" if is_asan_binary(fw.BINARY) else ""))
    try:
        try:
            pki = fw.PKI(pki_dir)
        except Exception as e:
            return _setup_failure("setup: cannot make the test CA with openssl: %s" % e)
        for t in selected:
            t0 = time.monotonic()
            env, status, reason = _run_one(fw, pki, t)
            counts[status] += 1
            if status == "PASS":
                print("PASS %s (%.1f s)" % (t.__name__, time.monotonic() - t0))
            else:
                print("%s %s: %s" % (status, t.__name__, reason.rstrip()))
            for line in env.info:
                print("    # " + line)
            if status == "FAIL" or args.v:
                _show_failure(env)
            env.remove()
            sys.stdout.flush()
    finally:
        shutil.rmtree(pki_dir, ignore_errors=True)
    print("# %d tests in %.1f s" % (len(selected), time.monotonic() - t_start))
    summary = "%d passed, %d failed" % (counts["PASS"], counts["FAIL"])
    if counts["SKIP"]:
        summary += ", %d skipped" % counts["SKIP"]
    print(summary)
    return 1 if counts["FAIL"] else 0
