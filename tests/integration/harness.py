"""Shared runner and helpers for the reload and observability suites.

reload_test.py and observe_test.py import this; it reuses run.py's PKI, Env,
Server, clients and assertions, and adds what both suites need: bounded
polling, log tailing, the admin listener client, and a runner that prints
"PASS name" / "FAIL name: reason" (with the server logs) / "SKIP name: why"
and ends with the exact line "N passed, N failed".
"""

import argparse
import os
import re
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import run  # noqa: E402  (tests/integration/run.py)
from run import Fail, Skip, check, check_eq  # noqa: E402,F401

# anything a sanitizer prints, including "LeakSanitizer has encountered a fatal error"
SANITIZER_ANY_RE = re.compile(
    r"^.*(ERROR: (Address|Leak|Memory|Thread|UndefinedBehavior)Sanitizer|"
    r"(Address|Leak)Sanitizer|runtime error:).*$", re.M)


def server_section(env, **settings):
    """run.Env.server_section with settings (key=value) set: a key the
    default section already has is replaced, others are added."""
    text = env.server_section()
    for key, value in settings.items():
        line = "%s = %s\n" % (key, value)
        text, n = re.subn(r"(?m)^%s = .*\n" % re.escape(key), line.replace("\\", "\\\\"),
            text, count=1)
        if n == 0:
            text += line
    return text


def binary():
    return run.BINARY


def is_asan_binary(path):
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


# ---------------------------------------------------------------- waiting

def wait_for(fn, timeout, what, interval=0.05):
    """Call fn until it returns a true value (exceptions count as "not yet"),
    at most timeout seconds; returns (value, seconds taken) or raises Fail."""
    t0 = time.monotonic()
    last = None
    while True:
        try:
            v = fn()
            if v:
                return v, time.monotonic() - t0
            last = v
        except (Fail, OSError, ssl.SSLError, socket.timeout, ConnectionError,
                run.http.client.HTTPException) as e:
            last = e
        if time.monotonic() - t0 > timeout:
            raise Fail("%s: not within %.1f s (last: %r)" % (what, timeout, last))
        time.sleep(interval)


class LogTail:
    """Reads what a server wrote to its log since the last mark."""

    def __init__(self, path):
        self.path = path
        self.offset = 0

    def mark(self):
        try:
            self.offset = os.path.getsize(self.path)
        except OSError:
            self.offset = 0
        return self

    def new_text(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def wait(self, regex, timeout, what=None):
        """Wait for a line matching regex written since the mark; returns the
        match. The mark moves past the matching line."""
        rx = re.compile(regex, re.M)
        t0 = time.monotonic()
        while True:
            text = self.new_text()
            m = rx.search(text)
            if m:
                end = text.find("\n", m.end())
                consumed = text[:end + 1] if end != -1 else text
                self.offset += len(consumed.encode())
                return m
            if time.monotonic() - t0 > timeout:
                raise Fail("%s: no log line matching %r within %.1f s"
                    % (what or "log", regex, timeout))
            time.sleep(0.02)


# ---------------------------------------------------------------- clients

class NoDelayConn(run.Conn):
    """run.Conn with TCP_NODELAY on the client socket: without it the client's
    TLS Finished and request records meet Nagle + delayed ACK (40 ms each)."""

    def connect(self):
        fam = socket.AF_INET6 if ":" in self.addr else socket.AF_INET
        raw = socket.socket(fam, socket.SOCK_STREAM)
        raw.settimeout(run.IO_TIMEOUT)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            raw.connect((self.addr, self.port))
            self.sock = self.ctx.wrap_socket(raw, server_hostname=self.sni)
        except BaseException:
            raw.close()
            raise


def fast_fetch(env, sni, ctx, path=run.WELL_KNOWN):
    """GET on a new TCP_NODELAY connection: (status, body)."""
    conn = NoDelayConn(env.port, sni, ctx)
    try:
        st, _, body = run.request(conn, "GET", path, sni)
        return st, body
    finally:
        conn.close()


def get(env, domain, path=run.WELL_KNOWN, ctx=None):
    """GET over a new connection: (status, body)."""
    status, _, body = run.fetch(env, "mta-sts." + domain, path=path, ctx=ctx)
    return status, body


def body_is(env, domain, body):
    st, b = get(env, domain)
    return st == 200 and b == body


def peer_der(env, sni, port=None):
    s = run.tls_connect(port or env.port, sni, run.client_ctx(env.pki, verify=False))
    try:
        return s.getpeercert(binary_form=True)
    finally:
        s.close()


def refused(env, domain):
    """True when a handshake with SNI mta-sts.<domain> fails with
    unrecognized_name."""
    try:
        s = run.tls_connect(env.port, "mta-sts." + domain,
            run.client_ctx(env.pki, verify=False))
    except ssl.SSLError as e:
        if re.search(r"UNRECOGNIZED_NAME|unrecognized name|alert number 112", str(e), re.I):
            return True
        raise Fail("handshake for %s failed, but not with unrecognized_name: %s"
            % (domain, e))
    s.close()
    return False


def serial_of_der(der):
    """The serial as openssl x509 -serial prints it (hex, upper case)."""
    pem = ssl.DER_cert_to_PEM_cert(der)
    r = run.run(["openssl", "x509", "-noout", "-serial"], input=pem.encode())
    m = re.search(r"serial=([0-9A-Fa-f]+)", r.stdout.decode())
    if not m:
        raise Fail("openssl x509 -serial: %r" % r.stdout)
    return int(m.group(1), 16)


def admin_get(port, path, timeout=run.IO_TIMEOUT):
    """GET http://127.0.0.1:port/path: (status, headers, body)."""
    c = run.http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.headers, r.read()
    finally:
        c.close()


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise Fail("no VmRSS in /proc/%d/status" % pid)


def proc_start_time(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[19]


def sighup(srv):
    srv.proc.send_signal(signal.SIGHUP)


def atomic_write(path, data):
    """Write to a temporary name in the same directory, then rename into place."""
    tmp = os.path.join(os.path.dirname(path), ".tmp-%d-%s" % (os.getpid(),
        os.path.basename(path)))
    with open(tmp, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    os.rename(tmp, path)


# ---------------------------------------------------------------- runner

def main(tests, description):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--binary", default=os.path.join(REPO, "build/mta-stsd"))
    ap.add_argument("-k", dest="pattern", help="run only tests whose name contains this")
    ap.add_argument("-v", action="store_true", help="print the server log of passing tests too")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    if args.list:
        for t in tests:
            print(t.__name__)
        return 0
    run.BINARY = os.path.abspath(args.binary)
    run.VERBOSE = args.v
    if not os.access(run.BINARY, os.X_OK):
        print("FAIL binary: %s is missing or not executable (run make)" % run.BINARY)
        print("0 passed, 1 failed")
        return 1
    if not shutil.which("openssl"):
        print("FAIL setup: the openssl command is needed to make test certificates")
        print("0 passed, 1 failed")
        return 1
    selected = [t for t in tests if not args.pattern or args.pattern in t.__name__]
    pki_dir = tempfile.mkdtemp(prefix="mtastsd-pki-")
    passed = failed = skipped = 0
    t_start = time.monotonic()
    print("# binary %s%s" % (run.BINARY, " (ASan)" if is_asan_binary(run.BINARY) else ""))
    try:
        try:
            pki = run.PKI(pki_dir)
        except Exception as e:
            print("FAIL setup: cannot make the test CA with openssl: %s" % e)
            print("0 passed, 1 failed")
            return 1
        for t in selected:
            env = run.Env(pki, t.__name__)
            env.info = []       # lines printed after PASS (numbers worth seeing)
            status, reason = "PASS", ""
            t0 = time.monotonic()
            try:
                t(env)
            except Skip as e:
                status, reason = "SKIP", str(e)
            except Fail as e:
                status, reason = "FAIL", str(e)
            except Exception as e:
                status = "FAIL"
                reason = "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc())
            finally:
                problems = env.stop_servers()
                for s in env.servers:
                    m = SANITIZER_ANY_RE.search(s.log())
                    if m and not any("sanitizer" in p for p in problems):
                        problems.append("sanitizer output: %s" % m.group(0).strip())
            if problems and status != "FAIL":
                status, reason = "FAIL", "; ".join(problems)
            elif problems:
                reason += "\n(and: %s)" % "; ".join(problems)
            dt = time.monotonic() - t0
            if status == "PASS":
                passed += 1
                print("PASS %s (%.1f s)" % (t.__name__, dt))
            elif status == "SKIP":
                skipped += 1
                print("SKIP %s: %s" % (t.__name__, reason))
            else:
                failed += 1
                print("FAIL %s: %s" % (t.__name__, reason.rstrip()))
            for line in env.info:
                print("    # " + line)
            if status == "FAIL" or args.v:
                for note in env.notes:
                    for line in note.rstrip().splitlines():
                        print("    | " + line)
                for i, s in enumerate(env.servers):
                    print("    --- server %d stderr (%s)" % (i, " ".join(s.args)))
                    lines = s.log().rstrip().splitlines()
                    if len(lines) > 120:
                        print("    | ... (%d earlier lines)" % (len(lines) - 120))
                    for line in lines[-120:]:
                        print("    | " + line)
            env.remove()
            sys.stdout.flush()
    finally:
        shutil.rmtree(pki_dir, ignore_errors=True)
    print("# %d tests in %.1f s%s" % (len(selected), time.monotonic() - t_start,
        ", %d skipped" % skipped if skipped else ""))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0
