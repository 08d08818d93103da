#!/usr/bin/env python3
"""Observability integration tests for mta-stsd (issue 6, "Tests").

    python3 tests/integration/observe_test.py [--binary build/mta-stsd] [-k SUBSTRING] [-v]

The admin listener (admin_listen = 127.0.0.1:<port>): /metrics is scraped and
parsed by a strict parser of the Prometheus text exposition format 0.0.4 (any
malformed line, undeclared family, wrong type or duplicate series fails), and
its counters must move as requests, handshake failures and reloads happen;
/healthz and /readyz (503 before the first snapshot and during shutdown); the
admin paths are not served on the TLS port. Logs: JSON lines parse, log files
are reopened on SIGUSR1, no private key material is ever logged.

Output: "PASS name" / "FAIL name: reason" (with the server log) /
"SKIP name: why", then the line "N passed, N failed"; exit 1 on a failure.
"""

import datetime
import json
import math
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
from harness import Fail, Skip, check, check_eq, wait_for, LogTail  # noqa: E402

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


# ---------------------------------------------------------------- Prometheus 0.0.4 parser

class PromError(Exception):
    pass


METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
FLOAT = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
BLANKS = " \t"


def _float(s, where):
    if s in ("NaN", "+Inf", "-Inf"):
        return float(s.replace("Inf", "inf").replace("NaN", "nan"))
    if not FLOAT.match(s):
        raise PromError("%s: value %r is not a float" % (where, s))
    return float(s)


def _unescape_help(s, where):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            if i + 1 >= len(s) or s[i + 1] not in "\\n":
                raise PromError("%s: bad escape in HELP text" % where)
            out.append("\\" if s[i + 1] == "\\" else "\n")
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _family_of(name, families):
    """The declared family a sample name belongs to, or None."""
    if name in families and families[name]["type"] in ("counter", "gauge", "untyped",
            "summary"):
        return name
    for suffix, types in (("_bucket", ("histogram",)), ("_sum", ("histogram", "summary")),
            ("_count", ("histogram", "summary"))):
        if name.endswith(suffix):
            base = name[:-len(suffix)]
            if base in families and families[base]["type"] in types:
                return base
    return None


def parse_prometheus(text):
    """Parse text format 0.0.4 strictly. Returns {family: {"type", "help",
    "samples": [(name, {label: value}, float)]}}. Stricter than the format
    in three ways the server is held to: every family has both HELP and TYPE
    before its samples, counter families are named *_total, and the body ends
    with a newline."""
    if not text.endswith("\n"):
        raise PromError("the body does not end with a newline")
    families = {}
    closed = set()
    current = None
    series = set()
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = "line %d %r" % (n, line[:120])
        if line == "":
            continue
        if line[0] in BLANKS:
            raise PromError("%s: leading blank" % where)
        if "\r" in line:
            raise PromError("%s: carriage return" % where)
        if line.startswith("#"):
            rest = line[1:].lstrip(BLANKS)
            parts = re.split(r"[ \t]+", rest, maxsplit=2)
            if parts[0] not in ("HELP", "TYPE") or rest == parts[0]:
                if parts[0] in ("HELP", "TYPE"):
                    raise PromError("%s: %s without a metric name" % (where, parts[0]))
                continue    # a comment
            if len(parts) < 2 or not METRIC_NAME.fullmatch(parts[1]):
                raise PromError("%s: bad metric name in %s" % (where, parts[0]))
            name = parts[1]
            if name in closed or (current == name and families[name]["samples"]):
                raise PromError("%s: %s after the family's samples" % (where, parts[0]))
            fam = families.setdefault(name, {"type": None, "help": None, "samples": []})
            if parts[0] == "HELP":
                if fam["help"] is not None:
                    raise PromError("%s: second HELP for %s" % (where, name))
                fam["help"] = _unescape_help(parts[2] if len(parts) > 2 else "", where)
            else:
                if fam["type"] is not None:
                    raise PromError("%s: second TYPE for %s" % (where, name))
                if len(parts) != 3 or parts[2] not in TYPES:
                    raise PromError("%s: bad TYPE line" % where)
                fam["type"] = parts[2]
            if current is not None and current != name:
                closed.add(current)
            current = name
            continue
        # a sample: name [{labels}] value [timestamp]
        m = METRIC_NAME.match(line)
        if not m:
            raise PromError("%s: bad metric name" % where)
        name, i = m.group(0), m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            i += 1
            while True:
                if i < len(line) and line[i] == "}":
                    i += 1
                    break
                lm = LABEL_NAME.match(line, i)
                if not lm:
                    raise PromError("%s: bad label name at column %d" % (where, i + 1))
                lname = lm.group(0)
                if lname.startswith("__"):
                    raise PromError("%s: reserved label name %s" % (where, lname))
                if lname in labels:
                    raise PromError("%s: label %s twice" % (where, lname))
                i = lm.end()
                if line[i:i + 2] != '="':
                    raise PromError("%s: expected =\" after label %s" % (where, lname))
                i += 2
                val = []
                while True:
                    if i >= len(line):
                        raise PromError("%s: unterminated label value" % where)
                    c = line[i]
                    if c == "\\":
                        if i + 1 >= len(line) or line[i + 1] not in '\\"n':
                            raise PromError("%s: bad escape in label value" % where)
                        val.append({"\\": "\\", '"': '"', "n": "\n"}[line[i + 1]])
                        i += 2
                    elif c == '"':
                        i += 1
                        break
                    else:
                        val.append(c)
                        i += 1
                labels[lname] = "".join(val)
                if i < len(line) and line[i] == ",":
                    i += 1
                elif i < len(line) and line[i] == "}":
                    continue
                else:
                    raise PromError("%s: expected , or } after a label" % where)
        if i >= len(line) or line[i] not in BLANKS:
            raise PromError("%s: no blank before the value" % where)
        toks = re.split(r"[ \t]+", line[i:].strip(BLANKS))
        if len(toks) not in (1, 2) or line != line.rstrip(BLANKS):
            raise PromError("%s: expected a value and an optional timestamp" % where)
        value = _float(toks[0], where)
        if len(toks) == 2 and not re.fullmatch(r"-?\d+", toks[1]):
            raise PromError("%s: bad timestamp %r" % (where, toks[1]))
        fname = _family_of(name, families)
        if fname is None:
            raise PromError("%s: sample of no declared family (no TYPE for %s)" % (where, name))
        fam = families[fname]
        if fname in closed or (current is not None and current != fname):
            if fname in closed:
                raise PromError("%s: family %s is not contiguous" % (where, fname))
            closed.add(current)
        current = fname
        if fam["help"] is None:
            raise PromError("%s: family %s has no HELP" % (where, fname))
        if fam["type"] == "counter":
            if not fname.endswith("_total"):
                raise PromError("%s: counter %s is not named *_total" % (where, fname))
            if math.isnan(value) or value < 0:
                raise PromError("%s: counter value %r" % (where, value))
        if fam["type"] == "histogram" and name.endswith("_bucket") and "le" not in labels:
            raise PromError("%s: bucket without le" % where)
        key = (name, tuple(sorted(labels.items())))
        if key in series:
            raise PromError("%s: duplicate series" % where)
        series.add(key)
        fam["samples"].append((name, labels, value))
    for name, fam in families.items():
        if fam["type"] is None:
            raise PromError("family %s has HELP but no TYPE" % name)
    return families


class Metrics:
    def __init__(self, fams):
        self.fams = fams

    def family(self, name, type_):
        check(name in self.fams, "metric family %s missing" % name)
        check_eq(self.fams[name]["type"], type_, "TYPE of %s" % name)
        return self.fams[name]

    def value(self, name, **labels):
        fam = self.fams.get(name)
        check(fam is not None, "metric family %s missing" % name)
        found = [v for (n, l, v) in fam["samples"] if n == name and l == labels]
        check(len(found) == 1, "%s%r: %d samples" % (name, labels, len(found)))
        return found[0]


def scrape(aport):
    st, headers, body = harness.admin_get(aport, "/metrics")
    check_eq(st, 200, "/metrics status")
    ctype = headers.get("Content-Type", "")
    check(ctype.startswith("text/plain") and "version=0.0.4" in ctype,
        "/metrics Content-Type %r" % ctype)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Fail("/metrics is not UTF-8: %s" % e)
    try:
        return Metrics(parse_prometheus(text))
    except PromError as e:
        raise Fail("/metrics malformed: %s" % e)


# ---------------------------------------------------------------- setup

def admin_conf(env, **settings):
    env.aport = run.free_port()
    return harness.server_section(env, admin_listen="127.0.0.1:%d" % env.aport, **settings)


def wait_admin_is_ours(env, srv):
    """Before asking the admin port anything during start-up: the server's own
    log must say it listens there (a port another process took meanwhile
    would otherwise answer for it)."""
    LogTail(srv.log_path).wait(r"admin on 127\.0\.0\.1:%d\b" % env.aport, run.START_TIMEOUT,
        "start-up line naming the admin listener")


def start(env, conf, domains):
    srv = env.start(conf)
    for d in domains:
        wait_for(lambda: harness.body_is(env, d, run.normalised(d)), 10,
            "%s served" % d)
    return srv


M = "mta_stsd_"


# ---------------------------------------------------------------- tests: the parser

@test
def prometheus_parser_is_strict(env):
    """The test-side parser accepts valid text (escapes, NaN, timestamps) and
    rejects each kind of malformed input; otherwise its verdicts mean little."""
    good = ('# HELP a_total Escaped \\\\ and \\n in help.\n# TYPE a_total counter\n'
        'a_total{x="q\\"b\\\\s\\nl",y="2",} 1.5e3 1700000000000\n'
        '# some comment\n# TYPE g gauge\n# HELP g g\ng NaN\ng{k="v"} -Inf\n')
    fams = parse_prometheus(good)
    check_eq(fams["a_total"]["samples"][0][1]["x"], 'q"b\\s\nl', "unescaped label value")
    check_eq(fams["a_total"]["help"], "Escaped \\ and \n in help.", "unescaped HELP")
    H = "# HELP m_total h\n# TYPE m_total counter\n"
    bad = {
        "no final newline": H + "m_total 1",
        "undeclared family": H + "m_total 1\nother 2\n",
        "counter not _total": "# HELP c h\n# TYPE c counter\nc 1\n",
        "negative counter": H + "m_total -1\n",
        "bad value": H + "m_total one\n",
        "bad metric name": H + "9m_total 1\n",
        "bad label name": H + 'm_total{9x="a"} 1\n',
        "unquoted label": H + "m_total{x=a} 1\n",
        "bad escape": H + 'm_total{x="\\t"} 1\n',
        "unterminated value": H + 'm_total{x="a} 1\n',
        "duplicate series": H + 'm_total{x="a"} 1\nm_total{x="a"} 2\n',
        "duplicate label": H + 'm_total{x="a",x="b"} 1\n',
        "reserved label": H + 'm_total{__x="a"} 1\n',
        "bad type": "# HELP m h\n# TYPE m countr\nm 1\n",
        "second TYPE": H + "# TYPE m_total counter\nm_total 1\n",
        "TYPE after samples": "# HELP m h\nm 1\n# TYPE m gauge\n",
        "not contiguous": H + "# HELP g h\n# TYPE g gauge\nm_total 1\ng 1\nm_total{a=\"b\"} 2\n",
        "missing HELP": "# TYPE g gauge\ng 1\n",
        "trailing garbage": H + "m_total 1 2 3\n",
        "bad timestamp": H + "m_total 1 1.5\n",
        "CR line end": H + "m_total 1\r\n",
        "leading blank": H + " m_total 1\n",
        "no blank before value": H + 'm_total{x="a"}1\n',
        "TYPE without name": "# TYPE\n",
    }
    for what, text in bad.items():
        try:
            parse_prometheus(text)
        except PromError:
            continue
        raise Fail("the parser accepted malformed input (%s): %r" % (what, text))


# ---------------------------------------------------------------- tests: /metrics

@test
def metrics_scrape_strict(env):
    """A scrape parses strictly and has every family the issue asks for, with
    the right type and label values."""
    sec, _ = env.domain("example.com")
    start(env, admin_conf(env) + sec, ["example.com"])
    m = scrape(env.aport)
    for name, t in (("requests_total", "counter"), ("tls_handshakes_total", "counter"),
            ("tls_handshake_failures_total", "counter"), ("connections_open", "gauge"),
            ("reloads_total", "counter"), ("last_reload_success_timestamp_seconds", "gauge"),
            ("last_reload_failure_timestamp_seconds", "gauge"),
            ("snapshot_generation", "gauge"), ("domains_loaded", "gauge"),
            ("domains_failed", "gauge"),
            ("certificate_expiry_earliest_timestamp_seconds", "gauge"),
            ("build_info", "gauge")):
        m.family(M + name, t)
    reasons = {l.get("reason") for _, l, _ in m.fams[M + "tls_handshake_failures_total"]["samples"]}
    for r in ("unknown_sni", "no_sni", "protocol", "timeout", "limit"):
        check(r in reasons, "handshake failure reason %s missing (have %s)" % (r, reasons))
    results = {l.get("result") for _, l, _ in m.fams[M + "reloads_total"]["samples"]}
    check({"success", "failure"} <= results, "reload results %s" % results)
    check_eq(m.value(M + "domains_loaded"), 1.0, "domains_loaded")
    check_eq(m.value(M + "domains_failed"), 0.0, "domains_failed")
    check_eq(m.value(M + "snapshot_generation"), 1.0, "snapshot_generation at start")
    # twice in a row: stable and still well-formed
    scrape(env.aport)


@test
def request_and_handshake_counters(env):
    """requests_total{code} and tls_handshakes_total move by exactly what the
    client did; connections_open counts a held connection."""
    sec, _ = env.domain("example.com")
    start(env, admin_conf(env) + sec, ["example.com"])
    m0 = scrape(env.aport)
    for _ in range(3):
        check_eq(harness.get(env, "example.com")[0], 200, "fetch")
    check_eq(harness.get(env, "example.com", path="/nope")[0], 404, "fetch /nope")
    st, _, _ = run.fetch(env, "mta-sts.example.com", host="mta-sts.example.net")
    check_eq(st, 421, "Host of another domain")
    m1 = scrape(env.aport)
    for code, n in (("200", 3), ("404", 1), ("421", 1), ("405", 0)):
        check_eq(m1.value(M + "requests_total", code=code) -
            m0.value(M + "requests_total", code=code), n, "requests_total{code=%s} delta" % code)
    check_eq(m1.value(M + "tls_handshakes_total") - m0.value(M + "tls_handshakes_total"), 5,
        "tls_handshakes_total delta after 5 connections")
    held = run.tls_connect(env.port, "mta-sts.example.com", run.client_ctx(env.pki))
    try:
        wait_for(lambda: scrape(env.aport).value(M + "connections_open") == 1, 3,
            "connections_open 1 while one connection is held")
    finally:
        held.close()
    wait_for(lambda: scrape(env.aport).value(M + "connections_open") == 0, 3,
        "connections_open back to 0")


@test
def handshake_failure_counters(env):
    """unknown SNI, no SNI, a protocol error and a handshake timeout each
    count under their reason, and only there."""
    sec, _ = env.domain("example.com")
    start(env, admin_conf(env, handshake_timeout=1) + sec, ["example.com"])
    fails = lambda m: {l["reason"]: v for _, l, v in  # noqa: E731
        m.fams[M + "tls_handshake_failures_total"]["samples"]}
    m0 = fails(scrape(env.aport))
    ctx = run.client_ctx(env.pki, verify=False)
    for sni in ("mta-sts.unknown.example", "mta-sts.other.example"):
        run.expect_handshake_refused(env, sni, ctx, reason=r"UNRECOGNIZED_NAME|"
            r"unrecognized name|alert number 112")
    want = dict(m0)
    want["unknown_sni"] += 2
    wait_for(lambda: fails(scrape(env.aport)) == want, 3, "unknown_sni +2 (want %s)" % want)
    run.expect_handshake_refused(env, None, run.client_ctx(env.pki, verify=False))
    want["no_sni"] += 1
    wait_for(lambda: fails(scrape(env.aport)) == want, 3, "no_sni +1 (want %s)" % want)
    with socket.create_connection(("127.0.0.1", env.port), timeout=run.IO_TIMEOUT) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            s.recv(100)
        except OSError:
            pass
    want["protocol"] += 1
    wait_for(lambda: fails(scrape(env.aport)) == want, 3, "protocol +1 (want %s)" % want)
    with socket.create_connection(("127.0.0.1", env.port), timeout=run.IO_TIMEOUT) as s:
        want["timeout"] += 1
        wait_for(lambda: fails(scrape(env.aport)) == want, 4,
            "timeout +1 after handshake_timeout = 1 (want %s)" % want)


@test
def reload_counters(env):
    """A good reload: reloads_total{success} +1, its timestamp now, generation
    +1. A broken main config: {failure} +1, its timestamp now, generation
    unchanged, domains unchanged."""
    sa, _ = env.domain("a.example")
    sb, _ = env.domain("b.example")
    conf = admin_conf(env) + sa + sb
    srv = start(env, conf, ["a.example", "b.example"])
    m0 = scrape(env.aport)
    check_eq(m0.value(M + "last_reload_success_timestamp_seconds"), 0.0,
        "last success before any reload")
    check_eq(m0.value(M + "last_reload_failure_timestamp_seconds"), 0.0,
        "last failure before any reload")
    t0 = time.time()
    env.write("policies/a.example.txt", run.simple_policy("a.example", "testing"))
    wait_for(lambda: harness.body_is(env, "a.example", run.normalised("a.example", "testing")),
        3, "changed policy served")
    m1 = scrape(env.aport)
    t1 = time.time()
    check_eq(m1.value(M + "reloads_total", result="success") -
        m0.value(M + "reloads_total", result="success"), 1, "reloads_total{success} delta")
    check_eq(m1.value(M + "reloads_total", result="failure"), 0, "reloads_total{failure}")
    ts = m1.value(M + "last_reload_success_timestamp_seconds")
    check(int(t0) - 1 <= ts <= t1 + 1, "last success %r not between %r and %r" % (ts, t0, t1))
    gen = m1.value(M + "snapshot_generation")
    check_eq(gen, m0.value(M + "snapshot_generation") + 1, "snapshot_generation after a reload")

    tail = LogTail(srv.log_path).mark()
    t0 = time.time()
    harness.atomic_write(env.path("mta-stsd.conf"), conf + "[broken\n")
    tail.wait(r"(?i)reload.*fail", 3, "failed reload logged")
    m2 = wait_for(lambda: (lambda m: m if m.value(M + "reloads_total", result="failure") == 1
        else None)(scrape(env.aport)), 2, "reloads_total{failure} 1")[0]
    t1 = time.time()
    ts = m2.value(M + "last_reload_failure_timestamp_seconds")
    check(int(t0) - 1 <= ts <= t1 + 1, "last failure %r not between %r and %r" % (ts, t0, t1))
    check_eq(m2.value(M + "snapshot_generation"), gen, "generation after a failed reload")
    check_eq(m2.value(M + "reloads_total", result="success"),
        m1.value(M + "reloads_total", result="success"), "reloads_total{success}")
    check_eq(m2.value(M + "domains_loaded"), 2, "domains_loaded after a failed reload")
    # SIGHUP with the file still broken: one more failure
    harness.sighup(srv)
    wait_for(lambda: scrape(env.aport).value(M + "reloads_total", result="failure") == 2, 3,
        "reloads_total{failure} 2 after SIGHUP")


@test
def domain_gauges(env):
    """domains_loaded / domains_failed follow a broken domain at start, its
    fix, and a later break (kept at its old version)."""
    sa, _ = env.domain("a.example")
    sb, _ = env.domain("b.example")
    sc, _ = env.domain("c.example", policy="version: STSv1\nmode: enforce\nmax_age: 86400\n")
    start(env, admin_conf(env) + sa + sb + sc, ["a.example", "b.example"])
    m = scrape(env.aport)
    check_eq((m.value(M + "domains_loaded"), m.value(M + "domains_failed")), (2, 1),
        "(loaded, failed) with c.example broken")
    env.write("policies/c.example.txt", run.simple_policy("c.example"))
    wait_for(lambda: harness.body_is(env, "c.example", run.normalised("c.example")), 3,
        "fixed c.example served")
    m = scrape(env.aport)
    check_eq((m.value(M + "domains_loaded"), m.value(M + "domains_failed")), (3, 0),
        "(loaded, failed) after the fix")
    env.write("policies/b.example.txt", "version: STSv1\nmode: sometimes\n")
    wait_for(lambda: scrape(env.aport).value(M + "domains_failed") == 1, 3,
        "domains_failed 1 after b.example broke")
    m = scrape(env.aport)
    check_eq(m.value(M + "domains_loaded"), 3, "domains_loaded (b.example kept)")


def expiry(days):
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return now + datetime.timedelta(days=days)


@test
def certificate_expiry_metrics(env):
    """certificate_expiry_earliest is the earliest notAfter served; per-domain
    series are absent by default."""
    e30, e60 = expiry(30), expiry(60)
    sa, _ = env.domain("a.example", cert=env.pki.issue(["mta-sts.a.example"], not_after=e30))
    sb, _ = env.domain("b.example", cert=env.pki.issue(["mta-sts.b.example"], "rsa",
        not_after=e60))
    start(env, admin_conf(env) + sa + sb, ["a.example", "b.example"])
    m = scrape(env.aport)
    check_eq(m.value(M + "certificate_expiry_earliest_timestamp_seconds"), e30.timestamp(),
        "earliest expiry (a.example's, 30 days)")
    per = [n for n in m.fams if n.startswith(M + "domain_")]
    check(not per, "per-domain families without metrics_per_domain: %s" % per)
    check(all("domain" not in l for f in m.fams.values() for _, l, _ in f["samples"]),
        "a sample has a domain label without metrics_per_domain")
    # a.example renewed for 90 days: b.example's 60 days is now the earliest
    new = env.pki.issue(["mta-sts.a.example"], not_after=expiry(90))
    env.install_cert(new, "certs/a.example")
    wait_for(lambda: scrape(env.aport).value(
        M + "certificate_expiry_earliest_timestamp_seconds") == e60.timestamp(), 3,
        "earliest expiry moves to b.example's after a.example's renewal")


@test
def per_domain_metrics_opt_in(env):
    """metrics_per_domain = yes: each domain's certificate expiry (by key
    type) and policy id/mode; the scrape stays well-formed."""
    e30, e60 = expiry(30), expiry(60)
    sa, _ = env.domain("a.example", cert=env.pki.issue(["mta-sts.a.example"], not_after=e30))
    sb, _ = env.domain("b.example", policy=run.simple_policy("b.example", "testing"),
        cert=env.pki.issue(["mta-sts.b.example"], "rsa", not_after=e60))
    start(env, admin_conf(env, metrics_per_domain="yes") + sa + sb, ["a.example"])
    wait_for(lambda: harness.body_is(env, "b.example", run.normalised("b.example", "testing")),
        5, "b.example served")
    m = scrape(env.aport)
    exp = M + "domain_certificate_expiry_timestamp_seconds"
    m.family(exp, "gauge")
    check_eq(m.value(exp, domain="a.example", key="ecdsa"), e30.timestamp(),
        "a.example ecdsa expiry")
    check_eq(m.value(exp, domain="b.example", key="rsa"), e60.timestamp(), "b.example rsa expiry")
    check_eq(len(m.fams[exp]["samples"]), 2, "expiry series")
    info = M + "domain_policy_info"
    m.family(info, "gauge")
    got = {l["domain"]: l for _, l, _ in m.fams[info]["samples"]}
    check_eq(sorted(got), ["a.example", "b.example"], "policy_info domains")
    check_eq((got["a.example"].get("mode"), got["b.example"].get("mode")),
        ("enforce", "testing"), "policy modes")
    for d, l in got.items():
        check(re.fullmatch(r"[A-Za-z0-9]{1,32}", l.get("id", "")) is not None,
            "policy id of %s: %r" % (d, l.get("id")))
    check(all(v == 1 for _, _, v in m.fams[info]["samples"]), "policy_info values are 1")


@test
def build_info_labels(env):
    """build_info{version, mbedtls, libmicrohttpd} 1, matching mta-stsd -V."""
    sec, _ = env.domain("example.com")
    start(env, admin_conf(env) + sec, ["example.com"])
    m = scrape(env.aport)
    samples = m.family(M + "build_info", "gauge")["samples"]
    check_eq(len(samples), 1, "build_info samples")
    _, labels, v = samples[0]
    check_eq(v, 1.0, "build_info value")
    for k in ("version", "mbedtls", "libmicrohttpd"):
        check(labels.get(k), "build_info label %s missing or empty: %r" % (k, labels))
    out = run.run([run.BINARY, "-V"]).stdout.decode()
    check(re.search(r"mta-stsd %s\b" % re.escape(labels["version"]), out) is not None,
        "version %r is not what -V prints: %r" % (labels["version"], out))
    check(re.fullmatch(r"3\.6\.\d+", labels["mbedtls"]) is not None,
        "mbedtls label %r is not 3.6.x" % labels["mbedtls"])
    check(labels["mbedtls"] in out, "mbedtls %r is not in -V: %r" % (labels["mbedtls"], out))
    check(re.search(r"libmicrohttpd %s\b" % re.escape(labels["libmicrohttpd"]), out) is not None,
        "libmicrohttpd %r is not what -V prints: %r" % (labels["libmicrohttpd"], out))


# ---------------------------------------------------------------- tests: health, readiness

@test
def healthz_and_readyz(env):
    sec, _ = env.domain("example.com")
    start(env, admin_conf(env) + sec, ["example.com"])
    check_eq(harness.admin_get(env.aport, "/healthz")[0], 200, "/healthz")
    check_eq(harness.admin_get(env.aport, "/readyz")[0], 200,
        "/readyz after the first successful fetch")
    check_eq(harness.admin_get(env.aport, "/nothing-here")[0], 404, "unknown admin path")


@test
def readyz_during_slow_first_load(env):
    """A first load of 3,000 discovered policy files (about 0.1-0.2 s): /readyz
    polled from the start answers 503 until the snapshot is published (while
    /healthz says 200 and /metrics is well-formed with no domain loaded), and
    once it says 200 the policy is served at once. SKIP when this machine
    loads faster than the admin listener can be asked. (The loader never
    blocks on a FIFO where a policy file should be, so a slow load is the only
    way to observe this.)"""
    sec, cert = env.domain("example.com")
    for i in range(3000):
        env.write("policies/d%04d.example.txt" % i, run.simple_policy("d%04d.example" % i))
    wild = env.pki.issue(["mta-sts.example.com"] + ["mta-sts.d%04d.example" % i
        for i in range(200)])
    c, k = env.install_cert(wild, "certs/many")
    conf = admin_conf(env, access_log="off") + "[defaults]\ncert = %s\nkey = %s\n" % (c, k)
    srv = env.start(conf, ready=False)
    wait_admin_is_ours(env, srv)
    seen = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < run.START_TIMEOUT:
        check(srv.proc.poll() is None, "server exited during the first load")
        try:
            st = harness.admin_get(env.aport, "/readyz", timeout=1)[0]
        except OSError:
            continue
        check(st in (200, 503), "/readyz status %d" % st)
        if st == 503 and 503 not in seen:
            # while loading: alive, and the metrics say nothing is loaded
            # (asked after the 503, so a 0 is from before the snapshot)
            check_eq(harness.admin_get(env.aport, "/healthz")[0], 200,
                "/healthz while loading")
            m = scrape(env.aport)
            loaded = m.value(M + "domains_loaded")
            if harness.admin_get(env.aport, "/readyz")[0] == 503:
                check_eq(loaded, 0, "domains_loaded before the first snapshot")
        seen.append(st)
        if st == 200:
            break
    check(seen and seen[-1] == 200, "/readyz never 200 within %ss (%d answers)"
        % (run.START_TIMEOUT, len(seen)))
    check(503 not in seen[seen.index(200):], "/readyz went back to 503")
    # ready means served, with no further wait
    status, body = harness.get(env, "d0100.example")
    check_eq((status, body), (200, run.normalised("d0100.example")),
        "first fetch right after /readyz said 200")
    env.info.append("/readyz answered 503 %d times, then 200, in %.2f s"
        % (seen.count(503), time.monotonic() - t0))
    if 503 not in seen:
        raise Skip("the first load finished before /readyz could be asked")


@test
def readyz_503_during_shutdown(env):
    """SIGTERM while a request is in flight (a client pipelines requests and
    reads no answer, so one is always waiting on a full socket): /readyz
    turns 503 (the TLS listener is closed) while the server waits for the
    request (shutdown_timeout, 5 s by default), which is still answered when
    the client reads; then exit 0. (A request whose headers are not complete
    is closed at once: see hostile_test.py.)"""
    sec, _ = env.domain("example.com")
    srv = start(env, admin_conf(env, max_requests_per_connection=1000000) + sec,
        ["example.com"])
    check_eq(harness.admin_get(env.aport, "/readyz")[0], 200, "/readyz before SIGTERM")
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(run.IO_TIMEOUT)
    raw.connect(("127.0.0.1", env.port))
    s = run.client_ctx(env.pki).wrap_socket(raw, server_hostname="mta-sts.example.com")
    flood = threading.Thread(target=lambda: _send_quietly(s, b"GET /.well-known/mta-sts.txt "
        b"HTTP/1.1\r\nHost: mta-sts.example.com\r\n\r\n" * 20000), daemon=True)
    try:
        flood.start()
        time.sleep(1.0)
        srv.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: harness.admin_get(env.aport, "/readyz")[0] == 503, 3,
            "/readyz 503 after SIGTERM with a request in flight")
        check(srv.proc.poll() is None, "the server exited with a request in flight")
        got = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ssl.SSLEOFError, ConnectionError, socket.timeout):
                break
            if not chunk:
                break
            got += chunk
        check(got.startswith(b"HTTP/1.1 200"), "in-flight request answer: %r" % got[:100])
    finally:
        s.close()
        flood.join(5.0)
    rc = srv.wait_exit(run.STOP_TIMEOUT)
    check_eq(rc, 0, "exit status after SIGTERM")


def _send_quietly(s, data):
    try:
        s.settimeout(20.0)
        s.sendall(data)
    except (OSError, ssl.SSLError):
        pass


# ---------------------------------------------------------------- tests: isolation of the admin listener

@test
def admin_paths_not_on_tls_port(env):
    """/metrics, /healthz, /readyz over TLS on the policy port: 404. Plain
    HTTP to the TLS port: no HTTP answer. TLS to the admin port: fails."""
    sec, _ = env.domain("example.com")
    start(env, admin_conf(env) + sec, ["example.com"])
    for p in ("/metrics", "/healthz", "/readyz"):
        st, _, body = run.fetch(env, "mta-sts.example.com", path=p)
        check_eq(st, 404, "GET %s over TLS on the policy port" % p)
        check(b"mta_stsd_" not in body, "metrics text on the TLS port")
    with socket.create_connection(("127.0.0.1", env.port), timeout=run.IO_TIMEOUT) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        got = b""
        try:
            while len(got) < 65536:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        except OSError:
            pass
    check(not got.startswith(b"HTTP/"), "plain HTTP to the TLS port got an HTTP answer: %r"
        % got[:100])
    check(b"mta_stsd_" not in got, "plain HTTP to the TLS port got metrics")
    try:
        s = run.tls_connect(env.aport, "mta-sts.example.com", run.client_ctx(env.pki))
        s.close()
        raise Fail("a TLS handshake succeeded on the admin port")
    except (ssl.SSLError, ConnectionError, socket.timeout):
        pass


# ---------------------------------------------------------------- tests: logs

ISO_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$")


def check_json_log(text, where):
    """Every line a JSON object: access lines (type=access) with the
    documented fields, others with ts/level/msg. Returns (errors, accesses)."""
    errors, accesses = [], []
    check(text.endswith("\n") or text == "", "%s: last line not terminated" % where)
    for n, line in enumerate(text.splitlines(), 1):
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise Fail("%s line %d is not JSON (%s): %r" % (where, n, e, line[:200]))
        check(isinstance(obj, dict), "%s line %d is not an object: %r" % (where, n, line[:200]))
        check(isinstance(obj.get("ts"), str) and ISO_TS.match(obj["ts"]),
            "%s line %d: ts %r" % (where, n, obj.get("ts")))
        if obj.get("type") == "access":
            for k, t in (("client", str), ("sni", str), ("host", str), ("method", str),
                    ("path", str), ("status", int), ("bytes", int),
                    ("duration_ms", (int, float))):
                check(isinstance(obj.get(k), t) and not isinstance(obj.get(k), bool),
                    "%s line %d: access field %s = %r" % (where, n, k, obj.get(k)))
            accesses.append(obj)
        else:
            check(obj.get("level") in ("error", "warn", "info", "debug"),
                "%s line %d: level %r" % (where, n, obj.get("level")))
            check(isinstance(obj.get("msg"), str) and obj["msg"],
                "%s line %d: msg %r" % (where, n, obj.get("msg")))
            errors.append(obj)
    return errors, accesses


@test
def json_logs_parse(env):
    """log_format = json: every stderr line (start-up, errors with file:line,
    reloads, SIGUSR1, access lines including odd paths and Host headers,
    shutdown) is one JSON object with the documented fields."""
    sa, _ = env.domain("a.example")
    sb, _ = env.domain("b.example", policy="version: STSv1\nmode: \"quoted\"\\x\n")
    sc, _ = env.domain("c.example")
    env.write("policies/c.example.txt", b"version: STSv1\nmode: en\x01f\xff\tx\\\"\nmx: a\n")
    srv = start(env, admin_conf(env, log_format="json", log_level="debug") + sa + sb + sc,
        ["a.example"])
    check_eq(harness.get(env, "a.example")[0], 200, "fetch")
    check_eq(harness.get(env, "a.example", path="/nope")[0], 404, "fetch /nope")
    odd_path = '/x"y\\z'
    raw = run.raw_exchange(env, "mta-sts.a.example", ("GET %s HTTP/1.1\r\nHost: "
        "mta-sts.a.example\r\nConnection: close\r\n\r\n" % odd_path).encode())
    check(raw.startswith(b"HTTP/1.1 "), "odd path answer %r" % raw[:60])
    run.raw_exchange(env, "mta-sts.a.example", b"GET / HTTP/1.1\r\nHost: mta-sts.\"a\\.example"
        b"\xc3\xa9\r\nConnection: close\r\n\r\n")
    run.raw_exchange(env, "mta-sts.a.example", b"GET /caf\xc3\xa9\xff HTTP/1.1\r\nHost: "
        b"mta-sts.a.example\r\nConnection: close\r\n\r\n")
    run.expect_handshake_refused(env, "mta-sts.unknown.example",
        run.client_ctx(env.pki, verify=False))
    env.write("policies/a.example.txt", run.simple_policy("a.example", "testing"))
    wait_for(lambda: harness.body_is(env, "a.example", run.normalised("a.example", "testing")),
        3, "reload")
    srv.proc.send_signal(signal.SIGUSR1)
    tail = LogTail(srv.log_path)
    tail.wait(r"reopen", 3, "SIGUSR1 logged")
    srv.proc.send_signal(signal.SIGTERM)
    check_eq(srv.wait_exit(run.STOP_TIMEOUT), 0, "exit status")
    errors, accesses = check_json_log(srv.log(), "stderr")
    env.info.append("%d log lines, %d access lines" % (len(errors), len(accesses)))
    check(any(re.search(r"b\.example\.txt:\d+: ", e["msg"]) for e in errors),
        "no JSON error line with b.example.txt:line")
    check(any(a["path"] == odd_path for a in accesses),
        "no access line whose decoded path is %r: %r" % (odd_path,
            [a["path"] for a in accesses]))
    # UTF-8 stays the characters it encodes; a byte that is not UTF-8
    # becomes U+FFFD, never a character it does not stand for
    odd_host = 'mta-sts."a\\.example\u00e9'
    check(any(a["host"] == odd_host for a in accesses),
        "no access line whose decoded Host is %r: %r" % (odd_host,
            [a["host"] for a in accesses]))
    check(any(a["path"] == "/caf\u00e9\ufffd" for a in accesses),
        "no access line whose decoded path is '/caf\u00e9\ufffd': %r" %
        [a["path"] for a in accesses])
    codes = sorted(a["status"] for a in accesses)
    check(200 in codes and 404 in codes, "access statuses %r" % codes)
    for a in accesses:
        check_eq(a["client"], "127.0.0.1", "access client")


# Run as: unshare -m --propagation private sh devlog.sh DIR COMMAND...: in the
# new mount namespace, /dev becomes a small tmpfs holding the devices a server
# needs (bind-mounted from the real /dev) and a /dev/log that is a symbolic
# link to DIR/log.sock, then COMMAND is executed (same pid). The real /dev is
# never changed; the mounts end with the process.
DEVLOG_SH = r"""set -e
dir=$1
shift
mkdir -p "$dir/olddev"
mount --bind /dev "$dir/olddev"
mount -t tmpfs -o mode=755,size=64k mta-stsd-test-dev /dev
for n in null zero full random urandom; do
	: >"/dev/$n"
	mount --bind "$dir/olddev/$n" "/dev/$n"
done
ln -s "$dir/log.sock" /dev/log
exec "$@"
"""

# "<30>Nov 28 10:00:00 mta-stsd[123]: message" (RFC 3164, as glibc sends it)
SYSLOG_RE = re.compile(r"^<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d mta-stsd\[(\d+)\]: (.*)$", re.S)
LOG_DAEMON = 3 << 3
LOG_WARNING, LOG_INFO = 4, 6


def devlog_prefix(env):
    """The command prefix that runs a server with /dev/log = env's log.sock,
    or Skip with the reason it cannot be done here."""
    if os.geteuid() != 0:
        raise Skip("mounting a private /dev/log needs root (unshare -m)")
    if shutil.which("unshare") is None:
        raise Skip("no unshare command (util-linux) to make a private mount namespace")
    script = env.write("devlog.sh", DEVLOG_SH)
    prefix = ["unshare", "-m", "--propagation", "private", "sh", script, env.dir]
    r = run.run(prefix + ["test", "-L", "/dev/log"])
    if r.returncode != 0:
        raise Skip("cannot make a private /dev/log in a new mount namespace here: %s"
            % (r.stderr.decode(errors="replace").strip() or "exit %d" % r.returncode))
    return prefix


@test
def error_log_to_syslog(env):
    """error_log = syslog: the error log's lines arrive at /dev/log as
    datagrams of the daemon facility, tagged mta-stsd[pid], at their own
    levels (start-up: info, running as root: warning, a reload, the
    shutdown), and none goes to stderr. No system syslog daemon is needed or touched: the
    server runs in a private mount namespace whose /dev/log is the test's
    own datagram socket."""
    prefix = devlog_prefix(env)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(env.path("log.sock"))
        sec, _ = env.domain("example.com")
        conf = harness.server_section(env, error_log="syslog", access_log="off") + sec
        srv = env.start(conf, prefix=prefix)
        wait_for(lambda: harness.body_is(env, "example.com", run.normalised("example.com")),
            10, "example.com served")
        got = []

        def wait_message(regex, what):
            rx = re.compile(regex)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                for prio, pid, msg in got:
                    if rx.search(msg):
                        return prio, pid, msg
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    data = sock.recv(65536).decode(errors="replace")
                except socket.timeout:
                    break
                m = SYSLOG_RE.match(data)
                check(m is not None, "a /dev/log datagram not in the syslog format: %r"
                    % data[:200])
                got.append((int(m.group(1)), int(m.group(2)), m.group(3)))
            env.notes.append("syslog messages:\n" + "\n".join("<%d> [%d] %s" % g for g in got))
            raise Fail("no syslog message for %s within 5 s" % what)

        for regex, level, what in (
                (r"^mta-stsd \S+ starting: listening on 127\.0\.0\.1:%d" % env.port,
                    LOG_INFO, "start-up"),
                (r"running as root \(allow_root = yes\)", LOG_WARNING, "running as root"),
                (r"loaded 1 domain", LOG_INFO, "the first load")):
            prio, pid, msg = wait_message(regex, what)
            check_eq(prio, LOG_DAEMON | level, "syslog priority of the %s message" % what)
            check_eq(pid, srv.proc.pid, "pid in the %s message" % what)
        env.write("policies/example.com.txt", run.simple_policy("example.com", "testing"))
        harness.sighup(srv)
        wait_message(r"^reload \(.*\): generation 2: 0 added, 1 changed", "the reload")
        srv.proc.send_signal(signal.SIGTERM)
        check_eq(srv.wait_exit(run.STOP_TIMEOUT), 0, "exit status after SIGTERM")
        wait_message(r"shutting down", "the shutdown")
        wait_message(r"^stopped$", "the end")
        stderr = srv.log()
        check(not re.search(r"mta-stsd (error|warn|info|debug):", stderr),
            "error-log lines on stderr although error_log = syslog: %r" % stderr[-300:])
        env.info.append("%d syslog messages" % len(got))
    finally:
        sock.close()


@test
def log_files_reopened_on_sigusr1(env):
    """error_log and access_log as files: after they are renamed (logrotate)
    and SIGUSR1, new files are created and written; the old ones get nothing
    more."""
    err, acc = env.path("logs/error.log"), env.path("logs/access.log")
    os.makedirs(env.path("logs"))
    sec, _ = env.domain("example.com")
    conf = admin_conf(env, error_log=err, access_log=acc) + sec
    srv = start(env, conf, ["example.com"])
    check(os.path.exists(err) and os.path.exists(acc), "log files not created")
    wait_for(lambda: "loaded" in open(err).read(), 2, "start-up lines in error_log")
    check_eq(harness.get(env, "example.com", path="/before")[0], 404, "fetch")
    wait_for(lambda: "/before" in open(acc).read(), 2, "access line in access_log")
    os.rename(err, err + ".1")
    os.rename(acc, acc + ".1")
    check_eq(harness.get(env, "example.com", path="/between")[0], 404, "fetch")
    wait_for(lambda: "/between" in open(acc + ".1").read(), 2,
        "access line in the renamed file before SIGUSR1")
    srv.proc.send_signal(signal.SIGUSR1)
    wait_for(lambda: os.path.exists(err) and os.path.exists(acc), 3,
        "new log files after SIGUSR1")
    wait_for(lambda: "reopen" in open(err).read(), 2, "reopen logged in the new error_log")
    check_eq(harness.get(env, "example.com", path="/after")[0], 404, "fetch")
    wait_for(lambda: "/after" in open(acc).read(), 2, "access line in the new access_log")
    env.write("policies/example.com.txt", run.simple_policy("example.com", "testing"))
    wait_for(lambda: re.search(r"reload .*generation 2", open(err).read()), 3,
        "reload logged in the new error_log")
    check("/after" not in open(acc + ".1").read(), "old access log still written")
    check("generation 2" not in open(err + ".1").read(), "old error log still written")
    check("access" not in srv.log() or "/after" not in srv.log(), "access lines on stderr")
    env.notes.append("error.log:\n" + open(err).read())


def key_body_lines(path):
    with open(path) as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("-----")
            and len(l.strip()) >= 16]


@test
def no_secrets_logged(env):
    """With log_level = debug, key errors (mismatched, corrupt) and reloads,
    neither stderr, the log files, -t output nor /metrics contain a line of
    any private key's PEM body."""
    err = env.path("error.log")
    sa, ca = env.domain("a.example")
    sb, cb = env.domain("b.example")
    sc, cc = env.domain("c.example", kind="rsa")
    keys = [ca.key_pem, cb.key_pem, cc.key_pem]
    # b.example: key of another certificate; c.example: corrupted key body
    other = env.pki.issue(["mta-sts.b.example"])
    keys.append(other.key_pem)
    with open(other.key_pem) as f:
        env.write("certs/b.example/privkey.pem", f.read())
    with open(cc.key_pem) as f:
        lines = f.read().splitlines()
    lines[3] = lines[3][::-1]
    env.write("certs/c.example/privkey.pem", "\n".join(lines) + "\n")
    conf = admin_conf(env, log_level="debug", metrics_per_domain="yes") + sa + sb + sc
    rc, out, terr = env.config_test(conf)
    srv = start(env, conf, ["a.example"])
    env.write("policies/a.example.txt", run.simple_policy("a.example", "testing"))
    wait_for(lambda: harness.body_is(env, "a.example", run.normalised("a.example", "testing")),
        3, "reload")
    srv.proc.send_signal(signal.SIGUSR1)
    for _ in range(3):
        harness.get(env, "a.example")
    metrics = harness.admin_get(env.aport, "/metrics")[2].decode()
    harness.atomic_write(env.path("mta-stsd.conf"), conf.replace("log_level = debug\n",
        "log_level = debug\nerror_log = %s\n" % err))
    harness.sighup(srv)
    time.sleep(1)
    srv.proc.send_signal(signal.SIGTERM)
    srv.wait_exit(run.STOP_TIMEOUT)
    texts = {"stderr": srv.log(), "-t output": out + terr, "/metrics": metrics}
    if os.path.exists(err):
        texts["error_log"] = open(err).read()
    check(re.search(r"b\.example", texts["stderr"]) is not None,
        "the mismatched key was not reported at all (test setup?)")
    for k in keys:
        body = key_body_lines(k)
        check(len(body) >= 2, "test setup: key body of %s" % k)
        for where, text in texts.items():
            for line in body:
                check(line not in text and line[:24] not in text,
                    "private key material of %s in %s" % (os.path.basename(k), where))
    check("PRIVATE KEY-----" not in "".join(texts.values()), "a PEM key header was logged")



# ---------------------------------------------------------------- tests: what logs may hold (issue 11)

def without_dir(env, text):
    """text with the test's directory name taken out (its random letters
    could hold any short string a check looks for)."""
    return text.replace(env.dir, "<dir>")


@test
def t_symlinked_secrets_not_echoed(env):
    """A policy file that is a symbolic link to a PEM private key, and one to
    an environment file (SECRET_TOKEN=abc): -t names each file and line that
    is not "name: value" and holds none of their bytes."""
    sa, ca = env.domain("a.example")
    sb, _ = env.domain("b.example")
    env.write("secret.env", "SECRET_TOKEN=abc\nDB_PASSWORD=hunter2xyz\n")
    for name, target in (("a.example", ca.key_pem), ("b.example", env.path("secret.env"))):
        os.unlink(env.path("policies/%s.txt" % name))
        os.symlink(target, env.path("policies/%s.txt" % name))
    rc, out, err = env.config_test(env.server_section() + sa + sb)
    text = without_dir(env, out + err)
    env.notes.append("-t output:\n" + text)
    check_eq(rc, 1, "-t exit status")
    check(re.search(r"a\.example\.txt:1: ", text), "no message names a.example.txt:1")
    check(re.search(r"a\.example\.txt:2: ", text), "no message names a.example.txt:2")
    check(re.search(r"b\.example\.txt:1: ", text), "no message names b.example.txt:1")
    body = key_body_lines(ca.key_pem)
    check(len(body) >= 2, "test setup: key body of %s" % ca.key_pem)
    for line in body:
        for i in range(0, len(line) - 8):
            check(line[i:i + 8] not in text,
                "8 bytes of the private key's line %r in -t output" % line[:12])
    check("PRIVATE KEY" not in text, "the PEM header was echoed")
    for secret in ("SECRET_TOKEN", "abc", "DB_PASSWORD", "hunter2xyz"):
        check(secret not in text, "%r from the environment file in -t output" % secret)


FORGED_TS = "2026-01-01T00:00:00.000Z"


@test
def log_escapes_control_bytes(env):
    """A file in policy_dir whose name holds a newline, a forged time stamp
    and an ANSI colour sequence: the warning about it is one line of the
    text error log (and of -t) with those bytes escaped; no forged line, no
    raw escape byte."""
    sec, _ = env.domain("example.com")
    evil = "x\n%s mta-stsd error: \x1b[31mforged\x1b[0m" % FORGED_TS
    env.write("policies/" + evil, "not a policy\n")
    conf = harness.server_section(env) + sec
    rc, out, err = env.config_test(conf)
    srv = start(env, conf, ["example.com"])
    wait_for(lambda: "loaded" in srv.log(), 3, "the load line")
    # the access log's fields: the same escaping, blanks and quotes too
    run.raw_exchange(env, "mta-sts.example.com", b"GET /caf%C3%A9%20%22x HTTP/1.1\r\n"
        b"Host: mta-sts.example.com\r\nConnection: close\r\n\r\n")
    wait_for(lambda: "/caf" in srv.log(), 3, "the access line")
    check(re.search(r' "GET /caf\\xc3\\xa9\\x20\\x22x" 404 ', srv.log()),
        "the access line does not show the path escaped")
    with open(srv.log_path, "rb") as f:
        raw = f.read()
    for where, data in (("error log", raw), ("-t output", (out + err).encode())):
        env.notes.append("%s:\n%r" % (where, data[-2000:]))
        check(b"\x1b" not in data, "a raw ESC byte in the %s" % where)
        lines = data.split(b"\n")
        check(not any(l.startswith(FORGED_TS.encode()) for l in lines),
            "a forged line in the %s" % where)
        named = [l for l in lines if b"forged" in l]
        check_eq(len(named), 1, "lines of the %s naming the file" % where)
        check(re.search(rb"x\\x0[aA]" + re.escape(FORGED_TS.encode()) +
            rb" mta-stsd error: \\x1[bB]\[31mforged", named[0]),
            "the %s line does not show the name escaped: %r" % (where, named[0]))


def nobody_or_skip():
    if os.geteuid() != 0:
        raise Skip("needs root: the log file must be owned by root and the "
            "server drop to user = nobody")
    try:
        import pwd
        pw = pwd.getpwnam("nobody")
    except KeyError:
        raise Skip("no user nobody")
    return pw.pw_uid, pw.pw_gid


@test
def root_owned_access_log_after_drop(env):
    """Started as root with user = nobody and access_log a file root owns
    (mode 0644): the log says once that nobody cannot reopen it and which
    ownership is needed; reloads say nothing about it, SIGUSR1 does not claim
    "log files reopened", and access lines keep going to the open file."""
    uid, gid = nobody_or_skip()
    sec, _ = env.domain("example.com")
    os.chmod(env.dir, 0o755)
    for d, dirs, files in os.walk(env.dir):
        for n in dirs + files:
            os.chown(os.path.join(d, n), uid, gid)
    os.makedirs(env.path("logs"), mode=0o755)       # root's
    acc = env.path("logs/access.log")
    conf = harness.server_section(env, user="nobody", access_log=acc) + sec
    conf = conf.replace("allow_root = yes\n", "")
    srv = start(env, conf, ["example.com"])
    check_eq(os.stat(acc).st_uid, 0, "test setup: access.log owner")
    tail = LogTail(srv.log_path)
    for i, mode in enumerate(("testing", "enforce")):
        env.write("policies/example.com.txt", run.simple_policy("example.com", mode))
        harness.sighup(srv)
        tail.wait(r"reload \(.*\): generation %d" % (i + 2), 5, "reload %d logged" % (i + 1))
    for i in range(2):
        srv.proc.send_signal(signal.SIGUSR1)
        time.sleep(0.5)
    check_eq(harness.get(env, "example.com", path="/after-usr1")[0], 404, "fetch")
    wait_for(lambda: "/after-usr1" in open(acc).read(), 3, "access line in the open file")
    log = srv.log()
    problem = [l for l in log.splitlines() if "access.log" in l and " access: " not in l]
    check_eq(len(problem), 1, "lines about access.log (%r)" % problem)
    check(re.search(r"nobody", problem[0]) and re.search(r"(?i)chown|owned by", problem[0]),
        "the line does not say which user needs the file: %s" % problem[0])
    check("Permission denied" not in log.replace(problem[0], ""),
        "Permission denied logged again")
    check("reopened" not in log, "\"reopened\" logged although nothing was")


@test
def reload_nothing_changed_logged(env):
    """A SIGHUP that changes nothing logs its one info line (log_level info)."""
    sec, _ = env.domain("example.com")
    srv = start(env, harness.server_section(env) + sec, ["example.com"])
    tail = LogTail(srv.log_path).mark()
    harness.sighup(srv)
    m = tail.wait(r"^\S+ mta-stsd info: reload \(SIGHUP\): nothing changed.*$", 5,
        "the reload line")
    env.notes.append(m.group(0))
    harness.sighup(srv)
    tail.wait(r"reload \(SIGHUP\)", 5, "the second reload line")
    check_eq(len(re.findall(r"reload \(SIGHUP\)", srv.log())), 2, "reload lines for 2 SIGHUPs")


@test
def no_mhd_delay_noise_at_debug(env):
    """log_level = debug: requests add no libmicrohttpd "Client may experience
    some delay" or TCP option lines (the server's HTTP side is a socketpair)."""
    sec, _ = env.domain("example.com")
    srv = start(env, harness.server_section(env, log_level="debug") + sec, ["example.com"])
    for _ in range(3):
        check_eq(harness.get(env, "example.com")[0], 200, "fetch")
    wait_for(lambda: srv.log().count(" access: ") >= 3, 3, "access lines")
    log = srv.log()
    check(" mta-stsd debug: " in log, "test setup: no debug line at all")
    check("experience some delay" not in log, "libmicrohttpd's delay lines logged")
    check(not re.search(r"Setting \S+ option to \S+ state failed", log),
        "libmicrohttpd's socket option lines logged")


if __name__ == "__main__":
    sys.exit(harness.main(TESTS, __doc__.split("\n")[0]))
