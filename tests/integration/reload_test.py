#!/usr/bin/env python3
"""Hot-reload integration tests for mta-stsd (issue 3, "Tests").

    python3 tests/integration/reload_test.py [--binary build/mta-stsd] [-k SUBSTRING] [-v]
    python3 tests/integration/reload_test.py --binary build-asan/mta-stsd

Each test has its own temporary directory and loopback port, starts the real
binary, changes files the way real tools do (in place, atomic rename, certbot's
live/ -> archive/ symlinks, a Kubernetes volume's ..data swap) or sends SIGHUP,
and checks what new connections are served. Every wait is bounded.

Output: "PASS name" / "FAIL name: reason" (with the server log) /
"SKIP name: why", then the line "N passed, N failed"; exit 1 on a failure.
The leak test (reload_loop_rss) also runs against build-asan/mta-stsd when
that exists (make asan) and fails on any sanitizer report.
"""

import os
import re
import shutil
import signal
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import run  # noqa: E402
import runner  # noqa: E402
from harness import Fail, Skip, check, check_eq, wait_for, LogTail  # noqa: E402

PICKUP = 2.0            # seconds within which a file change must be served
SERVE_TIMEOUT = 10.0    # first load
UNKNOWN_NAME = r"UNRECOGNIZED_NAME|unrecognized name|alert number 112"

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def pol(domain, max_age=604800, mode="enforce"):
    return run.simple_policy(domain, mode, max_age)


def norm(domain, max_age=604800, mode="enforce"):
    return run.normalised(domain, mode, max_age)


def wait_served(env, domain, body=None, timeout=SERVE_TIMEOUT, what=None):
    body = body if body is not None else norm(domain)
    _, dt = wait_for(lambda: harness.body_is(env, domain, body), timeout,
        what or "%s served with the expected policy" % domain)
    return dt


def still_served(env, domain, body, cert=None):
    """Right now: 200 with exactly body (and certificate cert when given)."""
    run.served_ok(env, domain, cert, body)


def start(env, conf, domains):
    srv = env.start(conf)
    for d in domains:
        wait_served(env, d)
    return srv


def same_process(srv, pid, start_time):
    check(srv.proc.poll() is None, "the server exited (status %r)" % srv.proc.returncode)
    check_eq(srv.proc.pid, pid, "PID")
    check_eq(harness.proc_start_time(pid), start_time,
        "process start time (the server was restarted?)")


# ---------------------------------------------------------------- policies

def policy_change(env, replace):
    sec, cert = env.domain("example.com")
    srv = start(env, env.server_section() + sec, ["example.com"])
    pid, st = srv.proc.pid, harness.proc_start_time(srv.proc.pid)
    path = env.path("policies/example.com.txt")
    for i, (mode, age) in enumerate((("testing", 86400), ("enforce", 1209600),
            ("testing", 604800))):
        t0 = time.monotonic()
        replace(path, pol("example.com", age, mode))
        wait_served(env, "example.com", norm("example.com", age, mode), PICKUP,
            "change %d: new policy served within %.0f s of the write" % (i + 1, PICKUP))
        env.info.append("change %d served after %.2f s" % (i + 1, time.monotonic() - t0))
        time.sleep(0.05)
    same_process(srv, pid, st)
    run.served_ok(env, "example.com", cert, norm("example.com", 604800, "testing"))


@test
def policy_change_in_place(env):
    def replace(path, text):
        with open(path, "w") as f:
            f.write(text)
    policy_change(env, replace)


@test
def policy_change_atomic_rename(env):
    policy_change(env, harness.atomic_write)


# ---------------------------------------------------------------- certbot

class Certbot:
    """certbot's layout: archive/<name>/{cert,chain,fullchain,privkey}N.pem and
    live/<name>/*.pem as relative symlinks into archive."""

    def __init__(self, env, root="le"):
        self.env = env
        self.root = env.path(root)
        self.version = {}

    def install(self, name, cert):
        n = self.version.get(name, 0) + 1
        self.version[name] = n
        arch = os.path.join(self.root, "archive", name)
        live = os.path.join(self.root, "live", name)
        os.makedirs(arch, exist_ok=True)
        os.makedirs(live, exist_ok=True)
        shutil.copy(cert.cert_pem, os.path.join(arch, "cert%d.pem" % n))
        shutil.copy(self.env.pki.inter, os.path.join(arch, "chain%d.pem" % n))
        shutil.copy(cert.chain_pem, os.path.join(arch, "fullchain%d.pem" % n))
        shutil.copy(cert.key_pem, os.path.join(arch, "privkey%d.pem" % n))
        os.chmod(os.path.join(arch, "privkey%d.pem" % n), 0o600)
        # certbot re-points the links one after the other (cert, privkey, chain,
        # fullchain), each by unlink + symlink
        for kind in ("cert", "privkey", "chain", "fullchain"):
            link = os.path.join(live, kind + ".pem")
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink("../../archive/%s/%s%d.pem" % (name, kind, n), link)
        return os.path.join(live, "fullchain.pem"), os.path.join(live, "privkey.pem")


@test
def certbot_renewal(env):
    """Discovered (cert_dir = live) and named ([domain] cert = live/...)
    certificates, renewed certbot's way: the new serial is presented to new
    connections; a connection opened before keeps working."""
    cb = Certbot(env)
    env.write("policies/disc.example.txt", pol("disc.example"))
    env.write("policies/named.example.txt", pol("named.example"))
    old_d = env.pki.issue(["mta-sts.disc.example"])
    old_n = env.pki.issue(["mta-sts.named.example"])
    cb.install("mta-sts.disc.example", old_d)
    c, k = cb.install("named", old_n)
    conf = (env.server_section("cert_dir = %s\n" % os.path.join(cb.root, "live")) +
        "[named.example]\ncert = %s\nkey = %s\n" % (c, k))
    srv = start(env, conf, ["disc.example", "named.example"])
    pid, st = srv.proc.pid, harness.proc_start_time(srv.proc.pid)
    for d, cert in (("disc.example", old_d), ("named.example", old_n)):
        run.served_ok(env, d, cert)
        check_eq(harness.serial_of_der(harness.peer_der(env, "mta-sts." + d)), cert.serial,
            "serial before renewal for %s" % d)

    # a keep-alive connection opened before the renewal
    held = run.Conn(env.port, "mta-sts.disc.example", run.client_ctx(env.pki))
    try:
        held.connect()
        check_eq(held.sock.getpeercert(binary_form=True), old_d.der, "held connection cert")
        new_d = env.pki.issue(["mta-sts.disc.example"])
        new_n = env.pki.issue(["mta-sts.named.example"])
        t0 = time.monotonic()
        cb.install("mta-sts.disc.example", new_d)
        cb.install("named", new_n)
        for d, cert in (("disc.example", new_d), ("named.example", new_n)):
            wait_for(lambda: harness.serial_of_der(harness.peer_der(env, "mta-sts." + d))
                == cert.serial, PICKUP + 1, "renewed certificate (serial %X) for %s presented"
                % (cert.serial, d))
            env.info.append("%s: serial %X -> %X after %.2f s" % (d, (old_d if d ==
                "disc.example" else old_n).serial, cert.serial, time.monotonic() - t0))
            run.served_ok(env, d, cert)
        status, _, body = run.request(held, "GET", run.WELL_KNOWN, "mta-sts.disc.example")
        check_eq((status, body), (200, norm("disc.example")),
            "request on a connection opened before the renewal")
    finally:
        held.close()
    same_process(srv, pid, st)


# ---------------------------------------------------------------- Kubernetes

class K8sVolume:
    """A Kubernetes ConfigMap/Secret volume: ..<ts>/ holds the files, ..data is
    a symlink to it, and each visible name is a symlink to ..data/<name>."""

    def __init__(self, path):
        self.path = path
        self.n = 0
        os.makedirs(path, exist_ok=True)

    def publish(self, files):
        """files: name -> bytes or str. Swapped in as the kubelet does."""
        self.n += 1
        ts = "..2024_01_%02d_00_00_00.%d" % (self.n, 1000 + self.n)
        d = os.path.join(self.path, ts)
        os.makedirs(d)
        for name, data in files.items():
            with open(os.path.join(d, name), "wb" if isinstance(data, bytes) else "w") as f:
                f.write(data)
        data_link = os.path.join(self.path, "..data")
        old = os.readlink(data_link) if os.path.lexists(data_link) else None
        tmp = os.path.join(self.path, "..data_tmp")
        os.symlink(ts, tmp)
        os.rename(tmp, data_link)       # the atomic swap
        for name in files:
            link = os.path.join(self.path, name)
            if not os.path.lexists(link):
                os.symlink(os.path.join("..data", name), link)
        if old is not None:
            shutil.rmtree(os.path.join(self.path, old))
        return {name: os.path.join(self.path, name) for name in files}


def read(path):
    with open(path, "rb") as f:
        return f.read()


@test
def kubernetes_secret_swap_in_cert_dir(env):
    """cert_dir/<secret>/tls.crt + tls.key from a Secret volume: a ..data swap
    presents the new certificate."""
    env.write("policies/example.com.txt", pol("example.com"))
    c1 = env.pki.issue(["mta-sts.example.com"])
    vol = K8sVolume(env.path("certs/example-tls"))
    vol.publish({"tls.crt": read(c1.chain_pem), "tls.key": read(c1.key_pem)})
    srv = start(env, env.server_section("cert_dir = certs\n"), ["example.com"])
    pid, st = srv.proc.pid, harness.proc_start_time(srv.proc.pid)
    run.served_ok(env, "example.com", c1)
    c2 = env.pki.issue(["mta-sts.example.com"])
    t0 = time.monotonic()
    vol.publish({"tls.crt": read(c2.chain_pem), "tls.key": read(c2.key_pem)})
    wait_for(lambda: harness.peer_der(env, "mta-sts.example.com") == c2.der, PICKUP + 1,
        "certificate from the swapped ..data presented")
    env.info.append("new certificate after %.2f s" % (time.monotonic() - t0))
    run.served_ok(env, "example.com", c2)
    same_process(srv, pid, st)


@test
def kubernetes_configmap_config_and_policies(env):
    """The configuration file and policy_dir each mounted from a ConfigMap
    volume; swapping ..data is picked up for both."""
    cert = env.pki.issue(["mta-sts.a.example", "mta-sts.b.example"])
    c, k = env.install_cert(cert, "certs/multi")
    cfgvol = K8sVolume(env.path("config"))
    polvol = K8sVolume(env.path("policies-vol"))
    polvol.publish({"a.example.txt": pol("a.example")})
    base = (env.server_section().replace("policy_dir = policies\n", "") +
        "policy_dir = %s\n[defaults]\ncert = %s\nkey = %s\n" % (polvol.path,
        env.path(c), env.path(k)))
    paths = cfgvol.publish({"mta-stsd.conf": base})
    srv = run.Server(env, paths["mta-stsd.conf"])
    env.servers.append(srv)
    srv.start().wait_ready([("127.0.0.1", env.port)])
    wait_served(env, "a.example")
    check(harness.refused(env, "b.example"), "b.example served before it was added")

    # the config volume: a new version adds [b.example] with its policy elsewhere
    env.write("elsewhere/b.txt", pol("b.example", 86400))
    t0 = time.monotonic()
    cfgvol.publish({"mta-stsd.conf": base + "[b.example]\npolicy = %s\n"
        % env.path("elsewhere/b.txt")})
    wait_served(env, "b.example", norm("b.example", 86400), PICKUP + 1,
        "domain added by the swapped config volume served")
    env.info.append("config ..data swap applied after %.2f s" % (time.monotonic() - t0))

    # the policy volume: a.example changes
    t0 = time.monotonic()
    polvol.publish({"a.example.txt": pol("a.example", 1209600)})
    wait_served(env, "a.example", norm("a.example", 1209600), PICKUP + 1,
        "policy from the swapped policy volume served")
    env.info.append("policy ..data swap applied after %.2f s" % (time.monotonic() - t0))
    still_served(env, "b.example", norm("b.example", 86400), cert)


# ---------------------------------------------------------------- add / remove

@test
def add_remove_domain_section(env):
    """A [domain] section (policy outside policy_dir, its own certificate)
    added: served; removed: refused with unrecognized_name."""
    sec, _ = env.domain("a.example")
    conf = env.server_section() + sec
    srv = start(env, conf, ["a.example"])
    env.write("elsewhere/b.txt", pol("b.example"))
    bcert = env.pki.issue(["mta-sts.b.example"])
    c, k = env.install_cert(bcert, "certs/b.example")
    check(harness.refused(env, "b.example"), "b.example served before its section existed")
    harness.atomic_write(env.path("mta-stsd.conf"), conf +
        "[b.example]\npolicy = elsewhere/b.txt\ncert = %s\nkey = %s\n" % (c, k))
    wait_served(env, "b.example", timeout=PICKUP, what="added section served")
    run.served_ok(env, "b.example", bcert)
    harness.atomic_write(env.path("mta-stsd.conf"), conf)
    wait_for(lambda: harness.refused(env, "b.example"), PICKUP,
        "removed section refused with unrecognized_name")
    still_served(env, "a.example", norm("a.example"))
    check(srv.proc.poll() is None, "server exited")


@test
def add_remove_discovered_domain(env):
    """policies/<domain>.txt created: served (certificate found in cert_dir by
    its SAN); deleted: refused with unrecognized_name."""
    env.write("policies/a.example.txt", pol("a.example"))
    ca = env.pki.issue(["mta-sts.a.example"])
    cb = env.pki.issue(["mta-sts.b.example"])
    env.install_cert(ca, "certs/a")
    env.install_cert(cb, "certs/b")
    start(env, env.server_section("cert_dir = certs\n"), ["a.example"])
    check(harness.refused(env, "b.example"), "b.example served before its policy existed")
    harness.atomic_write(env.path("policies/b.example.txt"), pol("b.example"))
    wait_served(env, "b.example", timeout=PICKUP, what="discovered policy served")
    run.served_ok(env, "b.example", cb)
    os.unlink(env.path("policies/b.example.txt"))
    wait_for(lambda: harness.refused(env, "b.example"), PICKUP,
        "deleted policy's domain refused with unrecognized_name")
    still_served(env, "a.example", norm("a.example"), ca)


# ---------------------------------------------------------------- incremental

RELOAD_LINE = r"reload \((file change|SIGHUP)\)(: nothing changed|: generation \d+: (\d+) added, (\d+) changed, (\d+) removed, (\d+) failed.*)"


@test
def incremental_equals_full_build(env):
    """Builds triggered by file events are incremental (they copy the
    previous generation and look again only at what the events name); after
    each of a series of changes made the way real tools make them, a SIGHUP
    (a full build, which looks at every file) must find nothing to change:
    the incremental build served exactly what a full one would. Covers
    discovered policies and cert_dir certificates (certbot's live/archive
    symlinks), a [domain] section with its own files, additions, removals,
    broken and fixed files."""
    cb = Certbot(env)
    names = ["d%d.example" % i for i in range(1, 7)]
    certs = {}
    for d in names:
        env.write("policies/%s.txt" % d, pol(d))
        certs[d] = env.pki.issue(["mta-sts." + d])
        cb.install("mta-sts." + d, certs[d])
    env.write("elsewhere/sec.txt", pol("sec.example"))
    sec_cert = env.pki.issue(["mta-sts.sec.example"])
    c, k = env.install_cert(sec_cert, "own/sec")
    conf = (harness.server_section(env, log_level="debug", access_log="off",
        cert_dir=os.path.join(cb.root, "live")) +
        "[sec.example]\npolicy = elsewhere/sec.txt\ncert = %s\nkey = %s\n" % (c, k))
    srv = start(env, conf, names + ["sec.example"])
    tail = LogTail(srv.log_path).mark()
    incremental = [0]

    def reloaded():
        return re.search(RELOAD_LINE, tail.new_text())

    def step(what, change, ready=reloaded, expect_incremental=True):
        tail.mark()
        change()
        wait_for(ready, PICKUP + 1, what + ": applied")
        time.sleep(0.4)     # past the debounce: no build of this change left
        lines = [m.group(0) for m in re.finditer(RELOAD_LINE, tail.new_text())
                 if m.group(1) == "file change"]
        check(lines, "%s: no event-driven reload logged" % what)
        if expect_incremental:
            for line in lines:
                check("(incremental)" in line,
                    "%s: expected an incremental build: %s" % (what, line))
        incremental[0] += sum("(incremental)" in line for line in lines)
        tail.mark()
        srv.proc.send_signal(signal.SIGHUP)
        m = tail.wait(r"reload \(SIGHUP\)(: nothing changed|: generation \d+: (\d+) added, "
            r"(\d+) changed, (\d+) removed.*)", PICKUP + 1, what + ": full build after SIGHUP")
        check(m.group(1) == ": nothing changed" or m.group(2, 3, 4) == ("0", "0", "0"),
            "%s: the full build found what the incremental one missed: %s"
            % (what, m.group(0)))

    path = env.path

    step("policy changed in place",
        lambda: env.write("policies/d1.example.txt", pol("d1.example", 86400)),
        lambda: harness.body_is(env, "d1.example", norm("d1.example", 86400)))
    step("policy replaced by rename",
        lambda: harness.atomic_write(path("policies/d2.example.txt"),
            pol("d2.example", 172800, "testing")),
        lambda: harness.body_is(env, "d2.example", norm("d2.example", 172800, "testing")))
    step("policy broken (kept at its old version)",
        lambda: env.write("policies/d3.example.txt", "version: STSv1\nmode: bogus\n"))
    still_served(env, "d3.example", norm("d3.example"))
    step("broken policy fixed",
        lambda: env.write("policies/d3.example.txt", pol("d3.example", 99999)),
        lambda: harness.body_is(env, "d3.example", norm("d3.example", 99999)))
    step("policy removed", lambda: os.unlink(path("policies/d4.example.txt")),
        lambda: harness.refused(env, "d4.example"))
    step("policy added back",
        lambda: env.write("policies/d4.example.txt", pol("d4.example", 4444)),
        lambda: harness.body_is(env, "d4.example", norm("d4.example", 4444)))
    new5 = env.pki.issue(["mta-sts.d5.example"])
    step("certificate renewed (certbot)", lambda: cb.install("mta-sts.d5.example", new5),
        lambda: harness.peer_der(env, "mta-sts.d5.example") == new5.der)
    other = env.pki.issue(["mta-sts.d6.example"])
    live6 = os.path.join(cb.root, "live", "mta-sts.d6.example")

    def mismatch():
        os.unlink(os.path.join(live6, "privkey.pem"))
        shutil.copy(other.key_pem, os.path.join(live6, "privkey.pem"))
    step("key replaced by one that does not match (kept)", mismatch)
    check(harness.peer_der(env, "mta-sts.d6.example") == certs["d6.example"].der,
        "d6 keeps its old certificate")

    def fix():
        os.unlink(os.path.join(live6, "fullchain.pem"))
        shutil.copy(other.chain_pem, os.path.join(live6, "fullchain.pem"))
    step("matching certificate installed", fix,
        lambda: harness.peer_der(env, "mta-sts.d6.example") == other.der)
    step("section's own policy changed",
        lambda: env.write("elsewhere/sec.txt", pol("sec.example", 123456)),
        lambda: harness.body_is(env, "sec.example", norm("sec.example", 123456)))
    sec2 = env.pki.issue(["mta-sts.sec.example"])
    step("section's own certificate replaced",
        lambda: (shutil.copy(sec2.key_pem, path("own/sec/privkey.pem")),
            shutil.copy(sec2.chain_pem, path("own/sec/fullchain.pem"))),
        lambda: harness.peer_der(env, "mta-sts.sec.example") == sec2.der)
    # a new cert_dir subdirectory changes cert_dir's entries: a full build
    d7 = env.pki.issue(["mta-sts.d7.example"])
    step("new domain with a new certificate directory",
        lambda: (env.write("policies/d7.example.txt", pol("d7.example")),
            cb.install("mta-sts.d7.example", d7)),
        lambda: harness.body_is(env, "d7.example", norm("d7.example")),
        expect_incremental=False)
    for d in ("d1.example", "d2.example", "d5.example"):
        check(harness.get(env, d)[0] == 200, d + " still served")
    env.info.append("%d event-driven builds incremental, each step matched by a full build"
        % incremental[0])
    check(incremental[0] >= 10, "incremental builds: %d" % incremental[0])


# ---------------------------------------------------------------- isolation

def two_domains(env):
    sa, ca = env.domain("a.example")
    sb, cb = env.domain("b.example")
    srv = start(env, env.server_section() + sa + sb, ["a.example", "b.example"])
    return srv, ca, cb


@test
def broken_policy_isolated(env):
    """a.example's policy broken while b.example's changes at the same moment:
    a keeps its old version, b's change applies, the log has file:line and
    the reason."""
    srv, ca, cb = two_domains(env)
    tail = LogTail(srv.log_path).mark()
    env.write("policies/a.example.txt", "version: STSv1\nmode: enforced\n"
        "mx: mail.a.example\nmax_age: 86400\n")
    env.write("policies/b.example.txt", pol("b.example", 86400))
    wait_served(env, "b.example", norm("b.example", 86400), PICKUP,
        "b.example's simultaneous change applied")
    still_served(env, "a.example", norm("a.example"), ca)
    tail.wait(r"a\.example\.txt:2: .*enforced", 2, "broken policy named with file:line")
    run.served_ok(env, "b.example", cb, norm("b.example", 86400))
    # fixed: applies
    env.write("policies/a.example.txt", pol("a.example", 1209600))
    wait_served(env, "a.example", norm("a.example", 1209600), PICKUP,
        "a.example fixed: the new version applied")


@test
def mismatched_key_isolated(env):
    """a.example's key replaced by one that does not match its certificate
    while b.example's policy changes: a keeps its old certificate and policy,
    b's change applies, the log names the file and says why."""
    srv, ca, cb = two_domains(env)
    tail = LogTail(srv.log_path).mark()
    other = env.pki.issue(["mta-sts.a.example"])
    shutil.copy(other.key_pem, env.path("certs/a.example/privkey.pem"))
    env.write("policies/a.example.txt", pol("a.example", 86400))  # must not apply either
    env.write("policies/b.example.txt", pol("b.example", 86400))
    wait_served(env, "b.example", norm("b.example", 86400), PICKUP,
        "b.example's simultaneous change applied")
    m = tail.wait(r"^.*certs/a\.example/(privkey|fullchain)\.pem(:\d+)?: .*(?i:key).*$", 2,
        "mismatched key named with its file")
    env.info.append("log: " + m.group(0).strip()[:200])
    for _ in range(3):
        still_served(env, "a.example", norm("a.example"), ca)
    run.served_ok(env, "b.example", cb, norm("b.example", 86400))
    # fixed (new matching pair): applies
    shutil.copy(other.chain_pem, env.path("certs/a.example/fullchain.pem"))
    wait_for(lambda: harness.peer_der(env, "mta-sts.a.example") == other.der, PICKUP,
        "a.example with a matching pair again: new certificate presented")
    wait_served(env, "a.example", norm("a.example", 86400), PICKUP)


@test
def broken_main_config_keeps_snapshot(env):
    """A syntax error in the main config (with a policy change at the same
    time): everything keeps serving exactly as before, the log says the
    reload failed and where; fixing the file applies the pending change."""
    sa, ca = env.domain("a.example")
    sb, cb = env.domain("b.example")
    conf = env.server_section() + sa + sb
    srv = start(env, conf, ["a.example", "b.example"])
    tail = LogTail(srv.log_path).mark()
    broken = conf + "this line is not ini syntax\n"
    line = broken.splitlines().index("this line is not ini syntax") + 1
    harness.atomic_write(env.path("mta-stsd.conf"), broken)
    env.write("policies/a.example.txt", pol("a.example", 86400))
    tail.wait(r"mta-stsd\.conf:%d: " % line, PICKUP + 1, "config error with file:line")
    tail.wait(r"(?i)reload.*(fail|error|keep|unchanged)", 2, "reload failure logged")
    for d, c in (("a.example", ca), ("b.example", cb)):
        still_served(env, d, norm(d), c)
    time.sleep(0.5)
    still_served(env, "a.example", norm("a.example"), ca)
    harness.sighup(srv)     # still broken: still the old snapshot
    tail.wait(r"(?i)reload.*(fail|error|keep|unchanged)", 3, "SIGHUP reload failure logged")
    still_served(env, "a.example", norm("a.example"), ca)
    harness.atomic_write(env.path("mta-stsd.conf"), conf)
    wait_served(env, "a.example", norm("a.example", 86400), PICKUP,
        "config fixed: the pending policy change applied")
    check(srv.proc.poll() is None, "server exited")


# ---------------------------------------------------------------- triggers

@test
def auto_reload_off_sighup_only(env):
    """auto_reload = no: a changed file is not picked up (2.5 s) until SIGHUP."""
    sec, _ = env.domain("example.com")
    srv = start(env, env.server_section("auto_reload = no\n") + sec, ["example.com"])
    pid, st = srv.proc.pid, harness.proc_start_time(srv.proc.pid)
    env.write("policies/example.com.txt", pol("example.com", 86400))
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        st_, body = harness.get(env, "example.com")
        check_eq((st_, body), (200, norm("example.com")),
            "auto_reload = no: policy before SIGHUP")
        time.sleep(0.25)
    harness.sighup(srv)
    t0 = time.monotonic()
    wait_served(env, "example.com", norm("example.com", 86400), PICKUP,
        "new policy after SIGHUP")
    env.info.append("served %.2f s after SIGHUP" % (time.monotonic() - t0))
    same_process(srv, pid, st)


@test
def sighup_reloads(env):
    """SIGHUP (auto_reload on) reloads and logs one summary line with the
    generation number."""
    sec, _ = env.domain("example.com")
    srv = start(env, env.server_section() + sec, ["example.com"])
    tail = LogTail(srv.log_path).mark()
    # a change the watcher cannot see yet: written, then SIGHUP at once
    env.write("policies/example.com.txt", pol("example.com", 86400))
    harness.sighup(srv)
    wait_served(env, "example.com", norm("example.com", 86400), PICKUP)
    m = tail.wait(r"reload \((SIGHUP|file change)\): generation (\d+)", 2,
        "reload summary line")
    env.info.append("log: " + m.group(0))


@test
def poll_interval_without_inotify(env):
    """auto_reload = no, poll_interval = 1: picked up within about 2 s (a
    change applies once two polls saw the same size and mtime)."""
    sec, _ = env.domain("example.com")
    srv = start(env, env.server_section("auto_reload = no\npoll_interval = 1\n") + sec,
        ["example.com"])
    for i, age in enumerate((86400, 1209600)):
        t0 = time.monotonic()
        env.write("policies/example.com.txt", pol("example.com", age))
        wait_served(env, "example.com", norm("example.com", age), 3.5,
            "poll %d: change served" % (i + 1))
        env.info.append("poll %d: served after %.2f s" % (i + 1, time.monotonic() - t0))
    check(srv.proc.poll() is None, "server exited")


@test
def listen_change_needs_restart(env):
    """listen changed in the config: logged as needing a restart; still served
    on the old address, nothing on the new one; the rest of the reload applies."""
    sec, _ = env.domain("example.com")
    conf = env.server_section() + sec
    srv = start(env, conf, ["example.com"])
    tail = LogTail(srv.log_path).mark()
    new_port = run.free_port()
    harness.atomic_write(env.path("mta-stsd.conf"),
        conf.replace("listen = 127.0.0.1:%d" % env.port, "listen = 127.0.0.1:%d" % new_port))
    env.write("policies/example.com.txt", pol("example.com", 86400))
    m = tail.wait(r"^.*(?i:listen).*(?i:restart).*$", PICKUP + 1, "listen change logged")
    env.info.append("log: " + m.group(0).strip()[:200])
    wait_served(env, "example.com", norm("example.com", 86400), PICKUP,
        "the other changes of the same reload applied on the old address")
    try:
        with socket.create_connection(("127.0.0.1", new_port), timeout=1):
            raise Fail("something accepts on the new listen address before a restart")
    except (ConnectionRefusedError, socket.timeout):
        pass


# ---------------------------------------------------------------- load

class FetchLoop(threading.Thread):
    """Fetch over a new connection each time until stopped, max_requests or
    max_seconds; records failures and bodies seen."""

    def __init__(self, env, domain, valid, max_requests=20000, max_seconds=60):
        super().__init__(daemon=True)
        self.env, self.domain, self.valid = env, domain, valid
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.stop = threading.Event()
        self.count = 0
        self.failures = []
        self.seen = set()

    def run(self):
        ctx = run.client_ctx(self.env.pki)
        t0 = time.monotonic()
        while (not self.stop.is_set() and self.count < self.max_requests and
                time.monotonic() - t0 < self.max_seconds):
            self.count += 1
            try:
                st, body = harness.fast_fetch(self.env, "mta-sts." + self.domain, ctx)
                if st != 200:
                    self.failures.append("request %d: status %d" % (self.count, st))
                elif body not in self.valid:
                    self.failures.append("request %d: body %r is no version written"
                        % (self.count, body[:80]))
                else:
                    self.seen.add(body)
            except Exception as e:
                self.failures.append("request %d: %s: %s" % (self.count, type(e).__name__, e))


@test
def fifty_reloads_under_load(env):
    """Four client threads fetch over new connections while 50 reloads happen
    (even: SIGHUP right after a policy change; odd: the change alone, picked
    up by the watcher): zero failed requests, every body a version written."""
    sa, _ = env.domain("a.example")
    sb, _ = env.domain("b.example")
    srv = start(env, env.server_section() + sa + sb, ["a.example", "b.example"])
    tail = LogTail(srv.log_path).mark()
    valid = {"a.example": {norm("a.example")}, "b.example": {norm("b.example")}}
    ages = {d: [604800 + i * 60 for i in range(1, 51)] for d in valid}
    for d in valid:
        valid[d].update(norm(d, a) for a in ages[d])
    loops = [FetchLoop(env, d, valid[d]) for d in valid for _ in range(2)]
    for l in loops:
        l.start()
    t0 = time.monotonic()
    gens = []
    try:
        time.sleep(0.3)
        for i in range(50):
            d = "a.example" if i % 4 < 2 else "b.example"
            env.write("policies/%s.txt" % d, pol(d, ages[d][i]))
            if i % 2 == 0:
                harness.sighup(srv)
            m = tail.wait(r"reload \(([^)]*)\): generation (\d+)", 5,
                "reload %d of 50 (%s)" % (i + 1, "SIGHUP" if i % 2 == 0 else "file change"))
            gens.append(int(m.group(2)))
            if any(l.failures for l in loops) or not all(l.is_alive() for l in loops):
                break
        time.sleep(0.3)
    finally:
        for l in loops:
            l.stop.set()
        for l in loops:
            l.join(timeout=run.IO_TIMEOUT * 3)
    dt = time.monotonic() - t0
    total = sum(l.count for l in loops)
    fails = [f for l in loops for f in l.failures]
    env.info.append("%d requests over new connections during %d reloads (generations %s..%s) "
        "in %.1f s; %d failed; %d distinct bodies seen"
        % (total, len(gens), gens[0] if gens else "-", gens[-1] if gens else "-", dt,
           len(fails), len(set().union(*(l.seen for l in loops)))))
    check(not fails, "%d failed request(s) of %d: %s" % (len(fails), total, "; ".join(fails[:5])))
    check_eq(len(gens), 50, "reloads done")
    check(len(set(gens)) == 50, "each reload is a new generation: %r" % gens)
    check(total >= 200, "too few requests (%d) to call it load" % total)
    for d in valid:
        still_served(env, d, norm(d, max(a for i, a in enumerate(ages[d])
            if (("a.example" if i % 4 < 2 else "b.example") == d))))


# ---------------------------------------------------------------- half-written files (issue 11)

def multi_mx_policy(domain, n, max_age=86400):
    """An enforce policy with n mx lines, max_age first: every prefix that
    ends at a line end after the first mx line is a valid policy too."""
    return ("version: STSv1\nmode: enforce\nmax_age: %d\n" % max_age +
        "".join("mx: mx%d.%s\n" % (i, domain) for i in range(1, n + 1)))


def multi_mx_norm(domain, n, max_age=86400):
    return ("version: STSv1\r\nmode: enforce\r\n" +
        "".join("mx: mx%d.%s\r\n" % (i, domain) for i in range(1, n + 1)) +
        "max_age: %d\r\n" % max_age).encode()


def slow_write(path, text, seconds):
    """Truncate path and write text in pieces (each line in two halves)
    over about seconds, keeping the file open; closes it at the end."""
    pieces = []
    for line in text.splitlines(True):
        pieces += [line[:len(line) // 2], line[len(line) // 2:]]
    with open(path, "w") as f:
        for piece in pieces:
            f.write(piece)
            f.flush()
            time.sleep(seconds / len(pieces))


def slow_writer_served_whole(env, extra, pickup):
    """While the policy is rewritten slowly with the file kept open, every
    body served is the whole old or the whole new policy."""
    sec, _ = env.domain("example.com", policy=multi_mx_policy("example.com", 1, 604800))
    srv = start(env, env.server_section(extra) + sec, [])
    old = multi_mx_norm("example.com", 1, 604800)
    new = multi_mx_norm("example.com", 6)
    wait_served(env, "example.com", old)
    tail = LogTail(srv.log_path).mark()
    loop = FetchLoop(env, "example.com", {old, new}, max_seconds=30)
    loop.start()
    try:
        time.sleep(0.3)
        t0 = time.monotonic()
        slow_write(env.path("policies/example.com.txt"),
            multi_mx_policy("example.com", 6), 3.2)
        env.info.append("written over %.1f s" % (time.monotonic() - t0))
        t1 = time.monotonic()
        wait_served(env, "example.com", new, pickup,
            "the whole new policy served after the writer closed it")
        env.info.append("new policy served %.2f s after close"
            % (time.monotonic() - t1))
        time.sleep(0.3)
    finally:
        loop.stop.set()
        loop.join(timeout=run.IO_TIMEOUT * 3)
    env.info.append("%d fetches, %d distinct bodies" % (loop.count, len(loop.seen)))
    check(not loop.failures, "%d fetch(es) got something else than the old or "
        "the new policy: %s" % (len(loop.failures), "; ".join(loop.failures[:3])))
    check(loop.count >= 20, "too few fetches (%d)" % loop.count)
    return tail


@test
def slow_writer_never_served_partially(env):
    """A policy rewritten in place over 3 s (file kept open): never served
    half-way; the new one once closed; one log line names the file."""
    tail = slow_writer_served_whole(env, "", PICKUP)
    text = tail.new_text()
    n = len(re.findall(r"example\.com\.txt.*still being written", text))
    check_eq(n, 1, "log lines saying policies/example.com.txt is still being written")


@test
def slow_writer_never_served_partially_polling(env):
    """The same with auto_reload = no and poll_interval = 1: applied only
    once size and mtime stayed the same across two checks."""
    slow_writer_served_whole(env, "auto_reload = no\npoll_interval = 1\n", 3.5)


def slow_certificate_write(env, discovered):
    """fullchain.pem rewritten in place slowly (leaf, a pause, then the
    intermediate; file kept open) while the new key is renamed into place
    meanwhile: every handshake verifies (never the leaf without its
    intermediate), and the new certificate is served once the file is closed."""
    sec, old_cert = env.domain("example.com", section=not discovered)
    start(env, env.server_section("cert_dir = certs\n" if discovered else "") + sec,
        ["example.com"])
    new_cert = env.pki.issue(["mta-sts.example.com"], "ec")
    chain = read(new_cert.chain_pem).decode()
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n",
        chain, re.S)
    check(len(blocks) >= 2, "the test PKI's chain has an intermediate")
    want = harness.serial_of_der(ssl.PEM_cert_to_DER_cert(blocks[0]))
    loop = FetchLoop(env, "example.com", {norm("example.com")}, max_seconds=30)
    loop.start()
    try:
        time.sleep(0.3)
        with open(env.path("certs/example.com/fullchain.pem"), "w") as f:
            f.write(blocks[0])
            f.flush()
            time.sleep(0.5)
            harness.atomic_write(env.path("certs/example.com/privkey.pem"),
                read(new_cert.key_pem))
            time.sleep(1.5)
            f.write("".join(blocks[1:]))
            f.flush()
            time.sleep(0.3)
        wait_for(lambda: harness.serial_of_der(
            harness.peer_der(env, "mta-sts.example.com")) == want, PICKUP,
            "the new certificate served once fullchain.pem was closed")
        time.sleep(0.3)
    finally:
        loop.stop.set()
        loop.join(timeout=run.IO_TIMEOUT * 3)
    env.info.append("%d fetches" % loop.count)
    check(not loop.failures, "%d fetch(es) failed: %s" % (len(loop.failures),
        "; ".join(loop.failures[:3])))
    check(loop.count >= 20, "too few fetches (%d)" % loop.count)


@test
def slow_certificate_write_in_place(env):
    """A [domain] section's certificate, rewritten as slow_certificate_write says."""
    slow_certificate_write(env, False)


@test
def slow_certificate_write_in_place_cert_dir(env):
    """The same with the pair found in cert_dir."""
    slow_certificate_write(env, True)


# ---------------------------------------------------------------- directories replaced (issue 11)

def replace_dir(env, rel, fill, how):
    """Replace directory rel: "rmtree" (rm -rf, then made again and filled)
    or "rename" (filled under a new name, then renamed over it)."""
    path = env.path(rel)
    if how == "rmtree":
        shutil.rmtree(path)
        time.sleep(0.5)
        os.makedirs(path)
        fill(path)
    else:
        tmp = path + ".new"
        os.makedirs(tmp)
        fill(tmp)
        os.rename(path, path + ".old")
        os.rename(tmp, path)
        shutil.rmtree(path + ".old")


@test
def policy_dir_removed_and_restored(env):
    """rm -rf policy_dir, then restored with another policy: served within a
    few seconds without a signal; then the same with a rename; then an edit
    in the restored directory is seen too."""
    sec, _ = env.domain("example.com")
    srv = start(env, env.server_section() + sec, ["example.com"])
    pid, st = srv.proc.pid, harness.proc_start_time(srv.proc.pid)
    for i, how in enumerate(("rmtree", "rename")):
        age = 86400 + i

        def fill(d, age=age):
            with open(os.path.join(d, "example.com.txt"), "w") as f:
                f.write(pol("example.com", age))
        replace_dir(env, "policies", fill, how)
        wait_served(env, "example.com", norm("example.com", age), 5,
            "policy_dir replaced (%s): the new policy served" % how)
    env.write("policies/example.com.txt", pol("example.com", 1209600))
    wait_served(env, "example.com", norm("example.com", 1209600), 5,
        "an edit in the replaced policy_dir served")
    same_process(srv, pid, st)


@test
def cert_dir_removed_and_restored(env):
    """rm -rf cert_dir, then restored with a new certificate: served within
    a few seconds without a signal; then the same with a rename."""
    env.domain("example.com", section=False)
    srv = start(env, env.server_section("cert_dir = certs\n"), ["example.com"])
    pid, st = srv.proc.pid, harness.proc_start_time(srv.proc.pid)
    for how in ("rmtree", "rename"):
        cert = env.pki.issue(["mta-sts.example.com"], "ec")

        def fill(d, cert=cert):
            os.makedirs(os.path.join(d, "example.com"))
            shutil.copy(cert.chain_pem, os.path.join(d, "example.com/fullchain.pem"))
            shutil.copy(cert.key_pem, os.path.join(d, "example.com/privkey.pem"))
        leaf = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n",
            read(cert.chain_pem).decode(), re.S).group(0)
        want = harness.serial_of_der(ssl.PEM_cert_to_DER_cert(leaf))
        replace_dir(env, "certs", fill, how)
        wait_for(lambda: harness.serial_of_der(
            harness.peer_der(env, "mta-sts.example.com")) == want, 5,
            "cert_dir replaced (%s): the new certificate served" % how)
    same_process(srv, pid, st)


# ---------------------------------------------------------------- file name case (issue 11)

@test
def upper_case_policy_file_name(env):
    """policies/UPPER.example.txt is the policy of upper.example."""
    sec, cert = env.domain("upper.example")
    os.rename(env.path("policies/upper.example.txt"), env.path("policies/UPPER.example.txt"))
    srv = start(env, env.server_section() + sec, [])
    wait_served(env, "upper.example", what="UPPER.example.txt served for mta-sts.upper.example")
    run.served_ok(env, "upper.example", cert, norm("upper.example"))
    # a change to it is seen (the incremental build opens the real name too)
    env.write("policies/UPPER.example.txt", pol("upper.example", 86400))
    wait_served(env, "upper.example", norm("upper.example", 86400), PICKUP,
        "UPPER.example.txt changed: served")
    check(srv.proc.poll() is None, "server exited")


@test
def policy_names_differing_by_case(env):
    """dup.example.txt and Dup.Example.txt: an error naming both; -t fails;
    a running server keeps dup.example's previous version and serves the
    others."""
    so, co = env.domain("other.example", section=False)
    sd, cd = env.domain("dup.example", section=False)
    conf = env.server_section("cert_dir = certs\n")
    srv = start(env, conf, ["other.example", "dup.example"])
    tail = LogTail(srv.log_path).mark()
    env.write("policies/Dup.Example.txt", pol("dup.example", 86400))
    tail.wait(r"(dup\.example\.txt.*Dup\.Example\.txt|Dup\.Example\.txt.*dup\.example\.txt)",
        PICKUP + 1, "an error naming both files")
    still_served(env, "dup.example", norm("dup.example"), cd)
    env.write("policies/other.example.txt", pol("other.example", 86400))
    wait_served(env, "other.example", norm("other.example", 86400), PICKUP,
        "other.example still reloaded")
    rc, _, err = env.config_test(conf, "check.conf")
    check(rc == 1, "-t exit status %d, want 1" % rc)
    check(re.search(r"dup\.example\.txt", err) and re.search(r"Dup\.Example\.txt", err),
        "-t names both files: %r" % err[-400:])
    # one removed: the other applies
    os.unlink(env.path("policies/dup.example.txt"))
    wait_served(env, "dup.example", norm("dup.example", 86400), PICKUP,
        "with one of the two removed, the other is served")


# ---------------------------------------------------------------- memory

def reload_loop(env, n, warm):
    """n reloads (each changes a policy, then SIGHUP; auto_reload off so each
    SIGHUP is exactly one new generation); returns (warm RSS, end RSS) in KiB."""
    sec, cert = env.domain("example.com")
    sb, _ = env.domain("b.example")
    srv = start(env, env.server_section("auto_reload = no\n") + sec + sb,
        ["example.com", "b.example"])
    tail = LogTail(srv.log_path).mark()
    pid = srv.proc.pid
    rss_warm = None
    t0 = time.monotonic()
    path = env.path("policies/example.com.txt")
    for i in range(n):
        if i == warm:
            rss_warm = harness.vm_rss_kib(pid)
        # alternate sizes so every write is a real change
        with open(path, "w") as f:
            f.write(pol("example.com", 86400 if i % 2 else 1209600))
        harness.sighup(srv)
        tail.wait(r"reload \(SIGHUP\): generation %d:" % (i + 2), 10,
            "reload %d of %d" % (i + 1, n))
        if i % 100 == 99:   # and it still serves
            still_served(env, "example.com",
                norm("example.com", 86400 if i % 2 else 1209600), cert)
    time.sleep(0.5)
    rss_end = harness.vm_rss_kib(pid)
    env.info.append("%d reloads in %.1f s; VmRSS after %d warm-up reloads %d KiB, after all "
        "%d: %d KiB (%+d KiB)" % (n, time.monotonic() - t0, warm, rss_warm, n, rss_end,
        rss_end - rss_warm))
    return srv, rss_warm, rss_end


def stop_clean(env, srv):
    """SIGTERM; exit 0; no sanitizer report."""
    srv.proc.send_signal(signal.SIGTERM)
    rc = srv.wait_exit(30)
    check(rc is not None, "no exit within 30 s of SIGTERM")
    check_eq(rc, 0, "exit status after SIGTERM")
    m = runner.SANITIZER_ANY_RE.search(srv.log())
    check(m is None, "sanitizer report: %s" % (m.group(0).strip() if m else ""))


@test
def reload_loop_rss(env):
    """1,000 reloads (200 under ASan, where RSS is not compared: its
    quarantine holds freed memory): VmRSS returns to within 2 MiB of its
    level after 50 warm-up reloads; clean exit."""
    asan = runner.is_asan_binary(run.BINARY)
    srv, warm, end = reload_loop(env, 200 if asan else 1000, 50)
    if not asan:
        check(end - warm <= 2048, "VmRSS grew by %d KiB over the reloads (limit 2048)"
            % (end - warm))
    stop_clean(env, srv)


@test
def asan_reload_loop(env):
    """The reload loop and the reloads under load on build-asan/mta-stsd (make
    asan): any AddressSanitizer/LeakSanitizer/UBSan report after a clean
    SIGTERM fails."""
    asan_bin = os.path.join(harness.REPO, "build-asan", "mta-stsd")
    if runner.is_asan_binary(run.BINARY):
        raise Skip("--binary is already an ASan build: the other tests ran on it")
    if not os.access(asan_bin, os.X_OK):
        raise Skip("no %s (make asan builds it)" % asan_bin)
    newest_src = max(os.path.getmtime(os.path.join(harness.REPO, "server", f))
        for f in os.listdir(os.path.join(harness.REPO, "server")))
    if os.path.getmtime(asan_bin) < newest_src:
        env.info.append("note: build-asan/mta-stsd is older than server/ sources "
            "(run make asan)")
    saved = run.BINARY
    run.BINARY = asan_bin
    try:
        srv, warm, end = reload_loop(env, 200, 20)
        stop_clean(env, srv)
        # the reloads under load, in a subdirectory, on a new port
        top = env.dir
        env.dir = os.path.join(top, "load")
        env.port = run.free_port()
        try:
            os.makedirs(env.dir)
            fifty_reloads_under_load(env)
            stop_clean(env, env.servers[-1])
        finally:
            env.dir = top
    finally:
        run.BINARY = saved


if __name__ == "__main__":
    sys.exit(harness.main(TESTS, __doc__.split("\n")[0]))
