#!/usr/bin/env python3
"""cert_dir layouts of the ACME clients, as each writes them (issue 12).

    python3 tests/integration/layouts_test.py [--binary build/mta-stsd] [-k SUBSTRING] [-v]

lego keeps <name>.crt (the chain), <name>.issuer.crt (the issuer alone),
<name>.key, <name>.json and with --pem <name>.pem side by side in
.lego/certificates/ (a wildcard's <name> is _.<domain>); acme.sh keeps
<name>_ecc/ (or <name>/ for RSA) with fullchain.cer, <name>.key, <name>.cer
(the leaf alone), ca.cer (the issuer) and its own files, in a home full of
other things. Each test lays the files out exactly so (openssl makes the
certificates), points cert_dir at the tool's directory and checks that every
domain is served with its certificate and the intermediate (the client trusts
only the root, so taking <name>.cer, ca.cer or <name>.issuer.crt as the chain
fails), that discovery says nothing about the tools' other files, and that a
renewal written the tool's way is applied by an incremental reload which a
full one (SIGHUP) then finds nothing to add to.

Output: "PASS name" / "FAIL name: reason" (with the server log) /
"SKIP name: why", then the line "N passed, N failed"; exit 1 on a failure.
"""

import json
import os
import re
import signal
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import run  # noqa: E402
from harness import Fail, check, check_eq, wait_for, LogTail  # noqa: E402

PICKUP = 3.0            # seconds within which a renewal must be served
TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write_in_place(path, data, mode=0o600):
    """Truncate and write an existing file (or create it), as Go's
    os.WriteFile and a shell's > do."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def append(path, data):
    with open(path, "ab") as f:
        f.write(data)


# ---------------------------------------------------------------- lego

class Lego:
    """lego's --path directory (.lego): accounts/, certificates/ with each
    certificate's files side by side, archives/."""

    def __init__(self, env, home=".lego"):
        self.home = env.path(home)
        self.certs = os.path.join(self.home, "certificates")
        acct = os.path.join(self.home, "accounts", "acme.test", "you@example.com")
        os.makedirs(os.path.join(acct, "keys"))
        os.makedirs(self.certs)
        os.makedirs(os.path.join(self.home, "archives"))
        write_in_place(os.path.join(acct, "account.json"), b'{"email": "you@example.com"}\n')
        write_in_place(os.path.join(acct, "keys", "you@example.com.key"),
            read(env.pki.inter_key))
        self.env = env

    @staticmethod
    def file_name(domain):
        return domain.replace("*", "_")

    def save(self, domain, cert, pem=True, pfx=True):
        """What lego run/renew writes, in its order, each file in place
        (os.WriteFile, mode 0600): .crt, .issuer.crt, .key, .pem, .pfx,
        .json."""
        base = os.path.join(self.certs, self.file_name(domain))
        chain, key = read(cert.chain_pem), read(cert.key_pem)
        write_in_place(base + ".crt", chain)
        write_in_place(base + ".issuer.crt", read(self.env.pki.inter))
        write_in_place(base + ".key", key)
        if pem:
            write_in_place(base + ".pem", chain + key)
        if pfx:
            write_in_place(base + ".pfx", b"\x30\x82\x01\x00" + os.urandom(256))
        write_in_place(base + ".json", json.dumps({"domain": domain,
            "certUrl": "https://acme.test/cert/%X" % cert.serial}, indent="\t").encode())
        return base + ".crt", base + ".key"


# ---------------------------------------------------------------- acme.sh

class AcmeSh:
    """acme.sh's home: its script, account.conf, ca/, dnsapi/, ... and one
    directory per certificate, <domain>_ecc/ (ECDSA) or <domain>/ (RSA)."""

    def __init__(self, env, home="acme.sh"):
        self.home = env.path(home)
        self.env = env
        ca = os.path.join(self.home, "ca", "acme.test", "directory")
        os.makedirs(ca)
        for d in ("deploy", "dnsapi", "notify"):
            os.makedirs(os.path.join(self.home, d))
            write_in_place(os.path.join(self.home, d, "example.sh"), b"#!/usr/bin/env sh\n", 0o755)
        write_in_place(os.path.join(self.home, "acme.sh"), b"#!/usr/bin/env sh\n", 0o755)
        write_in_place(os.path.join(self.home, "acme.sh.env"), b"export LE_WORKING_DIR\n", 0o644)
        write_in_place(os.path.join(self.home, "account.conf"), b"AUTO_UPGRADE='1'\n")
        write_in_place(os.path.join(self.home, "http.header"), b"HTTP/1.1 200 OK\n")
        write_in_place(os.path.join(ca, "account.key"), read(env.pki.inter_key))
        write_in_place(os.path.join(ca, "account.json"), b"{}\n")
        write_in_place(os.path.join(ca, "ca.conf"), b"CA_EMAIL=''\n")

    def dir_of(self, domain, ecc):
        return os.path.join(self.home, domain + ("_ecc" if ecc else ""))

    def new_key(self, domain, cert, ecc=True):
        """The first half of acme.sh --issue, or of --renew with
        --always-force-new-domain-key: the domain's conf, a new key, its CSR."""
        d = self.dir_of(domain, ecc)
        os.makedirs(os.path.join(d, "backup"), exist_ok=True)
        base = os.path.join(d, domain)
        write_in_place(base + ".conf", ("Le_Domain='%s'\nLe_Keylength='%s'\n"
            % (domain, "ec-256" if ecc else "2048")).encode())
        write_in_place(base + ".csr.conf", b"[ req_distinguished_name ]\n")
        write_in_place(base + ".key", read(cert.key_pem))
        write_in_place(base + ".csr", b"-----BEGIN CERTIFICATE REQUEST-----\n"
            b"-----END CERTIFICATE REQUEST-----\n", 0o644)

    def new_cert(self, domain, cert, ecc=True):
        """The second half, after the ACME exchange: the leaf, fullchain.cer
        as a copy of the leaf with ca.cer appended, the conf again."""
        d = self.dir_of(domain, ecc)
        base = os.path.join(d, domain)
        leaf, inter = read(cert.cert_pem), read(self.env.pki.inter)
        write_in_place(base + ".cer", leaf, 0o644)
        write_in_place(os.path.join(d, "fullchain.cer"), leaf, 0o644)  # cp
        write_in_place(os.path.join(d, "ca.cer"), inter, 0o644)
        append(os.path.join(d, "fullchain.cer"), inter)
        append(base + ".conf", ("Le_NextRenewTime='%d'\n" % (time.time() + 86400 * 60)).encode())

    def issue(self, domain, cert, ecc=True):
        self.new_key(domain, cert, ecc)
        self.new_cert(domain, cert, ecc)


# ---------------------------------------------------------------- helpers

def quiet_config_test(env, conf):
    """mta-stsd -t passes and prints no warning or error."""
    rc, _, err = env.config_test(conf)
    env.notes.append("-t stderr:\n" + err)
    check_eq(rc, 0, "-t exit status")
    bad = [l for l in err.splitlines() if re.search(r"^mta-stsd: (warning|error): ", l)]
    check(not bad, "-t printed warnings or errors about the tool's files: %r" % bad)


def start_quiet(env, conf, domains):
    """Start the server, wait until every domain is served, and check that
    its log has no warning or error (discovery and the watches alike)."""
    srv = env.start(conf)
    for d in domains:
        wait_for(lambda: harness.get(env, d)[0] == 200, 10, "%s served" % d)
    text = read(srv.log_path).decode(errors="replace")
    bad = [l for l in text.splitlines() if re.search(r" mta-stsd (warn|error): ", l)
        and "allow_root" not in l]
    check(not bad, "the server logged warnings or errors: %r" % bad[:5])
    return srv


def serves(env, domain, cert):
    """A verifying client (it trusts only the root, so the intermediate
    must come with the leaf) gets exactly cert for mta-sts.<domain>."""
    try:
        run.served_ok(env, domain, cert)
        return True
    except Fail:
        return False


RELOAD_LINE = (r"reload \((file change|SIGHUP)\)(: nothing changed|: generation \d+: "
    r"(\d+) added, (\d+) changed, (\d+) removed, (\d+) failed.*)")


class Steps:
    """Each step changes files, waits until the change is served, then
    checks that every build the file events caused was incremental and that
    a full build (SIGHUP) right after finds nothing to change."""

    def __init__(self, env, srv):
        self.env = env
        self.srv = srv
        self.tail = LogTail(srv.log_path).mark()
        self.incremental = 0

    def step(self, what, change, ready, expect_incremental=True):
        self.tail.mark()
        t0 = time.monotonic()
        change()
        wait_for(ready, PICKUP, what + ": applied")
        self.env.info.append("%s: served after %.2f s" % (what, time.monotonic() - t0))
        time.sleep(0.4)     # past the debounce: no build of this change left
        lines = [m.group(0) for m in re.finditer(RELOAD_LINE, self.tail.new_text())
                 if m.group(1) == "file change"]
        check(lines, "%s: no event-driven reload logged" % what)
        for line in lines:
            check("(incremental)" in line or not expect_incremental,
                "%s: expected an incremental build: %s" % (what, line))
        self.incremental += len(lines)
        self.tail.mark()
        self.srv.proc.send_signal(signal.SIGHUP)
        m = self.tail.wait(r"reload \(SIGHUP\)(: nothing changed|: generation \d+: (\d+) "
            r"added, (\d+) changed, (\d+) removed.*)", PICKUP, what + ": full build after SIGHUP")
        check(m.group(1) == ": nothing changed" or m.group(2, 3, 4) == ("0", "0", "0"),
            "%s: the full build found what the incremental one missed: %s"
            % (what, m.group(0)))


def policies(env, domains):
    for d in domains:
        env.write("policies/%s.txt" % d, run.simple_policy(d))


# ---------------------------------------------------------------- tests: lego

def three_certs(env):
    """The certificates lego_setup and acme_setup save, by the name each tool
    issues them for: ECDSA for a.example, RSA for b.example, a wildcard."""
    return {
        "a.example": env.pki.issue(["mta-sts.a.example"]),
        "b.example": env.pki.issue(["mta-sts.b.example"], "rsa"),
        "*.wild.example": env.pki.issue(["*.wild.example", "wild.example"]),
    }


def lego_setup(env):
    lego = Lego(env)
    certs = three_certs(env)
    for name, c in certs.items():
        lego.save(name, c)
    policies(env, ["a.example", "b.example", "wild.example"])
    return lego, certs


def serves_three(env, certs, cert_dir):
    """With cert_dir alone, -t is quiet, the server starts quietly and
    a.example, b.example and wild.example are each served with their
    certificate of certs (lego_setup's, acme_setup's)."""
    conf = env.server_section("cert_dir = %s\n" % cert_dir)
    quiet_config_test(env, conf)
    start_quiet(env, conf, ["a.example", "b.example", "wild.example"])
    for d, c in (("a.example", certs["a.example"]), ("b.example", certs["b.example"]),
            ("wild.example", certs["*.wild.example"])):
        run.served_ok(env, d, c)


@test
def lego_certificates_dir(env):
    """cert_dir = .lego/certificates: <name>.crt + <name>.key of each
    certificate (ECDSA, RSA, the wildcard's _.wild.example), quietly past
    .issuer.crt, .pem, .pfx and .json."""
    lego, certs = lego_setup(env)
    serves_three(env, certs, lego.certs)


@test
def lego_home_dir(env):
    """cert_dir = .lego itself (accounts/, certificates/, archives/)."""
    lego, certs = lego_setup(env)
    serves_three(env, certs, lego.home)


def lego_renewals(env, cert_dir_of):
    lego, certs = lego_setup(env)
    srv = start_quiet(env, env.server_section("cert_dir = %s\n" % cert_dir_of(lego)),
        ["a.example", "b.example", "wild.example"])
    steps = Steps(env, srv)
    new_a = env.pki.issue(["mta-sts.a.example"])
    steps.step("lego renews a.example in place", lambda: lego.save("a.example", new_a),
        lambda: serves(env, "a.example", new_a))
    new_w = env.pki.issue(["*.wild.example", "wild.example"])
    steps.step("lego renews *.wild.example in place", lambda: lego.save("*.wild.example", new_w),
        lambda: serves(env, "wild.example", new_w))
    c = env.pki.issue(["mta-sts.c.example"])
    env.write("policies/c.example.txt", run.simple_policy("c.example"))
    steps.step("lego issues c.example", lambda: lego.save("c.example", c, pfx=False),
        lambda: serves(env, "c.example", c))
    new_b = env.pki.issue(["mta-sts.b.example"], "rsa")

    def archive_and_save():
        # what lego does when it archives a certificate's files first
        stamp = str(int(time.time()))
        for f in os.listdir(lego.certs):
            if f.startswith("b.example."):
                os.rename(os.path.join(lego.certs, f),
                    os.path.join(lego.home, "archives", stamp + "." + f))
        lego.save("b.example", new_b)
    steps.step("lego archives b.example's files, then saves new ones", archive_and_save,
        lambda: serves(env, "b.example", new_b), expect_incremental=False)
    run.served_ok(env, "a.example", new_a)
    env.info.append("%d incremental builds" % steps.incremental)


@test
def lego_renewal_incremental_certificates_dir(env):
    """Renewals written lego's way (each file rewritten in place) into
    cert_dir = .lego/certificates, and a new certificate: served, each by
    incremental builds that a full build then agrees with."""
    lego_renewals(env, lambda lego: lego.certs)


@test
def lego_renewal_incremental_home_dir(env):
    """The same with cert_dir = .lego."""
    lego_renewals(env, lambda lego: lego.home)


@test
def lego_half_pair_named(env):
    """A .crt without its .key (lego run with --csr keeps no key) is named
    in a warning; the .issuer.crt beside it is not."""
    lego = Lego(env)
    c = env.pki.issue(["mta-sts.a.example"])
    lego.save("a.example", c)
    os.unlink(os.path.join(lego.certs, "a.example.key"))
    os.unlink(os.path.join(lego.certs, "a.example.pem"))
    d = env.pki.issue(["mta-sts.d.example"])
    lego.save("d.example", d)
    policies(env, ["d.example"])
    rc, _, err = env.config_test(env.server_section("cert_dir = %s\n" % lego.certs))
    env.notes.append("-t stderr:\n" + err)
    check_eq(rc, 0, "-t exit status")
    check(re.search(r"warning: .*certificates: holds a\.example\.crt but no a\.example\.key", err),
        "-t does not name the .crt without its .key")
    check("issuer" not in err, "-t mentions a .issuer.crt")


# ---------------------------------------------------------------- tests: certbot

@test
def certbot_live_readme_quiet(env):
    """certbot's live/ with its README: served, and neither discovery nor
    the watches say anything about README (a file, never watched as a
    directory)."""
    c = env.pki.issue(["mta-sts.a.example"])
    env.install_cert(c, "live/a.example")
    env.write("live/README", "This directory contains your keys and certificates.\n")
    policies(env, ["a.example"])
    conf = env.server_section("cert_dir = live\n")
    quiet_config_test(env, conf)
    start_quiet(env, conf, ["a.example"])
    run.served_ok(env, "a.example", c)


# ---------------------------------------------------------------- tests: acme.sh

def acme_setup(env):
    acme = AcmeSh(env)
    certs = three_certs(env)
    acme.issue("a.example", certs["a.example"])
    acme.issue("b.example", certs["b.example"], ecc=False)
    acme.issue("*.wild.example", certs["*.wild.example"])
    policies(env, ["a.example", "b.example", "wild.example"])
    return acme, certs


@test
def acme_sh_home(env):
    """cert_dir = acme.sh's home: <name>_ecc/ and the RSA <name>/ each give
    fullchain.cer + <name>.key (the wildcard's directory is *.wild.example_ecc);
    nothing is said about the script, account.conf, ca/, dnsapi/, ... or the
    certificates' .cer, ca.cer, .conf, .csr and backup/."""
    acme, certs = acme_setup(env)
    serves_three(env, certs, acme.home)


@test
def acme_sh_ecdsa_and_rsa_for_one_domain(env):
    """acme.sh's a.example_ecc/ and a.example/ side by side (--ecc and RSA
    issued for the same name): the domain has both pairs, and a client that
    takes only RSA gets the RSA one."""
    acme = AcmeSh(env)
    ec = env.pki.issue(["mta-sts.a.example"])
    rsa = env.pki.issue(["mta-sts.a.example"], "rsa")
    acme.issue("a.example", ec)
    acme.issue("a.example", rsa, ecc=False)
    policies(env, ["a.example"])
    conf = env.server_section("cert_dir = %s\n" % acme.home)
    quiet_config_test(env, conf)
    start_quiet(env, conf, ["a.example"])
    for suite, want in (("ECDHE-ECDSA-AES128-GCM-SHA256", ec),
            ("ECDHE-RSA-AES128-GCM-SHA256", rsa)):
        ctx = run.client_ctx(env.pki, max_version=ssl.TLSVersion.TLSv1_2, ciphers=suite)
        s = run.tls_connect(env.port, "mta-sts.a.example", ctx)
        got = s.getpeercert(binary_form=True)
        s.close()
        check(got == want.der, "a client offering only %s got the wrong certificate" % suite)


@test
def acme_sh_renewal_incremental(env):
    """acme.sh renewals (a new key first, the certificate files after the
    ACME exchange, fullchain.cer copied from the leaf then ca.cer appended):
    the domain keeps its certificate meanwhile, then the new one is served,
    each by incremental builds that a full build then agrees with; a new
    certificate directory is found too."""
    acme, certs = acme_setup(env)
    srv = start_quiet(env, env.server_section("cert_dir = %s\n" % acme.home),
        ["a.example", "b.example", "wild.example"])
    steps = Steps(env, srv)
    old_served = []

    def renew(domain, dname, old, new, ecc):
        acme.new_key(domain, new, ecc)
        time.sleep(0.5)     # the ACME exchange; the key's event is built meanwhile
        old_served.append((dname, serves(env, dname, old)))
        acme.new_cert(domain, new, ecc)

    new_a = env.pki.issue(["mta-sts.a.example"])
    steps.step("acme.sh renews a.example",
        lambda: renew("a.example", "a.example", certs["a.example"], new_a, True),
        lambda: serves(env, "a.example", new_a))
    new_b = env.pki.issue(["mta-sts.b.example"], "rsa")
    steps.step("acme.sh renews the RSA b.example",
        lambda: renew("b.example", "b.example", certs["b.example"], new_b, False),
        lambda: serves(env, "b.example", new_b))
    check(all(ok for _, ok in old_served),
        "the old certificate was not served while the new key waited for its "
        "certificate: %r" % old_served)
    new_w = env.pki.issue(["*.wild.example", "wild.example"])
    steps.step("acme.sh renews *.wild.example", lambda: acme.issue("*.wild.example", new_w),
        lambda: serves(env, "wild.example", new_w))
    env.info.append("%d incremental builds" % steps.incremental)
    # a new certificate directory is a new entry of cert_dir: a full build
    c = env.pki.issue(["mta-sts.c.example"])
    env.write("policies/c.example.txt", run.simple_policy("c.example"))
    acme.issue("c.example", c)
    wait_for(lambda: serves(env, "c.example", c), PICKUP, "new acme.sh certificate served")
    run.served_ok(env, "a.example", new_a)


if __name__ == "__main__":
    sys.exit(harness.main(TESTS, __doc__.split("\n")[0]))
