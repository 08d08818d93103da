#!/usr/bin/env python3
"""ACME challenge answering tests for mta-stsd (RFC 8737 TLS-ALPN-01, RFC 8555 HTTP-01).

    python3 tests/integration/challenge_test.py [--binary build/mta-stsd] [-k SUBSTRING] [-v]

The test writes the challenge material itself, where the ACME client would
([acme] storage, challenges/tls-alpn-01/<name>.pem and challenges/http-01/<token>),
with a challenge certificate made by the openssl command (self-signed, SAN
the name, the critical id-pe-acmeIdentifier extension). Checks: a ClientHello
offering only acme-tls/1 for a name with a challenge gets that certificate,
ALPN acme-tls/1, and the connection closed right after the handshake; any
other client (http/1.1, or acme-tls/1 together with http/1.1) gets the normal
certificate and the policy; acme-tls/1 for a name without a challenge, or
with ACME off, is refused like an unknown SNI (unrecognized_name, counted as
unknown_sni). The HTTP-01 listener (http_listen) answers
/.well-known/acme-challenge/<token> with the key authorization and everything
else with 404. /metrics counts the answers
(mta_stsd_acme_challenges_answered_total{type=...}).

Uses the PKI, Env and Server helpers of run.py (same directory). Output: one
line per test, "PASS name", "FAIL name: reason" or "SKIP name: why", then
"N passed, N failed". Python 3 standard library and the openssl command;
loopback only; bounded in time.
"""

import hashlib
import http.client
import os
import re
import socket
import ssl
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness      # noqa: E402  (server sections, admin client)
import run as R     # noqa: E402  (the integration framework: PKI, Env, Server)
import runner       # noqa: E402  (the runner every Python suite shares)
import sni_test as S    # noqa: E402  (hand-made ClientHellos, the record reader)
from run import Fail, check, check_eq, WELL_KNOWN  # noqa: E402

DOMAIN = "example.com"
HOST = "mta-sts." + DOMAIN
ACME_TLS = "acme-tls/1"
UNRECOGNIZED = r"UNRECOGNIZED_NAME|unrecognized name|alert number 112"
TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
KEY_AUTH = TOKEN + ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
# an unreachable directory: ACME is on, nothing is ever ordered in these tests
DIRECTORY = "https://127.0.0.1:9/directory"


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def challenge_cert(env, name, key_authorization=KEY_AUTH):
    """A TLS-ALPN-01 challenge certificate for name (RFC 8737 section 3) made
    by openssl: PEM certificate then PEM key, and the certificate's DER."""
    digest = hashlib.sha256(key_authorization.encode()).hexdigest()
    d = env.path("chal-" + name)
    os.makedirs(d, exist_ok=True)
    R.run_ok(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:P-256", "-noenc", "-days", "7", "-subj", "/CN=" + name,
        "-addext", "subjectAltName=DNS:" + name,
        "-addext", "1.3.6.1.5.5.7.1.31=critical,DER:0420" + digest,
        "-keyout", d + "/key.pem", "-out", d + "/cert.pem"])
    with open(d + "/cert.pem") as f:
        cert = f.read()
    with open(d + "/key.pem") as f:
        key = f.read()
    return cert + key, ssl.PEM_cert_to_DER_cert(cert)


def storage(env):
    return env.path("acme")


def put_tls_challenge(env, name):
    """Write name's challenge file as the ACME client does; returns its DER."""
    pem, der = challenge_cert(env, name)
    d = os.path.join(storage(env), "challenges", "tls-alpn-01")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name + ".pem"), "w") as f:
        f.write(pem)
    os.chmod(os.path.join(d, name + ".pem"), 0o600)
    return der


def put_http_challenge(env, token, key_authorization):
    d = os.path.join(storage(env), "challenges", "http-01")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, token), "w") as f:
        f.write(key_authorization)


def start(env, acme=True, http_port=None, domains=(DOMAIN,)):
    """A server for domains (hand-managed certificates), with an admin
    listener, ACME on (an unreachable directory) or off; returns the
    certificates by domain."""
    env.aport = R.free_port()
    settings = {"admin_listen": "127.0.0.1:%d" % env.aport}
    text = harness.server_section(env, **settings)
    if acme:
        text += "[acme]\ndirectory = %s\nstorage = %s\n" % (DIRECTORY, storage(env))
        if http_port is not None:
            text += "http_listen = 127.0.0.1:%d\n" % http_port
    certs = {}
    for d in domains:
        sec, certs[d] = env.domain(d)
        text += sec
    env.start(text)
    return certs


def metric(env, name, labels):
    """The value of one series of /metrics (0 when it is absent)."""
    body = harness.admin_get(env.aport, "/metrics")[2].decode()
    m = re.search(r"(?m)^%s\{%s\} (\d+)$" % (re.escape(name), re.escape(labels)), body)
    return int(m.group(1)) if m else None


def answered(env, kind):
    return metric(env, "mta_stsd_acme_challenges_answered_total", 'type="%s"' % kind)


def unknown_sni(env):
    return metric(env, "mta_stsd_tls_handshake_failures_total", 'reason="unknown_sni"')


def acme_ctx(env, alpn=(ACME_TLS,), max_version=None):
    return R.client_ctx(env.pki, verify=False, alpn=list(alpn), max_version=max_version)


def closed_after_handshake(s):
    """True when the server ends the connection (close_notify or FIN) without
    sending anything, within the I/O timeout."""
    s.settimeout(R.IO_TIMEOUT)
    try:
        data = s.recv(4096)
    except socket.timeout:
        return False
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionError):
        return True
    if data:
        raise Fail("the server sent %r after an acme-tls/1 handshake" % data[:100])
    return True


# ---------------------------------------------------------------- TLS-ALPN-01

@test
def tls_alpn_01_challenge_certificate_then_close(env):
    """acme-tls/1 alone, for a name with a challenge: the challenge certificate,
    ALPN acme-tls/1, then the server closes; TLS 1.3 and TLS 1.2."""
    certs = start(env)
    der = put_tls_challenge(env, HOST)
    for version in (None, ssl.TLSVersion.TLSv1_2):
        what = "acme-tls/1 over %s" % ("TLS 1.2" if version else "TLS 1.3")
        s = R.tls_connect(env.port, HOST, acme_ctx(env, max_version=version))
        try:
            got = s.getpeercert(binary_form=True)
            check(got == der, "%s: not the challenge certificate%s" % (what,
                " (the domain's normal one)" if got == certs[DOMAIN].der else ""))
            check_eq(s.selected_alpn_protocol(), ACME_TLS, what + ": ALPN selected")
            check(closed_after_handshake(s), "%s: the connection stayed open %s s "
                "after the handshake" % (what, R.IO_TIMEOUT))
        finally:
            s.close()
    check_eq(answered(env, "tls-alpn-01"), 2, "tls-alpn-01 challenges answered")
    check_eq(answered(env, "http-01"), 0, "http-01 challenges answered")


@test
def tls_alpn_01_other_clients_get_the_normal_certificate(env):
    """With a challenge pending, http/1.1 alone, acme-tls/1 with http/1.1, and no
    ALPN get the domain's certificate, http/1.1 and the policy."""
    certs = start(env)
    put_tls_challenge(env, HOST)
    for offer in (["http/1.1"], [ACME_TLS, "http/1.1"], ["http/1.1", ACME_TLS], None):
        ctx = R.client_ctx(env.pki, alpn=offer)
        conn = R.Conn(env.port, HOST, ctx)
        try:
            conn.connect()
            check(conn.sock.getpeercert(binary_form=True) == certs[DOMAIN].der,
                "ALPN %s: not the domain's certificate" % offer)
            if offer is not None:
                check_eq(conn.sock.selected_alpn_protocol(), "http/1.1",
                    "ALPN selected when offering %s" % offer)
            status, _, body = R.request(conn, "GET", WELL_KNOWN, HOST)
        finally:
            conn.close()
        check_eq(status, 200, "ALPN %s: status" % offer)
        check_eq(body, R.normalised(DOMAIN), "ALPN %s: body" % offer)
    check_eq(answered(env, "tls-alpn-01"), 0, "tls-alpn-01 challenges answered")


@test
def tls_alpn_01_without_challenge_refused_like_unknown_sni(env):
    """acme-tls/1 alone for a name with no challenge (a served domain, another
    name, a name whose challenge was removed) fails with unrecognized_name,
    counted as unknown_sni; no certificate is shown."""
    start(env)
    put_tls_challenge(env, "mta-sts.other.example")
    os.remove(os.path.join(storage(env), "challenges", "tls-alpn-01",
        "mta-sts.other.example.pem"))
    before = unknown_sni(env)
    names = (HOST, "mta-sts.other.example", "mta-sts.none.example")
    for name in names:
        R.expect_handshake_refused(env, name, acme_ctx(env), reason=UNRECOGNIZED)
    R.expect_handshake_refused(env, HOST, acme_ctx(env, max_version=ssl.TLSVersion.TLSv1_2),
        reason=UNRECOGNIZED)
    check_eq(unknown_sni(env) - before, len(names) + 1, "handshakes counted as unknown_sni")
    check_eq(answered(env, "tls-alpn-01"), 0, "tls-alpn-01 challenges answered")
    # the domain itself is still served
    R.served_ok(env, DOMAIN)


@test
def tls_alpn_01_acme_off_no_challenge_answered(env):
    """ACME off ([acme] directory not set): a challenge file where the
    storage would be is never read; acme-tls/1 is refused like an unknown SNI."""
    start(env, acme=False)
    d = os.path.join(env.dir, "acme")      # the default storage
    pem, _ = challenge_cert(env, HOST)
    os.makedirs(os.path.join(d, "challenges", "tls-alpn-01"), exist_ok=True)
    with open(os.path.join(d, "challenges", "tls-alpn-01", HOST + ".pem"), "w") as f:
        f.write(pem)
    R.expect_handshake_refused(env, HOST, acme_ctx(env), reason=UNRECOGNIZED)
    check_eq(answered(env, "tls-alpn-01"), 0, "tls-alpn-01 challenges answered")
    R.served_ok(env, DOMAIN)


@test
def tls_alpn_01_challenge_written_while_running(env):
    """The challenge is read when the ClientHello comes (another instance may
    have written it): a file written, replaced and removed while the server
    runs is seen each time."""
    start(env)
    R.expect_handshake_refused(env, HOST, acme_ctx(env), reason=UNRECOGNIZED)
    for _ in range(2):
        der = put_tls_challenge(env, HOST)
        s = R.tls_connect(env.port, HOST, acme_ctx(env))
        try:
            check(s.getpeercert(binary_form=True) == der,
                "not the challenge certificate written last")
        finally:
            s.close()
    os.remove(os.path.join(storage(env), "challenges", "tls-alpn-01", HOST + ".pem"))
    R.expect_handshake_refused(env, HOST, acme_ctx(env), reason=UNRECOGNIZED)


def tls13_hello_alpn(name, group, rnd, sid, alpn):
    """sni_test's TLS 1.3 ClientHello (SNI name, one key share of group) with
    an ALPN extension offering the protocols alpn."""
    share_len = {S.GROUP_P521: 133, S.GROUP_X25519: 32}[group]
    share = (b"\x04" if group == S.GROUP_P521 else b"") + os.urandom(
        share_len - (1 if group == S.GROUP_P521 else 0))
    ks_entry = struct.pack("!HH", group, len(share)) + share
    names = b"".join(bytes([len(p)]) + p.encode() for p in alpn)
    exts = S.sni_ext([name])
    exts += S.ext(0x0010, struct.pack("!H", len(names)) + names)
    exts += S.ext(0x002b, b"\x02\x03\x04")
    exts += S.ext(0x000a, struct.pack("!HHH", 4, S.GROUP_P521, S.GROUP_X25519))
    exts += S.ext(0x000d, b"\x00\x08\x04\x03\x08\x04\x04\x01\x08\x07")
    exts += S.ext(0x0033, struct.pack("!H", len(ks_entry)) + ks_entry)
    exts += S.ext(0x002d, b"\x01\x01")
    return S.hello_record(S.hello_body(exts, (0x1301, 0x1302, 0x1303), rnd, sid))


def hrr_alpn(env, alpn1, alpn2):
    """A ClientHello offering alpn1 that gets a HelloRetryRequest, then a
    second one offering alpn2 (both for HOST): the server's first record
    after the HelloRetryRequest, described."""
    rnd, sid = os.urandom(32), os.urandom(32)
    s, rd = S.connect(env)
    try:
        s.sendall(tls13_hello_alpn(HOST, S.GROUP_P521, rnd, sid, alpn1))
        first = S.describe(rd.record())
        if first != "HelloRetryRequest":
            raise Fail("the first ClientHello (ALPN %s) got %s, expected a "
                "HelloRetryRequest: the test's ClientHello is wrong" % (alpn1, first))
        s.sendall(b"\x14\x03\x03\x00\x01\x01" +
            tls13_hello_alpn(HOST, S.GROUP_X25519, rnd, sid, alpn2))
        nxt = rd.record()
        while nxt is not None and nxt[0] == 20:
            nxt = rd.record()
        return S.describe(nxt)
    finally:
        s.close()


@test
def tls_alpn_01_second_client_hello_keeps_the_offer(env):
    """After a HelloRetryRequest the second ClientHello must offer what the
    first did: acme-tls/1 alone both times completes (ServerHello), a change
    to or from acme-tls/1 alone is refused with illegal_parameter."""
    start(env)
    put_tls_challenge(env, HOST)
    check_eq(hrr_alpn(env, [ACME_TLS], [ACME_TLS]), "handshake ServerHello",
        "acme-tls/1 alone in both ClientHellos")
    check_eq(hrr_alpn(env, ["http/1.1"], ["http/1.1"]), "handshake ServerHello",
        "http/1.1 in both ClientHellos")
    for a1, a2 in (([ACME_TLS], [ACME_TLS, "http/1.1"]), (["http/1.1"], [ACME_TLS])):
        check_eq(hrr_alpn(env, a1, a2), "alert illegal_parameter",
            "ALPN %s, then %s" % (a1, a2))


# ---------------------------------------------------------------- HTTP-01

def http_get(port, path, method="GET", body=None):
    """A raw HTTP/1.1 request (the path exactly as given): (status, headers, body)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=R.IO_TIMEOUT)
    try:
        c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        c.putheader("Host", HOST)
        if body is not None:
            c.putheader("Content-Length", str(len(body)))
        c.endheaders(body)
        r = c.getresponse()
        return r.status, r.headers, r.read()
    finally:
        c.close()


@test
def http_01_token_served_everything_else_404(env):
    """http_listen answers GET (and HEAD) /.well-known/acme-challenge/<token>
    with the key authorization (200, text/plain); other paths, other methods,
    unknown tokens and tokens with '..' or '/' get 404."""
    hport = R.free_port()
    start(env, http_port=hport)
    put_http_challenge(env, TOKEN, KEY_AUTH)
    # a file outside the http-01 directory that a path could try to reach
    with open(os.path.join(storage(env), "challenges", "secret"), "w") as f:
        f.write("secret")
    harness.wait_for(lambda: http_get(hport, "/")[0] == 404, R.START_TIMEOUT,
        "the HTTP-01 listener answering")
    st, headers, body = http_get(hport, "/.well-known/acme-challenge/" + TOKEN)
    check_eq(st, 200, "GET of the token: status")
    check_eq(body, KEY_AUTH.encode(), "GET of the token: body")
    check(headers.get("Content-Type", "").startswith("text/plain"),
        "Content-Type %r, expected text/plain" % headers.get("Content-Type"))
    for path in ("/", WELL_KNOWN, "/.well-known/acme-challenge/",
            "/.well-known/acme-challenge/unknownToken",
            "/.well-known/acme-challenge/../secret",
            "/.well-known/acme-challenge/..%2fsecret",
            "/.well-known/acme-challenge/%2e%2e/secret",
            "/.well-known/acme-challenge/" + TOKEN + "/x",
            "/.well-known/acme-challenge/" + TOKEN + "x",
            "/.well-known/acme-challenge//" + TOKEN,
            "/x/../.well-known/acme-challenge/" + TOKEN,
            "/metrics"):
        st, _, body = http_get(hport, path)
        check_eq(st, 404, "GET %s: status" % path)
        check(b"secret" not in body and KEY_AUTH.encode() not in body,
            "GET %s: the answer holds what it must not" % path)
    st, _, _ = http_get(hport, "/.well-known/acme-challenge/" + TOKEN, method="POST")
    check_eq(st, 404, "POST of the token: status")
    st, _, body = http_get(hport, "/.well-known/acme-challenge/" + TOKEN, method="POST",
        body=b"x" * 3000)
    check_eq(st, 404, "POST of the token with a body: status")
    check(KEY_AUTH.encode() not in body, "POST with a body got the key authorization")
    st, _, body = http_get(hport, "/.well-known/acme-challenge/" + TOKEN, body=b"y" * 3000)
    check_eq((st, body), (200, KEY_AUTH.encode()), "GET of the token with a body")
    st, headers, body = http_get(hport, "/.well-known/acme-challenge/" + TOKEN, method="HEAD")
    check_eq(st, 200, "HEAD of the token: status")
    check_eq(headers.get("Content-Length"), str(len(KEY_AUTH)), "HEAD: Content-Length")
    check_eq(answered(env, "http-01"), 3, "http-01 challenges answered")
    # removed: 404 (read each time, nothing cached)
    os.remove(os.path.join(storage(env), "challenges", "http-01", TOKEN))
    check_eq(http_get(hport, "/.well-known/acme-challenge/" + TOKEN)[0], 404,
        "GET of a removed token: status")
    check_eq(answered(env, "http-01"), 3, "http-01 challenges answered")
    # the TLS listener is unaffected
    R.served_ok(env, DOMAIN)


@test
def http_01_listener_only_with_acme(env):
    """http_listen without [acme] directory (ACME off) listens nowhere."""
    hport = R.free_port()
    env.aport = R.free_port()
    text = harness.server_section(env, admin_listen="127.0.0.1:%d" % env.aport)
    text += "[acme]\nhttp_listen = 127.0.0.1:%d\n" % hport
    sec, _ = env.domain(DOMAIN)
    env.start(text + sec)
    R.served_ok(env, DOMAIN)
    s = socket.socket()
    s.settimeout(R.IO_TIMEOUT)
    try:
        s.connect(("127.0.0.1", hport))
        raise Fail("something listens on http_listen with ACME off")
    except ConnectionRefusedError:
        pass
    finally:
        s.close()


# ---------------------------------------------------------------- runner

def main():
    return runner.main(R, TESTS, __doc__.split("\n")[0])


if __name__ == "__main__":
    sys.exit(main())
