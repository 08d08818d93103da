#!/usr/bin/env python3
"""Automatic certificates end to end: mta-stsd's ACME client against Pebble.

    python3 tests/integration/acme_test.py [--binary build/mta-stsd] [-k SUBSTRING] [-v]

Everything runs inside a network namespace the suite makes itself: run as
root outside one, the script executes itself again under
`unshare --net --mount`, brings lo up and bind-mounts a private resolv.conf
naming 127.0.0.1 over /etc/resolv.conf. In there each test starts
  - dnsmasq on 127.0.0.1:53 (--no-resolv --no-hosts) answering the test's
    names: acme.test (Pebble) and mta-sts.<domain> -> 127.0.0.1, or another
    loopback address where a test wants the name to point elsewhere;
  - Pebble (the Debian package, 2.4) on acme.test with an HTTPS certificate
    the suite makes with the openssl command, validating TLS-ALPN-01 on
    mta-stsd's TLS port and HTTP-01 on its http_listen port, resolving
    through dnsmasq (-dnsserver 127.0.0.1:53), PEBBLE_VA_NOSLEEP=1,
    PEBBLE_AUTHZREUSE=0 (every order is validated again), and
    PEBBLE_WFE_NONCEREJECT=0 unless a test wants badNonce rejections;
  - mta-stsd with [acme] directory = Pebble, ca_file = the suite's CA.
Pebble's issuing root comes from its management interface (/roots/0): the
certificates mta-stsd serves are verified against it (chain and name).
Pebble's orders are counted in its log ("Issued certificate serial ... for
order ..."); the directory URL may go through a TCP relay the test can
switch off to make the CA "down" without losing Pebble's state.

The first test, environment_issues_with_lego, checks the environment itself
with Debian's lego client (skipped, saying so, when lego is missing).

Output: one line per test, "PASS name", "FAIL name: reason" or
"SKIP name: why", then "N passed, N failed[, N skipped]". Loopback
addresses of the namespace only; every wait is bounded.
"""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness      # noqa: E402  (waiting, log tail, admin client)
import run as R     # noqa: E402  (the integration framework: Env, Server)
import runner       # noqa: E402  (the runner every Python suite shares)
from run import Fail, Skip, check, check_eq, WELL_KNOWN  # noqa: E402

NS_MARK = "MTASTSD_ACME_NETNS"      # set in the environment inside the namespace
PEBBLE = "/usr/bin/pebble"
CA_NAME = "acme.test"               # Pebble's host name
ISSUE_TIMEOUT = 60.0                # first certificates, from mta-stsd's start
SETUP_PROBLEM = None                # what this machine lacks for the suite (tests skip)
SETUP_ERROR = None                  # how making the environment failed (tests fail)

# one CA per run for Pebble's own HTTPS certificate (made in setup())
SUITE_DIR = None
SUITE_CA = None
PEBBLE_CERT = None
PEBBLE_KEY = None


# ---------------------------------------------------------------- the namespace

def enter_namespace():
    """Outside the namespace: execute this script again under unshare (root
    only). Returns only when that cannot be done; SETUP_PROBLEM says why."""
    global SETUP_PROBLEM
    if os.environ.get(NS_MARK) == "1":
        return
    if os.geteuid() != 0:
        SETUP_PROBLEM = "needs root for a network namespace (unshare --net --mount)"
        return
    for tool in ("unshare", "ip", "mount"):
        if shutil.which(tool) is None:
            SETUP_PROBLEM = "no %s command (util-linux, iproute2) for the namespace" % tool
            return
    env = dict(os.environ)
    env[NS_MARK] = "1"
    sys.stdout.flush()
    os.execvpe("unshare", ["unshare", "--net", "--mount", sys.executable,
        os.path.abspath(__file__)] + sys.argv[1:], env)


def setup_namespace():
    """Inside: lo up, a private resolv.conf naming 127.0.0.1, the suite CA and
    Pebble's certificate. Sets SETUP_PROBLEM when something is missing."""
    global SETUP_PROBLEM, SUITE_DIR, SUITE_CA, PEBBLE_CERT, PEBBLE_KEY
    if SETUP_PROBLEM:
        return
    missing = [p for p, path in (("pebble", PEBBLE), ("dnsmasq", "/usr/sbin/dnsmasq"))
        if not os.access(path, os.X_OK)]
    if missing:
        SETUP_PROBLEM = ("%s not installed (scripts/install-deps.sh installs it)"
            % " and ".join(missing))
        return
    R.run_ok(["ip", "link", "set", "lo", "up"])
    SUITE_DIR = tempfile.mkdtemp(prefix="mtastsd-acme-")
    os.chmod(SUITE_DIR, 0o755)
    resolv = os.path.join(SUITE_DIR, "resolv.conf")
    with open(resolv, "w") as f:
        f.write("nameserver 127.0.0.1\noptions timeout:1 attempts:2\n")
    R.run_ok(["mount", "--bind", resolv, "/etc/resolv.conf"])
    # the CA Pebble's HTTPS certificate chains to (ca_file for mta-stsd and lego)
    SUITE_CA = os.path.join(SUITE_DIR, "ca.pem")
    ca_key = os.path.join(SUITE_DIR, "ca.key")
    R.run_ok(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_key, "-subj",
        "/CN=mta-stsd acme test CA", "-days", "30", "-sha256",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", SUITE_CA])
    PEBBLE_KEY = os.path.join(SUITE_DIR, "pebble.key")
    PEBBLE_CERT = os.path.join(SUITE_DIR, "pebble.pem")
    R.run_ok(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:P-256", "-nodes", "-keyout", PEBBLE_KEY, "-subj",
        "/CN=" + CA_NAME, "-days", "30", "-sha256", "-CA", SUITE_CA, "-CAkey", ca_key,
        "-addext", "basicConstraints=critical,CA:FALSE",
        "-addext", "keyUsage=critical,digitalSignature",
        "-addext", "extendedKeyUsage=serverAuth",
        "-addext", "subjectAltName=DNS:%s,IP:127.0.0.1" % CA_NAME, "-out", PEBBLE_CERT])


def need_env():
    if SETUP_PROBLEM:
        raise Skip(SETUP_PROBLEM)
    if SETUP_ERROR:
        raise Fail(SETUP_ERROR)


def wait_port(addr, port, timeout, what, proc=None):
    t0 = time.monotonic()
    while True:
        if proc is not None and proc.poll() is not None:
            raise Fail("%s exited with status %d before listening" % (what, proc.returncode))
        try:
            with socket.create_connection((addr, port), timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() - t0 > timeout:
            raise Fail("%s did not listen on %s:%d within %.0f s" % (what, addr, port, timeout))
        time.sleep(0.05)


def stop_proc(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# ---------------------------------------------------------------- dnsmasq

class Dns:
    """dnsmasq on 127.0.0.1:53 answering names (name -> IPv4) and nothing else."""

    def __init__(self, env, names):
        self.env = env
        self.log = env.path("dnsmasq.log")
        self.names = dict(names)
        self.proc = None
        self.start()
        env.cleanups.append(self.stop)

    def start(self):
        argv = ["dnsmasq", "--keep-in-foreground", "--port=53", "--listen-address=127.0.0.1",
            "--bind-interfaces", "--no-resolv", "--no-hosts", "--no-poll",
            "--user=root", "--pid-file=", "--log-queries", "--log-facility=" + self.log,
            "--local-ttl=0", "--address=/test/"]    # every other .test name: NXDOMAIN
        for name, addr in sorted(self.names.items()):
            argv.append("--address=/%s/%s" % (name, addr))
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=open(self.log + ".err", "wb"))
        t0 = time.monotonic()
        while not self._answers():
            if self.proc.poll() is not None:
                raise Fail("dnsmasq exited with status %d: %s" % (self.proc.returncode,
                    open(self.log + ".err").read()[-500:]))
            if time.monotonic() - t0 > 10:
                raise Fail("dnsmasq did not answer on 127.0.0.1:53 within 10 s")
            time.sleep(0.05)

    def _answers(self):
        try:
            return socket.gethostbyname(CA_NAME) == "127.0.0.1"
        except OSError:
            return False

    def set(self, name, addr):
        """Point name at addr (restarts dnsmasq)."""
        self.stop()
        self.names[name] = addr
        self.start()

    def stop(self):
        if self.proc is not None:
            stop_proc(self.proc)
            self.proc = None


# ---------------------------------------------------------------- Pebble

class Relay:
    """A TCP relay in front of Pebble's ACME port, in one of three modes:
    up (relays), down (its listening socket closed: connections are refused,
    as when the CA is stopped) and "500" (it terminates TLS with Pebble's
    certificate and answers every request 500 with an ACME problem document,
    as a CA with an internal error). Switching mode closes the connections
    in progress. Pebble builds its URLs from the Host header, so every URL
    the client is given goes through the relay too."""

    def __init__(self, target_port):
        self.target = target_port
        self.port = R.free_port()
        self.lsock = None
        self.mode = "down"
        self.conns = []
        self.lock = threading.Lock()
        self.gate = threading.Event()   # clear: connections are held, not relayed yet
        self.gate.set()
        self.up()

    def hold(self):
        """Accept connections but relay nothing until release()."""
        self.gate.clear()

    def release(self):
        self.gate.set()

    def _listen(self):
        if self.lsock is None:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", self.port))
            s.listen(64)
            self.lsock = s
            threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def _drop_conns(self):
        with self.lock:
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def up(self):
        self._drop_conns()
        self.mode = "up"
        self._listen()

    def error500(self):
        self._drop_conns()
        self.mode = "500"
        self._listen()

    def down(self):
        self.mode = "down"
        s, self.lsock = self.lsock, None
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self._drop_conns()

    def _accept(self, lsock):
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(c)
            if self.mode == "500":
                threading.Thread(target=self._answer_500, args=(c,), daemon=True).start()
            else:
                threading.Thread(target=self._relay, args=(c,), daemon=True).start()

    def _relay(self, c):
        self.gate.wait(60)
        try:
            u = socket.create_connection(("127.0.0.1", self.target), timeout=5)
        except OSError:
            c.close()
            return
        with self.lock:
            self.conns.append(u)
        for a, b in ((c, u), (u, c)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _answer_500(c):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(PEBBLE_CERT, PEBBLE_KEY)
        body = (b'{"type": "urn:ietf:params:acme:error:serverInternal", '
            b'"detail": "the test CA answers 500", "status": 500}')
        try:
            c.settimeout(10)
            t = ctx.wrap_socket(c, server_side=True)
            while True:
                head, rest, need = harness.read_http_message(t)
                if head is None or len(rest) < need:
                    return
                t.sendall(b"HTTP/1.1 500 Internal Server Error\r\n"
                    b"Content-Type: application/problem+json\r\n"
                    b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
                t.close()
                return
        except (OSError, ssl.SSLError):
            pass
        finally:
            c.close()

    @staticmethod
    def _pipe(src, dst):
        try:
            src.settimeout(120)
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class Pebble:
    """One Pebble process with its own configuration."""

    def __init__(self, env, tls_port, http_port=None, validity=None, nonce_reject=0,
            relay=False):
        self.env = env
        self.port = R.free_port()
        self.mport = R.free_port()
        self.tls_port = tls_port
        self.http_port = http_port or R.free_port()
        self.validity = validity
        self.nonce_reject = nonce_reject
        self.n = 0
        self.proc = None
        self.relay = Relay(self.port) if relay else None
        self.start()
        env.cleanups.append(self.stop)

    def url(self):
        return "https://%s:%d/dir" % (CA_NAME, self.relay.port if self.relay else self.port)

    def start(self):
        conf = {"pebble": {
            "listenAddress": "127.0.0.1:%d" % self.port,
            "managementListenAddress": "127.0.0.1:%d" % self.mport,
            "certificate": PEBBLE_CERT, "privateKey": PEBBLE_KEY,
            "httpPort": self.http_port, "tlsPort": self.tls_port,
            "ocspResponderURL": "", "externalAccountBindingRequired": False}}
        if self.validity:
            conf["pebble"]["certificateValidityPeriod"] = self.validity
        self.n += 1
        path = self.env.write("pebble%d.json" % self.n, json.dumps(conf, indent=1))
        self.log_path = self.env.path("pebble%d.log" % self.n)
        env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_AUTHZREUSE="0",
            PEBBLE_WFE_NONCEREJECT=str(self.nonce_reject))
        self.proc = subprocess.Popen([PEBBLE, "-config", path, "-dnsserver", "127.0.0.1:53",
            "-strict"], stdin=subprocess.DEVNULL, stdout=open(self.log_path, "wb"),
            stderr=subprocess.STDOUT, env=env, cwd=self.env.dir)
        wait_port("127.0.0.1", self.port, 20, "Pebble", self.proc)
        wait_port("127.0.0.1", self.mport, 20, "Pebble's management interface", self.proc)
        self.env.notes.append("Pebble %d: %s (log %s)" % (self.n, self.url(), self.log_path))

    def stop(self):
        if self.proc is not None:
            stop_proc(self.proc)
            self.env.notes.append("Pebble log (end):\n" + self.log()[-3000:])
            self.proc = None
        if self.relay is not None:
            self.relay.down()

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except (OSError, AttributeError):
            return ""

    def management(self, path):
        ctx = ssl.create_default_context(cafile=SUITE_CA)
        with urllib.request.urlopen("https://%s:%d%s" % (CA_NAME, self.mport, path),
                context=ctx, timeout=10) as r:
            return r.read().decode()

    def root_pem(self):
        """Pebble's issuing root (regenerated at every start)."""
        return self.management("/roots/0")

    def issued(self):
        """How many certificates this Pebble process issued (its log)."""
        return len(re.findall(r"Issued certificate serial", self.log()))

    def orders(self):
        """How many new orders this Pebble process was sent (its log)."""
        return len(re.findall(r"POST /order-plz", self.log()))

    def validations(self, name):
        """How many challenge validations of name this Pebble started (one per
        order with PEBBLE_AUTHZREUSE=0)."""
        return len(re.findall(r'Pulled a task .*Value:"%s"' % re.escape(name), self.log()))


# ---------------------------------------------------------------- TLS clients

def root_ctx(root_pem, alpn=None):
    """Verifies chain and name against Pebble's root only."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=root_pem)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def any_ctx(alpn=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def leaf(port, sni, addr="127.0.0.1", ctx=None):
    """The leaf the server presents for sni (DER), or None when the handshake
    fails."""
    try:
        s = R.tls_connect(port, sni, ctx or any_ctx(), addr)
    except (ssl.SSLError, OSError):
        return None
    try:
        return s.getpeercert(binary_form=True)
    finally:
        s.close()


def served_by_pebble(port, domain, root_pem, addr="127.0.0.1"):
    """GET the policy of domain with a client trusting only Pebble's root
    (chain and SAN checked by Python's ssl); returns the leaf DER."""
    sni = "mta-sts." + domain
    conn = R.Conn(port, sni, root_ctx(root_pem), addr)
    try:
        conn.connect()
        der = conn.sock.getpeercert(binary_form=True)
        san = conn.sock.getpeercert().get("subjectAltName")
        status, _, body = R.request(conn, "GET", WELL_KNOWN, sni)
    finally:
        conn.close()
    check_eq(san, (("DNS", sni),), "SAN of the certificate served for %s" % sni)
    check_eq(status, 200, "GET %s on %s" % (WELL_KNOWN, sni))
    check_eq(body, R.normalised(domain), "policy body of %s" % domain)
    return der


def is_served_by_pebble(port, domain, root_pem, addr="127.0.0.1"):
    try:
        return served_by_pebble(port, domain, root_pem, addr)
    except (Fail, ssl.SSLError, OSError, R.http.client.HTTPException):
        return None


def metric(aport, name, labels=None):
    """The value of one series in /metrics (0 when absent)."""
    st, _, body = harness.admin_get(aport, "/metrics")
    check_eq(st, 200, "GET /metrics")
    total = 0.0
    for line in body.decode(errors="replace").splitlines():
        m = re.match(r"^%s(\{[^}]*\})? (\S+)$" % re.escape(name), line)
        if not m:
            continue
        lab = m.group(1) or ""
        if labels and any('%s="%s"' % kv not in lab for kv in labels.items()):
            continue
        total += float(m.group(2))
    return total


# ---------------------------------------------------------------- mta-stsd

def acme_conf(env, pebble, domains, storage="acme", extra_acme="", extra_server="",
        listen=None, aport=None):
    """A configuration: the domains' policies in policies/, [acme] on Pebble."""
    for d in domains:
        env.write("policies/%s.txt" % d, R.simple_policy(d))
    env.aport = aport or getattr(env, "aport", None) or R.free_port()
    server = env.server_section(listen=listen).replace("log_level = info",
        "log_level = debug")
    server += "admin_listen = 127.0.0.1:%d\nmetrics_per_domain = yes\n" % env.aport
    return (server + extra_server +
        "[acme]\ndirectory = %s\nemail = hostmaster@a.test\nagree_terms = yes\n"
        "storage = %s\nca_file = %s\n" % (pebble.url(), storage, SUITE_CA) +
        # pacing is not what these tests look at: no domain waits for its turn
        "orders_per_hour = 10000\n" + extra_acme)


def start_acme(env, conf, name="mta-stsd.conf", addr="127.0.0.1"):
    """Start mta-stsd; it must listen with no certificate at all yet."""
    path = env.write(name, conf)
    srv = R.Server(env, path)
    env.servers.append(srv)
    srv.start()
    srv.wait_ready([(addr, env.port)])
    return srv


def wait_issued(port, domains, root_pem, timeout=ISSUE_TIMEOUT, addr="127.0.0.1"):
    """Wait until every domain is served with a certificate chaining to
    Pebble's root; returns {domain: leaf DER}."""
    got = {}
    t0 = time.monotonic()
    for d in domains:
        left = max(1.0, timeout - (time.monotonic() - t0))
        got[d], _ = harness.wait_for(lambda: is_served_by_pebble(port, d, root_pem, addr),
            left, "mta-sts.%s served with a certificate from Pebble on %s" % (d, addr),
            interval=0.3)
    return got


def log_count(srv, regex):
    return len(re.findall(regex, srv.log(), re.M))


# ---------------------------------------------------------------- tests

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


@test
def environment_issues_with_lego(env):
    """The harness itself: Debian's lego obtains a certificate for
    mta-sts.a.test from this Pebble with its own TLS-ALPN-01 solver on the
    port Pebble validates, resolving through this dnsmasq; the certificate
    chains to Pebble's root (/roots/0)."""
    need_env()
    if shutil.which("lego") is None:
        raise Skip("lego is not installed (apt package lego): the harness is not "
            "checked on its own")
    Dns(env, {CA_NAME: "127.0.0.1", "mta-sts.a.test": "127.0.0.1"})
    p = Pebble(env, tls_port=env.port)
    out = env.path("lego")
    r = R.run(["lego", "--server", p.url(), "--email", "hostmaster@a.test", "--accept-tos",
        "--domains", "mta-sts.a.test", "--tls", "--tls.port", "127.0.0.1:%d" % env.port,
        "--path", out, "run"], timeout=90,
        env=dict(os.environ, LEGO_CA_CERTIFICATES=SUITE_CA))
    env.notes.append("lego: " + (r.stdout + r.stderr).decode(errors="replace")[-3000:])
    check_eq(r.returncode, 0, "lego's exit status")
    crt = os.path.join(out, "certificates", "mta-sts.a.test.crt")
    check(os.path.exists(crt), "lego wrote no %s" % crt)
    root = env.write("pebble-root.pem", p.root_pem())
    v = R.run(["openssl", "verify", "-CAfile", root, "-untrusted", crt, crt])
    check(v.returncode == 0, "lego's certificate does not chain to Pebble's root: %s"
        % (v.stdout + v.stderr).decode(errors="replace"))
    check_eq(p.issued(), 1, "certificates Pebble issued")


@test
def tls_alpn_three_domains_issued_and_served(env):
    """Three domains, no certificate anywhere, nothing but mta-stsd listening
    on the TLS port Pebble validates: each gets a certificate through
    TLS-ALPN-01 and is served with it (chain to Pebble's root, SAN
    mta-sts.<domain>); before that no handshake presented a Pebble-issued
    certificate. Metrics count three successful orders."""
    need_env()
    domains = ["a.test", "b.test", "c.test"]
    Dns(env, dict([(CA_NAME, "127.0.0.1")] + [("mta-sts." + d, "127.0.0.1") for d in domains]))
    p = Pebble(env, tls_port=env.port, relay=True)
    root = p.root_pem()
    p.relay.hold()      # the CA answers nothing until the leaves before are taken
    srv = start_acme(env, acme_conf(env, p, domains, extra_acme="addresses = 127.0.0.1\n"))
    before = {d: leaf(env.port, "mta-sts." + d) for d in domains}
    for d, der in before.items():
        check(der is None or not is_served_by_pebble(env.port, d, root),
            "mta-sts.%s was served a Pebble certificate before any order" % d)
    env.info.append("before any order: %s" % ", ".join("%s %s" % (d, "no certificate"
        if der is None else "a certificate not from Pebble") for d, der in before.items()))
    p.relay.release()
    got = wait_issued(env.port, domains, root)
    for d in domains:
        check(got[d] != before[d], "mta-sts.%s: the served leaf did not change" % d)
        check(re.search(r"acme: mta-sts\.%s: certificate obtained, valid until" % re.escape(d),
            srv.log()), "no 'certificate obtained' log line for mta-sts.%s" % d)
    check(len(set(got.values())) == 3, "two domains share one leaf")
    check_eq(p.issued(), 3, "certificates Pebble issued")
    check_eq(metric(env.aport, "mta_stsd_acme_orders_total", {"result": "ok"}), 3.0,
        'mta_stsd_acme_orders_total{result="ok"}')
    # storage: certbot layout, private files
    st = env.path("acme")
    check_eq(os.stat(st).st_mode & 0o777, 0o700, "mode of the storage directory")
    for d in domains:
        k = os.path.join(st, "certificates", "mta-sts." + d, "privkey.pem")
        check(os.path.exists(k), "no %s" % k)
        check_eq(os.stat(k).st_mode & 0o777, 0o600, "mode of " + k)


@test
def http01_domain_issued_and_served(env):
    """challenge = http-01 with http_listen on the port Pebble's HTTP-01
    validation uses: the domain gets a certificate and is served with it;
    the listener answers nothing but /.well-known/acme-challenge/ (404)."""
    need_env()
    Dns(env, {CA_NAME: "127.0.0.1", "mta-sts.d.test": "127.0.0.1"})
    hport = R.free_port()
    p = Pebble(env, tls_port=R.free_port(), http_port=hport, relay=True)
    root = p.root_pem()
    p.relay.hold()
    srv = start_acme(env, acme_conf(env, p, ["d.test"],
        extra_acme="challenge = http-01\nhttp_listen = 127.0.0.1:%d\n" % hport))
    wait_port("127.0.0.1", hport, 10, "mta-stsd's http_listen")
    before = leaf(env.port, "mta-sts.d.test")
    p.relay.release()
    got = wait_issued(env.port, ["d.test"], root)
    check(got["d.test"] != before, "the served leaf did not change")
    check_eq(p.issued(), 1, "certificates Pebble issued")
    st, _, _ = harness.admin_get(hport, WELL_KNOWN)
    check_eq(st, 404, "GET %s on the HTTP-01 listener" % WELL_KNOWN)
    check(log_count(srv, r"acme: mta-sts\.d\.test: certificate obtained") == 1,
        "no 'certificate obtained' log line")


@test
def bad_nonce_rejections_retried(env):
    """Pebble rejects 30 % of good nonces (PEBBLE_WFE_NONCEREJECT=30): the
    client retries each badNonce and both domains still get certificates;
    the retries show in the debug log ("acme: badNonce, retrying")."""
    need_env()
    domains = ["a.test", "b.test"]
    Dns(env, {CA_NAME: "127.0.0.1", "mta-sts.a.test": "127.0.0.1",
        "mta-sts.b.test": "127.0.0.1"})
    p = Pebble(env, tls_port=env.port, nonce_reject=30)
    root = p.root_pem()
    srv = start_acme(env, acme_conf(env, p, domains))
    wait_issued(env.port, domains, root)
    n = log_count(srv, r"acme: badNonce, retrying")
    env.info.append("badNonce retries: %d" % n)
    check(n >= 1, "no 'acme: badNonce, retrying' line: with 30 %% of nonces rejected "
        "over both orders, some request must have been retried")
    check_eq(p.issued(), 2, "certificates Pebble issued")


def elapse_retry(env, storage, host):
    """Make the back-off wait of host be over: retry_at in its state file
    (<storage>/state/<host>.json, read when mta-stsd starts) set to the
    past; returns the state as it was."""
    path = os.path.join(env.path(storage), "state", host + ".json")
    with open(path) as f:
        state = json.load(f)
    new = dict(state, retry_at=int(time.time()) - 1)
    harness.atomic_write(path, json.dumps(new))
    return state


@test
def ca_down_keeps_serving_and_backs_off(env):
    """A CA that is down, then answers 500, leaves the current certificate
    serving and is retried with a growing back-off.

    a.test is issued; then the CA goes down (the relay in front of Pebble
    stops listening: connections refused, as with Pebble stopped - Pebble
    itself keeps its state, so the same account works when it is back) and
    b.test is added (policy file + SIGHUP): "order failed: ...; retrying in
    N1 s", mta_stsd_acme_orders_total counts it. The back-off starts at
    minutes, too long to wait for here, so time is made to pass: mta-stsd is
    stopped, retry_at in b.test's state file is set to the past and it is
    started again with the CA answering 500 to everything: the retry fails
    with a longer wait N2 > N1 (the failure count persisted) and is counted
    as server_error. Once more with the CA back: b.test gets its
    certificate. a.test is served with its first certificate throughout."""
    need_env()
    Dns(env, {CA_NAME: "127.0.0.1", "mta-sts.a.test": "127.0.0.1",
        "mta-sts.b.test": "127.0.0.1"})
    p = Pebble(env, tls_port=env.port, relay=True)
    root = p.root_pem()
    conf = acme_conf(env, p, ["a.test"])
    srv = start_acme(env, conf)
    a_der = wait_issued(env.port, ["a.test"], root)["a.test"]
    p.relay.down()
    tail = harness.LogTail(srv.log_path).mark()
    env.write("policies/b.test.txt", R.simple_policy("b.test"))
    harness.sighup(srv)
    rx = r"acme: mta-sts\.b\.test: order failed: .*; retrying in (\d+) s"
    m1 = tail.wait(rx, 60, "failed order of b.test (CA down)")
    n1 = int(m1.group(1))
    env.info.append("CA down: %s" % m1.group(0))
    check(n1 > 0, "retrying in %d s" % n1)
    check(metric(env.aport, "mta_stsd_acme_orders_total", {"result": "failed"}) +
        metric(env.aport, "mta_stsd_acme_orders_total", {"result": "server_error"}) >= 1,
        "mta_stsd_acme_orders_total counts no failed order")
    check_eq(served_by_pebble(env.port, "a.test", root), a_der,
        "a.test's certificate while the CA is down")
    # the CA answers 500; the back-off's wait is made to be over
    p.relay.error500()
    for restart in ("500", "up"):
        check(srv.stop() is None, "mta-stsd did not stop cleanly")
        srv.exit_expected = True
        state = elapse_retry(env, "acme", "mta-sts.b.test")
        env.info.append("state of b.test before the restart (%s): %s" % (restart, state))
        srv = start_acme(env, conf, name="mta-stsd-%s.conf" % restart)
        check_eq(served_by_pebble(env.port, "a.test", root), a_der,
            "a.test's certificate after a restart with the CA answering %s" % restart)
        if restart == "500":
            tail = harness.LogTail(srv.log_path)
            m2 = tail.wait(rx, 30, "retried order of b.test (CA answering 500)")
            n2 = int(m2.group(1))
            env.info.append("CA answering 500: %s" % m2.group(0))
            check(n2 > n1, "back-off did not grow: retrying in %d s, then %d s" % (n1, n2))
            check(metric(env.aport, "mta_stsd_acme_orders_total",
                {"result": "server_error"}) >= 1,
                'mta_stsd_acme_orders_total{result="server_error"} did not count the 500')
            p.relay.up()
    wait_issued(env.port, ["b.test"], root, timeout=30)
    check_eq(served_by_pebble(env.port, "a.test", root), a_der, "a.test's certificate")


@test
def renewal_under_load_switches_once(env):
    """Renewal while a client fetches continuously over new TLS connections.

    Renewal is forced with short-lived certificates: Pebble 2.4 reads
    certificateValidityPeriod (seconds) from its configuration, here 60 s,
    so a third of the lifetime remains 40 s after issuance and mta-stsd
    renews then, and again about 40 s after that. The load starts once the
    three domains have their first certificate and stops 3 s after each has
    switched (at most 75 s): every fetch (new connection, chain checked
    against Pebble's root, 200 with the policy) must succeed, and the
    sequence of leaves seen for each domain must change exactly once."""
    need_env()
    domains = ["a.test", "b.test", "c.test"]
    Dns(env, dict([(CA_NAME, "127.0.0.1")] + [("mta-sts." + d, "127.0.0.1") for d in domains]))
    p = Pebble(env, tls_port=env.port, validity=60)
    check("certificate validity period of 60 seconds" in p.log(),
        "Pebble did not take certificateValidityPeriod = 60 from its configuration")
    root = p.root_pem()
    srv = start_acme(env, acme_conf(env, p, domains))
    first = wait_issued(env.port, domains, root, timeout=40)
    seen = {d: [first[d]] for d in domains}
    failures = []
    fetches = 0
    t0 = time.monotonic()
    done_at = None
    while time.monotonic() - t0 < 75:
        for d in domains:
            fetches += 1
            try:
                der = served_by_pebble(env.port, d, root)
            except (Fail, ssl.SSLError, OSError, R.http.client.HTTPException) as e:
                failures.append("%.1f s %s: %s" % (time.monotonic() - t0, d, e))
                continue
            if der != seen[d][-1]:
                seen[d].append(der)
        if done_at is None and all(len(seen[d]) >= 2 for d in domains):
            done_at = time.monotonic()
        if done_at is not None and time.monotonic() - done_at > 3:
            break
    env.info.append("%d fetches in %.1f s, %d failed; leaves per domain: %s" % (fetches,
        time.monotonic() - t0, len(failures), {d: len(v) for d, v in seen.items()}))
    check(not failures, "%d of %d fetches failed during renewal: %s"
        % (len(failures), fetches, failures[:5]))
    for d in domains:
        check_eq(len(seen[d]) - 1, 1, "certificate switches seen for mta-sts.%s" % d)
        check(log_count(srv, r"acme: mta-sts\.%s: ordering \(?renewal\)?" % re.escape(d)) >= 1,
            "no 'ordering renewal' log line for mta-sts.%s" % d)


@test
def dns_elsewhere_not_ordered(env):
    """addresses = 127.0.0.1: mta-sts.e.test resolves to 127.0.0.2 ("not
    here"), so it is not ordered (log line, mta_stsd_acme_skipped_dns_total),
    while a.test, which resolves here, is. Pebble sees one order only."""
    need_env()
    Dns(env, {CA_NAME: "127.0.0.1", "mta-sts.a.test": "127.0.0.1",
        "mta-sts.e.test": "127.0.0.2"})
    p = Pebble(env, tls_port=env.port)
    root = p.root_pem()
    srv = start_acme(env, acme_conf(env, p, ["a.test", "e.test"],
        extra_acme="addresses = 127.0.0.1\n"))
    wait_issued(env.port, ["a.test"], root)
    harness.LogTail(srv.log_path).wait(
        r"acme: mta-sts\.e\.test: not ordered: the name resolves to 127\.0\.0\.2, not to "
        r"this server \(addresses = [^)]*\); will check again in \d+ s", 30,
        "skip line for e.test")
    check(metric(env.aport, "mta_stsd_acme_skipped_dns_total") >= 1,
        "mta_stsd_acme_skipped_dns_total did not count the skip")
    time.sleep(2)
    check_eq(p.orders(), 1, "new orders Pebble received (a.test only)")
    check_eq(log_count(srv, r"acme: mta-sts\.e\.test: ordering"), 0, "orders for e.test")
    check(leaf(env.port, "mta-sts.e.test") is None or
        not is_served_by_pebble(env.port, "e.test", root), "e.test has a Pebble certificate")


@test
def restart_serves_stored_without_new_order(env):
    """After a.test and b.test are issued, mta-stsd is stopped and started
    again on the same storage: the stored certificates are served as soon as
    it listens, and no new order reaches Pebble (its log, and the new
    process's mta_stsd_acme_orders_total)."""
    need_env()
    domains = ["a.test", "b.test"]
    Dns(env, {CA_NAME: "127.0.0.1", "mta-sts.a.test": "127.0.0.1",
        "mta-sts.b.test": "127.0.0.1"})
    p = Pebble(env, tls_port=env.port)
    root = p.root_pem()
    conf = acme_conf(env, p, domains)
    srv = start_acme(env, conf)
    got = wait_issued(env.port, domains, root)
    orders = p.orders()
    problem = srv.stop()
    srv.exit_expected = True
    check(problem is None, "first instance: %s" % problem)
    srv2 = start_acme(env, conf, name="mta-stsd2.conf")
    for d in domains:
        check_eq(served_by_pebble(env.port, d, root), got[d],
            "mta-sts.%s right after the restart" % d)
    time.sleep(5)
    check_eq(p.orders(), orders, "new orders Pebble received after the restart")
    check_eq(metric(env.aport, "mta_stsd_acme_orders_total"), 0.0,
        "orders counted by the restarted process")
    check_eq(log_count(srv2, r"acme: mta-sts\.[a-z.]+: ordering"), 0,
        "'ordering' lines after the restart")


def two_instances(env, p, domains, addresses1, addresses2):
    """Start two mta-stsd processes at once, on 127.0.0.1 and 127.0.0.3 (same
    port), sharing one storage directory; returns (srv1, aport1, srv2, aport2).
    The CA (behind its relay) answers once both listen: a validation reaching
    an instance that has not started yet would fail for the harness's sake."""
    p.relay.hold()
    storage = env.path("shared-acme")
    conf1 = acme_conf(env, p, domains, storage=storage,
        extra_acme="addresses = %s\n" % addresses1)
    aport1 = env.aport
    aport2 = R.free_port()
    conf2 = acme_conf(env, p, domains, storage=storage,
        extra_acme="addresses = %s\n" % addresses2,
        listen=["127.0.0.3:%d" % env.port], aport=aport2)
    env.conf1 = conf1
    srvs = []
    for name, text in (("mta-stsd.conf", conf1), ("mta-stsd2.conf", conf2)):
        srv = R.Server(env, env.write(name, text))
        env.servers.append(srv)
        srvs.append(srv.start())
    srvs[0].wait_ready([("127.0.0.1", env.port)])
    srvs[1].wait_ready([("127.0.0.3", env.port)])
    p.relay.release()
    return srvs[0], aport1, srvs[1], aport2


@test
def two_instances_share_storage_one_order_each(env):
    """Two mta-stsd processes, one on 127.0.0.1, one on 127.0.0.3 (same
    port), started together, sharing one storage directory, both allowed to
    order (addresses = both). dnsmasq points mta-sts.a.test at the first and
    mta-sts.b.test at the second, so Pebble validates a.test on one and
    b.test on the other, whichever of them placed the order. Each domain is
    ordered exactly once (Pebble's log: orders, validations, issued
    certificates; both processes' metrics), and both instances serve both
    domains with the same certificate. Then the first instance is restarted
    with c.test added: the account the two left in the shared storage (key
    and URL) must still be one account, so c.test is issued."""
    need_env()
    domains = ["a.test", "b.test"]
    dns = Dns(env, {CA_NAME: "127.0.0.1", "mta-sts.a.test": "127.0.0.1",
        "mta-sts.b.test": "127.0.0.3"})
    p = Pebble(env, tls_port=env.port, relay=True)
    root = p.root_pem()
    both = "127.0.0.1, 127.0.0.3"
    srv1, aport1, srv2, aport2 = two_instances(env, p, domains, both, both)
    one = wait_issued(env.port, domains, root)
    two = wait_issued(env.port, domains, root, addr="127.0.0.3")
    time.sleep(3)
    for d in domains:
        check(one[d] == two[d], "mta-sts.%s: the two instances serve different leaves" % d)
    check_eq(p.issued(), 2, "certificates Pebble issued (one per domain)")
    check_eq(p.orders(), 2, "new orders Pebble received (one per domain)")
    for d in domains:
        check_eq(p.validations("mta-sts." + d), 1, "validations of mta-sts.%s" % d)
    ok = (metric(aport1, "mta_stsd_acme_orders_total", {"result": "ok"}) +
        metric(aport2, "mta_stsd_acme_orders_total", {"result": "ok"}))
    check_eq(ok, 2.0, "successful orders counted by both instances together")
    env.info.append("orders placed: instance 1 %d, instance 2 %d" % (
        log_count(srv1, r"acme: mta-sts\.[a-z.]+: ordering"),
        log_count(srv2, r"acme: mta-sts\.[a-z.]+: ordering")))
    # the stored account still works after a restart
    check(srv1.stop() is None, "the first instance did not stop cleanly")
    srv1.exit_expected = True
    dns.set("mta-sts.c.test", "127.0.0.1")
    env.write("policies/c.test.txt", R.simple_policy("c.test"))
    start_acme(env, env.conf1, name="mta-stsd3.conf")
    wait_issued(env.port, ["c.test"], root, timeout=30)


@test
def validation_answered_by_the_other_instance(env):
    """Two instances sharing storage as above, but only the first may order
    (the second's addresses = 127.0.0.9, which no name resolves to). Pebble
    validates mta-sts.b.test on 127.0.0.3, the second instance, which
    answers from the challenge material the first wrote to the shared
    storage: both domains are issued, each once, and served by both."""
    need_env()
    domains = ["a.test", "b.test"]
    Dns(env, {CA_NAME: "127.0.0.1", "mta-sts.a.test": "127.0.0.1",
        "mta-sts.b.test": "127.0.0.3"})
    p = Pebble(env, tls_port=env.port, relay=True)
    root = p.root_pem()
    srv1, _, srv2, _ = two_instances(env, p, domains, "127.0.0.1, 127.0.0.3", "127.0.0.9")
    one = wait_issued(env.port, domains, root)
    two = wait_issued(env.port, domains, root, addr="127.0.0.3")
    for d in domains:
        check(one[d] == two[d], "mta-sts.%s: the two instances serve different leaves" % d)
    check_eq(p.issued(), 2, "certificates Pebble issued (one per domain)")
    check_eq(log_count(srv2, r"acme: mta-sts\.[a-z.]+: ordering"), 0,
        "orders placed by the second instance")


@test
def alpn_acme_tls_without_pending_challenge_no_certificate(env):
    """A ClientHello offering only acme-tls/1 gets no certificate for a name
    without a pending challenge: a configured domain before any order
    (addresses point elsewhere, so nothing is ordered), a domain with its
    certificate issued, and a name that is not configured."""
    need_env()
    Dns(env, {CA_NAME: "127.0.0.1", "mta-sts.a.test": "127.0.0.1",
        "mta-sts.e.test": "127.0.0.2"})
    p = Pebble(env, tls_port=env.port)
    root = p.root_pem()
    srv = start_acme(env, acme_conf(env, p, ["a.test", "e.test"],
        extra_acme="addresses = 127.0.0.1\n"))
    wait_issued(env.port, ["a.test"], root)
    for sni in ("mta-sts.a.test", "mta-sts.e.test", "mta-sts.zz.test"):
        der = leaf(env.port, sni, ctx=any_ctx(alpn=["acme-tls/1"]))
        check(der is None, "ClientHello offering only acme-tls/1 for %s got a certificate"
            % sni)
    # the ordinary client is still served
    served_by_pebble(env.port, "a.test", root)
    check(srv.proc.poll() is None, "mta-stsd exited")


# ---------------------------------------------------------------- runner

def main():
    enter_namespace()
    try:
        setup_namespace()
    except Exception as e:
        global SETUP_ERROR
        SETUP_ERROR = "cannot set up the namespace (lo, resolv.conf, CA): %s" % e
    try:
        return runner.main(R, TESTS, __doc__.split("\n")[0])
    finally:
        if SUITE_DIR:
            shutil.rmtree(SUITE_DIR, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
