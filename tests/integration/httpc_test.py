#!/usr/bin/env python3
"""The ACME client's HTTPS client (server/httpc.c) against a local HTTPS server.

    python3 tests/integration/httpc_test.py [--binary build/mta-stsd] [-k SUBSTRING] [-v]

Each test starts python3's http.server wrapped in ssl on 127.0.0.1 (a
certificate issued by the suite's test CA, or a throwaway one the openssl
CLI makes) and runs build/httpc-fetch (tests/integration/httpc_fetch.c: one
httpc_request, the answer's fields printed) beside the binary. Checks: a
Content-Length answer and a chunked one (extensions, trailers) with the
fields ACME reads, the request's headers, HEAD, the certificate refused
when the CA file is another one or the name or address does not match,
TLS 1.2 and 1.3, and the timeouts and limits failing clearly.

Output: "PASS name" / "FAIL name: reason" / "SKIP name: why", then
"N passed, N failed"; exit 1 on a failure.
"""

import http.server
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import run  # noqa: E402
import runner  # noqa: E402
from run import Fail, Skip, check, check_eq  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTS = []
NONCE = "E6cd_AsbQyu7XbT0jrlt4A"


def test(fn):
    TESTS.append(fn)
    return fn


def version():
    with open(os.path.join(REPO, "Makefile")) as f:
        return re.search(r"(?m)^VERSION = (\S+)", f.read()).group(1)


def fetch_bin():
    return os.path.join(os.path.dirname(run.BINARY), "httpc-fetch")


def fetch(url, ca=None, timeout=10, method=None, ctype=None, body=None, limit=60):
    """Run httpc-fetch; returns (exit status, fields {name: [values]},
    body bytes, stderr text, seconds)."""
    argv = [fetch_bin()]
    for opt, val in (("--ca", ca), ("--timeout", str(timeout)), ("--method", method),
                     ("--type", ctype), ("--body", body)):
        if val is not None:
            argv += [opt, val]
    argv.append(url)
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, timeout=limit)
    took = time.monotonic() - t0
    fields, out = {}, b""
    if p.returncode == 0:
        head, _, out = p.stdout.partition(b"\n\n")
        for line in head.decode().splitlines():
            name, _, value = line.partition(" ")
            fields.setdefault(name, []).append(value)
    return p.returncode, fields, out, p.stderr.decode(errors="replace"), took


def one(fields, name):
    check(name in fields, "no %s in the answer: %r" % (name, fields))
    return fields[name][0]


def openssl_self_signed(env, name, san):
    """A throwaway self-signed P-256 certificate with subjectAltName san;
    returns (cert path, key path)."""
    cert, key = env.path(name + ".pem"), env.path(name + ".key")
    run.run_ok(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
        "-days", "2", "-subj", "/CN=%s" % name, "-addext", "subjectAltName=" + san])
    return cert, key


CHAIN_EXT = ';name="first part";q'


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _record(self, body=b""):
        self.server.requests.append((self.command, self.path, dict(self.headers), body))

    def do_HEAD(self):
        self._record()
        self.send_response(200)
        self.send_header("Replay-Nonce", NONCE)
        self.send_header("Content-Length", "50")     # a HEAD answer has no body
        self.end_headers()

    def do_GET(self):
        self._record()
        srv = self.server
        if self.path == "/length":
            body = b'{"status": "valid"}\n'
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Location", "/acct/17")
            self.send_header("Replay-Nonce", NONCE)
            self.send_header("Retry-After", "120")
            self.send_header("Link", '<https://ca.test/alt/1>;rel="alternate", '
                             '<https://ca.test/alt/2>;rel="alternate"')
            self.send_header("Link", '</dir>;rel="index"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/chunked":
            data = srv.chunked_body
            self.send_response(200)
            self.send_header("Content-Type", "application/pem-certificate-chain")
            self.send_header("Retry-After", srv.retry_date)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Trailer", "X-Checksum")
            self.end_headers()
            for i in range(0, len(data), 300):
                part = data[i:i + 300]
                ext = CHAIN_EXT if i == 0 else ""
                self.wfile.write(b"%x%s\r\n%s\r\n" % (len(part), ext.encode(), part))
                self.wfile.flush()
            self.wfile.write(b"0;end\r\nX-Checksum: none\r\n\r\n")
        elif self.path == "/silent":
            time.sleep(srv.silence)
        elif self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(1024 * 1024 + 1))
            self.end_headers()
            try:
                self.wfile.write(b"x" * 65536)
            except OSError:
                pass
        else:
            self.send_error(404)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        self._record(body)
        out = b"%s\n" % body
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


class TLSServer(http.server.ThreadingHTTPServer):
    """http.server with TLS done per connection (in its thread), so that a
    client refusing the certificate costs nothing but a record of it."""

    daemon_threads = True

    def __init__(self, cert, key, addr="127.0.0.1", family=socket.AF_INET, tls_max=None):
        self.address_family = family
        super().__init__((addr, 0), Handler)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        if tls_max is not None:
            self.ctx.maximum_version = tls_max
        self.requests = []
        self.tls_errors = []
        self.versions = []
        self.chunked_body = b""
        self.retry_date = ""
        self.silence = 0
        self.port = self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def finish_request(self, request, client_address):
        try:
            request.settimeout(30)
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.tls_errors.append(str(e))
            return
        self.versions.append(tls.version())
        try:
            super().finish_request(tls, client_address)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        pass

    def stop(self):
        self.shutdown()
        self.server_close()


def serve(env, cert, key, **kw):
    srv = TLSServer(cert, key, **kw)
    env.cleanups.append(srv.stop)
    return srv


def localhost_server(env, **kw):
    """A server for "localhost" with a leaf of the suite's CA (root and
    intermediate: the client must build the chain from the root)."""
    leaf = env.pki.issue(["localhost"])
    return serve(env, leaf.chain_pem, leaf.key_pem, **kw), leaf


@test
def content_length_answer(env):
    srv, _ = localhost_server(env)
    rc, f, body, err, _ = fetch("https://localhost:%d/length" % srv.port, ca=env.pki.root)
    check_eq(rc, 0, "exit status (stderr: %s)" % err)
    check_eq(one(f, "status"), "201", "status")
    check_eq(body, b'{"status": "valid"}\n', "body")
    check_eq(one(f, "nonce"), NONCE, "Replay-Nonce")
    check_eq(one(f, "content-type"), "application/json", "Content-Type")
    check_eq(one(f, "retry-after"), "120", "Retry-After")
    # an absolute-path Location and Link target becomes a URL of the server
    check_eq(one(f, "location"), "https://localhost:%d/acct/17" % srv.port, "Location")
    check_eq(f.get("link"), ["alternate https://ca.test/alt/1",
        "alternate https://ca.test/alt/2", "index https://localhost:%d/dir" % srv.port],
        "links")


@test
def chunked_answer(env):
    srv, leaf = localhost_server(env)
    with open(leaf.chain_pem, "rb") as fp:
        srv.chunked_body = fp.read()
    srv.retry_date = time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                   time.gmtime(time.time() + 3600))
    rc, f, body, err, _ = fetch("https://localhost:%d/chunked" % srv.port, ca=env.pki.root)
    check_eq(rc, 0, "exit status (stderr: %s)" % err)
    check(len(srv.chunked_body) > 900, "the chain spans several chunks")
    check_eq(body, srv.chunked_body, "the chain, decoded")
    check_eq(one(f, "content-type"), "application/pem-certificate-chain", "Content-Type")
    ra = int(one(f, "retry-after"))
    check(3500 <= ra <= 3600, "Retry-After %s is %d s, not about 3600" % (srv.retry_date, ra))


@test
def request_headers_and_body(env):
    srv, _ = localhost_server(env)
    payload = '{"protected": "e30", "payload": "", "signature": "c2ln"}'
    rc, f, body, err, _ = fetch("https://localhost:%d/new-acct?x=1#frag" % srv.port,
                                ca=env.pki.root, method="POST",
                                ctype="application/jose+json", body=payload)
    check_eq(rc, 0, "exit status (stderr: %s)" % err)
    check_eq(body, payload.encode() + b"\n", "body echoed")
    check_eq(len(srv.requests), 1, "requests")
    method, path, headers, got = srv.requests[0]
    check_eq((method, path), ("POST", "/new-acct?x=1"), "request line")
    check_eq(headers.get("Host"), "localhost:%d" % srv.port, "Host")
    check_eq(headers.get("User-Agent"), "mta-stsd/" + version(), "User-Agent")
    check_eq(headers.get("Content-Type"), "application/jose+json", "Content-Type")
    check_eq(headers.get("Content-Length"), str(len(payload)), "Content-Length")
    check_eq(headers.get("Connection"), "close", "Connection")
    check_eq(got, payload.encode(), "body received")


@test
def head_reads_no_body(env):
    srv, _ = localhost_server(env)
    rc, f, body, err, took = fetch("https://localhost:%d/nonce" % srv.port,
                                   ca=env.pki.root, method="HEAD", timeout=20)
    check_eq(rc, 0, "exit status (stderr: %s)" % err)
    check_eq(one(f, "nonce"), NONCE, "Replay-Nonce")
    check_eq(body, b"", "body")
    check(took < 15, "HEAD took %.1f s: it waited for the 50 bytes announced" % took)


@test
def another_ca_refused(env):
    srv, _ = localhost_server(env)
    other, _ = openssl_self_signed(env, "other-ca", "DNS:localhost")
    rc, _, _, err, _ = fetch("https://localhost:%d/length" % srv.port, ca=other)
    check_eq(rc, 1, "exit status with another CA file")
    check("not accepted" in err and "not correctly signed by the trusted CA" in err
          and other in err, "the reason: %s" % err.strip())
    check_eq(srv.requests, [], "requests sent over the refused connection")
    # the system store does not hold the suite's CA either
    rc, _, _, err, _ = fetch("https://localhost:%d/length" % srv.port)
    check_eq(rc, 1, "exit status with the system store")
    check("/etc/ssl/certs/ca-certificates.crt" in err, "the reason: %s" % err.strip())
    # and the right one is accepted by the same server
    rc, _, _, err, _ = fetch("https://localhost:%d/length" % srv.port, ca=env.pki.root)
    check_eq(rc, 0, "exit status with the suite's CA (stderr: %s)" % err)


@test
def name_mismatch_refused(env):
    leaf = env.pki.issue(["other.test"])
    srv = serve(env, leaf.chain_pem, leaf.key_pem)
    rc, _, _, err, _ = fetch("https://localhost:%d/length" % srv.port, ca=env.pki.root)
    check_eq(rc, 1, "exit status for a certificate of other.test")
    check("Common Name (CN) does not match" in err, "the reason: %s" % err.strip())
    check_eq(srv.requests, [], "requests sent")


@test
def ip_literal_checked_against_ip_sans(env):
    cert, key = openssl_self_signed(env, "ip", "IP:127.0.0.1,IP:::1")
    srv = serve(env, cert, key)
    rc, f, _, err, _ = fetch("https://127.0.0.1:%d/length" % srv.port, ca=cert)
    check_eq(rc, 0, "exit status (stderr: %s)" % err)
    check_eq(one(f, "location"), "https://127.0.0.1:%d/acct/17" % srv.port, "Location")
    # a certificate for a name only is no certificate for the address
    cert2, key2 = openssl_self_signed(env, "dns-only", "DNS:localhost")
    srv2 = serve(env, cert2, key2)
    rc, _, _, err, _ = fetch("https://127.0.0.1:%d/length" % srv2.port, ca=cert2)
    check_eq(rc, 1, "exit status for a certificate without the address")
    check("does not match" in err, "the reason: %s" % err.strip())
    if not run.have_ipv6_loopback():
        env.info.append("no IPv6 loopback: [::1] not tried")
        return
    srv6 = serve(env, cert, key, addr="::1", family=socket.AF_INET6)
    rc, f, _, err, _ = fetch("https://[::1]:%d/length" % srv6.port, ca=cert)
    check_eq(rc, 0, "exit status over [::1] (stderr: %s)" % err)
    check_eq(one(f, "location"), "https://[::1]:%d/acct/17" % srv6.port, "Location")


@test
def tls12_and_tls13(env):
    for tls_max, want in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
                          (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
        srv, _ = localhost_server(env, tls_max=tls_max)
        rc, f, _, err, _ = fetch("https://localhost:%d/length" % srv.port, ca=env.pki.root)
        check_eq(rc, 0, "exit status with %s (stderr: %s)" % (want, err))
        check_eq(srv.versions, [want], "protocol")


@test
def answer_timeout(env):
    srv, _ = localhost_server(env)
    srv.silence = 30
    rc, _, _, err, took = fetch("https://localhost:%d/silent" % srv.port,
                                ca=env.pki.root, timeout=2)
    check_eq(rc, 1, "exit status")
    check("no complete answer within 2 s" in err, "the reason: %s" % err.strip())
    check(1.5 <= took < 12, "gave up after %.1f s, not about 2" % took)


@test
def handshake_timeout(env):
    # a listener that never accepts: the TCP connection is made, TLS never starts
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    env.cleanups.append(lsock.close)
    rc, _, _, err, took = fetch("https://127.0.0.1:%d/" % lsock.getsockname()[1],
                                ca=env.pki.root, timeout=2)
    check_eq(rc, 1, "exit status")
    check("TLS handshake did not finish within 2 s" in err, "the reason: %s" % err.strip())
    check(1.5 <= took < 12, "gave up after %.1f s, not about 2" % took)


@test
def connect_refused(env):
    port = run.free_port()
    rc, _, _, err, _ = fetch("https://127.0.0.1:%d/" % port, ca=env.pki.root)
    check_eq(rc, 1, "exit status")
    check("connecting to 127.0.0.1 port %d: Connection refused" % port in err,
          "the reason: %s" % err.strip())


@test
def body_over_the_limit(env):
    srv, _ = localhost_server(env)
    rc, _, _, err, _ = fetch("https://localhost:%d/big" % srv.port, ca=env.pki.root)
    check_eq(rc, 1, "exit status")
    check("larger than 1048576 bytes" in err, "the reason: %s" % err.strip())


@test
def bad_urls_refused(env):
    for url, why in (("http://localhost/", "https://"),
                     ("https://user@localhost/", "user"),
                     ("https://localhost:99999/", "port"),
                     ("https://local host/", "blank")):
        rc, _, _, err, _ = fetch(url, ca=env.pki.root)
        check_eq(rc, 1, "exit status for %s" % url)
        check(why in err, "the reason for %s: %s" % (url, err.strip()))


def configure(args):
    if not os.access(fetch_bin(), os.X_OK):
        print("FAIL setup: %s is missing (make %s)" % (fetch_bin(),
              os.path.relpath(fetch_bin(), REPO)))
        print("0 passed, 1 failed")
        sys.exit(1)


if __name__ == "__main__":
    sys.exit(runner.main(run, TESTS, __doc__.splitlines()[0], configure=configure))
