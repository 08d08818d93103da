"""Shared helpers for the reload and observability suites.

reload_test.py and observe_test.py import this; it reuses run.py's PKI, Env,
Server, clients and assertions, and adds what both suites need: bounded
polling, log tailing and the admin listener client. main() runs a suite with
the runner all the Python suites share (runner.py).
"""

import os
import re
import signal
import socket
import ssl
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import run  # noqa: E402  (tests/integration/run.py)
import runner  # noqa: E402
from run import Fail, Skip, check, check_eq  # noqa: E402,F401

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


def sigterm_timed(srv, timeout):
    """Send srv SIGTERM and wait up to timeout seconds: (its exit status or
    None, the seconds it took)."""
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    rc = srv.wait_exit(timeout)
    return rc, time.monotonic() - t0


def read_http_message(sock):
    """Read one HTTP/1.1 message, a request or an answer, from sock: its head
    up to the blank line, then as many body bytes as its Content-Length names
    (none without one). Returns (head, body, need): head is None when the
    peer closed before the head ended (body is then all that came), and body
    is shorter than need when the peer closed within it."""
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = sock.recv(4096)
        if not chunk:
            return None, got, 0
        got += chunk
    head, body = got.split(b"\r\n\r\n", 1)
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    need = int(m.group(1)) if m else 0
    while len(body) < need:
        chunk = sock.recv(4096)
        if not chunk:
            break
        body += chunk
    return head, body, need


def atomic_write(path, data):
    """Write to a temporary name in the same directory, then rename into place."""
    tmp = os.path.join(os.path.dirname(path), ".tmp-%d-%s" % (os.getpid(),
        os.path.basename(path)))
    with open(tmp, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    os.rename(tmp, path)


# ---------------------------------------------------------------- runner

def main(tests, description):
    """Run tests with the shared runner (runner.py); returns the exit status."""
    return runner.main(run, tests, description)
