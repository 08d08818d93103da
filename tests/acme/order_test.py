#!/usr/bin/env python3
"""The ACME protocol (server/acme.c) against Pebble, through build/acme-order.

    python3 tests/acme/order_test.py [--order build/acme-order] [-k SUBSTRING] [-v]

Each test starts its own Pebble (Debian's package, 2.4) on 127.0.0.1 with
free ports, its HTTPS certificate made here with the openssl command, and
PEBBLE_VA_ALWAYS_VALID=1, PEBBLE_VA_NOSLEEP=1: Pebble validates nothing,
so this checks the protocol (account, order, authorizations, challenge
answers written and removed, finalize, download, alternate chains, badNonce
retries, EAB, the terms, errors), not the answering of challenges, which
tests/integration/acme_test.py checks with validation in a network
namespace. Pebble 2.4 offers no renewalInfo: the ARI window is checked in
tests/unit/test_acme.c against RFC 9773's examples; here only that the
client says the directory has none.

Output: "PASS name" / "FAIL name: reason" (with acme-order's and Pebble's
output) / "SKIP name: why", then "N passed, N failed[, N skipped]"; exit 1
on a failure. Every test is skipped, saying why, when pebble is missing.
"""

import argparse
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ORDER = os.path.join(REPO, "build", "acme-order")
VERBOSE = False

# Pebble's example EAB key (its package's pebble-config-external-account-bindings.json)
EAB_KID = "kid-1"
EAB_KEY = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


class Fail(Exception):
    pass


class Skip(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Env:
    """One test's directory, its Pebble and what it ran (for a failure)."""

    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix="mtastsd-acme-%s-" % name)
        self.storage = os.path.join(self.dir, "storage")
        self.pebble = None
        self.pebble_log = os.path.join(self.dir, "pebble.log")
        self.notes = []
        self.cleanups = []
        self.cert = os.path.join(self.dir, "pebble-cert.pem")
        key = os.path.join(self.dir, "pebble-key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out",
                        self.cert, "-days", "2", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)
        self.key = key

    def start_pebble(self, nonce_reject=0, eab=False, alternate_roots=0, same_ports=False):
        """Pebble on free ports (or those of the last one: the same directory
        URL); returns its directory URL once it answers."""
        if not same_ports:
            self.port = free_port()
            self.mgmt = free_port()
        conf = {"pebble": {
            "listenAddress": "127.0.0.1:%d" % self.port,
            "managementListenAddress": "127.0.0.1:%d" % self.mgmt,
            "certificate": self.cert, "privateKey": self.key,
            "httpPort": free_port(), "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": eab}}
        if eab:
            conf["pebble"]["externalAccountMACKeys"] = {EAB_KID: EAB_KEY}
        path = os.path.join(self.dir, "pebble.json")
        with open(path, "w") as f:
            json.dump(conf, f)
        env = dict(os.environ, PEBBLE_VA_ALWAYS_VALID="1", PEBBLE_VA_NOSLEEP="1",
                   PEBBLE_WFE_NONCEREJECT=str(nonce_reject),
                   PEBBLE_ALTERNATE_ROOTS=str(alternate_roots))
        log = open(self.pebble_log, "w")
        self.pebble = subprocess.Popen(["pebble", "-config", path], stdout=log,
                                       stderr=subprocess.STDOUT, env=env)
        log.close()
        self.url = "https://127.0.0.1:%d/dir" % self.port
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            check(self.pebble.poll() is None, "pebble exited at start (%s)" % self.pebble.returncode)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                socket.create_connection(("127.0.0.1", self.mgmt), timeout=1).close()
                return self.url
            except OSError:
                time.sleep(0.1)
        raise Fail("pebble did not listen on 127.0.0.1:%d within 15 s" % self.port)

    def management(self, path):
        """GET from Pebble's management interface: (body text, headers)"""
        ctx = ssl.create_default_context(cafile=self.cert)
        with urllib.request.urlopen("https://127.0.0.1:%d%s" % (self.mgmt, path),
                                    context=ctx, timeout=10) as r:
            return r.read().decode(), r.headers

    def order(self, *args, names=("mta-sts.a.test",), expect_ok=True, directory=None):
        """acme-order ARGS NAMES; returns (exit status, stdout, stderr)"""
        cmd = [ORDER, "-v", "--directory", directory or self.url, "--ca-file", self.cert,
               "--storage", self.storage] + list(args) + list(names)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        self.notes.append("$ %s\n(exit %d)\n%s" % (" ".join(cmd), p.returncode,
                                                   p.stderr[-6000:]))
        if expect_ok:
            check(p.returncode == 0, "acme-order exited %d: %s" % (p.returncode,
                                                                   p.stderr.strip()[-600:]))
        return p.returncode, p.stdout, p.stderr

    def stop(self):
        for fn in self.cleanups:
            fn()
        self.cleanups = []
        if self.pebble is not None and self.pebble.poll() is None:
            self.pebble.terminate()
            try:
                self.pebble.wait(10)
            except subprocess.TimeoutExpired:
                self.pebble.kill()
                self.pebble.wait()

    def pebble_output(self):
        try:
            with open(self.pebble_log) as f:
                return f.read()
        except OSError:
            return ""


# ---------------------------------------------------------------- helpers

def pem_certs(text):
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", text, re.S)


def x509(pem, *args):
    p = subprocess.run(["openssl", "x509", "-noout"] + list(args), input=pem,
                       capture_output=True, text=True, check=True)
    return p.stdout


def cn(line):
    """the CN of an openssl "subject=..." or "issuer=..." line"""
    m = re.search(r"CN ?= ?([^,/\n]+)", line)
    return m.group(1).strip() if m else None


def check_chain(env, chain, names):
    """chain: a leaf for exactly names, then its issuer; returns the certificates"""
    certs = pem_certs(chain)
    check(len(certs) >= 2, "want a leaf and an intermediate, got %d certificates" % len(certs))
    san = x509(certs[0], "-ext", "subjectAltName")
    got = sorted(re.findall(r"DNS:([^,\s]+)", san))
    check(got == sorted(names), "leaf SAN %s, want %s" % (got, sorted(names)))
    issuer = cn(x509(certs[0], "-issuer"))
    subject1 = cn(x509(certs[1], "-subject"))
    check(issuer == subject1, "leaf issuer %r is not the next certificate %r" % (issuer, subject1))
    check(issuer.startswith("Pebble Intermediate CA"), "issuer %r is not Pebble's" % issuer)
    return certs


def challenge_files(env):
    found = []
    for d, _, files in os.walk(os.path.join(env.storage, "challenges")):
        found += [os.path.join(d, f) for f in files]
    return found


def pubkey_of_cert(pem):
    return subprocess.run(["openssl", "x509", "-noout", "-pubkey"], input=pem,
                          capture_output=True, text=True, check=True).stdout


def pubkey_of_key(path):
    return subprocess.run(["openssl", "pkey", "-in", path, "-pubout"],
                          capture_output=True, text=True, check=True).stdout


# ---------------------------------------------------------------- a scripted CA

class FakeCA:
    """A small HTTPS ACME server on 127.0.0.1 answering what a test scripts:
    the directory (with renewalInfo), nonces (each answer a new one), newAccount
    (201), and newOrder with the status, headers and body of `order_answer` (or
    of each in turn, when it is a list). It records each request (method, path,
    the JWS's nonce) and each POST's payload for the test."""

    def __init__(self, env, order_answer, renewal_info=True):
        import base64
        import http.server
        import threading
        ca = self
        self.requests = []
        self.payloads = []
        self.issued = []
        self.order_answer = order_answer

        def b64d(s):
            return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, status, body=b"", ctype="application/json", headers=()):
                nonce = "n%06d" % len(ca.issued)
                ca.issued.append(nonce)
                self.send_response(status)
                self.send_header("Replay-Nonce", nonce)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self):
                ca.requests.append(("HEAD", self.path, None))
                self.answer(200)

            def do_GET(self):
                ca.requests.append(("GET", self.path, None))
                base = "https://127.0.0.1:%d" % ca.port
                if self.path == "/dir":
                    d = {"newNonce": base + "/nonce", "newAccount": base + "/acct",
                         "newOrder": base + "/order", "meta": {"termsOfService": base + "/tos"}}
                    if renewal_info:
                        d["renewalInfo"] = base + "/renewal-info"
                    self.answer(200, json.dumps(d).encode())
                elif self.path.startswith("/renewal-info/"):
                    self.answer(200, json.dumps({"suggestedWindow": {
                        "start": "2025-01-02T04:00:00Z", "end": "2025-01-03T04:00:00Z"},
                        "explanationURL": "https://acme.example.com/docs/ari"}).encode(),
                        headers=[("Retry-After", "21600")])
                else:
                    self.answer(404, b"{}")

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    jws = json.loads(body)
                    prot = json.loads(b64d(jws["protected"]))
                    payload = json.loads(b64d(jws["payload"])) if jws["payload"] else None
                except (ValueError, KeyError):
                    prot, payload = {}, None
                ca.requests.append(("POST", self.path, prot.get("nonce")))
                ca.payloads.append((self.path, payload))
                if self.path == "/acct":
                    self.answer(201, b'{"status":"valid"}', headers=[
                        ("Location", "https://127.0.0.1:%d/acct/1" % ca.port)])
                elif self.path == "/order":
                    answers = ca.order_answer
                    if isinstance(answers, list):   # one each time, the last repeated
                        answers = answers.pop(0) if len(answers) > 1 else answers[0]
                    status, ctype, text, headers = answers
                    self.answer(status, text.encode(), ctype, headers)
                else:
                    self.answer(404, b"{}")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(env.cert, env.key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = "https://127.0.0.1:%d/dir" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        env.cleanups.append(self.stop)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------- tests

@test
def tls_alpn_01_order_for_two_names(env):
    env.start_pebble()
    names = ["mta-sts.a.test", "mta-sts.b.test"]
    key = os.path.join(env.dir, "cert-key.pem")
    _, out, err = env.order("--challenge", "tls-alpn-01", "--email", "hostmaster@a.test",
                            "--key-out", key, names=names)
    certs = check_chain(env, out, names)
    check(pubkey_of_cert(certs[0]) == pubkey_of_key(key),
          "the leaf does not carry the certificate key the CSR was made with")
    check(err.count("answering tls-alpn-01") == 2,
          "want one tls-alpn-01 answer per name:\n%s" % err)
    check(challenge_files(env) == [], "challenge material left behind: %s" % challenge_files(env))
    accounts = os.listdir(os.path.join(env.storage, "accounts"))
    check(len(accounts) == 1 and re.fullmatch(r"[0-9a-f]{16}", accounts[0]),
          "want one accounts/<dirhash>: %s" % accounts)
    keyfile = os.path.join(env.storage, "accounts", accounts[0], "account.key")
    check(os.stat(keyfile).st_mode & 0o777 == 0o600, "account.key is not 0600")
    with open(os.path.join(env.storage, "accounts", accounts[0], "account.json")) as f:
        acct = json.load(f)
    check(acct.get("directory") == env.url and acct.get("url", "").startswith("https://"),
          "account.json: %s" % acct)


@test
def http_01_order(env):
    env.start_pebble()
    _, out, err = env.order("--challenge", "http-01", names=["mta-sts.c.test"])
    check_chain(env, out, ["mta-sts.c.test"])
    check("answering http-01" in err, "no http-01 answer:\n%s" % err)
    check(challenge_files(env) == [], "challenge material left behind: %s" % challenge_files(env))


@test
def rsa_certificate_key(env):
    env.start_pebble()
    key = os.path.join(env.dir, "cert-key.pem")
    _, out, _ = env.order("--key-type", "rsa", "--key-out", key)
    certs = check_chain(env, out, ["mta-sts.a.test"])
    check("rsaEncryption" in x509(certs[0], "-text"), "the leaf has no RSA key")


@test
def account_reused(env):
    env.start_pebble()
    _, _, err1 = env.order()
    check("acme: account https://" in err1, "the first order registered no account:\n%s" % err1)
    _, out, err2 = env.order(names=["mta-sts.b.test"])
    check_chain(env, out, ["mta-sts.b.test"])
    check("acme: account https://" not in err2 and "new account key" not in err2,
          "the second order made or registered an account again:\n%s" % err2)


@test
def account_forgotten_by_the_ca_is_registered_again(env):
    env.start_pebble()
    env.order()
    env.stop()          # Pebble keeps nothing: the stored account URL is now unknown
    env.start_pebble(same_ports=True)
    _, out, err = env.order(names=["mta-sts.b.test"])
    check_chain(env, out, ["mta-sts.b.test"])
    check("registering again" in err, "no new registration logged:\n%s" % err)


def account_files(env):
    """(account.key path, account.json's content) of the one account directory"""
    accounts = os.path.join(env.storage, "accounts")
    dirs = os.listdir(accounts)
    check(len(dirs) == 1, "want one account directory, found %s" % dirs)
    d = os.path.join(accounts, dirs[0])
    with open(os.path.join(d, "account.json")) as f:
        return os.path.join(d, "account.key"), json.load(f)


@test
def racing_clients_make_one_account(env):
    """Four clients start at once on an empty storage, three times: they must
    end up with one account key (one of them makes it, the others read it),
    so every one uses the account URL account.json keeps, and the next
    client's order works with it."""
    env.start_pebble()
    for rnd in range(3):
        shutil.rmtree(env.storage, ignore_errors=True)
        cmd = [ORDER, "-v", "--directory", env.url, "--ca-file", env.cert,
               "--storage", env.storage, "mta-sts.r%d.test" % rnd]
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(4)]
        errs = []
        for p in procs:
            out, err = p.communicate(timeout=180)
            errs.append(err)
            env.notes.append("$ %s\n(exit %d)\n%s" % (" ".join(cmd), p.returncode, err[-3000:]))
            check(p.returncode == 0, "a racing client exited %d: %s" % (p.returncode,
                                                                   err.strip()[-600:]))
        made = sum(e.count("acme: new account key") for e in errs)
        check(made == 1, "round %d: %d clients made an account key, want 1" % (rnd, made))
        urls = set(re.findall(r"acme: account (https://\S+)", "".join(errs)))
        _, stored = account_files(env)
        check(urls <= {stored["url"]}, "round %d: accounts registered %s, account.json "
              "keeps %s" % (rnd, sorted(urls), stored["url"]))
        env.order(names=["mta-sts.after%d.test" % rnd])


@test
def account_json_of_another_key_is_ignored(env):
    """account.json naming the account of another key than account.key (what
    two clients racing used to leave) is not used: the client registers its
    key (newAccount answers the key's own account) and orders."""
    env.start_pebble()
    env.order()
    key, stored = account_files(env)
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-out", key], check=True, capture_output=True)
    _, out, err = env.order(names=["mta-sts.b.test"])
    check_chain(env, out, ["mta-sts.b.test"])
    _, now = account_files(env)
    check(now["url"] != stored["url"], "account.json still names the other key's account")


@test
def bad_nonce_retried(env):
    # 20 %: about 18 retries in 3 orders; a request fails only when 6
    # nonces in a row are refused (0.2^6; at Pebble's 50 %, 1 in 64)
    env.start_pebble(nonce_reject=20)
    retries = 0
    for i in range(3):
        _, out, err = env.order(names=["mta-sts.n%d.test" % i])
        check_chain(env, out, ["mta-sts.n%d.test" % i])
        retries += err.count("acme: badNonce, retrying")
    check(retries > 0, "no badNonce retry logged in 3 orders")
    env.notes.append("badNonce retries: %d" % retries)


@test
def bad_nonce_gives_up_after_five_retries(env):
    env.start_pebble(nonce_reject=100)
    rc, out, err = env.order(expect_ok=False)
    check(rc == 1 and out == "", "exit %d with output %r" % (rc, out[:100]))
    check(err.count("acme: badNonce, retrying") == 5,
          "want 5 retries, got %d:\n%s" % (err.count("acme: badNonce, retrying"), err))
    check("urn:ietf:params:acme:error:badNonce" in err and "acme-order: rejected:" in err,
          "the error does not say badNonce:\n%s" % err)


@test
def terms_not_agreed_is_a_local_error(env):
    env.start_pebble()
    rc, _, err = env.order("--no-agree", expect_ok=False)
    check(rc == 1, "exit %d" % rc)
    check("acme-order: local:" in err and "agree_terms = yes" in err,
          "the error does not say to set agree_terms = yes:\n%s" % err)
    check("sign-me-up" not in err, "newAccount was sent without the agreement:\n%s" % err)


@test
def external_account_binding(env):
    env.start_pebble(eab=True)
    rc, _, err = env.order(expect_ok=False)
    check(rc == 1 and "acme-order: local:" in err and "eab_kid" in err,
          "without EAB: exit %d, want a local error naming eab_kid:\n%s" % (rc, err))
    rc, _, err = env.order("--eab-kid", EAB_KID, "--eab-hmac-key", EAB_KEY[:-4] + "AAAA",
                           expect_ok=False)
    check(rc == 1 and "acme-order: rejected:" in err,
          "a wrong EAB key: exit %d, want the CA's refusal:\n%s" % (rc, err))
    check(EAB_KEY[:20] not in err, "the EAB key was printed")
    _, out, _ = env.order("--eab-kid", EAB_KID, "--eab-hmac-key", EAB_KEY)
    check_chain(env, out, ["mta-sts.a.test"])


@test
def preferred_issuer_picks_the_alternate_chain(env):
    env.start_pebble(alternate_roots=1)
    roots = []
    for i in range(2):
        pem, _ = env.management("/roots/%d" % i)
        roots.append(cn(x509(pem, "-subject")))
    check(all(roots) and roots[0] != roots[1], "Pebble's roots: %s" % roots)
    env.notes.append("roots: %s" % roots)
    # no preference: the default chain, up to root 0
    _, out, _ = env.order()
    check(cn(x509(pem_certs(out)[-1], "-issuer")) == roots[0],
          "the default chain does not end below %s" % roots[0])
    for want in (roots[1], roots[0]):
        _, out, err = env.order("--preferred-issuer", want)
        certs = check_chain(env, out, ["mta-sts.a.test"])
        top = cn(x509(certs[-1], "-issuer"))
        check(top == want, "preferred %r, the chain ends below %r:\n%s" % (want, top, err))
    # a preference no chain has: the default
    _, out, _ = env.order("--preferred-issuer", "No Such Root")
    check(cn(x509(pem_certs(out)[-1], "-issuer")) == roots[0], "not the default chain")


@test
def unreachable_ca_is_a_network_error(env):
    port = free_port()      # nothing listens there
    rc, out, err = env.order(expect_ok=False, directory="https://127.0.0.1:%d/dir" % port)
    check(rc == 1 and out == "" and "acme-order: network:" in err,
          "exit %d, want a network error:\n%s" % (rc, err))


@test
def untrusted_ca_certificate_is_refused(env):
    env.start_pebble()
    other = Env("other")
    try:
        cmd = [ORDER, "--directory", env.url, "--ca-file", other.cert, "--storage",
               env.storage, "mta-sts.a.test"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        env.notes.append(p.stderr)
        check(p.returncode == 1 and "acme-order: network:" in p.stderr and p.stdout == "",
              "a CA certificate the trust store lacks was accepted: exit %d" % p.returncode)
    finally:
        shutil.rmtree(other.dir, ignore_errors=True)


@test
def renewal_info_absent_in_pebble_2_4(env):
    env.start_pebble()
    _, out, _ = env.order()
    path = os.path.join(env.dir, "chain.pem")
    with open(path, "w") as f:
        f.write(out)
    p = subprocess.run([ORDER, "--directory", env.url, "--ca-file", env.cert, "--storage",
                        env.storage, "--ari", path], capture_output=True, text=True,
                       timeout=60)
    env.notes.append(p.stdout + p.stderr)
    dir_text = urllib.request.urlopen(env.url, context=ssl.create_default_context(
        cafile=env.cert), timeout=10).read().decode()
    if "renewalInfo" in dir_text:
        check(p.returncode == 0 and p.stdout.startswith("window "),
              "the directory has renewalInfo, but: %s %s" % (p.stdout, p.stderr))
    else:
        check(p.returncode == 0 and p.stdout.strip() == "no renewalInfo",
              "want \"no renewalInfo\": exit %d %s %s" % (p.returncode, p.stdout, p.stderr))


@test
def renewal_info_window_from_a_ca_that_offers_it(env):
    ca = FakeCA(env, (500, "text/plain", "", []))
    cert = os.path.join(REPO, "tests", "data", "acme", "ari-cert.pem")
    p = subprocess.run([ORDER, "--directory", ca.url, "--ca-file", env.cert, "--storage",
                        env.storage, "--ari", cert], capture_output=True, text=True, timeout=60)
    env.notes.append("%s%s%s" % (p.stdout, p.stderr, ca.requests))
    # RFC 9773's examples: the identifier of section 4.1, the window of 4.2
    check(("GET", "/renewal-info/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", None) in ca.requests,
          "no GET of the RFC's certificate identifier: %s" % ca.requests)
    check(p.returncode == 0 and p.stdout == "window 1735790400 1735876800 retry-after 21600\n",
          "exit %d, output %r" % (p.returncode, p.stdout))


def scripted_order(env, answer):
    """one order against a FakeCA whose newOrder answers `answer`"""
    ca = FakeCA(env, answer)
    rc, out, err = env.order(expect_ok=False, directory=ca.url)
    check(rc == 1 and out == "", "exit %d, output %r" % (rc, out[:100]))
    return ca, err


@test
def rate_limited_with_retry_after(env):
    ca, err = scripted_order(env, (429, "application/problem+json", json.dumps({
        "type": "urn:ietf:params:acme:error:rateLimited",
        "detail": "too many new orders (300) from this account in the last 3h0m0s"}),
        [("Retry-After", "3600")]))
    check("acme-order: rate-limited: too many new orders (300)" in err and
          "(retry after 3600 s)" in err, "not a rate limit with its Retry-After:\n%s" % err)


@test
def server_error_is_a_server_error(env):
    ca, err = scripted_order(env, (500, "text/html", "<html>oops</html>",
                                   [("Retry-After", "120")]))
    check("acme-order: server: the CA answered HTTP 500 (text/html)" in err and
          "(retry after 120 s)" in err, "not a server error:\n%s" % err)


@test
def every_answers_nonce_is_kept(env):
    ca, err = scripted_order(env, (400, "application/problem+json", json.dumps({
        "type": "urn:ietf:params:acme:error:rejectedIdentifier",
        "detail": "will not issue for \"mta-sts.a.test\"\n\u001b[31m"}), []))
    heads = [r for r in ca.requests if r[0] == "HEAD"]
    posts = [r for r in ca.requests if r[0] == "POST"]
    # the directory's GET already carried a nonce: no HEAD is needed at all,
    # and each POST uses the nonce of the answer before it
    check(len(heads) == 0 and len(posts) == 2, "requests: %s" % ca.requests)
    check([p[2] for p in posts] == ca.issued[:2],
          "the POSTs' nonces %s are not the answers' %s" % ([p[2] for p in posts], ca.issued))
    check("acme-order: rejected: will not issue for \"mta-sts.a.test\"\\x0a\\x1b[31m" in err,
          "the CA's detail is not escaped:\n%s" % err)


@test
def renewal_order_carries_replaces(env):
    ca = FakeCA(env, [
        (409, "application/problem+json", json.dumps({
            "type": "urn:ietf:params:acme:error:alreadyReplaced",
            "detail": "the certificate was already replaced"}), []),
        (400, "application/problem+json", json.dumps({
            "type": "urn:ietf:params:acme:error:rejectedIdentifier",
            "detail": "no"}), [])])
    old = os.path.join(REPO, "tests", "data", "acme", "ari-cert.pem")
    rc, _, err = env.order("--replaces", old, expect_ok=False, directory=ca.url)
    orders = [p for path, p in ca.payloads if path == "/order"]
    check(len(orders) == 2, "want two newOrders (with replaces, then without): %s" % orders)
    check(orders[0].get("replaces") == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
          "the first newOrder does not replace the RFC 9773 example: %s" % orders[0])
    check("replaces" not in orders[1] and orders[1]["identifiers"] == orders[0]["identifiers"],
          "the second newOrder: %s" % orders[1])
    check(rc == 1 and "acme-order: rejected: no" in err, "exit %d:\n%s" % (rc, err))


@test
def no_replaces_without_renewal_info(env):
    ca = FakeCA(env, (400, "application/problem+json", json.dumps({
        "type": "urn:ietf:params:acme:error:rejectedIdentifier", "detail": "no"}), []),
        renewal_info=False)
    old = os.path.join(REPO, "tests", "data", "acme", "ari-cert.pem")
    env.order("--replaces", old, expect_ok=False, directory=ca.url)
    orders = [p for path, p in ca.payloads if path == "/order"]
    check(len(orders) == 1 and "replaces" not in orders[0],
          "a directory without renewalInfo got: %s" % orders)

# ---------------------------------------------------------------- runner

def main():
    global ORDER, VERBOSE
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--order", default=ORDER)
    ap.add_argument("-k", dest="pattern")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    ORDER, VERBOSE = os.path.abspath(args.order), args.v
    selected = [t for t in TESTS if not args.pattern or args.pattern in t.__name__]
    why = None
    if not shutil.which("pebble"):
        why = "pebble is not installed (Debian: apt-get install pebble, or sh scripts/install-deps.sh)"
    elif not shutil.which("openssl"):
        why = "the openssl command is needed to make Pebble's certificate"
    elif not os.access(ORDER, os.X_OK):
        print("FAIL setup: %s is missing (make %s)" % (ORDER, os.path.relpath(ORDER, REPO)))
        print("0 passed, 1 failed")
        return 1
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    for t in selected:
        if why:
            print("SKIP %s: %s" % (t.__name__, why))
            counts["SKIP"] += 1
            continue
        t0 = time.monotonic()
        env = Env(t.__name__)
        status, reason = "PASS", ""
        try:
            t(env)
        except Skip as e:
            status, reason = "SKIP", str(e)
        except Fail as e:
            status, reason = "FAIL", str(e)
        except Exception as e:     # noqa: BLE001 - a test that breaks fails
            status, reason = "FAIL", "%s: %s" % (type(e).__name__, e)
        finally:
            env.stop()
        counts[status] += 1
        if status == "PASS":
            print("PASS %s (%.1f s)" % (t.__name__, time.monotonic() - t0))
        else:
            print("%s %s: %s" % (status, t.__name__, reason))
        if status == "FAIL" or VERBOSE:
            for note in env.notes:
                for line in note.rstrip().splitlines():
                    print("    | " + line)
            print("    --- pebble")
            for line in env.pebble_output().rstrip().splitlines()[-40:]:
                print("    | " + line)
        shutil.rmtree(env.dir, ignore_errors=True)
        sys.stdout.flush()
    summary = "%d passed, %d failed" % (counts["PASS"], counts["FAIL"])
    if counts["SKIP"]:
        summary += ", %d skipped" % counts["SKIP"]
    print(summary)
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
