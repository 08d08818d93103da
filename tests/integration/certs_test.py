#!/usr/bin/env python3
"""Certificate, key and file-access tests for mta-stsd (issue 11, items 8-11).

    python3 tests/integration/certs_test.py [--binary build/mta-stsd] [-k SUBSTRING] [-v]

What `mta-stsd -t` and a (re)load must refuse or explain, each with the file
named: a chain too large for mbedTLS to send, an RSA key under 2048 bits or
over what the build handles, files the configured user cannot read, certbot's
live/ without its archive/, an oversized policy. Each test has its own
temporary directory and port (run.py's PKI, Env and clients); tests that need
another user run only as root (they say so when skipped).

Output: "PASS name" / "FAIL name: reason" (with the server log) /
"SKIP name: why", then the line "N passed, N failed"; exit 1 on a failure.
"""

import grp
import os
import pwd
import re
import shutil
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import run  # noqa: E402
from harness import Fail, Skip, check, check_eq, LogTail  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(HERE), "data", "certs")
SEND_LIMIT = 16384      # MBEDTLS_SSL_OUT_CONTENT_LEN (scripts/mbedtls-config.sh keeps the default)

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


# ---------------------------------------------------------------- helpers

def pem_blocks(path):
    with open(path) as f:
        text = f.read()
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", text, re.S)


def der_lengths(pems):
    return [len(ssl.PEM_cert_to_DER_cert(p)) for p in pems]


def tls13_message_len(pems):
    """Bytes of the TLS 1.3 Certificate handshake message sending pems (header 4,
    context 1, list length 3, per certificate 3 + DER + 2); TLS 1.2's is smaller."""
    return 8 + sum(n + 5 for n in der_lengths(pems))


def write_chain(env, subdir, pems, key_pem):
    os.makedirs(env.path(subdir), exist_ok=True)
    env.write(subdir + "/fullchain.pem", "".join(pems))
    shutil.copy(key_pem, env.path(subdir + "/privkey.pem"))
    return subdir + "/fullchain.pem", subdir + "/privkey.pem"


def filler_cert(env, pad, name):
    """A self-signed RSA certificate whose DER size grows exactly one byte per
    pad character: a fixed-length RSA signature, and the padding in one
    private extension whose length field keeps its size (2 bytes) from 256
    to 65535 characters. (A SAN of several labels grows in steps, leaving
    sizes it can never reach.)"""
    key = env.path("filler.key")
    if not os.path.exists(key):
        run.run_ok(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
            "rsa_keygen_bits:2048", "-out", key])
    out = env.path(name)
    run.run_ok(["openssl", "req", "-x509", "-new", "-key", key, "-sha256", "-subj",
        "/CN=filler", "-days", "30", "-set_serial", "7", "-addext",
        "subjectAltName=DNS:filler.invalid", "-addext",
        "1.3.6.1.4.1.55555.1=ASN1:UTF8String:" + "f" * max(pad, 300), "-out", out])
    return pem_blocks(out)[0]


def chain_of_size(env, leaf, target):
    """leaf's chain (leaf, intermediate), copies of the intermediate, then a
    filler certificate sized so that the TLS 1.3 Certificate message is
    exactly target bytes. Returns the PEM blocks."""
    base = pem_blocks(leaf.chain_pem)
    inter = base[1]
    pems = list(base)
    # room for the filler: between about 1.6 and 2.5 KB
    while target - tls13_message_len(pems + [inter]) > 1600:
        pems.append(inter)
    pad = 600
    for attempt in range(8):
        f = filler_cert(env, pad, "filler%d.pem" % attempt)
        got = tls13_message_len(pems + [f])
        if got == target:
            return pems + [f]
        pad += target - got
        check(pad > 0, "test setup: the chain without filler is already %d bytes" % got)
    raise Fail("test setup: could not make a chain of exactly %d bytes (last %d)"
        % (target, got))


def config_test(env, conf):
    rc, _, err = env.config_test(conf)
    env.notes.append("-t stderr:\n" + err)
    return rc, err


def expect_t_error(env, conf, patterns):
    rc, err = config_test(env, conf)
    check_eq(rc, 1, "-t exit status")
    for pat in patterns:
        check(re.search(pat, err, re.M) is not None, "-t stderr has no line matching %r" % pat)
    return err


def need_root_and_nobody():
    if os.geteuid() != 0:
        raise Skip("needs root, to make files only root can read and test as user nobody")
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        raise Skip("no user nobody")
    return pw.pw_uid, pw.pw_gid, grp.getgrgid(pw.pw_gid).gr_name


def open_tree(env):
    """Make the test directory readable by every user (mkdtemp made it 0700);
    key files keep their 0600."""
    os.chmod(env.dir, 0o755)
    for d, dirs, files in os.walk(env.dir):
        for n in dirs:
            os.chmod(os.path.join(d, n), 0o755)
        for n in files:
            p = os.path.join(d, n)
            if not n.endswith(".key") and n != "privkey.pem":
                os.chmod(p, 0o644)


def nobody_section(env):
    return env.server_section().replace("allow_root = yes\n", "") + "user = nobody\n"


# ---------------------------------------------------------------- 8: chain size

@test
def t_chain_too_large_to_send(env):
    """Leaf + 49 intermediates: mbedTLS cannot send it (one record of 16384
    bytes, no fragmentation of handshake messages), so -t must refuse it,
    naming the file, the size and the limit."""
    leaf = env.pki.issue(["mta-sts.example.com"])
    pems = pem_blocks(leaf.chain_pem)
    pems += [pems[1]] * 48
    size = tls13_message_len(pems)
    check(size > SEND_LIMIT, "test setup: chain of %d bytes" % size)
    c, k = write_chain(env, "certs/big", pems, leaf.key_pem)
    env.write("policies/example.com.txt", run.simple_policy("example.com"))
    conf = env.server_section() + "[example.com]\ncert = %s\nkey = %s\n" % (c, k)
    expect_t_error(env, conf, [r"error: .*certs/big/fullchain\.pem: .*too large to send: "
        r"50 certificates, .* %d-byte .*at most %d bytes" % (size, SEND_LIMIT)])


@test
def t_chain_with_ca_bundle_appended(env):
    """A leaf with a whole CA bundle appended (the system's, when there is one)."""
    bundle = next((p for p in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
        if os.path.exists(p)), None)
    if bundle is None:
        raise Skip("no system CA bundle to append")
    leaf = env.pki.issue(["mta-sts.example.com"])
    os.makedirs(env.path("certs/bundle"))
    with open(env.path("certs/bundle/fullchain.pem"), "w") as out:
        for p in (leaf.chain_pem, bundle):
            with open(p) as f:
                out.write(f.read())
    shutil.copy(leaf.key_pem, env.path("certs/bundle/privkey.pem"))
    env.write("policies/example.com.txt", run.simple_policy("example.com"))
    conf = (env.server_section() + "[example.com]\ncert = certs/bundle/fullchain.pem\n"
        "key = certs/bundle/privkey.pem\n")
    expect_t_error(env, conf, [r"certs/bundle/fullchain\.pem: .*too large to send: .*at most %d"
        % SEND_LIMIT])


@test
def chain_at_send_limit_served_one_byte_more_refused(env):
    """A chain whose TLS 1.3 Certificate message is exactly 16384 bytes loads
    and completes TLS 1.3 and TLS 1.2 handshakes; one byte more is refused by
    -t: the limit checked is the one that applies, not a guess."""
    leaf = env.pki.issue(["mta-sts.example.com"])
    env.write("policies/example.com.txt", run.simple_policy("example.com"))
    fits = chain_of_size(env, leaf, SEND_LIMIT)
    c, k = write_chain(env, "certs/fits", fits, leaf.key_pem)
    conf = env.server_section() + "[example.com]\ncert = %s\nkey = %s\n" % (c, k)
    rc, err = config_test(env, conf)
    check_eq(rc, 0, "-t exit status for a %d-byte Certificate message" % SEND_LIMIT)
    env.start(conf)
    for ver in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        ctx = run.client_ctx(env.pki, min_version=ver, max_version=ver)
        run.served_ok(env, "example.com", leaf, ctx=ctx)
    over = chain_of_size(env, leaf, SEND_LIMIT + 1)
    c, k = write_chain(env, "certs/over", over, leaf.key_pem)
    conf = env.server_section() + "[example.com]\ncert = %s\nkey = %s\n" % (c, k)
    expect_t_error(env, conf, [r"certs/over/fullchain\.pem: .*%d-byte .*at most %d"
        % (SEND_LIMIT + 1, SEND_LIMIT)])


@test
def reload_keeps_certificate_when_chain_grows_too_large(env):
    """A renewal that writes an oversized chain: the reload logs the error and
    the domain keeps serving its previous certificate."""
    sec, cert = env.domain("example.com")
    srv = env.start(env.server_section() + sec)
    run.served_ok(env, "example.com", cert)
    log = LogTail(srv.log_path).mark()
    new = env.pki.issue(["mta-sts.example.com"])
    pems = pem_blocks(new.chain_pem)
    pems += [pems[1]] * 48
    harness.atomic_write(env.path("certs/example.com/fullchain.pem"), "".join(pems))
    harness.atomic_write(env.path("certs/example.com/privkey.pem"), open(new.key_pem).read())
    harness.sighup(srv)
    log.wait(r"fullchain\.pem: .*too large to send", 10.0, "the error about the oversized chain")
    for ver in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        ctx = run.client_ctx(env.pki, min_version=ver, max_version=ver)
        run.served_ok(env, "example.com", cert, ctx=ctx)


# ---------------------------------------------------------------- 9, 11: RSA key sizes

@test
def t_rsa_1024_key_refused(env):
    weak = env.pki.issue(["mta-sts.example.com"], "rsa1024")
    sec, _ = env.domain("example.com", cert=weak)
    err = expect_t_error(env, env.server_section() + sec,
        [r"error: .*certs/example\.com/privkey\.pem: .*1024 bits.*use 2048 or more"])
    check("serving" not in err, "sanity")


@test
def t_rsa_16384_key_too_large(env):
    """A 16,384-bit RSA key (a fixture: making one takes minutes) is more than
    MBEDTLS_MPI_MAX_SIZE allows: the error says it is too large and what
    works, not that only RSA and EC keys are supported; both for the key file
    and for a certificate holding such a key."""
    key = os.path.join(DATA, "rsa16384.key")
    crt = os.path.join(DATA, "rsa16384.pem")
    normal = env.pki.issue(["mta-sts.example.com"])
    os.makedirs(env.path("certs/a"))
    shutil.copy(normal.chain_pem, env.path("certs/a/fullchain.pem"))
    shutil.copy(key, env.path("certs/a/privkey.pem"))
    os.makedirs(env.path("certs/b"))
    shutil.copy(crt, env.path("certs/b/fullchain.pem"))
    shutil.copy(normal.key_pem, env.path("certs/b/privkey.pem"))
    env.write("policies/example.com.txt", run.simple_policy("example.com"))
    env.write("policies/example.net.txt", run.simple_policy("example.net"))
    conf = (env.server_section() +
        "[example.com]\ncert = certs/a/fullchain.pem\nkey = certs/a/privkey.pem\n"
        "[example.net]\ncert = certs/b/fullchain.pem\nkey = certs/b/privkey.pem\n")
    err = expect_t_error(env, conf,
        [r"certs/a/privkey\.pem: .*RSA key is too large.*up to 8192 bits.*MBEDTLS_MPI_MAX_SIZE",
         r"certs/b/fullchain\.pem: .*RSA key is too large.*up to 8192 bits"])
    check(re.search(r"(?i)only RSA and EC|unencrypted PEM RSA or EC|leaf first", err) is None,
        "a message still says only RSA and EC keys work")


# ---------------------------------------------------------------- 10, 11: files the user cannot read

@test
def t_key_unreadable_as_configured_user(env):
    """user = nobody and a key only root can read: -t fails exactly as the start
    does, with Permission denied, the file, the user and the fix; after the
    fix it names (group read, 0640) both pass."""
    uid, gid, group = need_root_and_nobody()
    sec, cert = env.domain("example.com")
    key = env.path("certs/example.com/privkey.pem")
    os.chmod(key, 0o600)
    open_tree(env)
    conf = nobody_section(env) + sec
    err = expect_t_error(env, conf, [r"error: .*certs/example\.com/privkey\.pem: cannot read "
        r"private key: Permission denied for user nobody .*chgrp %s .*0640" % re.escape(group)])
    line = re.search(r"^.*privkey\.pem.*$", err, re.M).group(0)
    check(re.search(r"\bPEM\b|(?i:format|parse)", line) is None,
        "the Permission denied line also talks about the format: %s" % line)
    srv = env.start(conf, ready=False)
    check_eq(srv.wait_exit(run.START_TIMEOUT), 1, "exit status of the start -t failed")
    # the fix the message gives
    os.chown(key, 0, gid)
    os.chmod(key, 0o640)
    rc, err = config_test(env, conf)
    check_eq(rc, 0, "-t exit status once the key is group-readable")
    check("as user nobody" in err, "-t does not say it read the files as user nobody")
    env.start(conf)
    run.served_ok(env, "example.com", cert)


@test
def t_policy_unreadable_as_configured_user(env):
    uid, gid, group = need_root_and_nobody()
    sec, _ = env.domain("example.com")
    open_tree(env)
    os.chmod(env.path("policies/example.com.txt"), 0o600)
    expect_t_error(env, nobody_section(env) + sec,
        [r"error: .*policies/example\.com\.txt: .*Permission denied"])


@test
def t_cert_dir_entry_unreadable_as_configured_user(env):
    uid, gid, group = need_root_and_nobody()
    cert = env.pki.issue(["mta-sts.example.com"])
    env.install_cert(cert, "live/example.com")
    env.write("policies/example.com.txt", run.simple_policy("example.com"))
    open_tree(env)
    os.chmod(env.path("live/example.com"), 0o700)
    expect_t_error(env, nobody_section(env) + "cert_dir = live\n",
        [r"warning: .*live/example\.com/fullchain\.pem: cannot read certificate: "
         r"Permission denied for user nobody"])


# ---------------------------------------------------------------- 11: cert_dir scans

def certbot_live(env, name, cert, with_archive):
    """certbot's layout: live/<name>/*.pem symlinks into ../../archive/<name>/,
    and live/README."""
    live = env.path("live/" + name)
    os.makedirs(live)
    env.write("live/README", "This directory contains your keys and certificates.\n")
    if with_archive:
        arch = env.path("archive/" + name)
        os.makedirs(arch)
        shutil.copy(cert.chain_pem, arch + "/fullchain1.pem")
        shutil.copy(cert.key_pem, arch + "/privkey1.pem")
    for f in ("fullchain", "privkey"):
        os.symlink("../../archive/%s/%s1.pem" % (name, f), "%s/%s.pem" % (live, f))


@test
def t_cert_dir_certbot_live_without_archive(env):
    """live/ mounted without archive/: every link dangles. -t names each link,
    its target and the cause; live/README is not mentioned."""
    cert = env.pki.issue(["mta-sts.example.com"])
    certbot_live(env, "example.com", cert, False)
    env.write("policies/example.com.txt", run.simple_policy("example.com"))
    err = expect_t_error(env, env.server_section("cert_dir = live\n"),
        [r"live/example\.com/fullchain\.pem: .*symlink to \"\.\./\.\./archive/example\.com/"
         r"fullchain1\.pem\", which does not exist; .*archive/",
         r"live/example\.com/privkey\.pem: .*symlink to \"\.\./\.\./archive/example\.com/"
         r"privkey1\.pem\""])
    check("README" not in err, "-t mentions live/README")


@test
def t_cert_dir_certbot_live_with_archive_quiet(env):
    """The same layout complete: -t passes without a warning (not about README)."""
    cert = env.pki.issue(["mta-sts.example.com"])
    certbot_live(env, "example.com", cert, True)
    env.write("policies/example.com.txt", run.simple_policy("example.com"))
    rc, err = config_test(env, env.server_section("cert_dir = live\n"))
    check_eq(rc, 0, "-t exit status")
    check(re.search(r"(?m)^mta-stsd: (warning|error)", err) is None,
        "-t printed a warning or an error for a complete certbot layout")


# ---------------------------------------------------------------- 11: policy size

@test
def t_policy_100mb_says_real_size(env):
    sec, _ = env.domain("example.com")
    p = env.path("policies/example.com.txt")
    with open(p, "wb") as f:
        f.write(b"version: STSv1\n")
        f.truncate(100 * 1024 * 1024)   # sparse: 100 MB on no disk space
    expect_t_error(env, env.server_section() + sec,
        [r"example\.com\.txt(:\d+)?: policy is 104857600 bytes; .*64000"])


if __name__ == "__main__":
    sys.exit(harness.main(TESTS, __doc__.split("\n")[0]))
