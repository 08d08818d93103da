#!/usr/bin/env python3
"""Integration tests for mta-stsd: drive the real binary with real clients.

    python3 tests/integration/run.py --binary build/mta-stsd [-k SUBSTRING] [-v]

Each test gets its own temporary directory and a free loopback port, writes a
configuration, policies and certificates (issued by a throwaway CA made with
the openssl command-line tool once per run), starts the server, waits until
the port accepts and then talks to it with Python's ssl/http.client, curl or
openssl s_client. A failing test prints the server's stderr.

Output: one line per test, "PASS name", "FAIL name: reason" or
"SKIP name: why", then "N passed, N failed" (", N skipped" when some were).
Exit status 1 when any test failed. Python 3 standard library only.
"""

import contextlib
import datetime
import http.client
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
import warnings

START_TIMEOUT = 10.0    # seconds for the server to accept connections
IO_TIMEOUT = 5.0        # every socket operation
PROC_TIMEOUT = 20.0     # every helper subprocess (openssl, curl, mta-stsd -t)
STOP_TIMEOUT = 5.0      # SIGTERM to exit

WELL_KNOWN = "/.well-known/mta-sts.txt"
SANITIZER_RE = re.compile(r"^.*(ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:).*$",
    re.M)

BINARY = None
VERBOSE = False


class Fail(Exception):
    """A test assertion failed; the message is the reason."""


class Skip(Exception):
    """The test cannot run here; the message says why."""


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def check_eq(got, expected, what):
    if got != expected:
        raise Fail("%s: expected %r, got %r" % (what, expected, got))


def run(argv, timeout=PROC_TIMEOUT, **kw):
    """Run a helper command, bounded in time; returns CompletedProcess."""
    try:
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        raise Fail("%s timed out after %ss" % (" ".join(argv[:3]), timeout))


def run_ok(argv, **kw):
    r = run(argv, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(argv), r.returncode,
            r.stderr.decode(errors="replace")))
    return r


# ---------------------------------------------------------------- certificates

def asn1_time(dt):
    return dt.strftime("%Y%m%d%H%M%SZ")


class Cert:
    """A leaf certificate as issued: PEM files and what identifies it."""

    def __init__(self, cert_pem, chain_pem, key_pem, serial, sans, kind):
        self.cert_pem = cert_pem    # leaf only
        self.chain_pem = chain_pem  # leaf + intermediate (certbot fullchain.pem)
        self.key_pem = key_pem
        self.serial = serial
        self.sans = sans
        self.kind = kind
        with open(cert_pem) as f:
            self.der = ssl.PEM_cert_to_DER_cert(f.read())


class PKI:
    """A test root CA, an intermediate CA under it, and leaves it issues.

    The root is the only thing clients trust, so every successful handshake
    also proves the server sends the intermediate from fullchain.pem.
    """

    def __init__(self, directory):
        self.dir = directory
        self.next_serial = 0x1000
        os.makedirs(os.path.join(directory, "newcerts"))
        open(os.path.join(directory, "index.txt"), "w").close()
        self.root = self._path("root.pem")
        self.root_key = self._path("root.key")
        self.inter = self._path("inter.pem")
        self.inter_key = self._path("inter.key")
        self._genkey(self.root_key, "ec")
        run_ok(["openssl", "req", "-x509", "-new", "-key", self.root_key, "-sha256",
            "-subj", "/CN=mta-stsd test root", "-days", "3650", "-set_serial", "1",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-out", self.root])
        self._genkey(self.inter_key, "ec")
        csr = self._path("inter.csr")
        run_ok(["openssl", "req", "-new", "-key", self.inter_key,
            "-subj", "/CN=mta-stsd test intermediate", "-out", csr])
        ext = self._path("inter.ext")
        with open(ext, "w") as f:
            f.write("basicConstraints = critical, CA:TRUE, pathlen:0\n"
                "keyUsage = critical, keyCertSign, cRLSign\n"
                "subjectKeyIdentifier = hash\n"
                "authorityKeyIdentifier = keyid\n")
        run_ok(["openssl", "x509", "-req", "-in", csr, "-CA", self.root,
            "-CAkey", self.root_key, "-set_serial", "2", "-days", "3650",
            "-sha256", "-extfile", ext, "-out", self.inter])
        self.cnf = self._path("ca.cnf")
        with open(self.cnf, "w") as f:
            f.write("[ca]\ndefault_ca = test_ca\n"
                "[test_ca]\n"
                "database = %s\n"
                "new_certs_dir = %s\n"
                "serial = %s\n"
                "default_md = sha256\n"
                "policy = policy_any\n"
                "unique_subject = no\n"
                "email_in_dn = no\n"
                "[policy_any]\ncommonName = supplied\n"
                % (self._path("index.txt"), self._path("newcerts"),
                   self._path("serial")))
        self.count = 0

    def _path(self, name):
        return os.path.join(self.dir, name)

    @staticmethod
    def _genkey(path, kind):
        if kind == "ec":
            run_ok(["openssl", "genpkey", "-algorithm", "EC",
                "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path])
        else:   # "rsa" (2048 bits) or "rsa<bits>"
            run_ok(["openssl", "genpkey", "-algorithm", "RSA",
                "-pkeyopt", "rsa_keygen_bits:%s" % (kind[3:] or "2048"), "-out", path])

    def issue(self, sans, kind="ec", not_before=None, not_after=None):
        """Issue a leaf for the DNS names sans; kind "ec" (P-256), "rsa"
        (2048) or "rsa<bits>". Dates default to one day ago .. 90 days ahead."""
        self.count += 1
        n = self.count
        serial = self.next_serial
        self.next_serial += 1
        now = datetime.datetime.now(datetime.timezone.utc)
        not_before = not_before or now - datetime.timedelta(days=1)
        not_after = not_after or now + datetime.timedelta(days=90)
        key = self._path("leaf%d.key" % n)
        self._genkey(key, kind)
        csr = self._path("leaf%d.csr" % n)
        run_ok(["openssl", "req", "-new", "-key", key, "-subj", "/CN=%s" % sans[0],
            "-out", csr])
        ext = self._path("leaf%d.ext" % n)
        usage = "digitalSignature" if kind == "ec" else "digitalSignature, keyEncipherment"
        with open(ext, "w") as f:
            f.write("basicConstraints = critical, CA:FALSE\n"
                "keyUsage = critical, %s\n"
                "extendedKeyUsage = serverAuth\n"
                "subjectKeyIdentifier = hash\n"
                "authorityKeyIdentifier = keyid\n"
                "subjectAltName = %s\n"
                % (usage, ", ".join("DNS:" + s for s in sans)))
        with open(self._path("serial"), "w") as f:
            f.write("%04X\n" % serial)    # openssl ca wants an even number of digits
        leaf = self._path("leaf%d.pem" % n)
        run_ok(["openssl", "ca", "-batch", "-config", self.cnf, "-notext",
            "-cert", self.inter, "-keyfile", self.inter_key, "-in", csr,
            "-startdate", asn1_time(not_before), "-enddate", asn1_time(not_after),
            "-extfile", ext, "-out", leaf])
        chain = self._path("leaf%d.chain.pem" % n)
        with open(chain, "w") as out:
            for p in (leaf, self.inter):
                with open(p) as f:
                    out.write(f.read())
        return Cert(leaf, chain, key, serial, sans, kind)


# ---------------------------------------------------------------- the server

def free_port(family=socket.AF_INET, addr="127.0.0.1"):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class Server:
    """One mta-stsd process, stderr captured in a file."""

    def __init__(self, env, conf, args=None, prefix=None):
        self.env = env
        self.conf = conf
        self.args = args if args is not None else ["-c", conf]
        self.prefix = prefix or []  # a command that execs the server (same pid)
        self.log_path = os.path.join(env.dir, "server%d.log" % len(env.servers))
        self.proc = None

    def start(self):
        self.logf = open(self.log_path, "wb")
        # cwd elsewhere: relative paths must resolve against the config's directory
        self.proc = subprocess.Popen(self.prefix + [BINARY] + self.args,
            stdin=subprocess.DEVNULL,
            stdout=self.logf, stderr=self.logf, cwd="/")
        return self

    def wait_ready(self, addrs):
        deadline = time.monotonic() + START_TIMEOUT
        pending = list(addrs)
        while pending:
            if self.proc.poll() is not None:
                raise Fail("server exited with status %d before accepting connections"
                    % self.proc.returncode)
            if time.monotonic() > deadline:
                raise Fail("server did not accept on %s within %ss" % (pending, START_TIMEOUT))
            host, port = pending[0]
            fam = socket.AF_INET6 if ":" in host else socket.AF_INET
            try:
                with socket.socket(fam, socket.SOCK_STREAM) as s:
                    s.settimeout(0.5)
                    s.connect((host, port))
                pending.pop(0)
            except OSError:
                time.sleep(0.05)
        return self

    def wait_exit(self, timeout):
        """Wait for an exit the test expects (its status is the test's to check)."""
        self.exit_expected = True
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        """SIGTERM (then SIGKILL); returns a problem to report, or None: a
        server that died on its own during the test, or did not exit 0."""
        problem = None
        if not self.proc:
            return None
        rc = self.proc.poll()
        if rc is not None:
            if not getattr(self, "exit_expected", False):
                problem = "the server died during the test (exit status %d)" % rc
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=STOP_TIMEOUT)
                if rc != 0:
                    problem = "the server exited with status %d on SIGTERM at the end" % rc
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                problem = "the server ignored SIGTERM at the end of the test for %ss" % STOP_TIMEOUT
        self.logf.close()
        return problem

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""


class Env:
    """Per-test scratch directory, port and helpers to lay out a config."""

    def __init__(self, pki, name):
        self.pki = pki
        self.dir = tempfile.mkdtemp(prefix="mtastsd-%s-" % name)
        self.port = free_port()
        self.servers = []
        self.notes = []     # extra text to show when the test fails
        self.tool_stderr = []   # stderr of each mta-stsd -t run

    def path(self, rel):
        return os.path.join(self.dir, rel)

    def write(self, rel, data):
        p = self.path(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        mode = "wb" if isinstance(data, bytes) else "w"
        with open(p, mode) as f:
            f.write(data)
        return p

    def install_cert(self, cert, subdir):
        """Copy cert as <subdir>/fullchain.pem + privkey.pem; returns the
        relative paths (relative to the config directory)."""
        os.makedirs(self.path(subdir), exist_ok=True)
        shutil.copy(cert.chain_pem, self.path(subdir + "/fullchain.pem"))
        shutil.copy(cert.key_pem, self.path(subdir + "/privkey.pem"))
        return subdir + "/fullchain.pem", subdir + "/privkey.pem"

    def server_section(self, extra="", listen=None):
        listen = listen or ["127.0.0.1:%d" % self.port]
        return ("[server]\n" + "".join("listen = %s\n" % l for l in listen) +
            "policy_dir = policies\nhandshake_timeout = 10\nidle_timeout = 30\n"
            # the tests run as root; the server refuses that unless told
            + ("allow_root = yes\n" if os.geteuid() == 0 else "") +
            "log_level = info\naccess_log = stderr\n" + extra)

    def domain(self, name, policy=None, kind="ec", cert=None, section=True):
        """Add a domain: policy file policies/<name>.txt, a certificate for
        mta-sts.<name> under certs/<name>/; returns (section text, cert)."""
        self.write("policies/%s.txt" % name, policy or simple_policy(name))
        cert = cert or self.pki.issue(["mta-sts." + name], kind)
        c, k = self.install_cert(cert, "certs/" + name)
        text = "[%s]\ncert = %s\nkey = %s\n" % (name, c, k) if section else ""
        return text, cert

    def start(self, conf_text, addrs=None, ready=True, prefix=None):
        conf = self.write("mta-stsd.conf", conf_text)
        srv = Server(self, conf, prefix=prefix)
        self.servers.append(srv)
        srv.start()
        if ready:
            srv.wait_ready(addrs or [("127.0.0.1", self.port)])
        return srv

    def config_test(self, conf_text, name="mta-stsd.conf"):
        conf = self.write(name, conf_text)
        r = run([BINARY, "-t", "-c", conf], cwd="/")
        self.tool_stderr.append(r.stderr.decode(errors="replace"))
        return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")

    def stop_servers(self):
        """Stop every server; returns the problems found afterwards: crashes,
        bad exit statuses, sanitizer reports in any mta-stsd output."""
        problems = []
        for s in self.servers:
            try:
                p = s.stop()
            except Exception as e:
                p = "stopping the server: %r" % e
            if p:
                problems.append(p)
        for i, text in enumerate([s.log() for s in self.servers] + self.tool_stderr):
            m = SANITIZER_RE.search(text)
            if m:
                problems.append("sanitizer report in mta-stsd output: %s" % m.group(0).strip())
                if i >= len(self.servers):  # server logs are shown anyway
                    self.notes.append("-t stderr:\n" + text)
        return problems

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def simple_policy(domain, mode="enforce", max_age=604800):
    return "version: STSv1\nmode: %s\nmx: mail.%s\nmax_age: %d\n" % (mode, domain, max_age)


def normalised(domain, mode="enforce", max_age=604800):
    return ("version: STSv1\r\nmode: %s\r\nmx: mail.%s\r\nmax_age: %d\r\n"
        % (mode, domain, max_age)).encode()


# ---------------------------------------------------------------- clients

def client_ctx(pki, min_version=None, max_version=None, ciphers=None, alpn=None,
    verify=True):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        ctx.load_verify_locations(pki.root)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():     # TLS 1.0/1.1 are deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        if min_version is not None:
            ctx.minimum_version = min_version
        if max_version is not None:
            ctx.maximum_version = max_version
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    if alpn is not None:
        ctx.set_alpn_protocols(alpn)
    return ctx


def tls_connect(port, sni, ctx, addr="127.0.0.1"):
    """TCP connect to addr:port and handshake with SNI sni (None: no SNI)."""
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    raw = socket.socket(fam, socket.SOCK_STREAM)
    raw.settimeout(IO_TIMEOUT)
    try:
        raw.connect((addr, port))
        if sni is None:
            ctx.check_hostname = False
        return ctx.wrap_socket(raw, server_hostname=sni)
    except BaseException:
        raw.close()
        raise


class Conn(http.client.HTTPSConnection):
    """HTTPS to a loopback address with a chosen SNI, whatever the Host."""

    def __init__(self, port, sni, ctx, addr="127.0.0.1"):
        super().__init__(sni or addr, port, context=ctx, timeout=IO_TIMEOUT)
        self.sni = sni
        self.addr = addr
        self.ctx = ctx

    def connect(self):
        self.sock = tls_connect(self.port, self.sni, self.ctx, self.addr)


@contextlib.contextmanager
def pipelined_flood(port, sni, ctx, count=20000, source=None):
    """A client that keeps one request in flight: on one TLS connection to
    127.0.0.1:port (from the address source when given), a thread of its own
    writes count GETs of the policy (Host: sni) at once and nothing reads the
    answers, so with a 4 KiB receive buffer the server's answers soon block.
    Yields the TLS socket; on exit it is closed and the thread joined."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.settimeout(5.0)
        if source is not None:
            raw.bind((source, 0))
        raw.connect(("127.0.0.1", port))
        s = ctx.wrap_socket(raw, server_hostname=sni)
    except BaseException:
        raw.close()
        raise
    payload = ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (WELL_KNOWN, sni)).encode() * count

    def flood():
        try:
            s.settimeout(30.0)
            s.sendall(payload)
        except (OSError, ssl.SSLError):
            pass
    t = threading.Thread(target=flood, daemon=True)
    t.start()
    try:
        yield s
    finally:
        s.close()
        t.join(5.0)


def request(conn, method, path, host, body=None):
    """One request on conn; returns (status, HTTPMessage headers, body)."""
    headers = {"Host": host} if host is not None else {}
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, resp.headers, data


def raw_exchange(env, sni, data):
    """Send data on a fresh TLS connection and read until the server closes."""
    s = tls_connect(env.port, sni, client_ctx(env.pki))
    got = b""
    try:
        s.sendall(data)
        while True:
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                raise Fail("server kept the connection open %ss after a request with "
                    "Connection: close (got %r)" % (IO_TIMEOUT, got[:200]))
            except (ssl.SSLEOFError, ConnectionError):
                break
            if not chunk:
                break
            got += chunk
    finally:
        s.close()
    return got


def fetch(env, sni, method="GET", path=WELL_KNOWN, host=None, ctx=None, addr="127.0.0.1",
    port=None):
    """One request on a fresh connection; Host defaults to the SNI."""
    conn = Conn(port or env.port, sni, ctx or client_ctx(env.pki), addr)
    try:
        return request(conn, method, path, host if host is not None else sni)
    finally:
        conn.close()


def expect_handshake_refused(env, sni, ctx=None, reason=None):
    """The TLS handshake must fail; reason (regex) must appear in the error
    when given. Returns the error text."""
    ctx = ctx or client_ctx(env.pki)
    try:
        s = tls_connect(env.port, sni, ctx)
    except ssl.SSLError as e:
        text = str(e)
        if reason and not re.search(reason, text, re.I):
            raise Fail("handshake with SNI %r failed, but with %r, expected %s"
                % (sni, text, reason))
        return text
    except (ConnectionError, socket.timeout) as e:
        if reason:
            raise Fail("handshake with SNI %r: connection dropped (%r) instead of an "
                "alert matching %s" % (sni, e, reason))
        return str(e)
    else:
        cert = s.getpeercert()
        s.close()
        raise Fail("handshake with SNI %r succeeded (peer %r), expected it to be refused"
            % (sni, cert and cert.get("subjectAltName")))


# ---------------------------------------------------------------- registry

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def served_ok(env, domain, cert=None, body=None, ctx=None):
    """GET the policy of domain: 200, text/plain, the expected body; the
    peer certificate must be cert (DER-identical) when given."""
    ctx = ctx or client_ctx(env.pki)
    conn = Conn(env.port, "mta-sts." + domain, ctx)
    try:
        conn.connect()
        if cert is not None:
            got = conn.sock.getpeercert(binary_form=True)
            if got != cert.der:
                pc = conn.sock.getpeercert()
                raise Fail("SNI mta-sts.%s: got certificate serial %s SAN %r, expected "
                    "serial %X SAN %r" % (domain, pc.get("serialNumber"),
                    pc.get("subjectAltName"), cert.serial, cert.sans))
        status, headers, data = request(conn, "GET", WELL_KNOWN, "mta-sts." + domain)
    finally:
        conn.close()
    check_eq(status, 200, "GET %s on mta-sts.%s status" % (WELL_KNOWN, domain))
    check_eq(headers.get("Content-Type"), "text/plain", "Content-Type for %s" % domain)
    check_eq(data, body if body is not None else normalised(domain), "body for %s" % domain)


# ---------------------------------------------------------------- tests: TLS

@test
def sni_selects_certificate_per_domain(env):
    conf = env.server_section()
    certs = {}
    for d, kind in (("example.com", "ec"), ("example.net", "rsa"), ("mail-host.org", "ec")):
        sec, certs[d] = env.domain(d, kind=kind)
        conf += sec
    env.start(conf)
    for d, c in certs.items():
        served_ok(env, d, c)
        # the SAN the client saw names exactly this domain's policy host
        s = tls_connect(env.port, "mta-sts." + d, client_ctx(env.pki))
        san = s.getpeercert().get("subjectAltName")
        s.close()
        check_eq(san, (("DNS", "mta-sts." + d),), "SAN for mta-sts.%s" % d)


@test
def sni_any_case(env):
    sec, cert = env.domain("example.com")
    env.start(env.server_section() + sec)
    s = tls_connect(env.port, "MTA-STS.Example.COM", client_ctx(env.pki))
    got = s.getpeercert(binary_form=True)
    s.close()
    check(got == cert.der, "SNI MTA-STS.Example.COM did not get the example.com certificate")


@test
def unknown_sni_refused_unrecognized_name(env):
    sec, _ = env.domain("example.com")
    env.start(env.server_section() + sec)
    for sni in ("mta-sts.example.org", "www.example.com", "example.com",
        "mta-sts.sub.example.com"):
        expect_handshake_refused(env, sni, client_ctx(env.pki, verify=False),
            reason=r"UNRECOGNIZED_NAME|unrecognized name|alert number 112")


@test
def no_sni_refused_without_default_domain(env):
    sec, _ = env.domain("example.com")
    env.start(env.server_section() + sec)
    expect_handshake_refused(env, None, client_ctx(env.pki, verify=False))


@test
def no_sni_served_with_default_domain(env):
    s1, c1 = env.domain("example.com")
    s2, c2 = env.domain("example.net")
    env.start(env.server_section("default_domain = example.net\n") + s1 + s2)
    ctx = client_ctx(env.pki, verify=False)
    conn = Conn(env.port, None, ctx)
    try:
        conn.connect()
        check(conn.sock.getpeercert(binary_form=True) == c2.der,
            "no-SNI client did not get the default domain's (example.net) certificate")
        status, headers, data = request(conn, "GET", WELL_KNOWN, "mta-sts.example.net")
    finally:
        conn.close()
    check_eq(status, 200, "no-SNI GET status")
    check_eq(data, normalised("example.net"), "no-SNI body")
    # SNI clients are unaffected
    served_ok(env, "example.com", c1)


def handshake_with(env, ctx):
    """Start a server for example.com and shake hands with ctx: returns the
    domain's certificate, the version and the suite negotiated."""
    sec, cert = env.domain("example.com")
    env.start(env.server_section() + sec)
    s = tls_connect(env.port, "mta-sts.example.com", ctx)
    version, cipher = s.version(), s.cipher()[0]
    s.close()
    return cert, version, cipher


@test
def tls12_client(env):
    ctx = client_ctx(env.pki, max_version=ssl.TLSVersion.TLSv1_2)
    cert, version, cipher = handshake_with(env, ctx)
    check_eq(version, "TLSv1.2", "negotiated version")
    check(cipher.startswith("ECDHE-") or cipher.startswith("DHE-"),
        "TLS 1.2 suite %s is not forward secret" % cipher)
    check("GCM" in cipher or "CHACHA20" in cipher or "CCM" in cipher,
        "TLS 1.2 suite %s is not AEAD" % cipher)
    served_ok(env, "example.com", cert, ctx=ctx)


@test
def tls13_client(env):
    ctx = client_ctx(env.pki, min_version=ssl.TLSVersion.TLSv1_3)
    cert, version, _ = handshake_with(env, ctx)
    check_eq(version, "TLSv1.3", "negotiated version")
    served_ok(env, "example.com", cert, ctx=ctx)


def old_protocol_refused(env, version):
    sec, _ = env.domain("example.com")
    env.start(env.server_section() + sec)
    ctx = client_ctx(env.pki, verify=False, min_version=version, max_version=version,
        ciphers="ALL:@SECLEVEL=0")
    try:
        s = tls_connect(env.port, "mta-sts.example.com", ctx)
    except ssl.SSLError as e:
        if re.search(r"NO_PROTOCOLS_AVAILABLE|NO_CIPHERS_AVAILABLE|no protocols|"
            r"no ciphers", str(e), re.I):
            raise Skip("this OpenSSL cannot speak %s as a client (%s)" % (version.name, e))
        return
    except (ConnectionError, socket.timeout):
        return
    got = s.version()
    s.close()
    raise Fail("a %s-only client completed a handshake (%s)" % (version.name, got))


@test
def tls11_refused(env):
    old_protocol_refused(env, ssl.TLSVersion.TLSv1_1)


@test
def tls10_refused(env):
    old_protocol_refused(env, ssl.TLSVersion.TLSv1)


@test
def non_aead_or_non_fs_suites_refused(env):
    sec, _ = env.domain("example.com", kind="rsa")
    env.start(env.server_section() + sec)
    for suite in ("AES128-GCM-SHA256", "AES256-SHA256", "ECDHE-RSA-AES128-SHA256",
        "ECDHE-RSA-AES256-SHA"):
        ctx = client_ctx(env.pki, max_version=ssl.TLSVersion.TLSv1_2,
            ciphers=suite + ":@SECLEVEL=0")
        try:
            s = tls_connect(env.port, "mta-sts.example.com", ctx)
        except (ssl.SSLError, ConnectionError, socket.timeout):
            continue
        got = s.cipher()
        s.close()
        raise Fail("client offering only %s completed a handshake with %r" % (suite, got))


@test
def alpn_http11(env):
    sec, _ = env.domain("example.com")
    env.start(env.server_section() + sec)
    for offer in (["http/1.1"], ["h2", "http/1.1"]):
        ctx = client_ctx(env.pki, alpn=offer)
        s = tls_connect(env.port, "mta-sts.example.com", ctx)
        got = s.selected_alpn_protocol()
        s.close()
        check_eq(got, "http/1.1", "ALPN selected when offering %s" % offer)


@test
def rsa_and_ecdsa_pair_client_picks(env):
    env.write("policies/example.com.txt", simple_policy("example.com"))
    ec = env.pki.issue(["mta-sts.example.com"], "ec")
    rsa = env.pki.issue(["mta-sts.example.com"], "rsa")
    c1, k1 = env.install_cert(ec, "certs/ec")
    c2, k2 = env.install_cert(rsa, "certs/rsa")
    env.start(env.server_section() +
        "[example.com]\ncert = %s\nkey = %s\ncert2 = %s\nkey2 = %s\n" % (c1, k1, c2, k2))
    for suite, want in (("ECDHE-ECDSA-AES128-GCM-SHA256", ec),
        ("ECDHE-RSA-AES128-GCM-SHA256", rsa), ("ECDHE-ECDSA-AES256-GCM-SHA384", ec),
        ("ECDHE-RSA-AES256-GCM-SHA384", rsa)):
        ctx = client_ctx(env.pki, max_version=ssl.TLSVersion.TLSv1_2, ciphers=suite)
        try:
            s = tls_connect(env.port, "mta-sts.example.com", ctx)
        except ssl.SSLError as e:
            raise Fail("TLS 1.2 client offering only %s: handshake failed: %s" % (suite, e))
        got, cipher = s.getpeercert(binary_form=True), s.cipher()[0]
        s.close()
        check_eq(cipher, suite, "negotiated suite")
        check(got == want.der, "client offering only %s got the %s certificate, expected %s"
            % (suite, "EC" if got == ec.der else "RSA" if got == rsa.der else "unknown",
            want.kind.upper()))
    served_ok(env, "example.com")


@test
def ipv6_and_ipv4_listeners(env):
    if not have_ipv6_loopback():
        raise Skip("no IPv6 loopback (::1) on this machine")
    port6 = env.port
    sec, cert = env.domain("example.com")
    env.start(env.server_section(listen=["127.0.0.1:%d" % env.port, "[::1]:%d" % port6]) + sec,
        addrs=[("127.0.0.1", env.port), ("::1", port6)])
    for addr in ("127.0.0.1", "::1"):
        status, _, data = fetch(env, "mta-sts.example.com", addr=addr, port=port6)
        check_eq(status, 200, "status over %s" % addr)
        check_eq(data, normalised("example.com"), "body over %s" % addr)


# ---------------------------------------------------------------- tests: HTTP

@test
def body_normalised_exact_bytes_and_headers(env):
    # LF endings, fields out of order, no space / two spaces after colons
    sec, cert = env.domain("example.com", policy=
        "version: STSv1\n"
        "max_age:  86400\n"
        "mx: mail.example.com\n"
        "ext-one: first value\n"
        "mode:testing\n"
        "mx: *.backup.example.com\n"
        "x_second.ext: 2\n")
    env.start(env.server_section() + sec)
    want = (b"version: STSv1\r\n"
        b"mode: testing\r\n"
        b"mx: mail.example.com\r\n"
        b"mx: *.backup.example.com\r\n"
        b"max_age: 86400\r\n"
        b"ext-one: first value\r\n"
        b"x_second.ext: 2\r\n")
    status, headers, data = fetch(env, "mta-sts.example.com")
    check_eq(status, 200, "status")
    check_eq(data, want, "body")
    check_eq(headers.get_all("Content-Type"), ["text/plain"], "Content-Type header(s)")
    check_eq(headers.get_all("Content-Length"), [str(len(want))], "Content-Length header(s)")
    check(headers.get("Transfer-Encoding") is None, "unexpected Transfer-Encoding: %s"
        % headers.get("Transfer-Encoding"))
    check(b"\r\n\r\n" not in data and not data.startswith(b"\r\n"), "blank line in body")
    data.decode("ascii")


@test
def head_headers_only(env):
    sec, _ = env.domain("example.com")
    env.start(env.server_section() + sec)
    want = normalised("example.com")
    # raw bytes up to the server's close: nothing may follow the header block
    raw = raw_exchange(env, "mta-sts.example.com",
        b"HEAD /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.com\r\n"
        b"Connection: close\r\n\r\n")
    head, sep, rest = raw.partition(b"\r\n\r\n")
    check(sep != b"", "no end of headers in the HEAD response: %r" % raw[:300])
    check(head.startswith(b"HTTP/1.1 200 "), "HEAD status line: %r" % head[:40])
    check_eq(rest, b"", "bytes after the HEAD response headers")
    fields = [l.split(b":", 1) for l in head.split(b"\r\n")[1:]]
    hdrs = {k.strip().lower(): v.strip() for k, v in fields}
    check_eq(hdrs.get(b"content-type"), b"text/plain", "HEAD Content-Type")
    check_eq(hdrs.get(b"content-length"), str(len(want)).encode(), "HEAD Content-Length")
    # and through http.client
    status, headers, data = fetch(env, "mta-sts.example.com", method="HEAD")
    check_eq(status, 200, "HEAD status")
    check_eq(data, b"", "HEAD body")


@test
def other_paths_404_never_redirect(env):
    sec, _ = env.domain("example.com")
    env.start(env.server_section() + sec)
    for path in ("/", "/.well-known/", "/.well-known", "/.well-known/mta-sts.txt/",
        "/.well-known/MTA-STS.TXT", "/mta-sts.txt", "/.well-known/mta-sts.txt.bak",
        "/index.html", "/.well-known/../etc/passwd"):
        for method in ("GET", "HEAD"):
            status, headers, _ = fetch(env, "mta-sts.example.com", method=method, path=path)
            check(not 300 <= status < 400, "%s %s answered %d (Location %r): never 3xx"
                % (method, path, status, headers.get("Location")))
            check_eq(status, 404, "%s %s status" % (method, path))


@test
def other_methods_405_with_allow(env):
    sec, _ = env.domain("example.com")
    env.start(env.server_section() + sec)
    conn = Conn(env.port, "mta-sts.example.com", client_ctx(env.pki))
    try:
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            status, headers, _ = request(conn, method, WELL_KNOWN, "mta-sts.example.com")
            check_eq(status, 405, "%s status" % method)
            check_eq(headers.get("Allow"), "GET, HEAD", "%s Allow header" % method)
            conn.close()    # a refused request body may close the connection; start afresh
        status, headers, _ = request(conn, "POST", WELL_KNOWN, "mta-sts.example.com")
        check_eq(status, 405, "POST (no body) status")
        conn.close()
        conn.request("POST", WELL_KNOWN, body=b"a=1&b=2",
            headers={"Host": "mta-sts.example.com",
            "Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        resp.read()
        check_eq(resp.status, 405, "POST with body status")
        check_eq(resp.getheader("Allow"), "GET, HEAD", "POST with body Allow header")
    finally:
        conn.close()


@test
def host_of_other_domain_421(env):
    s1, _ = env.domain("example.com")
    s2, _ = env.domain("example.net")
    env.start(env.server_section() + s1 + s2)
    for host in ("mta-sts.example.net", "mta-sts.example.org", "MTA-STS.EXAMPLE.NET:443"):
        status, headers, _ = fetch(env, "mta-sts.example.com", host=host)
        check_eq(status, 421, "SNI mta-sts.example.com + Host %s status" % host)
    served_ok(env, "example.net")


@test
def host_uppercase_and_port(env):
    sec, _ = env.domain("example.com")
    env.start(env.server_section() + sec)
    for host in ("MTA-STS.EXAMPLE.COM", "Mta-Sts.Example.Com:%d" % env.port,
        "mta-sts.example.com:443", "mta-sts.example.com"):
        status, headers, data = fetch(env, "mta-sts.example.com", host=host)
        check_eq(status, 200, "Host %s status" % host)
        check_eq(data, normalised("example.com"), "Host %s body" % host)


@test
def keep_alive_three_requests(env):
    sec, _ = env.domain("example.com")
    env.start(env.server_section() + sec)
    conn = Conn(env.port, "mta-sts.example.com", client_ctx(env.pki))
    try:
        conn.connect()
        first = conn.sock
        for i, (method, path, want) in enumerate((("GET", WELL_KNOWN, 200),
            ("GET", "/nope", 404), ("HEAD", WELL_KNOWN, 200), ("GET", WELL_KNOWN, 200))):
            status, headers, data = request(conn, method, path, "mta-sts.example.com")
            check_eq(status, want, "request %d (%s %s) status" % (i + 1, method, path))
            check(conn.sock is first, "server closed the connection after request %d "
                "(%s %s; Connection: %s)" % (i + 1, method, path, headers.get("Connection")))
        check_eq(data, normalised("example.com"), "last body")
    finally:
        conn.close()


@test
def access_log_one_line_per_request(env):
    sec, _ = env.domain("example.com")
    srv = env.start(env.server_section() + sec)
    marker = "/access-log-probe-%d" % os.getpid()
    conn = Conn(env.port, "mta-sts.example.com", client_ctx(env.pki))
    try:
        for i in range(3):
            request(conn, "GET", "%s-%d" % (marker, i), "mta-sts.example.com")
        request(conn, "GET", WELL_KNOWN, "mta-sts.example.com")
    finally:
        conn.close()
    deadline = time.monotonic() + 3
    while True:
        lines = srv.log().splitlines()
        counts = [sum(1 for l in lines if "%s-%d" % (marker, i) in l) for i in range(3)]
        if counts == [1, 1, 1] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check_eq(counts, [1, 1, 1], "access log lines naming each probe path")
    probe = [l for l in lines if marker + "-0" in l][0]
    check("404" in probe, "access log line lacks the status 404: %r" % probe)


@test
def access_log_for_requests_refused_before_the_handler(env):
    """Requests refused before the request handler runs still get their
    access-log line: headers over max_header_size (431, by libmicrohttpd), a
    header line without a colon (400, by libmicrohttpd), a NUL byte (400, by
    the pump). A served request after them is logged as usual."""
    sec, _ = env.domain("example.com")
    srv = env.start(env.server_section("max_header_size = 1024\n") + sec)
    host = b"Host: mta-sts.example.com\r\n"
    line = b"GET " + WELL_KNOWN.encode() + b" HTTP/1.1\r\n"
    cases = (
        ("headers over max_header_size", 431, line + host + b"X-Big: " + b"a" * 3000 +
            b"\r\n\r\n"),
        ("a header line without a colon", 400, line + host + b"no colon here\r\n\r\n"),
        ("a NUL byte in a header", 400, line + host + b"X-Nul: a\x00b\r\n\r\n"),
    )
    for what, want, data in cases:
        got = raw_exchange(env, "mta-sts.example.com", data)
        check(got.startswith(b"HTTP/1.1 %d " % want), "%s: expected a %d answer, got %r"
            % (what, want, got[:80]))
    served_ok(env, "example.com")
    access = re.compile(r" access: 127\.0\.0\.1 sni=mta-sts\.example\.com host=\S+ "
        r"\"(\S+) (\S+)\" (\d{3}) ")
    deadline = time.monotonic() + 3
    while True:
        got = [m.groups() for m in access.finditer(srv.log())]
        if len(got) >= 4 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check_eq([int(g[2]) for g in got], [431, 400, 400, 200], "access-log statuses, in order")
    check_eq(got[0][:2], ("-", "-"), "method and path of a refused request")


@test
def handshake_timeout_closes_silent_client(env):
    sec, _ = env.domain("example.com")
    env.start(env.server_section().replace("handshake_timeout = 10", "handshake_timeout = 1") + sec)
    with socket.create_connection(("127.0.0.1", env.port), timeout=6) as s:
        t0 = time.monotonic()
        try:
            data = s.recv(100)
        except socket.timeout:
            raise Fail("a client sending nothing was still connected after 6 s "
                "(handshake_timeout = 1)")
        except ConnectionError:
            data = b""
        took = time.monotonic() - t0
    check(took < 5, "silent client closed only after %.1f s (handshake_timeout = 1)" % took)


@test
def idle_timeout_closes_keep_alive(env):
    sec, _ = env.domain("example.com")
    env.start(env.server_section().replace("idle_timeout = 30", "idle_timeout = 1") + sec)
    s = tls_connect(env.port, "mta-sts.example.com", client_ctx(env.pki))
    try:
        s.sendall(b"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.com\r\n\r\n")
        got = b""
        want = normalised("example.com")
        s.settimeout(6)
        t0 = None
        while True:
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                raise Fail("idle keep-alive connection still open 6 s after the response "
                    "(idle_timeout = 1)")
            except (ssl.SSLError, ConnectionError):
                chunk = b""
            if not chunk:
                break
            got += chunk
            if t0 is None and got.endswith(want):
                t0 = time.monotonic()
        check(got.startswith(b"HTTP/1.1 200"), "response: %r" % got[:40])
        check(re.search(rb"(?im)^connection:\s*close", got) is None,
            "the server answered with Connection: close, so the keep-alive idle timeout "
            "cannot be observed")
        check(t0 is not None, "no complete response before the close: %r" % got)
        took = time.monotonic() - t0
        check(took < 5, "idle connection closed only after %.1f s (idle_timeout = 1)" % took)
    finally:
        s.close()


@test
def concurrent_clients_answered_fast(env):
    # the strictest sender measured gives up after 2 s
    if os.environ.get("MTASTSD_SLOW"):
        raise Skip("a latency test; MTASTSD_SLOW says the server runs under "
            "valgrind, which multiplies every handshake's time")
    sec, _ = env.domain("example.com", kind="rsa")
    env.start(env.server_section() + sec)
    results = []

    def one():
        t0 = time.monotonic()
        try:
            status, _, data = fetch(env, "mta-sts.example.com")
            results.append((status, data, time.monotonic() - t0, None))
        except Exception as e:
            results.append((None, None, time.monotonic() - t0, repr(e)))

    threads = [threading.Thread(target=one) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(IO_TIMEOUT * 3)
    check_eq(len(results), 40, "clients finished")
    errors = [r[3] for r in results if r[3]]
    check(not errors, "%d of 40 concurrent clients failed, e.g. %s" % (len(errors), errors[:1]))
    bad = [r[0] for r in results if r[0] != 200 or r[1] != normalised("example.com")]
    check(not bad, "wrong answers to concurrent clients: %r" % bad[:5])
    slowest = max(r[2] for r in results)
    check(slowest < 2.0, "slowest of 40 concurrent fetches took %.2f s" % slowest)


@test
def stalled_clients_do_not_block_others(env):
    sec, _ = env.domain("example.com")
    env.start(env.server_section() + sec)
    stalled = []
    try:
        # half a ClientHello, a TLS client that stopped mid-request, a silent TCP client
        for _ in range(5):
            c = socket.create_connection(("127.0.0.1", env.port), timeout=IO_TIMEOUT)
            c.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            stalled.append(c)
            c = tls_connect(env.port, "mta-sts.example.com", client_ctx(env.pki))
            c.sendall(b"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-")
            stalled.append(c)
            stalled.append(socket.create_connection(("127.0.0.1", env.port), timeout=IO_TIMEOUT))
        time.sleep(0.2)
        t0 = time.monotonic()
        status, _, data = fetch(env, "mta-sts.example.com")
        took = time.monotonic() - t0
        check_eq(status, 200, "status beside 15 stalled connections")
        check(took < 1.0, "fetch beside 15 stalled connections took %.2f s" % took)
    finally:
        for c in stalled:
            c.close()


# ---------------------------------------------------------------- tests: discovery

@test
def discovery_policy_dir_and_cert_dir(env):
    # certbot's layout: live/<name>/fullchain.pem + privkey.pem, names unrelated
    # to the domains; one multi-SAN cert, one wildcard, one plain EC, one RSA
    multi = env.pki.issue(["mta-sts.alpha.test", "mta-sts.beta.test"], "ec")
    wild = env.pki.issue(["*.example.org"], "ec")
    plain = env.pki.issue(["mta-sts.gamma.test"], "ec")
    rsa = env.pki.issue(["mta-sts.delta.test"], "rsa")
    other = env.pki.issue(["www.unrelated.test"], "ec")
    env.install_cert(multi, "live/multi")
    env.install_cert(wild, "live/wildcard-2024")
    env.install_cert(plain, "live/gamma.test")
    env.install_cert(rsa, "live/d")
    env.install_cert(other, "live/zz-unrelated")
    want = {"alpha.test": multi, "beta.test": multi, "example.org": wild,
        "gamma.test": plain, "delta.test": rsa}
    for d in want:
        env.write("policies/%s.txt" % d, simple_policy(d))
    env.write("policies/README", "not a policy\n")
    env.start(env.server_section("cert_dir = live\n"))
    for d, c in sorted(want.items()):
        served_ok(env, d, c)
    expect_handshake_refused(env, "mta-sts.unrelated.test", client_ctx(env.pki, verify=False),
        reason=r"UNRECOGNIZED_NAME|unrecognized name|alert number 112")


@test
def discovery_exact_name_beats_wildcard(env):
    # directory names sort the wildcard first, so order alone would pick it
    wild = env.pki.issue(["*.example.com"], "ec")
    exact = env.pki.issue(["mta-sts.example.com"], "ec")
    env.install_cert(wild, "live/a-wildcard")
    env.install_cert(exact, "live/z-exact")
    for d in ("example.com", "deep.example.com"):
        env.write("policies/%s.txt" % d, simple_policy(d))
    # mta-sts.deep.example.com is two labels below example.com: no certificate
    # covers it, so that domain fails and the other is still served
    srv = env.start(env.server_section("cert_dir = live\n"))
    served_ok(env, "example.com", exact)
    expect_handshake_refused(env, "mta-sts.deep.example.com", client_ctx(env.pki, verify=False),
        reason=r"UNRECOGNIZED_NAME|unrecognized name|alert number 112")
    check("deep.example.com" in srv.log(), "no error logged for deep.example.com")


@test
def discovery_many_pairs_loaded_in_parallel(env):
    # more pairs than certset.c's CERTSET_PARALLEL_MIN (64): cert_dir is read
    # on several threads; every good pair is served, each broken one is
    # named once in the log, and the result is the same after a full reload
    n = 90
    domains = ["d%02d.test" % i for i in range(n)]
    multi = env.pki.issue(["mta-sts." + d for d in domains], "ec")
    other = env.pki.issue(["mta-sts.elsewhere.test"], "ec")
    broken = {}
    for i, d in enumerate(domains):
        sub = "live/s%02d" % i
        env.install_cert(multi, sub)
        env.write("policies/%s.txt" % d, simple_policy(d))
        if i % 29 == 5:     # the key of another certificate
            shutil.copy(other.key_pem, env.path(sub + "/privkey.pem"))
            broken[sub] = "key"
        elif i % 29 == 17:  # not a certificate at all
            env.write(sub + "/fullchain.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n")
            broken[sub] = "cert"
    srv = env.start(env.server_section("cert_dir = live\n"))
    for d in (domains[0], domains[n // 2], domains[-1]):
        served_ok(env, d, multi)

    def check_log(text):
        for sub, what in sorted(broken.items()):
            name = "privkey.pem" if what == "key" else "fullchain.pem"
            hits = len(re.findall(re.escape(env.path(sub + "/" + name)) + ":", text))
            check_eq(hits, 1, "log lines naming %s/%s" % (sub, name))
        m = re.findall(r"loaded (\d+) domain\(s\), (\d+) failed", text)
        check(m and m[-1] == (str(n), "0"), "last load line: %r" % (m[-1:],))

    check_log(srv.log())
    mark = len(srv.log())
    os.kill(srv.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 20
    while "loaded" not in srv.log()[mark:] and "reload" not in srv.log()[mark:]:
        check(time.monotonic() < deadline, "no reload logged within 20 s")
        time.sleep(0.05)
    time.sleep(0.5)
    served_ok(env, domains[-1], multi)


@test
def defaults_certificate_for_domains_without_one(env):
    cert = env.pki.issue(["mta-sts.example.com", "mta-sts.example.net"], "ec")
    c, k = env.install_cert(cert, "certs/shared")
    env.write("policies/example.com.txt", simple_policy("example.com"))
    env.write("policies/example.net.txt", simple_policy("example.net"))
    env.start(env.server_section() + "[defaults]\ncert = %s\nkey = %s\n"
        "[example.com]\n[example.net]\n" % (c, k))
    served_ok(env, "example.com", cert)
    served_ok(env, "example.net", cert)


@test
def explicit_policy_path(env):
    env.write("elsewhere/pol.txt", simple_policy("example.com", "testing", 1209600))
    cert = env.pki.issue(["mta-sts.example.com"])
    c, k = env.install_cert(cert, "certs/x")
    env.start(env.server_section() +
        "[example.com]\npolicy = elsewhere/pol.txt\ncert = %s\nkey = %s\n" % (c, k))
    served_ok(env, "example.com", cert, normalised("example.com", "testing", 1209600))


# ---------------------------------------------------------------- tests: other clients

@test
def curl_client(env):
    if not shutil.which("curl"):
        raise Skip("curl not installed")
    sec, _ = env.domain("example.com")
    env.start(env.server_section() + sec)
    out = env.path("curl.body")
    r = run(["curl", "-sS", "--max-time", "10", "--cacert", env.pki.root,
        "--resolve", "mta-sts.example.com:%d:127.0.0.1" % env.port,
        "-o", out, "-w", "%{http_code} %{content_type} %{http_version}",
        "https://mta-sts.example.com:%d%s" % (env.port, WELL_KNOWN)])
    check_eq(r.returncode, 0, "curl exit status (stderr %r)" % r.stderr.decode(errors="replace"))
    check_eq(r.stdout.decode(), "200 text/plain 1.1", "curl status, type, HTTP version")
    with open(out, "rb") as f:
        check_eq(f.read(), normalised("example.com"), "curl body")


@test
def openssl_s_client(env):
    sec, cert = env.domain("example.com", kind="rsa")
    env.start(env.server_section() + sec)
    req = (b"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.com\r\n"
        b"Connection: close\r\n\r\n")
    r = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % env.port,
        "-servername", "mta-sts.example.com", "-CAfile", env.pki.root,
        "-verify_return_error", "-verify_hostname", "mta-sts.example.com",
        "-ign_eof"], input=req, timeout=15)
    out = r.stdout.decode(errors="replace")
    env.notes.append("s_client stdout:\n" + out + "\ns_client stderr:\n" +
        r.stderr.decode(errors="replace"))
    check_eq(r.returncode, 0, "openssl s_client exit status")
    check("Verify return code: 0 (ok)" in out, "certificate did not verify")
    check("HTTP/1.1 200" in out, "no HTTP/1.1 200 status line")
    check(normalised("example.com").decode() in out, "policy body not in the output")
    check(re.search(r"^\s*1 s:.*mta-stsd test intermediate", out, re.M) is not None,
        "intermediate not sent in the chain")


# ---------------------------------------------------------------- tests: -t

def config_test_expect_error(env, conf_text, patterns):
    """mta-stsd -t must exit 1 and print, on stderr, a line matching each
    regex in patterns."""
    rc, out, err = env.config_test(conf_text)
    env.notes.append("-t stderr:\n" + err)
    check_eq(rc, 1, "-t exit status")
    for pat in patterns:
        check(re.search(pat, err, re.M) is not None,
            "-t stderr has no line matching %r" % pat)


@test
def t_bad_policy_file_line(env):
    sec, _ = env.domain("example.com",
        policy="version: STSv1\nmode: enforced\nmx: mail.example.com\nmax_age: 604800\n")
    config_test_expect_error(env, env.server_section() + sec,
        [r"example\.com\.txt:2: .*enforced"])


def config_test_bad_line(env, bad_line, then=""):
    """bad_line at the end of [server], before a good domain: -t must name
    mta-stsd.conf and its line number, followed by the regex then."""
    sec, _ = env.domain("example.com")
    conf = env.server_section() + bad_line + "\n" + sec
    line = conf.splitlines().index(bad_line) + 1
    config_test_expect_error(env, conf, [r"mta-stsd\.conf:%d: %s" % (line, then)])


@test
def t_ini_syntax_error(env):
    config_test_bad_line(env, "this line has no equals sign")


@test
def t_overlong_line(env):
    long_line = "access_log = /var/log/" + "a" * 230 + ".log"
    check(len(long_line) > 200, "test setup")
    config_test_bad_line(env, long_line)


@test
def t_unknown_key(env):
    config_test_bad_line(env, "frobnicate = yes", ".*frobnicate")


@test
def t_unreadable_policy_dir(env):
    """A policy_dir that exists but cannot be read (here: a file) is an error,
    not a warning: its domains would silently go missing, on a reload too."""
    sec, _ = env.domain("example.com")
    env.write("notadir", "")
    conf = (env.server_section().replace("policy_dir = policies", "policy_dir = notadir") +
        sec + "policy = policies/example.com.txt\n")
    config_test_expect_error(env, conf, [r"error: .*notadir: cannot read policy_dir: "])


@test
def t_lists_every_error(env):
    sec, _ = env.domain("example.com")
    long_line = "access_log = /var/log/" + "b" * 230 + ".log"
    conf = (env.server_section() + "frobnicate = yes\n" + long_line + "\nnot an ini line\n" +
        "wobble = 3\n" + sec)
    lines = conf.splitlines()
    config_test_expect_error(env, conf, [r"mta-stsd\.conf:%d: " % (lines.index(l) + 1)
        for l in ("frobnicate = yes", long_line, "not an ini line", "wobble = 3")])


@test
def t_curve_not_built_in(env):
    """A certificate whose key is on a curve the build leaves out (brainpool):
    the error names the file and says which keys work."""
    d = env.path("certs/bp")
    os.makedirs(d, exist_ok=True)
    r = run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:brainpoolP256r1", "-nodes", "-keyout", d + "/privkey.pem",
        "-out", d + "/fullchain.pem", "-days", "30", "-subj", "/CN=mta-sts.example.com",
        "-addext", "subjectAltName=DNS:mta-sts.example.com"])
    check_eq(r.returncode, 0, "openssl made a brainpool certificate")
    env.write("policies/example.com.txt", simple_policy("example.com"))
    conf = env.server_section() + "[example.com]\ncert = certs/bp/fullchain.pem\nkey = certs/bp/privkey.pem\n"
    rc, _, err = env.config_test(conf)
    if rc == 0:
        raise Skip("this build's mbedTLS has the brainpool curves (a system mbedTLS, not "
            "the one scripts/mbedtls-config.sh configures)")
    config_test_expect_error(env, conf,
        [r"error: .*certs/bp/fullchain\.pem: .*not built in: use an RSA key or an ECDSA "
         r"key on P-256, P-384 or P-521"])


CERT_FILE_RE = r"(fullchain\.pem|privkey\.pem|mta-stsd\.conf)(:\d+)?: "


@test
def t_cert_not_covering_name(env):
    wrong = env.pki.issue(["mta-sts.example.net", "example.com"])
    sec, _ = env.domain("example.com", cert=wrong)
    config_test_expect_error(env, env.server_section() + sec,
        [r"^.*%s.*mta-sts\.example\.com" % CERT_FILE_RE])


@test
def t_mismatched_key(env):
    sec, cert = env.domain("example.com")
    other = env.pki.issue(["mta-sts.example.com"])
    shutil.copy(other.key_pem, env.path("certs/example.com/privkey.pem"))
    config_test_expect_error(env, env.server_section() + sec,
        [r"^.*%s.*key" % CERT_FILE_RE])


@test
def t_expired_cert(env):
    now = datetime.datetime.now(datetime.timezone.utc)
    old = env.pki.issue(["mta-sts.example.com"], not_before=now - datetime.timedelta(days=100),
        not_after=now - datetime.timedelta(days=10))
    sec, _ = env.domain("example.com", cert=old)
    config_test_expect_error(env, env.server_section() + sec,
        [r"^.*%s.*(?i:expir)" % CERT_FILE_RE])


@test
def t_policy_over_64000_bytes(env):
    lines = ["version: STSv1", "mode: enforce", "max_age: 604800"]
    i = 0
    while sum(len(l) + 1 for l in lines) <= 64100:
        lines.append("mx: mx%05d.example.com" % i)
        i += 1
    sec, _ = env.domain("example.com", policy="\n".join(lines) + "\n")
    config_test_expect_error(env, env.server_section() + sec,
        [r"example\.com\.txt(:\d+)?: .*64"])


@test
def t_good_config_exit_0(env):
    conf = env.server_section()
    for d in ("example.com", "example.net"):
        conf += env.domain(d)[0]
    rc, out, err = env.config_test(conf)
    env.notes.append("-t stderr:\n" + err)
    check_eq(rc, 0, "-t exit status on a good config")
    check(re.search(r"(?i)\berror\b", err) is None, "-t printed an error on a good config")


@test
def t_warnings_do_not_fail(env):
    now = datetime.datetime.now(datetime.timezone.utc)
    soon = env.pki.issue(["mta-sts.example.com"], not_after=now + datetime.timedelta(days=10))
    s1, _ = env.domain("example.com", cert=soon)
    s2, _ = env.domain("example.net", policy=simple_policy("example.net", max_age=3600))
    s3, _ = env.domain("example.org", policy="version: STSv1\nmode: none\nmax_age: 86400\n")
    rc, out, err = env.config_test(env.server_section() + s1 + s2 + s3)
    env.notes.append("-t stderr:\n" + err)
    check_eq(rc, 0, "-t exit status with only warnings")
    check(re.search(r"example\.net\.txt:\d+: .*max_age", err) is not None,
        "no file:line warning about max_age 3600")
    check(re.search(r"(?i)expir", err) is not None,
        "no warning about the certificate expiring in 10 days")


# ---------------------------------------------------------------- tests: runtime

@test
def broken_domain_beside_good_one(env):
    good, gcert = env.domain("good.example")
    bad, _ = env.domain("bad.example",
        policy="version: STSv1\nmode: enforce\nmax_age: 604800\n")  # no mx
    nocert = env.pki.issue(["mta-sts.unrelated.example"])
    wrong, _ = env.domain("wrong.example", cert=nocert)
    conf = env.server_section() + good + bad + wrong
    rc, _, err = env.config_test(conf)
    env.notes.append("-t stderr:\n" + err)
    check_eq(rc, 1, "-t exit status with a broken domain")
    srv = env.start(conf)
    served_ok(env, "good.example", gcert)
    for d in ("bad.example", "wrong.example"):
        expect_handshake_refused(env, "mta-sts." + d, client_ctx(env.pki, verify=False),
            reason=r"UNRECOGNIZED_NAME|unrecognized name|alert number 112")
    log = srv.log()
    check("bad.example" in log, "server log does not name the broken domain bad.example")
    check("wrong.example" in log, "server log does not name the broken domain wrong.example")


@test
def no_loadable_domain_exits_1(env):
    bad, _ = env.domain("bad.example", policy="version: STSv2\nmode: enforce\n"
        "mx: mail.bad.example\nmax_age: 604800\n")
    srv = env.start(env.server_section() + bad, ready=False)
    rc = srv.wait_exit(START_TIMEOUT)
    check(rc is not None, "server with no loadable domain is still running after %ss"
        % START_TIMEOUT)
    check_eq(rc, 1, "exit status with no loadable domain")


def signal_exit(env, sig, hold_connection):
    """sig must stop the server with status 0 within STOP_TIMEOUT, also
    while idle clients are connected: one that completed the handshake and
    sent nothing, one that connected over TCP and sent nothing."""
    sec, _ = env.domain("example.com")
    srv = env.start(env.server_section() + sec)
    served_ok(env, "example.com")
    held = []
    if hold_connection:
        held.append(tls_connect(env.port, "mta-sts.example.com", client_ctx(env.pki)))
        held.append(socket.create_connection(("127.0.0.1", env.port), timeout=IO_TIMEOUT))
        time.sleep(0.2)
    try:
        t0 = time.monotonic()
        srv.proc.send_signal(sig)
        rc = srv.wait_exit(STOP_TIMEOUT)
        check(rc is not None, "still running %ss after %s%s" % (STOP_TIMEOUT, sig.name,
            " (with two idle connections open)" if hold_connection else ""))
        check_eq(rc, 0, "exit status after %s" % sig.name)
        check(time.monotonic() - t0 < STOP_TIMEOUT, "slow exit")
    finally:
        for h in held:
            h.close()


@test
def sigterm_exit_0(env):
    signal_exit(env, signal.SIGTERM, False)


@test
def sigint_exit_0_with_idle_connections(env):
    signal_exit(env, signal.SIGINT, True)


@test
def sigterm_exit_0_with_idle_connections(env):
    signal_exit(env, signal.SIGTERM, True)


# ---------------------------------------------------------------- tests: command line

@test
def option_h(env):
    r = run([BINARY, "-h"])
    check_eq(r.returncode, 0, "-h exit status")
    check(re.search(r"(?i)usage", r.stdout.decode(errors="replace")) is not None,
        "-h stdout has no usage: %r" % r.stdout[:200])


@test
def bad_option_exit_2(env):
    r = run([BINARY, "-Z"])
    check_eq(r.returncode, 2, "-Z exit status")
    check(re.search(r"(?i)usage", r.stderr.decode(errors="replace")) is not None,
        "bad option: no usage on stderr: %r" % r.stderr[:200])
    check_eq(r.stdout, b"", "bad option stdout")


@test
def option_V(env):
    r = run([BINARY, "-V"])
    out = r.stdout.decode(errors="replace")
    check_eq(r.returncode, 0, "-V exit status")
    check(re.search(r"(?i)mbed ?TLS 3\.6", out) is not None, "-V does not mention Mbed TLS 3.6: %r"
        % out)
    check(re.search(r"(?i)libmicrohttpd[ /v]*\d+\.\d+", out) is not None,
        "-V does not mention the libmicrohttpd version: %r" % out)


@test
def option_help_long(env):
    """--help is -h: the usage on stdout, nothing on stderr, exit 0."""
    r = run([BINARY, "--help"])
    check_eq(r.returncode, 0, "--help exit status")
    check_eq(r.stderr, b"", "--help stderr")
    check_eq(r.stdout, run([BINARY, "-h"]).stdout, "--help output (against -h's)")


@test
def option_version_long(env):
    """--version is -V: the versions on stdout, nothing on stderr, exit 0."""
    r = run([BINARY, "--version"])
    check_eq(r.returncode, 0, "--version exit status")
    check_eq(r.stderr, b"", "--version stderr")
    check(r.stdout.startswith(b"mta-stsd "), "--version stdout: %r" % r.stdout[:200])
    check_eq(r.stdout, run([BINARY, "-V"]).stdout, "--version output (against -V's)")


@test
def unknown_option_named_exit_2(env):
    """An unknown option (short or long) or a missing argument: exit 2, a
    first line on stderr that names the option, then the usage; nothing on
    stdout."""
    for argv, name in ((["--nope"], "--nope"), (["-Z"], "Z"), (["-t", "--help=x"], "--help"),
            (["-c"], "c")):
        r = run([BINARY] + argv)
        err = r.stderr.decode(errors="replace")
        first = err.split("\n", 1)[0].replace(BINARY, "mta-stsd")
        check_eq(r.returncode, 2, "%s exit status" % " ".join(argv))
        check(re.search(r"(?<![\w-])%s\b" % re.escape(name), first) is not None,
            "%s: the first line on stderr does not name %s: %r" % (" ".join(argv), name, first))
        check(re.search(r"(?m)^usage: ", err) is not None,
            "%s: no usage on stderr: %r" % (" ".join(argv), err[:200]))
        check_eq(r.stdout, b"", "%s stdout" % " ".join(argv))


@test
def missing_config_file_exit_1(env):
    r = run([BINARY, "-c", env.path("does-not-exist.conf")])
    check_eq(r.returncode, 1, "exit status for a missing config file")
    check("does-not-exist.conf" in r.stderr.decode(errors="replace"),
        "the error does not name the missing file")


# ---------------------------------------------------------------- runner

if __name__ == "__main__":
    import runner
    sys.exit(runner.main(sys.modules[__name__], TESTS, __doc__.split("\n")[0]))
