#!/usr/bin/env python3
"""Hostile-input, limits, faults and privileges tests for mta-stsd.

    python3 tests/integration/hostile_test.py [--binary build/mta-stsd] [-k SUBSTRING]
        [-v] [--max-latency SECONDS]

Every scenario runs while a legitimate client (a separate process, so the
attackers' threads cannot slow its clock) fetches the policy in a loop over
new TLS connections from 127.0.0.1. The attackers connect from other loopback
addresses (127.0.0.2 .. 127.0.0.50), so max_connections_per_ip isolates them.
Each test then asserts that every legitimate fetch succeeded and that each
took less than --max-latency (default 1.0 s; the strictest real sender gives
up after 2 s), and prints a "# legit ..." line with the count, p50, p99 and
max latency.

Uses the PKI, Env and Server helpers of run.py (same directory). Output: one
line per test, "PASS name", "FAIL name: reason" or "SKIP name: why", then
"N passed, N failed" (", N skipped" when some were). Exit status 1 when any
test failed. Python 3 standard library only; loopback only; bounded in time.
"""

import json
import os
import pwd
import re
import resource
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as R     # noqa: E402  (the integration framework: PKI, Env, Server)
import runner       # noqa: E402  (the runner every Python suite shares)
from run import Fail, Skip, check, check_eq, WELL_KNOWN  # noqa: E402

MAX_LATENCY = 1.0       # seconds, per legitimate fetch (overridden by --max-latency)
READY_TIMEOUT = 10.0    # server start to first successful fetch
IS_ROOT = os.geteuid() == 0
IP_BIND_ADDRESS_NO_PORT = 24    # linux/in.h: pick the source port at connect()

DOMAIN = "example.com"
HOST = "mta-sts." + DOMAIN


# ---------------------------------------------------------------- configuration

def make_conf(env, domains_text, **settings):
    """A [server] section for env's port with short timeouts, then
    domains_text. settings override or add [server] keys (None removes one)."""
    s = {
        "policy_dir": "policies",
        "log_level": "info",
        "access_log": "off",
        "handshake_timeout": 2,
        "request_timeout": 3,
        "idle_timeout": 10,
        "max_connections": 1024,
        "max_connections_per_ip": 16,
    }
    if IS_ROOT:
        s["allow_root"] = "yes"
    s.update(settings)
    if s.get("user") is not None:
        s.pop("allow_root", None)
    text = "[server]\nlisten = 127.0.0.1:%d\n" % env.port
    text += "".join("%s = %s\n" % (k, v) for k, v in s.items() if v is not None)
    return text + domains_text


def start(env, conf_text):
    """Start the server and wait until the policy is really served (the
    domains load in the background after the listener is bound)."""
    srv = env.start(conf_text, ready=False)
    wait_served(env, srv)
    return srv


def wait_served(env, srv, domain=DOMAIN, timeout=READY_TIMEOUT):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if srv.proc.poll() is not None:
            raise Fail("server exited with status %d before serving" % srv.proc.returncode)
        try:
            status, _, body = R.fetch(env, "mta-sts." + domain)
            if status == 200:
                return time.monotonic()
            last = "status %d" % status
        except (OSError, ssl.SSLError, R.http.client.HTTPException) as e:
            last = repr(e)
        time.sleep(0.05)
    raise Fail("the server did not serve mta-sts.%s within %ss (last: %s)"
        % (domain, timeout, last))


def wait_log(srv, pattern, timeout, start_at=0):
    """Wait until the server log (from offset start_at) matches pattern;
    returns the match or None."""
    deadline = time.monotonic() + timeout
    rx = re.compile(pattern, re.M)
    while True:
        m = rx.search(srv.log()[start_at:])
        if m or time.monotonic() > deadline:
            return m
        time.sleep(0.1)


# ---------------------------------------------------------------- the legitimate client

def legit_main(argv):
    """Child process: fetch the policy over a new TLS connection in a loop
    from 127.0.0.1 until stdin closes, then print the results as JSON."""
    port, ca, sni, body_path = int(argv[0]), argv[1], argv[2], argv[3]
    with open(body_path, "rb") as f:
        expected = f.read()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
        % (WELL_KNOWN, sni)).encode()
    stop = threading.Event()

    def watch_stdin():
        sys.stdin.read()
        stop.set()
    threading.Thread(target=watch_stdin, daemon=True).start()
    results = []
    while not stop.is_set():
        t0 = time.monotonic()
        err = None
        phases = []     # seconds from t0 to: connected, handshake done
        try:
            raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            raw.settimeout(5.0)
            # as curl and Go's net/http do; without it a TLS 1.3 request
            # waits ~40 ms for the ACK of the client's Finished (Nagle)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            raw.bind(("127.0.0.1", 0))
            raw.connect(("127.0.0.1", port))
            phases.append(time.monotonic() - t0)
            with ctx.wrap_socket(raw, server_hostname=sni) as s:
                phases.append(time.monotonic() - t0)
                s.sendall(req)
                data = b""
                while True:
                    try:
                        chunk = s.recv(4096)
                    except ssl.SSLEOFError:
                        break
                    if not chunk:
                        break
                    data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200 "):
                err = "status line %r" % head.split(b"\r\n")[0][:80]
            elif body != expected:
                err = "body %r" % body[:80]
        except Exception as e:     # everything counts as a failed fetch
            err = "%s: %s" % (type(e).__name__, e)
        results.append([time.time(), time.monotonic() - t0, err, phases])
        time.sleep(0.01)
    json.dump(results, sys.stdout)
    sys.stdout.flush()
    return 0


class Legit:
    """The legitimate client, in its own process."""

    def __init__(self, env, domain=DOMAIN, body=None):
        self.env = env
        self.domain = domain
        body_path = env.path("legit-expected-%s.bin" % domain)
        with open(body_path, "wb") as f:
            f.write(body if body is not None else R.normalised(domain))
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--legit",
            str(env.port), env.pki.root, "mta-sts." + domain, body_path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.results = None
        env.cleanups.append(self.stop)

    def stop(self):
        if self.results is not None:
            return self.results
        try:
            out, err = self.proc.communicate(input=b"", timeout=15)
            self.results = json.loads(out.decode() or "[]")
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise Fail("the legitimate client did not stop within 15 s")
        except ValueError:
            raise Fail("the legitimate client printed no results (stderr %r)" % err[-300:])
        return self.results

    def assert_ok(self, min_fetches=5):
        """Every fetch succeeded and each took less than MAX_LATENCY."""
        res = self.stop()
        lat = sorted(r[1] for r in res)
        errs = [r for r in res if r[2]]
        if lat:
            p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
            summary = ("legit mta-sts.%s: %d fetches, %d failed, p50 %.1f ms, p99 %.1f ms, "
                "max %.1f ms" % (self.domain, len(lat), len(errs), p(0.5) * 1000,
                p(0.99) * 1000, lat[-1] * 1000))
        else:
            summary = "legit mta-sts.%s: no fetch" % self.domain
        self.env.info.append(summary)
        check(len(res) >= min_fetches, "the legitimate client made only %d fetches" % len(res))
        if errs:
            raise Fail("%d of %d legitimate fetches failed, first: %s (at +%.1f s)"
                % (len(errs), len(res), errs[0][2], errs[0][0] - res[0][0]))
        slow = [r for r in res if r[1] >= MAX_LATENCY]
        if slow:
            worst = max(slow, key=lambda r: r[1])
            raise Fail("%d of %d legitimate fetches took >= %.1f s (max %.2f s at +%.1f s: "
                "TCP connected after %s, TLS done after %s)"
                % (len(slow), len(res), MAX_LATENCY, worst[1], worst[0] - res[0][0],
                *["%.3f s" % x if x is not None else "-" for x in
                (worst[3] + [None, None])[:2]]))


def run_with_legit(env, attack, domain=DOMAIN, warmup=0.5, cooldown=0.5):
    """Start the legitimate client, run attack(), then check the client."""
    legit = Legit(env, domain)
    time.sleep(warmup)
    try:
        result = attack()
        time.sleep(cooldown)
    finally:
        legit.stop()
    legit.assert_ok()
    return result


# ---------------------------------------------------------------- attackers

def src_addr(i):
    """The i-th attacker address: 127.0.0.2 .. 127.0.0.50."""
    return "127.0.0.%d" % (2 + i % 49)


def attacker_socket(env, i, timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.settimeout(timeout)
        s.bind((src_addr(i), 0))
        s.connect(("127.0.0.1", env.port))
    except BaseException:
        s.close()
        raise
    return s


def insecure_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


ATTACK_CTX = None


def attacker_tls(env, i, sni=HOST, timeout=5.0):
    raw = attacker_socket(env, i, timeout)
    try:
        return ATTACK_CTX.wrap_socket(raw, server_hostname=sni)
    except BaseException:
        raw.close()
        raise


def wait_closed(s, timeout):
    """Read until the peer closes. Returns (how, seconds, data): how is
    "eof", "reset" or "timeout"."""
    t0 = time.monotonic()
    data = b""
    while True:
        left = timeout - (time.monotonic() - t0)
        if left <= 0:
            return "timeout", time.monotonic() - t0, data
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except (socket.timeout, TimeoutError):
            return "timeout", time.monotonic() - t0, data
        except ssl.SSLEOFError:
            return "eof", time.monotonic() - t0, data
        except (ConnectionError, ssl.SSLError, OSError):
            return "reset", time.monotonic() - t0, data
        if not chunk:
            return "eof", time.monotonic() - t0, data
        data += chunk


def parse_responses(data):
    """Split HTTP/1.1 responses (with Content-Length) out of data. Returns
    a list of (status, headers dict lower-case, body), and the leftover."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
        if not m:
            break
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        if len(rest) < n:
            break
        out.append((int(m.group(1)), headers, rest[:n]))
        data = rest[n:]
    return out, data


def exchange(env, payload, i=0, sni=HOST, timeout=8.0):
    """Send payload on a new TLS connection from attacker address i and read
    until the server closes. Returns (responses, how, seconds, send_error,
    leftover bytes)."""
    s = attacker_tls(env, i, sni)
    send_err = None
    try:
        s.settimeout(timeout)
        try:
            s.sendall(payload)
        except (OSError, ssl.SSLError) as e:
            send_err = "%s: %s" % (type(e).__name__, e)
        how, secs, data = wait_closed(s, timeout)
    finally:
        s.close()
    resps, rest = parse_responses(data)
    return resps, how, secs, send_err, rest


def threads_run(target, n, *args):
    ts = [threading.Thread(target=target, args=(i,) + args, daemon=True) for i in range(n)]
    for t in ts:
        t.start()
    return ts


def join_all(ts, timeout):
    deadline = time.monotonic() + timeout
    for t in ts:
        t.join(max(0.0, deadline - time.monotonic()))
    alive = sum(t.is_alive() for t in ts)
    check(alive == 0, "%d attacker threads still running after %ss" % (alive, timeout))


# ---------------------------------------------------------------- hand-made ClientHellos

def tls_ext(etype, data):
    return struct.pack("!HH", etype, len(data)) + data


def sni_ext(names, list_len_delta=0, name_type=0):
    entries = b"".join(struct.pack("!BH", name_type, len(n)) + n for n in names)
    return tls_ext(0, struct.pack("!H", len(entries) + list_len_delta) + entries)


# supported_groups x25519, P-256; ec_point_formats uncompressed; signature
# algorithms ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256
BASE_EXTS = (tls_ext(0x000a, b"\x00\x04\x00\x1d\x00\x17") + tls_ext(0x000b, b"\x01\x00") +
    tls_ext(0x000d, b"\x00\x06\x04\x03\x08\x04\x04\x01"))
SUITES = (0xc02b, 0xc02f, 0xcca9, 0xcca8, 0x00ff)


def client_hello(exts, suites=SUITES, ext_len_delta=0, hs_len_delta=0, rec_len_delta=0,
    cut=0):
    """A TLS 1.2 ClientHello record with extensions exts (bytes). The deltas
    make the extensions block, handshake or record length lie; cut drops
    that many bytes from the end of the record."""
    body = (b"\x03\x03" + os.urandom(32) + b"\x20" + os.urandom(32) +
        struct.pack("!H", 2 * len(suites)) + b"".join(struct.pack("!H", c) for c in suites) +
        b"\x01\x00" + struct.pack("!H", len(exts) + ext_len_delta) + exts)
    hs = b"\x01" + (len(body) + hs_len_delta).to_bytes(3, "big") + body
    rec = b"\x16\x03\x01" + struct.pack("!H", len(hs) + rec_len_delta) + hs
    return rec[:len(rec) - cut] if cut else rec


def classify(env, payload, i, timeout):
    """Send payload raw, then report what came back first: "serverhello",
    "alert:N", "eof", "reset", "timeout" or "other"; plus how long until
    the connection was closed ("timeout" when it was not)."""
    s = attacker_socket(env, i)
    try:
        t0 = time.monotonic()
        try:
            s.sendall(payload)
        except OSError as e:
            return "reset(send: %s)" % e, "reset", 0.0
        how, secs, data = wait_closed(s, timeout)
    finally:
        s.close()
    if data[:1] == b"\x16" and data[5:6] == b"\x02":
        first = "serverhello"
    elif data[:1] == b"\x15" and len(data) >= 7:
        first = "alert:%d" % data[6]
    elif not data:
        first = how
    else:
        first = "other:%r" % data[:16]
    return first, how, time.monotonic() - t0


def real_client_hello():
    """The bytes of a real ClientHello from Python's ssl (TLS 1.3 capable)."""
    ctx = insecure_ctx()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_side=False, server_hostname=HOST)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


# ---------------------------------------------------------------- registry

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def one_domain(env, name=DOMAIN):
    sec, _ = env.domain(name)
    return sec


# ---------------------------------------------------------------- slowloris and idle

def slowloris(env, kind, i, results, limit):
    """One slow attacker; results[i] = (how, seconds from its first byte)."""
    try:
        if kind == "tcp-idle":
            s = attacker_socket(env, i)
        else:
            s = attacker_tls(env, i)
    except Exception as e:
        results[i] = ("connect failed: %r" % e, 0.0)
        return
    t0 = time.monotonic()
    try:
        if kind == "trickle":
            # a request line, then one header byte per second, never the end
            s.sendall(b"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: " +
                HOST.encode() + b"\r\nX-Slow: ")
            t0 = time.monotonic()
            while time.monotonic() - t0 < limit:
                how, _, data = wait_closed(s, 1.0)
                if how != "timeout" or data:
                    results[i] = (how if not data else "data:%r" % data[:60],
                        time.monotonic() - t0)
                    return
                try:
                    s.sendall(b"a")
                except (OSError, ssl.SSLError):
                    results[i] = ("reset", time.monotonic() - t0)
                    return
            results[i] = ("timeout", time.monotonic() - t0)
            return
        if kind == "partial":
            s.sendall(b"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHo")
            t0 = time.monotonic()
        how, secs, data = wait_closed(s, limit)
        results[i] = (how if not data else "data:%r" % data[:60], secs)
    finally:
        s.close()


def slow_attack(env, kinds_counts, limit):
    results = {}
    ts = []
    base = 0
    for kind, n in kinds_counts:
        for j in range(n):
            t = threading.Thread(target=slowloris, args=(env, kind, base + j, results, limit),
                daemon=True)
            t.start()
            ts.append((kind, base + j, t))
        base += n
    for _, _, t in ts:
        t.join(limit + 10)
    return [(kind, results.get(i, ("thread hung", 0.0))) for kind, i, _ in ts]


def check_closed_by(results, kind, low, high, what):
    got = [r for k, r in results if k == kind]
    bad = [r for r in got if r[0] not in ("eof", "reset") or not low <= r[1] <= high]
    check(not bad, "%d of %d %s connections were not closed between %.1f and %.1f s "
        "(expected: %s); first: %r" % (len(bad), len(got), kind, low, high, what, bad[:3]))


@test
def slowloris_header_trickle_and_partial(env):
    """Connections that complete TLS and then send one header byte a second
    (slowloris), and ones that send half a request line and go silent, are
    closed by request_timeout (3 s), not held until idle_timeout (10 s)."""
    start(env, make_conf(env, one_domain(env), request_timeout=3, idle_timeout=10))
    results = run_with_legit(env, lambda: slow_attack(env,
        [("trickle", 40), ("partial", 40)], limit=12))
    check_closed_by(results, "trickle", 2.5, 5.0, "request_timeout = 3")
    check_closed_by(results, "partial", 2.5, 5.0, "request_timeout = 3")


@test
def idle_after_handshake_closed_by_idle_timeout(env):
    """A connection that completes TLS and sends nothing is closed by
    idle_timeout."""
    start(env, make_conf(env, one_domain(env), request_timeout=3, idle_timeout=4))
    results = run_with_legit(env, lambda: slow_attack(env, [("tls-idle", 40)], limit=12))
    check_closed_by(results, "tls-idle", 3.5, 6.5, "idle_timeout = 4")


@test
def idle_tcp_never_starting_tls(env):
    """TCP connections that never send a ClientHello are closed by
    handshake_timeout (2 s)."""
    start(env, make_conf(env, one_domain(env), handshake_timeout=2))
    results = run_with_legit(env, lambda: slow_attack(env, [("tcp-idle", 150)], limit=10))
    check_closed_by(results, "tcp-idle", 1.5, 4.0, "handshake_timeout = 2")


# ---------------------------------------------------------------- handshake floods

def flood_run(env, full_threads, close_threads, silent_threads, seconds=5.0):
    """Run the three kinds of handshake attackers for seconds while the
    legitimate client fetches; returns the counts and the silent ones'
    (how, seconds-to-close)."""
    hello = real_client_hello()
    counts = {"full": 0, "full_err": 0, "close": 0, "silent": 0}
    silent = []
    lock = threading.Lock()
    stop_at = [0.0]

    def full(i):
        n = 0
        while time.monotonic() < stop_at[0]:
            try:
                s = attacker_tls(env, i * 4 + n % 4)
                s.close()
                k = "full"
            except (OSError, ssl.SSLError):
                k = "full_err"
            n += 1
            with lock:
                counts[k] += 1

    def close_early(i):
        while time.monotonic() < stop_at[0]:
            try:
                s = attacker_socket(env, 40 + i)
                s.sendall(hello)
                s.close()
            except OSError:
                pass
            with lock:
                counts["close"] += 1

    def go_silent(i):
        n = 0
        while time.monotonic() < stop_at[0] and n < 8:
            try:
                s = attacker_socket(env, 30 + i)
                s.sendall(hello)
                silent.append(wait_closed(s, 6.0)[:2])
                s.close()
            except OSError as e:
                silent.append(("connect: %r" % e, 0))
            n += 1
            with lock:
                counts["silent"] += 1

    def attack():
        stop_at[0] = time.monotonic() + seconds
        ts = (threads_run(full, full_threads) + threads_run(close_early, close_threads) +
            threads_run(go_silent, silent_threads))
        join_all(ts, 30)

    try:
        run_with_legit(env, attack)
    finally:
        env.info.append("flood: %d handshakes completed, %d failed, %d ClientHellos "
            "abandoned by close, %d by silence, in %.0f s" % (counts["full"],
            counts["full_err"], counts["close"], counts["silent"], seconds))
    return counts, silent


@test
def handshake_flood(env):
    """12 threads on 48 addresses complete TLS handshakes as fast as they
    can for 5 s."""
    start(env, make_conf(env, one_domain(env), handshake_timeout=2))
    counts, _ = flood_run(env, 12, 0, 0)
    check(counts["full"] > 50, "only %d flood handshakes completed" % counts["full"])


@test
def abandoned_handshakes_silent(env):
    """4 threads send a real ClientHello and go silent: each gets its
    ServerHello and is closed by handshake_timeout (2 s)."""
    start(env, make_conf(env, one_domain(env), handshake_timeout=2))
    _, silent = flood_run(env, 0, 0, 4)
    bad = [r for r in silent if r[0] not in ("eof", "reset") or not 1.0 <= r[1] <= 4.0]
    check(not bad, "%d of %d silent half-handshakes not closed by handshake_timeout: %r"
        % (len(bad), len(silent), bad[:3]))


@test
def abandoned_handshakes_closed(env):
    """4 threads, each from its own address, replay a real ClientHello and
    close at once, as fast as they can for 5 s (costs the attacker no
    crypto; each costs the server a full ServerHello)."""
    start(env, make_conf(env, one_domain(env), handshake_timeout=2))
    flood_run(env, 0, 4, 0)


@test
def random_bytes_instead_of_client_hello(env):
    """Random bytes of many sizes, and a handshake record full of random
    bytes: the server closes each connection (at once or at
    handshake_timeout), never crashes."""
    start(env, make_conf(env, one_domain(env), handshake_timeout=2))
    outcomes = []

    def attack():
        def one(i):
            size = (1, 5, 64, 517, 4096, 16384, 20000, 70000)[i % 8]
            if i % 3 == 0:   # a plausible record header with random contents
                payload = b"\x16\x03\x01" + struct.pack("!H", min(size, 16384)) + \
                    os.urandom(min(size, 16384))
            else:
                payload = os.urandom(size)
            outcomes.append(classify(env, payload, i, 6.0))
        join_all(threads_run(one, 48), 30)

    run_with_legit(env, attack)
    bad = [o for o in outcomes if o[0] == "serverhello" or o[1] not in ("eof", "reset")
        or o[2] > 4.0]
    check(not bad, "%d of %d random-byte connections not closed within 4 s: %r"
        % (len(bad), len(outcomes), bad[:3]))


MALFORMED_HELLOS = [
    # name, payload builder, acceptable first answers ("refuse": alert or close)
    ("oversized_sni_300", lambda: client_hello(sni_ext([b"mta-sts." + b"a" * 292]) + BASE_EXTS),
     "refuse"),
    ("oversized_sni_16000", lambda: client_hello(sni_ext([b"a" * 16000]) + BASE_EXTS),
     "refuse"),
    ("sni_label_64", lambda: client_hello(sni_ext([b"mta-sts." + b"b" * 64 + b".com"]) +
        BASE_EXTS), "refuse"),
    ("sni_100_unknown_entries", lambda: client_hello(sni_ext(
        [b"mta-sts.d%d.example" % k for k in range(100)]) + BASE_EXTS), "refuse"),
    # one host name per ClientHello (RFC 6066 section 3)
    ("sni_100_entries_last_known", lambda: client_hello(sni_ext(
        [b"mta-sts.d%d.example" % k for k in range(99)] + [HOST.encode()]) + BASE_EXTS),
     "refuse"),
    ("sni_100_entries_first_known", lambda: client_hello(sni_ext(
        [HOST.encode()] + [b"mta-sts.d%d.example" % k for k in range(99)]) + BASE_EXTS),
     "refuse"),
    ("sni_non_ascii_utf8", lambda: client_hello(sni_ext(["mta-sts.éxample.com".encode()]) +
        BASE_EXTS), "refuse"),
    ("sni_high_byte", lambda: client_hello(sni_ext([HOST.encode() + b"\xff"]) + BASE_EXTS),
     "refuse"),
    ("sni_nul_then_suffix", lambda: client_hello(sni_ext([HOST.encode() + b"\x00.evil"]) +
        BASE_EXTS), "refuse"),
    ("sni_control_chars", lambda: client_hello(sni_ext([b"mta-sts.exa\r\nmple.com"]) +
        BASE_EXTS), "refuse"),
    ("sni_zero_length", lambda: client_hello(sni_ext([b""]) + BASE_EXTS), "refuse"),
    ("sni_name_type_1", lambda: client_hello(sni_ext([HOST.encode()], name_type=1) +
        BASE_EXTS), "refuse"),
    ("sni_list_length_too_long", lambda: client_hello(sni_ext([HOST.encode()], 40) +
        BASE_EXTS), "refuse"),
    ("sni_list_length_too_short", lambda: client_hello(sni_ext([HOST.encode()], -3) +
        BASE_EXTS), "refuse"),
    ("extensions_length_too_long", lambda: client_hello(sni_ext([HOST.encode()]) + BASE_EXTS,
        ext_len_delta=40), "refuse"),
    ("extension_truncated", lambda: client_hello(sni_ext([HOST.encode()]) + BASE_EXTS[:-3]),
     "refuse"),
    ("no_cipher_suites", lambda: client_hello(sni_ext([HOST.encode()]) + BASE_EXTS, suites=()),
     "refuse"),
    ("only_unknown_suites", lambda: client_hello(sni_ext([HOST.encode()]) + BASE_EXTS,
        suites=(0x0005, 0x000a, 0x002f)), "refuse"),
    ("handshake_length_beyond_record", lambda: client_hello(sni_ext([HOST.encode()]) +
        BASE_EXTS, hs_len_delta=3000), "wait"),
    ("record_truncated", lambda: client_hello(sni_ext([HOST.encode()]) + BASE_EXTS, cut=30),
     "wait"),
    ("record_length_zero", lambda: b"\x16\x03\x01\x00\x00", "refuse-or-wait"),
    ("record_length_over_2_14", lambda: b"\x16\x03\x01\xff\xff" + b"\x00" * 1000,
     "refuse-or-wait"),
    ("sslv2_compatible_hello", lambda: b"\x80\x2e\x01\x03\x01\x00\x15\x00\x00\x00\x10" +
        b"\x00\x00\x35\x00\x00\x2f\x00\x00\x0a\x07\x00\xc0\x00\x00\x05\x03\x00\x80\x00\x00\xff" +
        os.urandom(16), "refuse"),
]


@test
def malformed_client_hellos(env):
    """Hand-made ClientHellos: a well-formed one (control) gets a
    ServerHello; broken ones are refused (alert or close) at once, ones
    whose lengths promise more bytes are closed at handshake_timeout; none
    hangs, none is served the example.com certificate by a name that is
    not exactly mta-sts.example.com."""
    s2, _ = env.domain("example.net")
    start(env, make_conf(env, one_domain(env) + s2, handshake_timeout=2))
    got = {}

    def attack():
        first, how, secs = classify(env, client_hello(sni_ext([HOST.encode()]) + BASE_EXTS),
            0, 3.0)
        got["control"] = (first, how, secs)
        def one(k, rep):
            name, build, _ = MALFORMED_HELLOS[k]
            got[(name, rep)] = classify(env, build(), 1 + 3 * k + rep, 6.0)
        ts = []
        for k in range(len(MALFORMED_HELLOS)):
            for rep in range(3):
                ts.append(threading.Thread(target=one, args=(k, rep), daemon=True))
                ts[-1].start()
                time.sleep(0.01)
        join_all(ts, 30)

    run_with_legit(env, attack)
    check(got["control"][0] == "serverhello", "the well-formed control ClientHello got %r: "
        "the test's ClientHello builder is wrong" % (got["control"],))
    problems = []
    for name, _, want in MALFORMED_HELLOS:
        outs = [got[(name, rep)] for rep in range(3)]
        env.notes.append("%s: %s" % (name, ", ".join("%s (closed: %s after %.2f s)" % o
            for o in outs)))
        for first, how, secs in outs:
            refused = first.startswith("alert") or first in ("eof", "reset")
            if how not in ("eof", "reset"):
                problems.append("%s: connection still open after 6 s (first answer %s)"
                    % (name, first))
            elif want == "refuse" and not (refused and secs < 1.5):
                problems.append("%s: expected an alert or close at once, got %s after %.2f s"
                    % (name, first, secs))
            elif want == "wait" and not (first in ("eof", "reset") or first.startswith("alert")):
                problems.append("%s: expected a close at handshake_timeout, got %s"
                    % (name, first))
            elif want == "wait" and not 1.5 <= secs <= 4.0:
                problems.append("%s: closed after %.2f s, expected handshake_timeout (2 s)"
                    % (name, secs))
            elif want == "refuse-or-wait" and (first == "serverhello" or secs > 4.0):
                problems.append("%s: got %s, closed after %.2f s" % (name, first, secs))
    check(not problems, "; ".join(sorted(set(problems))))


@test
def plain_http_to_tls_port(env):
    """`GET / HTTP/1.1` in clear text to the TLS port: closed at once (an
    alert at most), never an HTTP answer, never a hang."""
    start(env, make_conf(env, one_domain(env)))
    outs = []

    def attack():
        for i in range(20):
            outs.append(classify(env, b"GET / HTTP/1.1\r\nHost: " + HOST.encode() +
                b"\r\n\r\n", i, 5.0))
    run_with_legit(env, attack)
    bad = [o for o in outs if o[0] not in ("eof", "reset") and not o[0].startswith("alert")
        or o[2] > 1.5]
    check(not bad, "%d of %d plain-HTTP connections: %r" % (len(bad), len(outs), bad[:3]))
    env.notes.append("plain HTTP answers: %s" % sorted(set(o[0] for o in outs)))


# ---------------------------------------------------------------- malformed HTTP over TLS

def req(path=WELL_KNOWN, method="GET", host=HOST, extra=b"", version="HTTP/1.1"):
    h = ("%s %s %s\r\n" % (method, path, version)).encode("latin-1")
    if host is not None:
        h += b"Host: " + host.encode() + b"\r\n"
    return h + extra + b"\r\n"


CLOSE = b"Connection: close\r\n"


def statuses(resps):
    return [r[0] for r in resps]


@test
def oversized_headers(env):
    """A 100 KB header and 5,000 small headers: 431 (or 400/413) or a close,
    within a few seconds; a 6 KB header (under max_header_size 8192) is
    still served."""
    start(env, make_conf(env, one_domain(env), max_header_size=8192))
    res = {}

    def attack():
        res["big"] = exchange(env, req(extra=b"X-Big: " + b"a" * 100000 + b"\r\n"), 1)
        res["many"] = exchange(env, req(extra=b"".join(b"X-H%05d: v\r\n" % k
            for k in range(5000))), 2)
        res["6k"] = exchange(env, req(extra=b"X-Ok: " + b"b" * 6000 +
            b"\r\nConnection: close\r\n"), 3)
    run_with_legit(env, attack)
    for k in ("big", "many"):
        resps, how, secs, send_err, _ = res[k]
        env.notes.append("%s: statuses %s, %s after %.2f s, send error %s"
            % (k, statuses(resps), how, secs, send_err))
        check(how in ("eof", "reset") and secs < 5.0, "%s headers: connection not closed "
            "within 5 s (%s after %.2f s)" % (k, how, secs))
        check(all(s in (400, 413, 431) for s in statuses(resps)),
            "%s headers answered %s, expected 431/400/413 or a close" % (k, statuses(resps)))
    resps = res["6k"][0]
    check_eq(statuses(resps), [200], "a request with one 6 KB header")


@test
def bad_request_lines(env):
    """GARBAGE, a bare GET, HTTP/9.9, control bytes and the like are answered
    4xx/505 or closed, never 200 or a redirect."""
    start(env, make_conf(env, one_domain(env)))
    cases = [
        ("garbage", b"GARBAGE\r\n\r\n"),
        ("bare_get", b"GET\r\n\r\n"),
        ("get_no_version", b"GET /.well-known/mta-sts.txt\r\nHost: " + HOST.encode() +
            b"\r\nConnection: close\r\n\r\n"),
        ("http_9_9", req(version="HTTP/9.9", extra=CLOSE)),
        ("http_2_0", req(version="HTTP/2.0", extra=CLOSE)),
        ("version_garbage", req(version="HTTX/1.1", extra=CLOSE)),
        ("extra_token", b"GET /.well-known/mta-sts.txt HTTP/1.1 extra\r\nHost: " +
            HOST.encode() + b"\r\n" + CLOSE + b"\r\n"),
        ("nul_in_line", b"GET /.well-known/mta-sts.txt\x00 HTTP/1.1\r\nHost: " +
            HOST.encode() + b"\r\n" + CLOSE + b"\r\n"),
        ("lf_only_garbage", b"\n\n\n\n"),
        ("binary", b"\x00\x01\x02\x03\xff\xfe\r\n\r\n"),
        ("space_in_path", b"GET /.well-known/ mta-sts.txt HTTP/1.1\r\nHost: " +
            HOST.encode() + b"\r\n" + CLOSE + b"\r\n"),
        ("header_without_colon", req(extra=b"NoColonHere\r\n" + CLOSE)),
        ("two_hosts", req(extra=b"Host: mta-sts.example.net\r\n" + CLOSE)),
    ]
    res = {}

    def attack():
        for i, (name, payload) in enumerate(cases):
            res[name] = exchange(env, payload, i, timeout=6.0)
    run_with_legit(env, attack)
    problems = []
    for name, _ in cases:
        resps, how, secs, _, rest = res[name]
        env.notes.append("%s: %s, %s after %.2f s" % (name, statuses(resps), how, secs))
        st = statuses(resps)
        if any(200 <= s < 400 for s in st):
            problems.append("%s answered %s" % (name, st))
        if name.startswith("http_") and st and st[0] not in (400, 505):
            problems.append("%s answered %s, expected 505 or 400" % (name, st))
        if name in ("garbage", "bare_get", "lf_only_garbage", "binary") and \
                st and st[0] != 400:
            problems.append("%s answered %s, expected 400 or a close" % (name, st))
        if how == "timeout":
            problems.append("%s: connection still open after 6 s (%s)" % (name, st))
    check(not problems, "; ".join(problems))


@test
def absolute_form_and_foreign_hosts(env):
    """Absolute-form URIs, for this and for another loaded domain: never a
    redirect, never another domain's policy. RFC 9112 section 3.2.2 makes a
    server accept the absolute form and take the host from it (ignoring
    Host); libmicrohttpd does, so the absolute form of this connection's
    own policy URL may be served (200 with this domain's policy), and one
    naming another domain must be 421 (or 404/400)."""
    s2, _ = env.domain("example.net")
    start(env, make_conf(env, one_domain(env) + s2))
    other = R.normalised("example.net")
    own_ok, other_ok = (200, 400, 404), (400, 404, 421)
    cases = [
        ("abs_own", "https://mta-sts.example.com/.well-known/mta-sts.txt", HOST, own_ok),
        ("abs_own_http", "http://mta-sts.example.com/.well-known/mta-sts.txt", HOST, own_ok),
        ("abs_own_host_other", "https://mta-sts.example.com/.well-known/mta-sts.txt",
            "mta-sts.example.net", (200, 400, 404, 421)),
        ("abs_other", "https://mta-sts.example.net/.well-known/mta-sts.txt", HOST, other_ok),
        ("abs_other_host_other", "https://mta-sts.example.net/.well-known/mta-sts.txt",
            "mta-sts.example.net", other_ok),
        ("abs_other_no_host", "https://mta-sts.example.net/.well-known/mta-sts.txt", None,
            other_ok),
        ("abs_other_userinfo", "https://mta-sts.example.com@mta-sts.example.net"
            "/.well-known/mta-sts.txt", HOST, other_ok),
        ("abs_other_port", "https://mta-sts.example.net:443/.well-known/mta-sts.txt", HOST,
            other_ok),
        ("abs_other_path_own", "https://mta-sts.example.net/.well-known/mta-sts.txt"
            "#mta-sts.example.com", HOST, other_ok),
        ("scheme_relative", "//mta-sts.example.net/.well-known/mta-sts.txt", HOST, (400, 404)),
        ("authority_form", "mta-sts.example.net:443", HOST, (400, 404, 405)),
        ("asterisk", "*", HOST, (400, 404)),
    ]
    res = {}

    def attack():
        for i, (name, target, host, _) in enumerate(cases):
            res[name] = exchange(env, req(path=target, host=host,
                extra=b"Connection: close\r\n"), i)
        res["connect"] = exchange(env, req(path="mta-sts.example.net:443", method="CONNECT",
            extra=b"Connection: close\r\n"), 20)
    run_with_legit(env, attack)
    problems = []
    for name, _, _, allowed in cases + [("connect", None, None, (400, 404, 405))]:
        resps = res[name][0]
        env.notes.append("%s: %s" % (name, [(s, h.get("location"), b[:40]) for s, h, b in resps]))
        for s, h, body in resps:
            if 300 <= s < 400 or "location" in h:
                problems.append("%s: redirect %d %s" % (name, s, h.get("location")))
            if other.strip() in body or b"mail.example.net" in body:
                problems.append("%s: served example.net's policy on an example.com "
                    "connection" % name)
            if s not in allowed:
                problems.append("%s: status %d, expected one of %s" % (name, s, allowed))
            if s == 200 and body != R.normalised(DOMAIN):
                problems.append("%s: 200 with a body that is not %s's policy: %r"
                    % (name, DOMAIN, body[:60]))
        if not resps and res[name][1] == "timeout":
            problems.append("%s: no answer and not closed" % name)
    check(not problems, "; ".join(problems))


@test
def dot_segments_and_percent_encoding(env):
    """`..` and percent-encoded paths: 404/400. libmicrohttpd percent-decodes
    the path before the handler's exact comparison, so an encoding of the
    exact policy path (e.g. mta-sts%2etxt) may be served - but only ever this
    connection's own policy. A %00 must not cut the path short."""
    s2, _ = env.domain("example.net")
    start(env, make_conf(env, one_domain(env) + s2))
    own = R.normalised(DOMAIN)
    must_404 = [
        "/.well-known/../.well-known/mta-sts.txt",
        "/.well-known/./mta-sts.txt",
        "/%2e%2e/",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/../../../../etc/passwd",
        "/.well-known/mta-sts.txt%00",
        "/.well-known/mta-sts.txt%00.html",
        "/.well-known/mta-sts.txt/",
        "/.well-known/mta-sts.txt/..",
        "/.well-known//mta-sts.txt",
        "//.well-known/mta-sts.txt",
        "/.well-known/%2e%2e/.well-known/mta-sts.txt",
        "/.well-known%2f..%2f.well-known%2fmta-sts.txt",
        "/.well-known/mta-sts.txt%2500",
        "/.well-known\\mta-sts.txt",
        "/.WELL-KNOWN/MTA-STS.TXT",
        "/.well-known/mta-sts.txt.bak",
        "/%",
        "/%zz",
    ]
    may_200 = [     # decodes to exactly the policy path (or carries a query)
        "/.well-known/mta-sts%2etxt",
        "/%2ewell-known/mta-sts.txt",
        "/.well-known%2fmta-sts.txt",
        "/.well-known/mta-sts.txt?x=../../example.net",
    ]
    res = {}

    def attack():
        for i, p in enumerate(must_404 + may_200):
            res[p] = exchange(env, req(path=p, extra=b"Connection: close\r\n"), i)
    run_with_legit(env, attack)
    problems = []
    for p in must_404 + may_200:
        resps, how = res[p][0], res[p][1]
        env.notes.append("%s -> %s" % (p, statuses(resps) or how))
        for s, h, body in resps:
            if s == 200 and body != own:
                problems.append("%s: 200 with a body that is not %s's policy: %r"
                    % (p, DOMAIN, body[:60]))
            if 300 <= s < 400:
                problems.append("%s: redirect %d" % (p, s))
            if p in must_404 and s not in (400, 404):
                problems.append("%s: status %d, expected 404 or 400" % (p, s))
        if not resps and how == "timeout":
            problems.append("%s: no answer and not closed" % p)
    check(not problems, "; ".join(problems))


@test
def request_bodies(env):
    """POST with a 1 MB body: 405 and the connection closed (the body is not
    read); chunked PUT likewise; a GET announcing a body is answered and
    closed."""
    start(env, make_conf(env, one_domain(env)))
    res = {}

    def with_body(i, head, body):
        s = attacker_tls(env, i)
        try:
            s.settimeout(5.0)
            s.sendall(head + body[:16384])
            # the answer comes before the rest of the body is read
            how, secs, data = "timeout", 0.0, b""
            t0 = time.monotonic()
            while time.monotonic() - t0 < 5.0:
                resps, _ = parse_responses(data)
                if resps:
                    break
                s.settimeout(5.0 - (time.monotonic() - t0))
                try:
                    chunk = s.recv(65536)
                except (socket.timeout, TimeoutError):
                    break
                except (ConnectionError, ssl.SSLError, OSError) as e:
                    how = "reset: %s" % e
                    break
                if not chunk:
                    how = "eof"
                    break
                data += chunk
            resps, _ = parse_responses(data)
            send_err = None
            if how == "timeout":
                # the rest of the body: the server must not read it all, and
                # must close
                try:
                    s.settimeout(5.0)
                    s.sendall(body[16384:])
                except (OSError, ssl.SSLError) as e:
                    send_err = type(e).__name__
                how, secs, more = wait_closed(s, 5.0)
            return resps, how, secs, send_err
        finally:
            s.close()

    def attack():
        mb = os.urandom(1 << 20)
        res["post_1mb"] = with_body(1, req(method="POST", extra=b"Content-Length: %d\r\n"
            % len(mb)), mb)
        chunk = b"".join(b"4000\r\n" + os.urandom(0x4000) + b"\r\n" for _ in range(64))
        res["put_chunked"] = with_body(2, req(method="PUT",
            extra=b"Transfer-Encoding: chunked\r\n"), chunk + b"0\r\n\r\n")
        res["get_with_body"] = with_body(3, req(extra=b"Content-Length: 10\r\n"), b"0123456789")
        res["post_other_path"] = with_body(4, req(path="/upload", method="POST",
            extra=b"Content-Length: %d\r\n" % len(mb)), mb)
    run_with_legit(env, attack)
    problems = []
    for name, want in (("post_1mb", 405), ("put_chunked", 405), ("get_with_body", None),
            ("post_other_path", None)):
        resps, how, secs, send_err = res[name]
        env.notes.append("%s: %s, then %s (%.2f s), rest of body: %s"
            % (name, [(s, h.get("connection")) for s, h, _ in resps], how, secs, send_err))
        st = statuses(resps)
        if not st:
            problems.append("%s: no answer (%s)" % (name, how))
            continue
        if want is not None and st[0] != want:
            problems.append("%s: status %d, expected %d" % (name, st[0], want))
        if want is None and st[0] not in (200, 400, 404, 405, 413):
            problems.append("%s: status %d" % (name, st[0]))
        if how == "timeout":
            problems.append("%s: connection not closed after the answer" % name)
    check(not problems, "; ".join(problems))


@test
def pipelined_flood(env):
    """500 GETs in one write with max_requests_per_connection = 50:
    exactly 50 answers, in order (policy and a 404 path alternate), the last
    one with Connection: close, then the connection closes."""
    start(env, make_conf(env, one_domain(env), max_requests_per_connection=50))
    res = {}

    def attack():
        payload = b"".join(req() if k % 2 == 0 else req(path="/nope-%d" % k)
            for k in range(500))
        res["flood"] = exchange(env, payload, 1, timeout=10.0)
        # the same, read slowly after a pause: the answers must not be lost
        # by a reset when the server closes with requests still unread
        s = attacker_tls(env, 2)
        try:
            s.sendall(payload)
            time.sleep(1.0)
            how, secs, data = wait_closed(s, 10.0)
        finally:
            s.close()
        res["flood_late_read"] = parse_responses(data)[0], how, secs, None, b""
    run_with_legit(env, attack)
    problems = []
    for name in ("flood", "flood_late_read"):
        resps, how, secs, send_err, rest = res[name]
        st = statuses(resps)
        env.notes.append("%s: %d answers %s..., then %s after %.2f s, send error %s"
            % (name, len(st), st[:6], how, secs, send_err))
        if len(st) != 50:
            problems.append("%s: %d answers, expected 50 (max_requests_per_connection), "
                "connection ended by %s" % (name, len(st), how))
        want = [200 if k % 2 == 0 else 404 for k in range(len(st))]
        if st != want:
            problems.append("%s: answers out of order: %s" % (name, st))
        if resps:
            if resps[-1][1].get("connection", "").lower() != "close":
                problems.append("%s: the last answer (#%d) has no Connection: close"
                    % (name, len(resps)))
            early = [k for k, r in enumerate(resps[:-1]) if r[1].get("connection",
                "").lower() == "close"]
            if early:
                problems.append("%s: Connection: close already on answer #%d"
                    % (name, early[0] + 1))
        if how == "timeout":
            problems.append("%s: connection not closed" % name)
    check(not problems, "; ".join(problems))


@test
def pipelined_nul_request(env):
    """A valid GET followed in the same write by a GET with a NUL byte (in
    the target, or in a header): the first is answered 200, the second 400
    with an access-log line, then the connection closes. Every request in a
    buffer is checked, not only the first."""
    srv = start(env, make_conf(env, one_domain(env), access_log="stderr"))
    res = {}
    bad_target = (b"GET /.well-known/mta-sts.txt\x00.html HTTP/1.1\r\nHost: " +
        HOST.encode() + b"\r\n\r\n")
    bad_header = req(extra=b"X-A: b\x00c\r\n")

    def attack():
        res["target"] = exchange(env, req() + bad_target, 1)
        res["header"] = exchange(env, req() + req() + bad_header, 2)
        res["split"] = exchange(env, req() + bad_target[:20], 3, timeout=1.0)
    run_with_legit(env, attack)
    for name, want in (("target", [200, 400]), ("header", [200, 200, 400])):
        resps, how, secs, send_err, _ = res[name]
        env.notes.append("%s: statuses %s, %s after %.2f s" % (name, statuses(resps), how, secs))
        check_eq(statuses(resps), want, "answers to pipelined requests, the last with a NUL "
            "byte (%s)" % name)
        check(how in ("eof", "reset"), "%s: connection not closed after the 400" % name)
    log = srv.log()
    n400 = len(re.findall(r' access: .*" 400 ', log))
    check(n400 >= 2, "%d access-log lines with 400 for 2 refused NUL requests:\n%s"
        % (n400, log[-1500:]))
    # a request not finished yet is not refused: the answer before it comes
    check_eq(statuses(res["split"][0]), [200], "a GET followed by half a request")


@test
def refused_answers_carry_the_common_headers(env):
    """The answers the pump writes itself (400 for a NUL byte, 431 for
    headers over max_header_size) carry the same header fields as those
    libmicrohttpd writes (a 404 here): one table in http.c serves both."""
    start(env, make_conf(env, one_domain(env)))
    common = ("content-type", "cache-control", "x-content-type-options")
    got = {}
    got[404] = exchange(env, req(path="/nothing", extra=CLOSE), 1)[0]
    got[400] = exchange(env, req(extra=b"X-A: b\x00c\r\n"), 2)[0]
    got[431] = exchange(env, req(extra=b"X-Pad: " + b"p" * 9000 + b"\r\n"), 3)[0]
    for status, resps in sorted(got.items()):
        check_eq(statuses(resps), [status], "the answer's status")
    want = dict((k, got[404][0][1].get(k)) for k in common)
    check(None not in want.values(), "libmicrohttpd's 404 lacks a common header: %r" % want)
    for status in (400, 431):
        have = dict((k, got[status][0][1].get(k)) for k in common)
        check_eq(have, want, "the common headers of the %d the server writes itself" % status)


def sized_request(total, fields=0):
    """A GET whose request line and headers (up to and including the blank
    line) are exactly total bytes, with Connection: close; fields extra
    small header fields first."""
    base = req(extra=b"".join(b"X-F%d: v\r\n" % k for k in range(fields)) +
        CLOSE + b"X-Pad: \r\n")
    pad = total - len(base)
    check(pad >= 0, "test setup: %d bytes cannot hold the headers" % total)
    out = req(extra=b"".join(b"X-F%d: v\r\n" % k for k in range(fields)) + CLOSE +
        b"X-Pad: " + b"p" * pad + b"\r\n")
    check_eq(len(out), total, "test setup: request size")
    return out


@test
def max_header_size_is_exact(env):
    """max_header_size = 8192 counts the request line and headers up to and
    including the blank line: 8191 and 8192 bytes are served; 8193, 12 KB,
    16 KB and 20 KB are answered 431 with an access-log line, then closed
    (formerly 8-15 KB got 200 and 16 KB a silent close). Also at 1024 and
    16384, and 100 header fields pass where 101 get 431."""
    srv = start(env, make_conf(env, one_domain(env), max_header_size=8192,
        access_log="stderr"))
    res = {}
    sizes = [8191, 8192, 8193, 12 * 1024, 16 * 1024, 20 * 1024]

    def attack():
        for k, n in enumerate(sizes):
            res[n] = exchange(env, sized_request(n), k)
        # Host, Connection and X-Pad make 3 fields
        res["f100"] = exchange(env, sized_request(4000, 97), 8)
        res["f101"] = exchange(env, sized_request(4000, 98), 9)
    run_with_legit(env, attack)
    problems = []
    for n in sizes:
        resps, how, secs, send_err, _ = res[n]
        got = statuses(resps)
        env.notes.append("%d bytes: %s, %s after %.2f s" % (n, got, how, secs))
        want = [200] if n <= 8192 else [431]
        if got != want:
            problems.append("%d bytes: answered %s, expected %s (%s after %.2f s)"
                % (n, got, want, how, secs))
        elif how == "timeout":
            problems.append("%d bytes: connection not closed" % n)
    n431 = len(re.findall(r' access: .*" 431 ', srv.log()))
    if n431 < 4:
        problems.append("%d access-log lines with 431 for 4 refused requests" % n431)
    for name, want in (("f100", [200]), ("f101", [431])):
        got = statuses(res[name][0])
        env.notes.append("%s: %s" % (name, got))
        if got != want:
            problems.append("%s header fields: answered %s, expected %s" % (name[1:], got, want))
    check(not problems, "; ".join(problems))
    for limit in (1024, 16384):
        srv.proc.send_signal(signal.SIGTERM)
        srv.wait_exit(10.0)
        srv = start(env, make_conf(env, one_domain(env), max_header_size=limit))
        got = [statuses(exchange(env, sized_request(n), 10 + k)[0])
            for k, n in enumerate((limit, limit + 1))]
        check_eq(got, [[200], [431]], "answers at max_header_size = %d to %d and %d bytes"
            % (limit, limit, limit + 1))


# ---------------------------------------------------------------- many connections

def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return
    if hard != resource.RLIM_INFINITY and hard < want:
        raise Skip("RLIMIT_NOFILE hard limit %d < %d" % (hard, want))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def open_many(env, n, per_addr, sni=HOST, workers=16):
    """n TLS connections, per_addr from each attacker address, opened by a
    pool of threads; returns (sockets, errors)."""
    socks, errs = [], []
    lock = threading.Lock()
    counter = [0]

    def work(_):
        while True:
            with lock:
                k = counter[0]
                counter[0] += 1
            if k >= n:
                return
            try:
                s = attacker_tls(env, k // per_addr, sni)
                with lock:
                    socks.append(s)
            except (OSError, ssl.SSLError) as e:
                with lock:
                    errs.append("%s: %s" % (type(e).__name__, e))
    join_all(threads_run(work, workers), 60)
    return socks, errs


def ask_all(socks, workers=16, payload=None):
    """One GET (or payload) on each open connection; returns the list of
    statuses (or error strings)."""
    out = []
    lock = threading.Lock()
    chunks = [socks[k::workers] for k in range(workers)]

    def work(k):
        for s in chunks[k]:
            try:
                s.settimeout(5.0)
                s.sendall(req() if payload is None else payload)
                data = b""
                while True:
                    resps, _ = parse_responses(data)
                    if resps:
                        r = resps[0][0]
                        break
                    chunk = s.recv(4096)
                    if not chunk:
                        r = "eof"
                        break
                    data += chunk
            except (OSError, ssl.SSLError) as e:
                r = type(e).__name__
            with lock:
                out.append(r)
    join_all(threads_run(work, workers), 60)
    return out


@test
def thousand_connections_at_once(env):
    """1,000 TLS connections from 20 addresses held open at once
    (max_connections 2000, max_connections_per_ip 100): the legitimate
    client is unaffected and each of the 1,000 then gets its policy."""
    raise_nofile(8192)
    start(env, make_conf(env, one_domain(env), max_connections=2000,
        max_connections_per_ip=100, idle_timeout=60, request_timeout=10,
        handshake_timeout=10))
    res = {}

    def attack():
        t0 = time.monotonic()
        socks, errs = open_many(env, 1000, 50)
        res["open_s"] = time.monotonic() - t0
        try:
            time.sleep(1.0)
            res["statuses"] = ask_all(socks)
        finally:
            for s in socks:
                s.close()
        res["errs"] = errs
        res["n"] = len(socks)
    run_with_legit(env, attack)
    env.info.append("1000 connections opened in %.1f s" % res["open_s"])
    check(not res["errs"], "%d of 1000 connections failed, first: %s"
        % (len(res["errs"]), res["errs"][:1]))
    bad = [s for s in res["statuses"] if s != 200]
    check(not bad and len(res["statuses"]) == 1000,
        "%d of %d held connections did not get 200: %s" % (len(bad), len(res["statuses"]),
        sorted(set(map(str, bad)))[:5]))


def open_files_limit(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return [int(x) for x in line.split()[3:5]]
    raise Fail("no 'Max open files' in /proc/%d/limits" % pid)


@test
def open_files_limit_raised_at_start(env):
    """Started with a soft descriptor limit of 256 (hard 8192): the server
    raises the soft limit to the hard one (each connection holds three
    descriptors). Started with 512:512 and max_connections = 1024: it warns
    that max_connections cannot fit, naming both numbers."""
    if shutil.which("prlimit") is None:
        raise Skip("prlimit (util-linux) is not installed")
    conf = make_conf(env, one_domain(env), max_connections=1024)
    srv = env.start(conf, ready=False, prefix=["prlimit", "--nofile=256:8192", "--"])
    wait_served(env, srv)
    check_eq(open_files_limit(srv.proc.pid), [8192, 8192],
        "soft and hard descriptor limits of the running server (started with 256:8192)")
    check(not re.search(r"warn.*max_connections", srv.log()), "a warning about "
        "max_connections with room for it: %s" % srv.log()[-500:])
    srv.proc.send_signal(signal.SIGTERM)
    srv.wait_exit(10.0)
    srv = env.start(conf, ready=False, prefix=["prlimit", "--nofile=512:512", "--"])
    wait_served(env, srv)
    m = wait_log(srv, r"warn.*max_connections = 1024 .*\b512\b", 3.0)
    check(m is not None, "no warning that max_connections = 1024 does not fit in 512 "
        "descriptors: %s" % srv.log()[-800:])
    env.info.append("warning: %s" % m.group(0)[:200])


@test
def out_of_file_descriptors(env):
    """The server's descriptor limit is lowered to 48 (prlimit on the running
    process) and 150 connections are opened from attacker addresses: accepts
    and socketpairs start failing, those connections fail alone, the server
    logs it and stays up, and once the attackers leave it serves again."""
    if shutil.which("prlimit") is None:
        raise R.Skip("prlimit (util-linux) is not installed")
    raise_nofile(8192)
    srv = start(env, make_conf(env, one_domain(env), max_connections=2000,
        max_connections_per_ip=1000, handshake_timeout=5))
    R.run_ok(["prlimit", "--pid", str(srv.proc.pid), "--nofile=48:48"])
    socks, errs = open_many(env, 150, 50)
    try:
        check(srv.proc.poll() is None, "the server died when it ran out of descriptors")
        # the limit applied: handshakes failed, or (a connection whose
        # handshake completed but whose socketpair could not be made is
        # dropped after the client's side is done) the server saw EMFILE
        check(len(errs) > 0 or "Too many open files" in srv.log(),
            "all 150 connections succeeded under a limit of 48 descriptors "
            "and the server never ran out: the limit did not apply, the test "
            "proves nothing")
    finally:
        for so in socks:
            so.close()
    time.sleep(1.0)
    check(srv.proc.poll() is None, "the server died after running out of descriptors")
    wait_served(env, srv, timeout=5)
    log = srv.log()
    check("pausing accepts" in log or "socketpair" in log,
        "nothing logged about running out of descriptors:\n" + log[-2000:])
    env.info.append("%d of 150 connections refused at 48 descriptors; "
        "served again afterwards" % len(errs))


LIMITS_RE = (r"limits in the last (\d+) s: (\d+) refused at max_connections \((\d+)\), "
    r"(\d+) at max_connections_per_ip \((\d+)\), (\d+) handshakes timed out, "
    r"(\d+) requests timed out")


@test
def max_connections_limit(env):
    """max_connections = 200: with 200 connections held, each with a request
    not finished yet (none is idle, so no room can be made), 100 more are
    refused at once; the 200 are unaffected; the limits line is logged once
    per 10 s interval with the counts, not once per refusal. (The
    legitimate client runs before and after the saturation: while 200
    connections are held it would rightly be refused too.)"""
    raise_nofile(4096)
    srv = start(env, make_conf(env, one_domain(env), max_connections=200,
        max_connections_per_ip=1000, idle_timeout=60, request_timeout=30,
        handshake_timeout=10))
    legit = Legit(env)
    time.sleep(1.0)
    legit.assert_ok()
    log_at = len(srv.log())
    socks, errs = open_many(env, 200, 10)
    try:
        check(not errs, "opening 200 connections under the limit: %s" % errs[:2])
        # each with a request not finished yet: no room can be made
        for s in socks:
            s.sendall(req()[:-2])
        time.sleep(0.5)

        def refused_burst(n, base):
            out = []
            for k in range(n):
                t0 = time.monotonic()
                try:
                    s = attacker_tls(env, base + k % 10, timeout=3.0)
                    s.close()
                    out.append(("handshake completed", 0))
                except (OSError, ssl.SSLError) as e:
                    out.append((type(e).__name__, time.monotonic() - t0))
            return out
        burst1 = refused_burst(100, 30)
        bad = [b for b in burst1 if b[0] == "handshake completed" or b[1] > 1.0]
        check(not bad, "%d of 100 connections over max_connections were not refused at once: "
            "%r" % (len(bad), bad[:3]))
        # one line per 10 s interval, so the first may take up to 10 s
        m1 = wait_log(srv, LIMITS_RE, 11.0, log_at)
        check(m1 is not None, "no 'limits in the last 10 s' line within 11 s of 100 "
            "refusals at max_connections")
        # more refusals inside the interval: no line of their own...
        burst2 = refused_burst(50, 30)
        check(all(b[0] != "handshake completed" for b in burst2), "a connection over the "
            "limit completed a handshake in the second burst")
        statuses = ask_all(socks, payload=b"\r\n")
        bad = [s for s in statuses if s != 200]
        check(not bad, "%d of the 200 held connections did not get 200 while others were "
            "refused: %s" % (len(bad), sorted(set(map(str, bad)))[:5]))
        time.sleep(2.0)
        lines = re.findall(LIMITS_RE, srv.log()[log_at:])
        check(len(lines) == 1, "%d limits lines within 2 s of 150 refusals, expected 1 "
            "(one per interval): %r" % (len(lines), lines))
        # ...but the next line, at the end of the interval, has their count
        wait_log(srv, LIMITS_RE + r"[\s\S]*" + LIMITS_RE, 11.0, log_at)
        found = re.findall(r"^(\S+) .*" + LIMITS_RE, srv.log()[log_at:], re.M)
        env.notes.append("limits lines: %r" % found)
        check(len(found) == 2, "expected 2 limits lines 10 s apart, got %d: %r"
            % (len(found), found))
        when = [time.mktime(time.strptime(f[0][:19], "%Y-%m-%dT%H:%M:%S")) +
            float("0" + f[0][19:23]) for f in found]
        check(when[1] - when[0] >= 9.5, "the limits lines are only %.1f s apart"
            % (when[1] - when[0]))
        total = sum(int(f[2]) for f in found)
        check_eq(total, 150, "refusals at max_connections counted in the limits lines")
        check(all(f[3] == "200" for f in found), "the limits line does not name the limit 200")
    finally:
        for s in socks:
            s.close()
    time.sleep(0.5)
    legit = Legit(env)
    time.sleep(1.5)
    legit.assert_ok()


@test
def per_ip_limit_isolates_attacker(env):
    """One attacker address opening far more than max_connections_per_ip
    (16) idle connections keeps only 16: each new one closes the oldest idle
    one of that address; the legitimate client (another address) is
    unaffected."""
    start(env, make_conf(env, one_domain(env), max_connections_per_ip=16,
        idle_timeout=30, request_timeout=10))
    res = {}

    def attack():
        held, refused = [], 0
        for k in range(60):
            try:
                s = attacker_socket(env, 7, timeout=3.0)
                s = ATTACK_CTX.wrap_socket(s, server_hostname=HOST)
                held.append(s)
            except (OSError, ssl.SSLError):
                refused += 1
        res["held"], res["refused"] = len(held), refused
        time.sleep(0.5)
        res["closed"] = [peer_closed([s]) for s in held]
        for s in held:
            s.close()
    run_with_legit(env, attack)
    # each connection over the limit made room by closing the oldest idle
    # one of the same address
    check_eq(res["refused"], 0, "connections refused from one address (the idle ones make "
        "room)")
    check_eq(res["closed"], [1] * 44 + [0] * 16, "which of the 60 were closed (1) by the "
        "server: the oldest 44")


def peer_closed(socks):
    """How many of socks the server has closed (EOF or reset), without
    blocking; reads and drops what else is waiting (TLS records)."""
    import select
    p = select.poll()
    by_fd = {}
    for s in socks:
        by_fd[s.fileno()] = s
        p.register(s.fileno(), select.POLLIN)
    closed = 0
    for fd, ev in p.poll(0):
        s = by_fd[fd]
        while True:
            try:
                data = socket.socket.recv(s, 65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                closed += 1
                break
    return closed


@test
def idle_connections_make_room(env):
    """The issue's acceptance test, with the default max_connections (1024)
    and max_connections_per_ip (64): 64 connections from each of 16
    addresses (127.0.0.2 .. 127.0.0.17), half never sending a ClientHello,
    half completing the handshake and then silent, with timeouts too long to
    help (handshake 30 s, idle 60 s). A client from 127.0.0.1 then gets every
    fetch answered within 2 s for 10 s: each of its connections makes room
    by closing the one that has waited longest, the silent pre-handshake
    ones before the idle TLS ones."""
    raise_nofile(8192)
    start(env, make_conf(env, one_domain(env), max_connections=None,
        max_connections_per_ip=None, handshake_timeout=30, idle_timeout=60,
        request_timeout=10))
    raw, errs = [], []
    t0 = time.monotonic()
    for a in range(16):
        for k in range(32):
            try:
                raw.append(attacker_socket(env, a))
            except OSError as e:
                errs.append("tcp: %r" % e)
    t_raw = time.monotonic()
    tls, terrs = open_many(env, 512, 32)
    errs += terrs
    env.info.append("1,024 idle connections opened in %.1f s" % (time.monotonic() - t0))
    try:
        check(not errs, "%d of 1,024 attacker connections failed: %s" % (len(errs), errs[:2]))
        check_eq(peer_closed(raw + tls), 0, "attacker connections closed before the test")
        # a handshake counts as silent once it has waited 1 s (HS_SILENT_MS);
        # until then it is still moving and goes after the idle ones. When
        # the 512 handshakes above take less than that, the first fetches
        # would rightly close idle TLS connections: let the silent ones age
        time.sleep(max(0.0, 1.2 - (time.monotonic() - t_raw)))
        # the attackers keep the server full: each 50 ms they open a new
        # silent connection (rotating over their addresses)
        stop = threading.Event()
        extra = []

        def refill():
            k = 0
            while not stop.wait(0.05):
                try:
                    extra.append(attacker_socket(env, k % 16))
                except OSError:
                    pass
                k += 1
        filler = threading.Thread(target=refill, daemon=True)
        legit = Legit(env)
        filler.start()
        time.sleep(10.0)
        res = legit.stop()
        stop.set()
        filler.join(5.0)
        lat = sorted(r[1] for r in res)
        bad = [r for r in res if r[2] or r[1] >= 2.0]
        closed_raw, closed_tls = peer_closed(raw), peer_closed(tls)
        env.info.append("legit: %d fetches, %d failed or slower than 2 s, max %.0f ms; "
            "%d more silent connections opened meanwhile; closed to make room: %d of the "
            "first 512 silent, %d of the 512 idle TLS" % (len(res), len(bad),
            (lat[-1] if lat else 0) * 1000, len(extra), closed_raw, closed_tls))
        raw += extra
        check(len(res) >= 20, "the legitimate client made only %d fetches in 10 s" % len(res))
        check(not bad, "%d of %d legitimate fetches failed or took 2 s or more; first: %s"
            % (len(bad), len(res), bad[:1]))
        check(closed_raw > 0, "no silent connection was closed to make room")
        if closed_raw < len(raw):
            check_eq(closed_tls, 0, "idle TLS connections closed while silent pre-handshake "
                "ones (waiting longer, and first in line) were left")
    finally:
        for s in raw + tls:
            s.close()


@test
def idle_tls_connections_make_room(env):
    """max_connections = 100, all held by idle TLS connections (handshake
    done, nothing sent, idle_timeout 60 s): a new client is served, and the
    connections closed to make room are the oldest, and counted in
    /metrics (mta_stsd_connections_shed_total{reason="make_room"})."""
    raise_nofile(4096)
    aport = R.free_port()
    start(env, make_conf(env, one_domain(env), max_connections=100,
        max_connections_per_ip=None, idle_timeout=60,
        admin_listen="127.0.0.1:%d" % aport))
    socks = []
    for k in range(100):
        socks.append(attacker_tls(env, k % 10))
    try:
        check_eq(peer_closed(socks), 0, "connections closed before the test")
        # ten new clients, held open: each has to make room
        fresh = [attacker_tls(env, 40) for _ in range(10)]
        got = []
        for s in fresh:
            s.sendall(req())
            got.append(read_response(s, 5.0))
            s.close()
        check_eq(got, [200] * 10, "new clients with 100 idle connections held")
        time.sleep(0.3)
        first = [peer_closed([s]) for s in socks]
        env.notes.append("closed: %s" % "".join(map(str, first)))
        check(sum(first) >= 10, "only %d idle connections closed for 10 new ones"
            % sum(first))
        check_eq(first[:sum(first)], [1] * sum(first), "closed connections are the oldest")
        c = R.http.client.HTTPConnection("127.0.0.1", aport, timeout=5)
        c.request("GET", "/metrics")
        r = c.getresponse()
        st, body = r.status, r.read()
        c.close()
        m = re.search(rb'^mta_stsd_connections_shed_total\{reason="make_room"\} (\d+)$',
            body, re.M)
        check(st == 200 and m is not None, "no make_room series in /metrics (status %s)" % st)
        check_eq(int(m.group(1)), sum(first), "connections closed to make room in /metrics")
    finally:
        for s in socks:
            s.close()


V6_A1, V6_A2, V6_B = "2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:3::1"


def netns_v6_main(argv):
    """Child process, run by unshare -n (a network namespace of its own):
    bring lo up with three documentation addresses, two in one /64, start
    the server, and report as JSON what connections from each got."""
    binary, conf, port = argv[0], argv[1], int(argv[2])
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for a in (V6_A1, V6_A2, V6_B):
        subprocess.run(["ip", "-6", "addr", "add", a + "/128", "dev", "lo", "nodad"],
            check=True)
    out = {}
    log = open(conf + ".log", "wb")
    srv = subprocess.Popen([binary, "-c", conf], stdout=log, stderr=log)
    ctx = insecure_ctx()

    def tls_from(addr):
        raw = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        raw.settimeout(3.0)
        raw.bind((addr, 0))
        raw.connect(("::1", port))
        return ctx.wrap_socket(raw, server_hostname=HOST)
    held = []
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                s = tls_from(V6_B)
                s.sendall(req())
                if read_response(s, 3.0) == 200:
                    s.close()
                    break
                s.close()
            except (OSError, ssl.SSLError):
                pass
            if time.monotonic() > deadline:
                out["error"] = "the server did not serve within 10 s"
                raise StopIteration
            time.sleep(0.1)
        # four unfinished requests from one address: nothing may be closed
        for _ in range(4):
            s = tls_from(V6_A1)
            s.sendall(req()[:-2])
            held.append(s)
        time.sleep(0.3)

        def attempt(addr):
            try:
                s = tls_from(addr)
                s.sendall(req())
                r = read_response(s, 3.0)
                s.close()
                return r
            except (OSError, ssl.SSLError) as e:
                return type(e).__name__
        out["same_64"] = attempt(V6_A2)
        out["other_64"] = attempt(V6_B)
    except StopIteration:
        pass
    finally:
        for s in held:
            s.close()
        srv.terminate()
        srv.wait(10)
        log.close()
    json.dump(out, sys.stdout)
    return 0


@test
def per_ip_limit_counts_ipv6_per_64(env):
    """max_connections_per_ip = 4, held by four unfinished requests from
    2001:db8:1:2::1 (in a network namespace of the test's own): a connection
    from 2001:db8:1:2::2 (the same /64) is refused, one from 2001:db8:1:3::1
    (another /64) is served."""
    if not IS_ROOT:
        raise Skip("needs root for a network namespace (unshare -n)")
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        raise Skip("unshare (util-linux) or ip (iproute2) is not installed")
    conf = make_conf(env, one_domain(env), max_connections_per_ip=4, request_timeout=30)
    conf = conf.replace("listen = 127.0.0.1:%d" % env.port, "listen = [::1]:%d" % env.port)
    path = env.write("netns.conf", conf)
    p = subprocess.run(["unshare", "-n", sys.executable, os.path.abspath(__file__),
        "--netns-v6", R.BINARY, path, str(env.port)], capture_output=True, timeout=60)
    try:
        with open(path + ".log", "rb") as f:
            env.notes.append("server log:\n" + f.read().decode(errors="replace")[-1500:])
    except OSError:
        pass
    if p.returncode != 0:
        raise Fail("the namespace helper failed: %s" % p.stderr.decode(errors="replace")[-800:])
    out = json.loads(p.stdout.decode() or "{}")
    check("error" not in out, out.get("error", ""))
    check(out.get("same_64") != 200, "a 5th connection from the same /64 (%s, %s already "
        "holding 4) was served: the limit counts addresses, not /64s" % (V6_A2, V6_A1))
    check_eq(out.get("other_64"), 200, "a connection from another /64")


# ---------------------------------------------------------------- signals

def read_response(s, timeout):
    """Read one whole response from s (keep-alive: the server does not
    close); returns its status, or None."""
    s.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resps, _ = parse_responses(data)
        if resps:
            return resps[0][0]
        try:
            chunk = s.recv(65536)
        except (OSError, ssl.SSLError):
            return None
        if not chunk:
            return None
        data += chunk
    return None


def sigterm_with_clients(env, workers):
    """SIGTERM during a handshake flood, with clients in every state: the
    listener closes at once; idle connections (handshake done, nothing
    sent), keep-alive connections (one request answered) and unfinished
    requests (headers not finished) are closed within 2 s; the server logs
    its shutdown and exits 0 within 3 s. With several workers, eight
    clients of each kind make it all but certain (1 - 2^-23 for two) that
    every worker holds some of each."""
    srv = start(env, make_conf(env, one_domain(env), request_timeout=10, idle_timeout=30,
        handshake_timeout=5, workers=workers))
    stop_flood = threading.Event()
    flood_n = [0]

    def flood(i):
        while not stop_flood.is_set():
            try:
                attacker_tls(env, i, timeout=2.0).close()
                flood_n[0] += 1
            except (OSError, ssl.SSLError):
                time.sleep(0.01)

    legit = Legit(env)
    ts = threads_run(flood, 6)
    inflight, idle, kept = [], [], []
    try:
        for k in range(8):
            s = attacker_tls(env, 10 + k)
            s.sendall(req(extra=b"")[:-2])     # the final CRLF comes after SIGTERM
            inflight.append(s)
            idle.append(attacker_tls(env, 20 + k))
            s = attacker_tls(env, 30 + k)
            kept.append(s)
            s.sendall(req())
            check_eq(read_response(s, 5.0), 200, "keep-alive client %d's first request" % k)
        time.sleep(1.5)
        legit.assert_ok()
        log_at = len(srv.log())
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        # the listener closes: new connections are refused
        refused_after = None
        while time.monotonic() - t0 < 3.0:
            try:
                c = socket.create_connection(("127.0.0.1", env.port), timeout=1.0)
                c.close()
                time.sleep(0.05)
            except ConnectionRefusedError:
                refused_after = time.monotonic() - t0
                break
            except OSError:
                time.sleep(0.05)
        check(refused_after is not None, "still accepting connections 3 s after SIGTERM")
        for kind, conns in (("idle", idle), ("keep-alive", kept), ("unfinished", inflight)):
            closed = [wait_closed(s, 2.0)[0] for s in conns]
            check(all(h in ("eof", "reset") for h in closed),
                "%s connections not closed within 2 s of SIGTERM: %s" % (kind, closed))
        rc = srv.wait_exit(3.0)
        check(rc is not None, "still running 3 s after SIGTERM with nothing in flight")
        elapsed = time.monotonic() - t0
        check_eq(rc, 0, "exit status after SIGTERM")
        log = srv.log()[log_at:]
        check(re.search(r"info: Terminated: shutting down", log) and
            re.search(r"info: stopped$", log, re.M),
            "no shutdown and stopped lines in the log after SIGTERM: %r" % log[-400:])
        env.info.append("SIGTERM: listener closed after %.2f s, exit 0 after %.2f s; "
            "%d flood handshakes" % (refused_after, elapsed, flood_n[0]))
    finally:
        stop_flood.set()
        join_all(ts, 10)
        for s in inflight + idle + kept:
            s.close()


@test
def sigterm_under_load(env):
    sigterm_with_clients(env, 1)


@test
def sigterm_under_load_two_workers(env):
    sigterm_with_clients(env, 2)


@test
def half_request_then_client_close(env):
    """A client sends half a request and closes its side (FIN): it will
    never finish, so the server should close at once rather than hold the
    connection (and its max_connections / per-IP slot) until
    request_timeout; and a SIGTERM meanwhile should not wait for it."""
    srv = start(env, make_conf(env, one_domain(env), request_timeout=10, idle_timeout=30))
    res = {}

    def attack():
        socks = []
        for k in range(5):
            s = attacker_tls(env, k)
            s.sendall(b"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHo")
            socket.socket.shutdown(s, socket.SHUT_WR)   # TCP FIN under the TLS layer
            socks.append(s)
        res["closed"] = [wait_closed(s, 2.0)[:2] for s in socks[:2]]
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        res["exit"] = srv.wait_exit(12.0), time.monotonic() - t0
        for s in socks:
            s.close()
    legit = Legit(env)
    time.sleep(0.5)
    try:
        attack()
    finally:
        legit.stop()
    env.notes.append("closed: %r; exit %r" % (res["closed"], res["exit"]))
    check(res["exit"][1] < 1.5, "SIGTERM took %.1f s with 5 half-closed half requests open "
        "(request_timeout = 10)" % res["exit"][1])
    bad = [r for r in res["closed"] if r[0] not in ("eof", "reset") or r[1] > 1.5]
    check(not bad, "half requests whose client closed its side were held open: %s "
        "(request_timeout = 10)" % ", ".join("%s after %.1f s" % r for r in bad))
    check_eq(res["exit"][0], 0, "exit status on SIGTERM")


@test
def sigterm_closes_unfinished_request_at_once(env):
    """One connection with an unfinished request (half a header, then
    silence; request_timeout 30 s): SIGTERM closes it at once and the server
    exits 0 within 1.5 s (it used to wait ~10 s)."""
    srv = start(env, make_conf(env, one_domain(env), request_timeout=30, idle_timeout=30))
    s = attacker_tls(env, 1)
    try:
        s.sendall(b"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHo")
        time.sleep(0.5)
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        rc = srv.wait_exit(12.0)
        elapsed = time.monotonic() - t0
        how = wait_closed(s, 1.0)[0]
    finally:
        s.close()
    env.info.append("SIGTERM with an unfinished request: exit %r after %.2f s" % (rc, elapsed))
    check(rc is not None and elapsed < 1.5, "SIGTERM with one unfinished request open took "
        "%.1f s (expected under 1.5 s)" % elapsed)
    check_eq(rc, 0, "exit status on SIGTERM")
    check(how in ("eof", "reset"), "the unfinished request's connection was not closed")


@test
def sigterm_waits_shutdown_timeout_for_requests_in_flight(env):
    """A client pipelines thousands of requests and reads none of the
    answers, so one is always in flight (blocked on a full socket): SIGTERM
    gives it shutdown_timeout (2 s), then the server exits 0 (not after the
    old fixed 10 s). A client whose request completes meanwhile gets its
    answer."""
    srv = start(env, make_conf(env, one_domain(env), request_timeout=30, idle_timeout=30,
        shutdown_timeout=2, max_requests_per_connection=1000000))
    with R.pipelined_flood(env.port, HOST, ATTACK_CTX, source=src_addr(1)):
        other = attacker_tls(env, 2)
        try:
            time.sleep(1.5)
            other.sendall(req()[:-2])
            t0 = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            rc = srv.wait_exit(12.0)
            elapsed = time.monotonic() - t0
        finally:
            other.close()
    env.info.append("SIGTERM with a request in flight, shutdown_timeout = 2: exit %r after "
        "%.2f s" % (rc, elapsed))
    check(rc is not None and 1.5 <= elapsed <= 4.0, "SIGTERM with a request in flight and "
        "shutdown_timeout = 2 took %.1f s (expected 2 s, give or take)" % elapsed)
    check_eq(rc, 0, "exit status on SIGTERM")


@test
def sigkill_then_restart_serves_at_once(env):
    """SIGKILL while connections are open, then start again at once: the
    new process binds (SO_REUSEADDR) and serves within 2 s."""
    conf = make_conf(env, one_domain(env))
    srv = start(env, conf)
    held = [attacker_tls(env, k) for k in range(10)]
    for s in held[:5]:
        s.sendall(req())
    time.sleep(0.3)
    srv.proc.kill()
    srv.wait_exit(5.0)
    for s in held:
        s.close()
    srv2 = env.start(conf, ready=False)
    t0 = time.monotonic()
    t_ok = wait_served(env, srv2, timeout=5.0)
    check("cannot bind" not in srv2.log(), "restart could not bind: %s" % srv2.log()[-300:])
    check(t_ok - t0 < 2.0, "serving again took %.2f s after restart" % (t_ok - t0))
    env.info.append("restart after SIGKILL: serving after %.2f s" % (t_ok - t0))
    run_with_legit(env, lambda: time.sleep(1.5))


# ---------------------------------------------------------------- file faults

def nobody_ids():
    pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid


def give_tree(path, uid, gid):
    os.chown(path, uid, gid)
    for d, dirs, files in os.walk(path):
        for n in dirs + files:
            os.chown(os.path.join(d, n), uid, gid)


def file_fault(env, fault, domain, as_nobody):
    """Serve domain and example.com; apply fault to domain's policy file;
    the reload must fail for that file, log the file name, and keep serving
    the last good policy of the domain (the legitimate client fetches it
    throughout)."""
    s1 = one_domain(env)
    s2, _ = env.domain(domain)
    settings = {"user": "nobody"} if as_nobody else {}
    if as_nobody:
        uid, gid = nobody_ids()
        os.chmod(env.dir, 0o755)
        give_tree(env.dir, uid, gid)
    srv = start(env, make_conf(env, s1 + s2, **settings))
    wait_served(env, srv, domain)
    pfile = env.path("policies/%s.txt" % domain)
    name = os.path.basename(pfile)
    log_at = len(srv.log())

    def attack():
        fault(pfile)
        m = wait_log(srv, r"^.*%s.*$" % re.escape(name), 6.0, log_at)
        check(m is not None, "no log line names %s within 6 s of the fault" % name)
        env.notes.append("logged: %s" % m.group(0))
        check(re.search(r"(?i)\b(error|warn)", m.group(0)) is not None,
            "the line naming %s is not an error or warning: %s" % (name, m.group(0)))
        # also an explicit reload
        srv.proc.send_signal(signal.SIGHUP)
        time.sleep(1.5)
        for d in (DOMAIN, domain):
            st, _, body = R.fetch(env, "mta-sts." + d)
            check_eq((st, body), (200, R.normalised(d)),
                "mta-sts.%s after the fault and a SIGHUP" % d)
    run_with_legit(env, attack, domain=domain)
    check(srv.proc.poll() is None, "the server exited after the fault")


@test
def file_fault_policy_deleted(env):
    file_fault(env, os.unlink, "deleted.example", False)


@test
def file_fault_policy_truncated(env):
    file_fault(env, lambda p: open(p, "w").close(), "truncated.example", False)


@test
def file_fault_policy_unreadable(env):
    """chmod 000 on a policy file. Root reads anything, so when run as root
    the server drops to user = nobody (every file owned by nobody, the
    faulty one mode 000)."""
    if IS_ROOT:
        try:
            nobody_ids()
        except KeyError:
            raise Skip("no user nobody")
    file_fault(env, lambda p: os.chmod(p, 0), "unreadable.example", IS_ROOT)


# ---------------------------------------------------------------- privileges

def proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


@test
def privileges_dropped_to_nobody(env):
    """Started as root with user = nobody: every thread has Uid/Gid nobody,
    no root (or any other) supplementary group, NoNewPrivs 1, no
    capabilities; and it serves."""
    if not IS_ROOT:
        raise Skip("needs root to test dropping privileges")
    uid, gid = nobody_ids()
    sec = one_domain(env)
    os.chmod(env.dir, 0o755)
    give_tree(env.dir, uid, gid)
    srv = start(env, make_conf(env, sec, user="nobody"))
    problems = []
    tasks = os.listdir("/proc/%d/task" % srv.proc.pid)
    for tid in tasks:
        st = proc_status(int(tid))
        uids = st["Uid"].split()
        gids = st["Gid"].split()
        groups = st.get("Groups", "").split()
        env.notes.append("task %s: Uid %s Gid %s Groups %s NoNewPrivs %s CapEff %s CapPrm %s"
            % (tid, uids, gids, groups, st.get("NoNewPrivs"), st.get("CapEff"),
            st.get("CapPrm")))
        if uids != [str(uid)] * 4:
            problems.append("task %s Uid %s" % (tid, uids))
        if gids != [str(gid)] * 4:
            problems.append("task %s Gid %s" % (tid, gids))
        if "0" in groups or any(g != str(gid) for g in groups):
            problems.append("task %s Groups %s" % (tid, groups))
        if st.get("NoNewPrivs") != "1":
            problems.append("task %s NoNewPrivs %s" % (tid, st.get("NoNewPrivs")))
        if int(st.get("CapEff", "0"), 16) or int(st.get("CapPrm", "0"), 16):
            problems.append("task %s CapEff %s CapPrm %s" % (tid, st.get("CapEff"),
                st.get("CapPrm")))
    check(not problems, "; ".join(problems))
    run_with_legit(env, lambda: time.sleep(1.0))


@test
def private_key_readable_by_others_warned(env):
    """A private key file with mode 0644: -t and the running server warn,
    naming the file."""
    sec = one_domain(env)
    key = env.path("certs/%s/privkey.pem" % DOMAIN)
    os.chmod(key, 0o644)
    conf = make_conf(env, sec)
    rc, _, err = env.config_test(conf)
    env.notes.append("-t stderr:\n" + err)
    check_eq(rc, 0, "-t exit status (a warning must not fail)")
    rx = r"(?i)^.*privkey\.pem.*readable.*$"
    check(re.search(rx, err, re.M) is not None, "-t printed no warning naming privkey.pem "
        "as readable by others")
    srv = start(env, conf)
    check(wait_log(srv, rx, 3.0) is not None, "the server log has no warning naming "
        "privkey.pem as readable by others")
    os.chmod(key, 0o600)
    rc, _, err = env.config_test(conf)
    check(re.search(rx, err, re.M) is None, "-t warns about a mode 0600 key: %s" % err)


@test
def root_without_user_refused(env):
    """Started as root without user = and without allow_root = yes: refused
    with a clear message, exit 1, nothing served."""
    if not IS_ROOT:
        raise Skip("needs root")
    conf = make_conf(env, one_domain(env), allow_root=None)
    check("allow_root" not in conf and "user" not in conf, "test setup")
    srv = env.start(conf, ready=False)
    rc = srv.wait_exit(10.0)
    log = srv.log()
    env.notes.append("server output:\n" + log)
    if rc is None:
        try:
            served = R.fetch(env, HOST)[0] == 200
        except Exception:
            served = False
        raise Fail("the server is still running as root 10 s after start without user = "
            "or allow_root = yes%s" % (" and serves policies" if served else ""))
    check_eq(rc, 1, "exit status")
    check(re.search(r"(?i)root", log) and re.search(r"(?i)user|allow_root", log),
        "the refusal does not say why (root, user =, allow_root): %r" % log[-300:])


# ---------------------------------------------------------------- runner

def add_arguments(ap):
    ap.add_argument("--max-latency", type=float, default=MAX_LATENCY,
        help="longest a legitimate fetch may take, seconds (default %(default)s)")


def configure(args):
    global MAX_LATENCY, ATTACK_CTX
    MAX_LATENCY = args.max_latency
    ATTACK_CTX = insecure_ctx()


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--legit":
        return legit_main(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "--netns-v6":
        return netns_v6_main(sys.argv[2:])
    return runner.main(R, TESTS, __doc__.split("\n")[0], add_arguments, configure)


if __name__ == "__main__":
    sys.exit(main())
