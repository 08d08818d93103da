#!/usr/bin/env python3
"""The certificate manager without a CA (issue 13): storage, restart, choice.

    python3 tests/integration/acmed_test.py [--binary build/mta-stsd] [-k SUBSTRING] [-v]

Every test points [acme] directory at a closed port of 127.0.0.1, so any
attempt to reach the CA fails at once and is visible ("ordering" and "order
failed" in the log, mta_stsd_acme_orders_total in /metrics). Certificates in
the storage are laid out as the manager writes them
(<storage>/certificates/mta-sts.<domain>/fullchain.pem + privkey.pem), issued
by the suite's PKI. The end-to-end tests against a real CA (Pebble) are
tests/integration/acme_test.py.

Output: "PASS name" / "FAIL name: reason" (with the server log) /
"SKIP name: why", then the line "N passed, N failed"; exit 1 on a failure.
"""

import datetime
import json
import os
import re
import shutil
import socket
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import run  # noqa: E402
from harness import Fail, check, check_eq, wait_for  # noqa: E402

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def closed_port():
    """A port of 127.0.0.1 nothing listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def conf(env, acme_extra="", server_extra="", cert_dir=False):
    env.aport = run.free_port()
    return (env.server_section("admin_listen = 127.0.0.1:%d\nmetrics_per_domain = yes\n%s%s"
        % (env.aport, "cert_dir = certs\n" if cert_dir else "", server_extra)) +
        "[acme]\ndirectory = https://127.0.0.1:%d/directory\nagree_terms = yes\n%s"
        % (closed_port(), acme_extra))


def store(env, domain, cert):
    """Lay cert out in the storage as the manager does."""
    return env.install_cert(cert, "acme/certificates/mta-sts." + domain)


def metric(env, name, labels=None):
    st, _, body = harness.admin_get(env.aport, "/metrics")
    check_eq(st, 200, "GET /metrics")
    for line in body.decode(errors="replace").splitlines():
        m = re.match(r"^%s(\{[^}]*\})? (\S+)$" % re.escape(name), line)
        if m and all('%s="%s"' % kv in (m.group(1) or "") for kv in (labels or {}).items()):
            return float(m.group(2))
    return None


def orders(env):
    return sum(metric(env, "mta_stsd_acme_orders_total", {"result": r}) or 0
        for r in ("ok", "failed", "rate_limited", "server_error", "invalid"))


@test
def restart_serves_stored_certificates_and_orders_nothing(env):
    """A restart with valid certificates in the storage: they are served at
    once (discovered like cert_dir) and the manager, which has looked at both
    domains (mta_stsd_acme_domains{state="valid"} 2), places no order: it
    never even connects (no "ordering" line, no order counted)."""
    a = env.pki.issue(["mta-sts.a.test"])
    b = env.pki.issue(["mta-sts.b.test"])
    for d, c in (("a.test", a), ("b.test", b)):
        env.write("policies/%s.txt" % d, run.simple_policy(d))
        store(env, d, c)
    srv = env.start(conf(env))
    run.served_ok(env, "a.test", a)
    run.served_ok(env, "b.test", b)
    wait_for(lambda: metric(env, "mta_stsd_acme_domains", {"state": "valid"}) == 2, 10,
        "the manager counts both domains valid")
    time.sleep(1.5)
    log = srv.log()
    check("acme: certificate manager started" in log, "the manager did not start")
    check("ordering" not in log, "an order was begun: %s" % "".join(
        l for l in log.splitlines(True) if "ordering" in l))
    check_eq(orders(env), 0, "ACME orders counted")
    check_eq(metric(env, "mta_stsd_certificate_not_after_seconds",
        {"domain": "a.test", "source": "acme"}) is not None, True,
        "a.test's expiry with source acme in /metrics")
    nr = metric(env, "mta_stsd_certificate_next_renewal_seconds", {"domain": "a.test"})
    check(nr is not None and time.time() + 50 * 86400 < nr < time.time() + 60 * 86400,
        "a.test's next renewal (90-day certificate: 51..60 days ahead): %r" % nr)


@test
def domain_without_certificate_is_ordered_and_backs_off(env):
    """A domain with a policy but no certificate yet loads (a warning, the
    server starts) and is ordered at once; the CA being unreachable, the
    order fails, is counted, written to its state file (0600, in a 0700
    storage) and retried after a back-off; `mta-stsd certs` shows it."""
    env.write("policies/n.test.txt", run.simple_policy("n.test"))
    srv = env.start(conf(env), ready=False)
    tail = harness.LogTail(srv.log_path)
    m = tail.wait(r"acme: mta-sts\.n\.test: order failed: (.*); retrying in (\d+) s", 20,
        "the failed order")
    check(40 <= int(m.group(2)) <= 80, "first retry of an unreachable CA: %s s" % m.group(2))
    check("acme: mta-sts.n.test: ordering first issuance" in srv.log(), "no ordering line")
    wait_for(lambda: metric(env, "mta_stsd_acme_orders_total", {"result": "failed"}) == 1,
        5, "the failed order counted")
    check_eq(metric(env, "mta_stsd_acme_domains", {"state": "failing"}), 1.0,
        "domains failing")
    state = env.path("acme/state/mta-sts.n.test.json")
    with open(state) as f:
        st = json.load(f)
    check_eq(st["failures"], 1, "failures in the state file")
    check(st["retry_at"] > time.time() + 30, "retry_at in the state file: %r" % st)
    check_eq(stat.S_IMODE(os.stat(state).st_mode), 0o600, "state file mode")
    check_eq(stat.S_IMODE(os.stat(env.path("acme")).st_mode), 0o700, "storage mode")
    r = run.run([run.BINARY, "certs", "-c", env.path("mta-stsd.conf"), "--json"])
    rows = json.loads(r.stdout.decode())
    check_eq([(x["domain"], x["source"], x["failures"]) for x in rows],
        [("n.test", "none", 1)], "mta-stsd certs --json")
    check(rows[0]["last_error"], "certs shows no last error")
    check_eq(r.returncode, 1, "certs' exit status with a domain lacking a certificate")


@test
def orders_paced_by_the_budget(env):
    """orders_per_hour = 1: of three new domains one is ordered, the two
    others wait for the budget: the progress line says so, /metrics counts
    them pending, and no second order starts."""
    for d in ("a.test", "b.test", "c.test"):
        env.write("policies/%s.txt" % d, run.simple_policy(d))
    srv = env.start(conf(env, "orders_per_hour = 1\n"), ready=False)
    tail = harness.LogTail(srv.log_path)
    tail.wait(r"acme: 0 of 3 domains have certificates; 2 waiting for the order budget",
        20, "the progress line")
    wait_for(lambda: metric(env, "mta_stsd_acme_domains", {"state": "pending"}) == 2, 5,
        "two domains pending")
    time.sleep(1)
    check_eq(len(re.findall(r"acme: mta-sts\.\w\.test: ordering", srv.log())), 1,
        "orders begun")


@test
def stop_does_not_wait_for_a_silent_ca(env):
    """A CA that accepts connections and never answers: an order is under
    way when SIGTERM comes; the server still exits 0 within shutdown_timeout
    (1 s) and a little."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    env.cleanups.append(lsock.close)
    env.write("policies/a.test.txt", run.simple_policy("a.test"))
    text = conf(env, server_extra="shutdown_timeout = 1\n").replace(
        "https://127.0.0.1:", "https://127.0.0.1:%d/x?" % lsock.getsockname()[1], 1)
    srv = env.start(text, ready=False)
    harness.LogTail(srv.log_path).wait(r"acme: mta-sts\.a\.test: ordering first issuance",
        20, "the order begun")
    time.sleep(0.5)
    rc, took = harness.sigterm_timed(srv, 10)
    env.info.append("exit %r after %.1f s" % (rc, took))
    check_eq(rc, 0, "exit status")
    check(took < 4, "the stop took %.1f s (shutdown_timeout 1 s)" % took)


@test
def hand_managed_certificate_wins_unless_expired(env):
    """cert_dir and the storage both hold a certificate for mta-sts.a.test:
    the hand-managed one is served while valid, the ACME one once it has
    expired; `mta-stsd certs` names the source."""
    env.write("policies/a.test.txt", run.simple_policy("a.test"))
    now = datetime.datetime.now(datetime.timezone.utc)
    hand = env.pki.issue(["mta-sts.a.test"], not_after=now + datetime.timedelta(days=60))
    auto = env.pki.issue(["mta-sts.a.test"])    # expires later
    env.install_cert(hand, "certs/mta-sts.a.test")
    store(env, "a.test", auto)
    srv = env.start(conf(env, cert_dir=True))
    run.served_ok(env, "a.test", hand)
    r = run.run([run.BINARY, "certs", "-c", env.path("mta-stsd.conf")])
    check(r.stdout.decode().startswith("a.test: file, "), "certs: %r" % r.stdout)
    check_eq(metric(env, "mta_stsd_acme_domains", {"state": "hand_managed"}), 1.0,
        "hand-managed domains")
    old = env.pki.issue(["mta-sts.a.test"], not_before=now - datetime.timedelta(days=90),
        not_after=now - datetime.timedelta(days=1))
    env.install_cert(old, "certs/mta-sts.a.test")
    harness.sighup(srv)

    def serves_auto():
        try:
            run.served_ok(env, "a.test", auto)
            return True
        except Fail:
            return False
    wait_for(serves_auto, 5, "the ACME certificate served once the hand-managed one expired")
    check("ordering" not in srv.log(), "an order was begun")


@test
def new_certificate_in_storage_is_picked_up(env):
    """A certificate another instance stores (shared storage) for a domain
    that had none is served without a signal: the storage is watched like
    cert_dir."""
    env.write("policies/a.test.txt", run.simple_policy("a.test"))
    env.write("policies/b.test.txt", run.simple_policy("b.test"))
    a = env.pki.issue(["mta-sts.a.test"])
    store(env, "a.test", a)
    env.start(conf(env))
    run.served_ok(env, "a.test", a)
    b = env.pki.issue(["mta-sts.b.test"])
    tmp = env.path("acme/certificates/.mta-sts.b.test.tmp")
    os.makedirs(tmp)
    shutil.copy(b.chain_pem, tmp + "/fullchain.pem")
    shutil.copy(b.key_pem, tmp + "/privkey.pem")
    os.rename(tmp, env.path("acme/certificates/mta-sts.b.test"))

    def serves_b():
        try:
            run.served_ok(env, "b.test", b)
            return True
        except (Fail, OSError, run.ssl.SSLError):
            return False
    wait_for(serves_b, 5, "b.test served with the certificate stored for it")


@test
def config_test_checks_acme(env):
    """-t reports what is wrong in [acme]: EAB half set, http-01 without
    http_listen, a ca_file that is no certificate; never the HMAC key."""
    env.write("policies/a.test.txt", run.simple_policy("a.test"))
    store(env, "a.test", env.pki.issue(["mta-sts.a.test"]))
    env.write("notacert.pem", "hello\n")
    rc, _, err = env.config_test(conf(env, "eab_hmac_key = c2VjcmV0LWtleS1ieXRlcw\n"
        "challenge = http-01\nca_file = notacert.pem\n"))
    check_eq(rc, 1, "-t exit status")
    for want in ("eab_kid and eab_hmac_key go together", "challenge = http-01 needs http_listen",
            "ca_file %s holds no PEM certificate" % env.path("notacert.pem")):
        check(want in err, "-t does not say %r:\n%s" % (want, err))
    check("c2VjcmV0" not in err, "-t printed the HMAC key")
    rc, _, err = env.config_test(conf(env))
    check_eq(rc, 0, "-t exit status of a good [acme]: %s" % err)


if __name__ == "__main__":
    sys.exit(harness.main(TESTS, __doc__.split("\n")[0]))
