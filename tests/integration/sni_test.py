#!/usr/bin/env python3
"""SNI consistency tests for mta-stsd: one connection, one server name.

    python3 tests/integration/sni_test.py [--binary build/mta-stsd] [-k SUBSTRING] [-v]

The certificate a connection presents and the domain its requests are
answered for must be the same. A ClientHello naming several hosts (RFC 6066
section 3: one name per type) and a second ClientHello, after a
HelloRetryRequest, whose server name differs from the first (RFC 8446
section 4.1.2) are refused with an alert before any certificate is sent.
The ClientHellos are made by hand (TLS 1.2 and 1.3, raw bytes); real clients
(Python's ssl, openssl s_client forcing a HelloRetryRequest) must still be
served.

Uses the PKI, Env and Server helpers of run.py (same directory). Output: one
line per test, "PASS name", "FAIL name: reason" or "SKIP name: why", then
"N passed, N failed". Python 3 standard library and the openssl command;
loopback only; bounded in time.
"""

import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as R     # noqa: E402  (the integration framework: PKI, Env, Server)
import runner       # noqa: E402  (the runner every Python suite shares)
from run import Fail, Skip, check, check_eq, WELL_KNOWN  # noqa: E402

A, B = "a.test", "b.test"
HOST_A, HOST_B = "mta-sts." + A, "mta-sts." + B
READ_TIMEOUT = 5.0

# the TLS 1.3 HelloRetryRequest's ServerHello.random (RFC 8446 section 4.1.3)
HRR_RANDOM = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")

ALERT_NAMES = {40: "handshake_failure", 47: "illegal_parameter", 50: "decode_error",
    80: "internal_error", 110: "unsupported_extension", 112: "unrecognized_name"}
HS_NAMES = {1: "ClientHello", 2: "ServerHello", 4: "NewSessionTicket",
    8: "EncryptedExtensions", 11: "Certificate", 12: "ServerKeyExchange",
    13: "CertificateRequest", 14: "ServerHelloDone", 15: "CertificateVerify", 20: "Finished"}


# ---------------------------------------------------------------- hand-made ClientHellos

def ext(etype, data):
    return struct.pack("!HH", etype, len(data)) + data


def sni_ext(names):
    """One server_name extension with a host_name entry per name."""
    entries = b"".join(struct.pack("!BH", 0, len(n)) + n.encode() for n in names)
    return ext(0x0000, struct.pack("!H", len(entries)) + entries)


def hello_record(body):
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def hello_body(exts, suites, rnd, sid):
    return (b"\x03\x03" + rnd + bytes([len(sid)]) + sid +
        struct.pack("!H", 2 * len(suites)) + b"".join(struct.pack("!H", c) for c in suites) +
        b"\x01\x00" + struct.pack("!H", len(exts)) + exts)


# supported_groups x25519, P-256; ec_point_formats uncompressed; signature
# algorithms ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256
TLS12_EXTS = (ext(0x000a, b"\x00\x04\x00\x1d\x00\x17") + ext(0x000b, b"\x01\x00") +
    ext(0x000d, b"\x00\x06\x04\x03\x08\x04\x04\x01"))
TLS12_SUITES = (0xc02b, 0xc02f, 0xcca9, 0xcca8, 0x00ff)


def tls12_hello(sni_exts):
    """A TLS 1.2 ClientHello record with the given server_name extensions."""
    return hello_record(hello_body(b"".join(sni_exts) + TLS12_EXTS, TLS12_SUITES,
        os.urandom(32), os.urandom(32)))


# groups: secp521r1 (mta-stsd does not offer it), then x25519
GROUP_P521, GROUP_X25519 = 0x0019, 0x001d


def tls13_hello(names, key_share_group, rnd, sid):
    """A TLS 1.3 ClientHello record: server_name with names (none when
    empty), supported_groups secp521r1 and x25519, one key share of
    key_share_group (random bytes: the server never gets to use them)."""
    share_len = {GROUP_P521: 133, GROUP_X25519: 32}[key_share_group]
    share = (b"\x04" if key_share_group == GROUP_P521 else b"") + os.urandom(
        share_len - (1 if key_share_group == GROUP_P521 else 0))
    ks_entry = struct.pack("!HH", key_share_group, len(share)) + share
    exts = (sni_ext(names) if names else b"")
    exts += ext(0x002b, b"\x02\x03\x04")                                  # TLS 1.3 only
    exts += ext(0x000a, struct.pack("!HHH", 4, GROUP_P521, GROUP_X25519))
    exts += ext(0x000d, b"\x00\x08\x04\x03\x08\x04\x04\x01\x08\x07")
    exts += ext(0x0033, struct.pack("!H", len(ks_entry)) + ks_entry)
    exts += ext(0x002d, b"\x01\x01")                                      # psk_dhe_ke
    return hello_record(hello_body(exts, (0x1301, 0x1302, 0x1303), rnd, sid))


# ---------------------------------------------------------------- reading the server's answer

class Reader:
    """TLS records from a raw socket, parsed as far as plaintext goes."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.raw = b""      # everything received
        self.eof = False

    def record(self, timeout=READ_TIMEOUT):
        """The next record as (type, payload); None at EOF or timeout."""
        deadline = time.monotonic() + timeout
        while len(self.buf) < 5 or len(self.buf) < 5 + struct.unpack("!H", self.buf[3:5])[0]:
            left = deadline - time.monotonic()
            if left <= 0 or self.eof:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                return None
            except OSError:
                chunk = b""
            if not chunk:
                self.eof = True
                continue
            self.buf += chunk
            self.raw += chunk
        n = struct.unpack("!H", self.buf[3:5])[0]
        rec = (self.buf[0], self.buf[5:5 + n])
        self.buf = self.buf[5 + n:]
        return rec


def describe(rec):
    """A record in words: "alert illegal_parameter", "handshake ServerHello,
    Certificate", "HelloRetryRequest", "change_cipher_spec", ..."""
    if rec is None:
        return "nothing (closed or timed out)"
    rtype, body = rec
    if rtype == 21 and len(body) >= 2:
        return "alert %s" % ALERT_NAMES.get(body[1], str(body[1]))
    if rtype == 20:
        return "change_cipher_spec"
    if rtype == 23:
        return "application_data (encrypted)"
    if rtype == 22:
        if body[:1] == b"\x02" and body[6:38] == HRR_RANDOM:
            return "HelloRetryRequest"
        kinds, p = [], 0
        while p + 4 <= len(body):
            kinds.append(HS_NAMES.get(body[p], str(body[p])))
            p += 4 + int.from_bytes(body[p + 1:p + 4], "big")
        return "handshake " + ", ".join(kinds)
    return "record type %d" % rtype


def connect(env):
    s = socket.create_connection(("127.0.0.1", env.port), timeout=READ_TIMEOUT)
    return s, Reader(s)


def answer_to(env, payload):
    """Send one ClientHello; the server's first record, described, and
    every byte the server sent until it closed (at most READ_TIMEOUT)."""
    s, rd = connect(env)
    try:
        s.sendall(payload)
        first = rd.record()
        while rd.record(1.0) is not None:
            pass
        return describe(first), rd.raw
    finally:
        s.close()


def hrr_then(env, names1, names2):
    """TLS 1.3: a ClientHello naming names1 with a key share the server
    does not take (secp521r1), so it answers HelloRetryRequest; then a
    second ClientHello (same random and session id, an x25519 share)
    naming names2. Returns the description of the server's first record
    after the HelloRetryRequest (and its change_cipher_spec) and all the
    bytes the server sent."""
    rnd, sid = os.urandom(32), os.urandom(32)
    s, rd = connect(env)
    try:
        s.sendall(tls13_hello(names1, GROUP_P521, rnd, sid))
        first = describe(rd.record())
        if first != "HelloRetryRequest":
            raise Fail("the first ClientHello (SNI %r, secp521r1 key share) got %s, "
                "expected a HelloRetryRequest: the test's ClientHello is wrong" % (names1, first))
        s.sendall(b"\x14\x03\x03\x00\x01\x01" +   # middlebox-compatible change_cipher_spec
            tls13_hello(names2, GROUP_X25519, rnd, sid))
        nxt = rd.record()
        while nxt is not None and nxt[0] == 20:
            nxt = rd.record()
        got = describe(nxt)
        while rd.record(1.0) is not None:
            pass
        return got, rd.raw
    finally:
        s.close()


# ---------------------------------------------------------------- set-up

def two_domains(env, extra=""):
    sa, ca = env.domain(A)
    sb, cb = env.domain(B)
    srv = env.start(env.server_section(extra) + sa + sb)
    for host in (HOST_A, HOST_B):
        wait_served(env, host)
    return srv, ca, cb


def wait_served(env, host, timeout=10.0):
    t0 = time.monotonic()
    while True:
        try:
            if R.fetch(env, host)[0] == 200:
                return
        except (OSError, ssl.SSLError, R.http.client.HTTPException):
            pass
        if time.monotonic() - t0 > timeout:
            raise Fail("%s not served within %.0f s" % (host, timeout))
        time.sleep(0.1)


def expect_alert(env, what, got, raw, certs):
    env.notes.append("%s: %s" % (what, got))
    leaked = [c.sans[0] for c in certs if c.der in raw]
    check(not leaked, "%s: the server sent the certificate of %s" % (what, ", ".join(leaked)))
    check(got.startswith("alert"), "%s: the server answered with %s, expected an alert "
        "refusing the handshake" % (what, got))


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


# ---------------------------------------------------------------- tests: TLS 1.2

@test
def tls12_control_one_name_served(env):
    """The hand-made TLS 1.2 ClientHello with one name gets a ServerHello
    and that name's certificate (checks the test's own builder)."""
    _, ca, cb = two_domains(env)
    got, raw = answer_to(env, tls12_hello([sni_ext([HOST_A])]))
    check(got.startswith("handshake ServerHello"), "one name: got %s" % got)
    check(ca.der in raw and cb.der not in raw, "one name: not exactly a.test's certificate")


@test
def tls12_two_host_names_in_one_extension_refused(env):
    """One server_name extension with two host_name entries (a.test, then
    b.test): an alert, no certificate (RFC 6066 section 3)."""
    _, ca, cb = two_domains(env)
    got, raw = answer_to(env, tls12_hello([sni_ext([HOST_A, HOST_B])]))
    expect_alert(env, "host_name a.test, host_name b.test", got, raw, (ca, cb))
    got, raw = answer_to(env, tls12_hello([sni_ext([HOST_A, HOST_A])]))
    expect_alert(env, "host_name a.test twice", got, raw, (ca, cb))


@test
def tls12_two_server_name_extensions_refused(env):
    """Two server_name extensions (a.test, then b.test): before the fix
    a.test's certificate was presented while b.test's policy was served."""
    _, ca, cb = two_domains(env)
    got, raw = answer_to(env, tls12_hello([sni_ext([HOST_A]), sni_ext([HOST_B])]))
    expect_alert(env, "server_name a.test, server_name b.test", got, raw, (ca, cb))


# ---------------------------------------------------------------- tests: TLS 1.3 and HelloRetryRequest

@test
def tls13_hrr_same_name_served(env):
    """Control: after a HelloRetryRequest, a second ClientHello with the
    same name gets a ServerHello."""
    two_domains(env)
    got, _ = hrr_then(env, [HOST_A], [HOST_A])
    check_eq(got, "handshake ServerHello", "answer to a second ClientHello with the same name")


@test
def tls13_hrr_second_hello_other_name_refused(env):
    """After a HelloRetryRequest for a.test, a second ClientHello naming
    b.test is refused with an alert (RFC 8446 section 4.1.2)."""
    _, ca, cb = two_domains(env)
    got, raw = hrr_then(env, [HOST_A], [HOST_B])
    expect_alert(env, "second ClientHello names b.test", got, raw, (ca, cb))
    got, raw = hrr_then(env, [HOST_A], [])
    expect_alert(env, "second ClientHello drops the name", got, raw, (ca, cb))


@test
def tls13_hrr_default_domain_second_hello_adds_name_refused(env):
    """default_domain = a.test: a first ClientHello without SNI, then a
    second one naming b.test, is refused."""
    _, ca, cb = two_domains(env, "default_domain = %s\n" % A)
    got, _ = hrr_then(env, [], [])
    check_eq(got, "handshake ServerHello", "two ClientHellos without SNI (default_domain)")
    got, raw = hrr_then(env, [], [HOST_B])
    expect_alert(env, "no SNI, then b.test", got, raw, (ca, cb))


@test
def tls13_two_host_names_refused(env):
    """A TLS 1.3 ClientHello with two host_name entries is refused before
    the ServerHello."""
    _, ca, cb = two_domains(env)
    got, raw = answer_to(env, tls13_hello([HOST_A, HOST_B], GROUP_X25519, os.urandom(32),
        os.urandom(32)))
    expect_alert(env, "TLS 1.3 host_name a.test, host_name b.test", got, raw, (ca, cb))


# ---------------------------------------------------------------- tests: real clients

def https_get(env, host, version):
    ctx = R.client_ctx(env.pki, min_version=version, max_version=version)
    conn = R.Conn(env.port, host, ctx)
    try:
        conn.connect()
        der = conn.sock.getpeercert(binary_form=True)
        got_version = conn.sock.version()
        status, _, body = R.request(conn, "GET", WELL_KNOWN, host)
        other = HOST_B if host == HOST_A else HOST_A
        status_other, _, _ = R.request(conn, "GET", WELL_KNOWN, other)
    finally:
        conn.close()
    return der, got_version, status, body, status_other


@test
def real_clients_tls12_and_tls13(env):
    """Python's ssl, TLS 1.2 and 1.3, for each domain: its own certificate,
    200 for its own Host, 421 for the other domain's on the same
    connection."""
    _, ca, cb = two_domains(env)
    for version, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3,
            "TLSv1.3")):
        for host, cert, dom in ((HOST_A, ca, A), (HOST_B, cb, B)):
            der, got_version, status, body, status_other = https_get(env, host, version)
            what = "%s %s" % (name, host)
            check_eq(got_version, name, what + " version")
            check(der == cert.der, what + ": not its own certificate")
            check_eq(status, 200, what + " status")
            check_eq(body, R.normalised(dom), what + " body")
            check_eq(status_other, 421, what + ": the other domain's Host on this connection")


@test
def openssl_hello_retry_same_name(env):
    """openssl s_client offering an X448 key share first (mta-stsd has no
    X448, so it asks again for X25519): the handshake completes after the
    HelloRetryRequest and the policy is served."""
    if not shutil.which("openssl"):
        raise Skip("no openssl command")
    two_domains(env)
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (WELL_KNOWN, HOST_B))
    p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % env.port,
        "-servername", HOST_B, "-tls1_3", "-groups", "X448:X25519", "-CAfile", env.pki.root,
        "-verify_return_error", "-msg", "-ign_eof"], input=req.encode(),
        capture_output=True, timeout=20)
    out = p.stdout.decode(errors="replace")
    env.notes.append("openssl s_client output:\n" + out[-3000:] + p.stderr.decode(
        errors="replace")[-1000:])
    # the HelloRetryRequest shows as a first ServerHello before the second ClientHello
    hellos = [l for l in out.splitlines() if l.startswith(("<<<", ">>>")) and
        ("ClientHello" in l or "ServerHello" in l)]
    check(len(hellos) >= 4 and hellos[1].startswith("<<<") and hellos[2].startswith(">>>"),
        "no HelloRetryRequest round: %r" % hellos)
    check("HTTP/1.1 200" in out and R.normalised(B).decode() in out.replace("\n", "\r\n")
        .replace("\r\r", "\r"), "policy of b.test not served after the HelloRetryRequest")


# ---------------------------------------------------------------- runner

def main():
    return runner.main(R, TESTS, __doc__.split("\n")[0])


if __name__ == "__main__":
    sys.exit(main())
