#!/usr/bin/env python3
"""Allocation-failure injection: every allocation of a load may fail.

    python3 tests/faults/alloc_test.py --binary build/mta-stsd [--shim build/failalloc.so]

For each command that loads a configuration the way the server does,
`mta-stsd -t` (configuration, policies, certificates and keys, the name
index) and `mta-stsd dns --json` (the same, then the records), a first run
counts the K allocations made from main() on (tests/faults/failalloc.c, as
LD_PRELOAD); then the command runs again K times, run N making allocation N
fail. Every run must either
  - succeed with the very result of the first run (same stdout, same
    "test is successful" line), or
  - fail cleanly: exit status 1 with an "mta-stsd: ..." message on stderr;
never crash, hang (10 s), or exit otherwise. The configuration has three
domains: an ECDSA certificate with a pinned policy id, an RSA one with
TLS-RPT addresses, and a wildcard found in cert_dir.

When the runs would take longer than --budget seconds per command, every
S-th allocation is failed instead, S chosen to fit (said in the output).
Output: "PASS name" / "FAIL name: reason", then "N passed, N failed".
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

CONF = """[server]
listen = 127.0.0.1:443
policy_dir = policies
cert_dir = live
allow_root = yes
[defaults]
tlsrpt = mailto:tls@example.com
[example.com]
cert = certs/ec/fullchain.pem
key = certs/ec/privkey.pem
policy_id = pinned42
[example.net]
cert = certs/rsa/fullchain.pem
key = certs/rsa/privkey.pem
tlsrpt = mailto:a@example.net, https://r.example.net/tlsrpt
"""

POLICIES = {
    "example.com": "version: STSv1\nmode: enforce\nmx: mail.example.com\n"
                   "mx: *.mx.example.com\nmax_age: 604800\n",
    "example.net": "version: STSv1\nmode: testing\nmx: mx1.example.net\nmax_age: 86400\n",
    "example.org": "version: STSv1\nmode: enforce\nmx: mx.example.org\nmax_age: 1209600\n",
}

CERTS = (   # directory, key type, SAN
    ("certs/ec", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "mta-sts.example.com"),
    ("certs/rsa", ["-newkey", "rsa:2048"], "mta-sts.example.net"),
    ("live/wild", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "*.example.org"),
)

RUN_TIMEOUT = 10.0


def make_fixture(d):
    os.makedirs(os.path.join(d, "policies"))
    for name, text in POLICIES.items():
        with open(os.path.join(d, "policies", name + ".txt"), "w") as f:
            f.write(text)
    for sub, key, san in CERTS:
        os.makedirs(os.path.join(d, sub))
        subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "30"] + key +
            ["-keyout", os.path.join(d, sub, "privkey.pem"),
             "-out", os.path.join(d, sub, "fullchain.pem"),
             "-subj", "/CN=" + san, "-addext", "subjectAltName=DNS:" + san],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    conf = os.path.join(d, "mta-stsd.conf")
    with open(conf, "w") as f:
        f.write(CONF)
    return conf


def run(argv, shim, d, n, count_file=None):
    env = dict(os.environ, LD_PRELOAD=shim, FAILALLOC_N=str(n),
        FAILALLOC_TRACE=os.path.join(d, "trace"))
    env.pop("FAILALLOC_COUNT", None)
    if count_file:
        env["FAILALLOC_COUNT"] = count_file
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            timeout=RUN_TIMEOUT, cwd=d)
        return r.returncode, r.stdout, r.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        return "timeout", e.stdout or b"", (e.stderr or b"").decode(errors="replace")


def success_line(stderr):
    return [l for l in stderr.splitlines() if "test is successful" in l]


def inject(name, argv, shim, d, budget):
    """Returns (passed, lines to print)."""
    count_file = os.path.join(d, "count")
    rc, out0, err0 = run(argv, shim, d, 0, count_file)
    if rc != 0:
        return False, ["the run without a failure exited %r:" % (rc,)] + err0.splitlines()[-10:]
    with open(count_file) as f:
        k = int(f.read())
    if k == 0:
        return False, ["no allocation counted: the shim is not in effect"]
    t0 = time.monotonic()
    step, n, runs, clean, absorbed, bad = 1, 1, 0, 0, 0, []
    while n <= k:
        trace = os.path.join(d, "trace")
        if os.path.exists(trace):
            os.unlink(trace)
        rc, out, err = run(argv, shim, d, n)
        runs += 1
        if rc == 0 and out == out0 and success_line(err) == success_line(err0):
            absorbed += 1
        elif rc == 1 and "mta-stsd" in err:
            clean += 1
        else:
            why = ("exit %r" % (rc,) if rc not in (0, 1) else
                "exit 1 without a message" if rc == 1 and "mta-stsd" not in err else
                "exit 0 with another result than without a failure")
            detail = err.splitlines()[-6:]
            if os.path.exists(trace):
                with open(trace) as f:
                    detail += f.read().splitlines()[:14]
            bad.append((n, why, detail))
        if runs == 40 and step == 1:
            per_run = (time.monotonic() - t0) / runs
            if per_run * k > budget:
                step = int(per_run * k / budget) + 1
        n += step
    lines = ["%d allocations; %d runs (every %s): %d failed cleanly, %d absorbed the failure, "
        "%d bad, %.1f s" % (k, runs, "one" if step == 1 else "%d-th after the first 40" % step,
        clean, absorbed, len(bad), time.monotonic() - t0)]
    for n, why, detail in bad[:5]:
        lines.append("allocation %d failed: %s" % (n, why))
        lines += ["  | " + l for l in detail]
    if len(bad) > 5:
        lines.append("(and %d more: allocations %s)" % (len(bad) - 5,
            " ".join(str(b[0]) for b in bad[5:40])))
    return not bad, lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default="build/mta-stsd")
    ap.add_argument("--shim", help="the LD_PRELOAD shim (default: failalloc.so beside the "
        "binary, else build/failalloc.so)")
    ap.add_argument("--budget", type=float, default=25.0,
        help="seconds of runs per command, at most (default %(default)s)")
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    shim = args.shim or os.path.join(os.path.dirname(binary), "failalloc.so")
    if not os.path.exists(shim):
        shim = os.path.abspath("build/failalloc.so")
    shim = os.path.abspath(shim)
    for path, what in ((binary, "binary"), (shim, "shim (make builds it)")):
        if not os.path.exists(path):
            print("FAIL setup: no %s %s" % (what, path))
            print("0 passed, 1 failed")
            return 1
    if shutil.which("openssl") is None:
        print("FAIL setup: the openssl command is needed to make test certificates")
        print("0 passed, 1 failed")
        return 1
    d = tempfile.mkdtemp(prefix="mtastsd-alloc-")
    passed = failed = 0
    try:
        conf = make_fixture(d)
        for name, argv in (("mta-stsd -t", [binary, "-t", "-c", conf]),
                ("mta-stsd dns --json", [binary, "dns", "--json", "-c", conf])):
            ok, lines = inject(name, argv, shim, d, args.budget)
            print("%s %s%s" % ("PASS" if ok else "FAIL", name, "" if ok else ": see below"))
            for line in lines:
                print("    # " + line if ok else "    " + line)
            sys.stdout.flush()
            passed, failed = passed + ok, failed + (not ok)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
