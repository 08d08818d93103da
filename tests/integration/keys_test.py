#!/usr/bin/env python3
"""The configuration keys on reload, and the README against the key table (issue 12).

    python3 tests/integration/keys_test.py [--binary build/mta-stsd] [-k SUBSTRING] [-v]

The key table comes from the binary itself: `mta-stsd --keys` prints one line
per key (section, key, type, default, and what a change needs: live, rebuild
or restart). For every [server] key a test starts the server, changes that one
key in the file, sends SIGHUP (the base configuration has auto_reload = no, so
that is the only reload) and checks what happened:

- live and rebuild keys: the effect, observed from outside where it can be
  (log_format's JSON lines, error_log's and access_log's files, log_level's
  debug lines, the three timeouts closing connections, max_requests_per_connection's
  Connection: close, max_connections above libmicrohttpd's start-time limit,
  metrics_per_domain's series, policy_dir, cert_dir, default_domain, the
  polling and watching), and no "restart" line for the key;
- restart keys: exactly one log line naming the key, its value as running,
  the new one and "restart mta-stsd to apply" (a second SIGHUP repeats none).

A key --keys lists that has no case here fails `every_server_key_has_a_case`.
[defaults] and [domain] keys are rebuilt into each snapshot (reload_test.py
changes them every way); here `defaults_and_domain_keys_rebuild` changes a
domain's policy and certificate and the [defaults] pair.

`readme_matches_key_table` fails when the README's configuration reference
and the table disagree: a key in one and not the other, another default, or a
"restart to change" note on a key that is not restart-only (or missing on one
that is). The manual page and mta-stsd.conf.example must name every key too.
"""

import os
import re
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import run  # noqa: E402
from harness import Fail, check, check_eq, wait_for, LogTail  # noqa: E402

REPO = harness.REPO
RELOAD_TIMEOUT = 10.0   # SIGHUP to the reload's log line
EFFECT_TIMEOUT = 5.0    # the reload's line to an observed effect
RESTART_NOTE = "restart mta-stsd to apply"

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def key_table():
    """`mta-stsd --keys` as a list of dicts."""
    r = run.run([run.BINARY, "--keys"])
    check_eq(r.returncode, 0, "mta-stsd --keys exit status")
    rows = []
    for line in r.stdout.decode().splitlines():
        f = line.split("\t")
        check(len(f) == 5, "--keys line is not 5 tab-separated fields: %r" % line)
        rows.append(dict(section=f[0], name=f[1], type=f[2],
            default=None if f[3] == "-" else f[3], apply=f[4]))
    check(len(rows) > 20, "--keys printed only %d keys" % len(rows))
    return rows


# ---------------------------------------------------------------- observations

def tls_request(s, host, path=run.WELL_KNOWN):
    """One GET on an open TLS socket; returns the response head (bytes)."""
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode())
    head, got, _ = harness.read_http_message(s)
    if head is None:
        raise Fail("connection closed before a response (got %r)" % got[:200])
    return head


def closed_within(sock, limit, what):
    """Wait (at most limit + 3 s) for the server to close sock; Fail if it
    takes longer than limit."""
    sock.settimeout(limit + 3)
    t0 = time.monotonic()
    try:
        while sock.recv(4096):
            pass
    except socket.timeout:
        raise Fail("%s: still open after %.1f s" % (what, limit + 3))
    except (ssl.SSLError, ConnectionError):
        pass
    took = time.monotonic() - t0
    check(took < limit, "%s: closed only after %.1f s" % (what, took))
    return took


def see_handshake_timeout(env, srv, tail):
    with socket.create_connection(("127.0.0.1", env.port), timeout=8) as s:
        took = closed_within(s, 5.0, "silent client with handshake_timeout = 1")
    env.info.append("silent client closed after %.1f s" % took)


def see_request_timeout(env, srv, tail):
    s = run.tls_connect(env.port, "mta-sts.example.com", run.client_ctx(env.pki))
    try:
        s.sendall(b"GET /.well-known/mta-sts.txt HTTP/1.1\r\n")
        took = closed_within(s, 5.0, "half a request with request_timeout = 1")
    finally:
        s.close()
    env.info.append("half a request closed after %.1f s" % took)


def see_idle_timeout(env, srv, tail):
    s = run.tls_connect(env.port, "mta-sts.example.com", run.client_ctx(env.pki))
    try:
        tls_request(s, "mta-sts.example.com")
        took = closed_within(s, 5.0, "idle keep-alive connection with idle_timeout = 1")
    finally:
        s.close()
    env.info.append("idle connection closed after %.1f s" % took)


def see_shutdown_timeout(env, srv, tail):
    """A client pipelines requests and reads no answer, so one is always in
    flight: SIGTERM gives it shutdown_timeout (now 1 s, 5 before)."""
    with run.pipelined_flood(env.port, "mta-sts.example.com", run.client_ctx(env.pki)):
        time.sleep(1.5)
        rc, took = harness.sigterm_timed(srv, 12.0)
    env.info.append("SIGTERM with a request in flight: exit %r after %.2f s" % (rc, took))
    check(rc == 0, "exit status %r on SIGTERM" % rc)
    check(took < 3.5, "SIGTERM with a request in flight took %.1f s with shutdown_timeout "
        "= 1 (5 before the reload)" % took)


def hold_connections(env, n):
    """n keep-alive connections, each answered once, then once more: all must
    be served (returns the sockets closed)."""
    socks = []
    try:
        for i in range(n):
            s = run.tls_connect(env.port, "mta-sts.example.com", run.client_ctx(env.pki))
            socks.append(s)
            head = tls_request(s, "mta-sts.example.com")
            check(head.startswith(b"HTTP/1.1 200"), "connection %d: %r" % (i + 1, head[:40]))
        for i, s in enumerate(socks):
            try:
                head = tls_request(s, "mta-sts.example.com")
            except (OSError, ssl.SSLError) as e:
                raise Fail("connection %d of %d was not answered a second time: %r"
                    % (i + 1, n, e))
            check(head.startswith(b"HTTP/1.1 200"), "connection %d, second request: %r"
                % (i + 1, head[:40]))
    finally:
        for s in socks:
            s.close()


def see_five_connections(env, srv, tail):
    hold_connections(env, 5)


def see_debug_lines(env, srv, tail):
    def debug_line():
        with socket.create_connection(("127.0.0.1", env.port), timeout=2):
            pass
        return re.search(r"(?m)^\S+ mta-stsd debug: ", tail.new_text())
    wait_for(debug_line, EFFECT_TIMEOUT, "a debug line after log_level = debug")


def see_access_file(env, srv, tail):
    path = env.path("access.log")

    def logged():
        run.served_ok(env, "example.com")
        with open(path) as f:
            return "mta-sts.example.com" in f.read()
    wait_for(logged, EFFECT_TIMEOUT, "requests written to access_log = access.log")


def see_json_lines(env, srv, tail):
    def json_line():
        harness.sighup(srv)
        time.sleep(0.2)
        return re.search(r'(?m)^\{"ts":"[^"]+","level":"info","msg":"reload \(SIGHUP\)',
            tail.new_text())
    wait_for(json_line, EFFECT_TIMEOUT, "a JSON log line after log_format = json",
        interval=0.3)


def see_error_file(env, srv, tail):
    path = env.path("error.log")

    def written():
        harness.sighup(srv)
        time.sleep(0.2)
        with open(path) as f:
            return "reload (SIGHUP)" in f.read()
    wait_for(written, EFFECT_TIMEOUT, "log lines in error_log = error.log", interval=0.3)


def see_last_request_closes(env, srv, tail):
    def closes_after_two():
        s = run.tls_connect(env.port, "mta-sts.example.com", run.client_ctx(env.pki))
        try:
            first = tls_request(s, "mta-sts.example.com")
            second = tls_request(s, "mta-sts.example.com")
        finally:
            s.close()
        check(b"connection: close" not in first.lower(), "the first answer closes")
        return b"connection: close" in second.lower()
    wait_for(closes_after_two, EFFECT_TIMEOUT,
        "the second answer says Connection: close (max_requests_per_connection = 2)")


def see_domain_series(env, srv, tail):
    def series():
        st, _, body = harness.admin_get(env.admin_port, "/metrics")
        return st == 200 and b'mta_stsd_domain_policy_info{domain="example.com"' in body
    wait_for(series, EFFECT_TIMEOUT, "per-domain series in /metrics")


def see_auto_reload(env, srv, tail):
    env.write("policies/example.com.txt", run.simple_policy("example.com", max_age=86400))
    wait_for(lambda: harness.body_is(env, "example.com",
        run.normalised("example.com", max_age=86400)), EFFECT_TIMEOUT,
        "a policy change served without SIGHUP")


def see_new_policy_dir(env, srv, tail):
    wait_for(lambda: harness.body_is(env, "example.com",
        run.normalised("example.com", max_age=86400)), EFFECT_TIMEOUT,
        "the policy from the new policy_dir")


def see_cert_dir(env, srv, tail):
    want = env.found_cert.der
    wait_for(lambda: harness.peer_der(env, "mta-sts.example.com") == want,
        EFFECT_TIMEOUT, "the certificate found in the new cert_dir")


def see_default_domain(env, srv, tail):
    def no_sni_served():
        s = run.tls_connect(env.port, None, run.client_ctx(env.pki, verify=False))
        s.close()
        return True
    wait_for(no_sni_served, EFFECT_TIMEOUT, "a client without SNI served")


# ---------------------------------------------------------------- the cases

class Case:
    """How to change one key and what must follow. value: the new value (a
    string, or a function of env); base: settings of the configuration it
    starts from; prepare(env): files it needs; see(env, srv, tail): the
    effect of a live or rebuild key (None: a restart key)."""

    def __init__(self, value, see=None, base=None, prepare=None, domain_cert=True):
        self.value, self.see, self.base = value, see, base or {}
        self.prepare, self.domain_cert = prepare, domain_cert


def new_port(env):
    return "127.0.0.1:%d" % run.free_port()


def prepare_policies2(env):
    env.write("policies2/example.com.txt", run.simple_policy("example.com", max_age=86400))


def prepare_cert_dir(env):
    env.install_cert(env.pki.issue(["mta-sts.example.com"], "ec"), "live1/example.com")
    env.found_cert = env.pki.issue(["mta-sts.example.com"], "ec")
    env.install_cert(env.found_cert, "live2/example.com")


def prepare_admin(env):
    env.admin_port = run.free_port()


ROOT = os.geteuid() == 0

CASES = {
    # restart keys
    "listen": Case(new_port),
    "user": Case("nobody"),
    "group": Case("nogroup"),
    "allow_root": Case("no" if ROOT else "yes"),
    "workers": Case("2"),
    "admin_listen": Case(new_port),
    "max_header_size": Case("4096"),
    # live keys
    "handshake_timeout": Case("1", see_handshake_timeout),
    "request_timeout": Case("1", see_request_timeout),
    "idle_timeout": Case("1", see_idle_timeout),
    "shutdown_timeout": Case("1", see_shutdown_timeout,
        base={"max_requests_per_connection": "1000000"}),
    "max_connections": Case("6", see_five_connections, base={"max_connections": "2"}),
    "max_connections_per_ip": Case("6", see_five_connections,
        base={"max_connections_per_ip": "2"}),
    "log_level": Case("debug", see_debug_lines),
    "access_log": Case("access.log", see_access_file),
    "log_format": Case("json", see_json_lines),
    "error_log": Case("error.log", see_error_file),
    "max_requests_per_connection": Case("2", see_last_request_closes),
    "metrics_per_domain": Case("yes", see_domain_series, prepare=prepare_admin,
        base={"admin_listen": lambda env: "127.0.0.1:%d" % env.admin_port}),
    "auto_reload": Case("yes", see_auto_reload),
    "poll_interval": Case("1", see_auto_reload),
    # rebuild keys
    "policy_dir": Case("policies2", see_new_policy_dir, prepare=prepare_policies2),
    "cert_dir": Case("live2", see_cert_dir, prepare=prepare_cert_dir, domain_cert=False,
        base={"cert_dir": "live1"}),
    "default_domain": Case("example.com", see_default_domain),
}


def conf_text(env, settings, case):
    done = {k: (v(env) if callable(v) else v) for k, v in settings.items()}
    sec, _ = env.domain_sec
    return harness.server_section(env, **done) + sec + getattr(env, "more", "")


def change_one_key(env, key):
    """Start, change key alone, SIGHUP; check the effect or the restart note."""
    case = CASES[key]
    row = env.keys[key]
    if case.prepare:
        case.prepare(env)
    env.domain_sec = env.domain("example.com", section=case.domain_cert)
    base = dict({"auto_reload": "no"}, **case.base)
    srv = env.start(conf_text(env, base, case))
    wait_for(lambda: harness.body_is(env, "example.com", run.normalised("example.com")),
        10, "example.com served")
    tail = LogTail(srv.log_path).mark()
    value = case.value(env) if callable(case.value) else case.value
    harness.atomic_write(env.path("mta-stsd.conf"),
        conf_text(env, dict(base, **{key: value}), case))
    harness.sighup(srv)
    tail.wait(r"reload \(SIGHUP\): generation", RELOAD_TIMEOUT, "the reload after SIGHUP")
    note = re.compile(r"(?m)^.*\b%s\b.*%s.*$" % (re.escape(key), re.escape(RESTART_NOTE)))
    seen = tail_all(srv)
    if row["apply"] == "restart":
        lines = note.findall(seen)
        check(len(lines) == 1, "%s changed: expected one line naming it with %r, got %r"
            % (key, RESTART_NOTE, lines))
        check(value in lines[0], "the restart line does not give the new value %r: %s"
            % (value, lines[0]))
        env.info.append(lines[0].strip()[:200])
        # a second reload of the same file says nothing more about it
        mark = LogTail(srv.log_path).mark()
        harness.sighup(srv)
        mark.wait(r"reload \(SIGHUP\)", RELOAD_TIMEOUT, "the second reload")
        check(len(note.findall(tail_all(srv))) == 1,
            "%s: the restart line was repeated by a reload that changed nothing" % key)
    else:
        check(case.see is not None, "%s is %s but its case observes nothing"
            % (key, row["apply"]))
        check(srv.proc.poll() is None, "the server exited")
        case.see(env, srv, tail)
        check(not note.search(tail_all(srv)), "%s is %s, yet a reload says: %s"
            % (key, row["apply"], (note.search(tail_all(srv)) or [""])[0]))
        return
    check(srv.proc.poll() is None, "the server exited")


def tail_all(srv):
    """Everything the server logged to stderr so far."""
    return srv.log()


@test
def every_server_key_has_a_case(env):
    keys = [r["name"] for r in key_table() if r["section"] == "server"]
    missing = [k for k in keys if k not in CASES]
    check(not missing, "keys without a case in keys_test.py: %s" % ", ".join(missing))
    stale = [k for k in CASES if k not in keys]
    check(not stale, "cases for keys mta-stsd does not have: %s" % ", ".join(stale))
    # a key read by name (config_number: [server] and [acme]) must be one
    numbered = keys + [r["name"] for r in key_table() if r["section"] == "acme"]
    src = os.path.join(REPO, "server")
    for name in sorted(os.listdir(src)):
        if name.endswith(".c"):
            with open(os.path.join(src, name)) as f:
                for k in re.findall(r'config_number\([^,]+,\s*"([^"]+)"\)', f.read()):
                    check(k in numbered, "server/%s reads config_number(\"%s\"), no such key"
                        % (name, k))


def make_key_test(key):
    def fn(env):
        env.keys = {r["name"]: r for r in key_table() if r["section"] == "server"}
        if key not in env.keys:
            raise Fail("%s is not in mta-stsd --keys" % key)
        change_one_key(env, key)
    fn.__name__ = "key_" + key
    return fn


for _key in CASES:
    TESTS.append(make_key_test(_key))


@test
def defaults_and_domain_keys_rebuild(env):
    """policy, cert/key of a [domain] and of [defaults]: a reload serves them."""
    rows = key_table()
    for sec in ("defaults", "domain"):
        for r in rows:
            if r["section"] == sec:
                check_eq(r["apply"], "rebuild", "[%s] %s apply" % (sec, r["name"]))
    c1 = env.pki.issue(["mta-sts.example.com"], "ec")
    c2 = env.pki.issue(["mta-sts.example.com"], "ec")
    d1 = env.pki.issue(["mta-sts.example.net"], "ec")
    d2 = env.pki.issue(["mta-sts.example.net"], "ec")
    a1, k1 = env.install_cert(c1, "certs/a1")
    a2, k2 = env.install_cert(c2, "certs/a2")
    b1, l1 = env.install_cert(d1, "certs/b1")
    b2, l2 = env.install_cert(d2, "certs/b2")
    env.write("policies/example.com.txt", run.simple_policy("example.com"))
    env.write("other.txt", run.simple_policy("example.com", max_age=86400))
    env.write("policies/example.net.txt", run.simple_policy("example.net"))
    base = harness.server_section(env, auto_reload="no")
    conf = base + ("[defaults]\ncert = %s\nkey = %s\n[example.com]\ncert = %s\nkey = %s\n"
        % (b1, l1, a1, k1))
    srv = env.start(conf)
    wait_for(lambda: harness.peer_der(env, "mta-sts.example.net") == d1.der, 10,
        "example.net with the [defaults] pair")
    harness.atomic_write(env.path("mta-stsd.conf"), base + (
        "[defaults]\ncert = %s\nkey = %s\n[example.com]\ncert = %s\nkey = %s\n"
        "policy = other.txt\n" % (b2, l2, a2, k2)))
    harness.sighup(srv)
    wait_for(lambda: harness.peer_der(env, "mta-sts.example.com") == c2.der,
        EFFECT_TIMEOUT, "example.com's new cert/key")
    wait_for(lambda: harness.peer_der(env, "mta-sts.example.net") == d2.der,
        EFFECT_TIMEOUT, "[defaults]' new cert/key")
    wait_for(lambda: harness.body_is(env, "example.com",
        run.normalised("example.com", max_age=86400)), EFFECT_TIMEOUT,
        "example.com's new policy file")


# ---------------------------------------------------------------- documentation

def readme_tables():
    """{section: {key: (default cell, meaning cell)}} from the README's
    configuration reference."""
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    m = re.search(r"(?ms)^## Configuration reference\n(.*?)^## ", text)
    check(m is not None, "README.md has no '## Configuration reference' section")
    out, sec = {}, None
    for line in m.group(1).splitlines():
        h = re.match(r"^### `\[([^\]]+)\]`", line)
        if h:
            sec = {"server": "server", "defaults": "defaults", "acme": "acme"}.get(
                h.group(1), "domain")
            out.setdefault(sec, {})
            continue
        if sec is None or not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        for key in re.findall(r"`([a-z0-9_]+)`", cells[0]):
            if sec in ("server", "acme"):
                check(len(cells) == 3, "README [%s] row is not key | default | meaning: "
                    % sec + line)
                out[sec][key] = (cells[1], cells[2])
            else:
                out[sec][key] = (None, cells[-1])
    return out


@test
def readme_matches_key_table(env):
    rows = key_table()
    doc = readme_tables()
    problems = []
    for sec in ("server", "defaults", "domain", "acme"):
        table = {r["name"]: r for r in rows if r["section"] == sec}
        documented = doc.get(sec, {})
        for k in table:
            if k not in documented:
                problems.append("[%s] %s is a key but not in the README" % (sec, k))
        for k in documented:
            if k not in table:
                problems.append("[%s] %s is in the README but not a key" % (sec, k))
        if sec not in ("server", "acme"):
            continue
        for k, r in table.items():
            if k not in documented:
                continue
            cell, meaning = documented[k]
            words = re.findall(r"`([^`]*)`", cell)
            shown = ", ".join(words) if words else None
            if cell.strip() not in ("none",) and not words:
                problems.append("[%s] %s: README default %r is neither `value` nor none"
                    % (sec, k, cell))
            if shown != r["default"]:
                problems.append("[%s] %s: README default %r, table default %r"
                    % (sec, k, shown, r["default"]))
            says_restart = "restart to change" in meaning
            if says_restart != (r["apply"] == "restart"):
                problems.append("[%s] %s: README %s \"restart to change\", the table "
                    "says %s" % (sec, k, "has" if says_restart else "lacks", r["apply"]))
    for name in ("docs/mta-stsd.8", "mta-stsd.conf.example"):
        with open(os.path.join(REPO, name)) as f:
            text = f.read().replace("\\_", "_")
        for r in rows:
            if r["section"] in ("server", "acme") and not re.search(r"\b%s\b" % r["name"], text):
                problems.append("%s does not name %s" % (name, r["name"]))
    check(not problems, "README/docs and the key table disagree:\n  " + "\n  ".join(problems))


if __name__ == "__main__":
    sys.exit(harness.main(TESTS, __doc__))
