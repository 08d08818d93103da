#!/usr/bin/env python3
"""Small measuring helpers for bench/run.sh (standard library only).

  tool.py wait [--since NS | --since-file FILE | --signal PID:SIG | --write FILE TEXT |
               --copy FROM_DIR TO_DIR] HOST PORT
          [--sni NAME] [--expect TEXT] [--header NAME:VALUE] [--cert-sha256 HEX]
          [--pid PID] [--timeout S]
      Do the action (send a signal, or write a file), then fetch
      https://SNI/.well-known/mta-sts.txt from HOST:PORT (a new TLS connection
      each try, every 2 ms) until the answer is 200 and matches; print the
      milliseconds from the action (or from NS, a CLOCK_REALTIME time in
      nanoseconds such as `date +%s%N` prints; or read from FILE once answered,
      for a poller started before the server) to that answer. --pid: give up
      when that process is gone.
  tool.py rate HOST PORT --names FILE --rate R --duration S [--keepalive C]
      Send requests at a fixed rate (a schedule, not a closed loop: latency
      counts from when a request was due, so a stalled server is not hidden)
      and print "p50_ms p99_ms answers errors answers_over_500ms max_ms".
      asyncio sets TCP_NODELAY on its sockets. Without --keepalive every request
      is a new TLS connection (Connection: close) to the next name of FILE in
      turn; with --keepalive C, C persistent connections take turns.
  tool.py load HOST PORT --sni NAME --conns C --duration S
      C processes, each with one blocking new TLS connection per request
      (Connection: close) after the other, for S seconds; prints
      "N requests in S s", "Requests/sec: R" and, if any, "Errors: E", as wrk
      does. Unlike wrk, which polls a socket for writability while its TLS
      handshake waits for the server (its CPU time grows with the server's
      handshake time), a blocked client costs no CPU while the server works.
  tool.py mem PID...      print "rss_kib pss_kib", summed over the processes
  tool.py cpu PID...      print utime+stime of the processes, in seconds
  tool.py tree PID        print PID and its children's process ids
  tool.py certsha FILE    SHA-256 of the first certificate of a PEM file
  tool.py rewrite DIR MAX_AGE   rewrite every DIR/*.txt policy with that max_age
  tool.py report TSV MACHINE OUT.md LIBS_M LIBS_N
                          medians per row and server into a Markdown table
  tool.py sample PID...   every 100 ms until killed, print "rss_kib pss_kib"
                          (process ids re-read from the first PID's children)
  tool.py timed CMD...    run CMD (its output passes through), then print
                          "timed: WALL_S CMD_CPU_S MACHINE_BUSY_S": its wall time,
                          its own user+system CPU time and its children's
                          (wait4), and the CPU time all processes of the machine
                          spent meanwhile (/proc/stat, every core, idle and
                          iowait not counted)
  tool.py mcreport TSV OUT.md   the multi-core stage's rows (row, server, workers,
                          value) as a table: medians, 2 workers / 1 worker
"""
import asyncio
import hashlib
import os
import re
import shutil
import signal
import socket
import ssl
import sys
import time

PATH = "/.well-known/mta-sts.txt"


def client_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def exchange(ctx, host, port, sni, timeout):
    """GET the policy on a new TLS connection with Connection: close; returns
    (everything the server sent, its certificate DER)."""
    with socket.create_connection((host, port), timeout=timeout) as raw:
        # like wrk and asyncio: do not let Nagle hold the request back
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with ctx.wrap_socket(raw, server_hostname=sni) as s:
            s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                       % (PATH, sni)).encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return data, s.getpeercert(binary_form=True)


def fetch_once(ctx, host, port, sni, timeout=1.0):
    """One request on a new connection: (status, headers, body, cert DER)."""
    data, der = exchange(ctx, host, port, sni, timeout)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body, der


def cmd_wait(args):
    since = sig = write = watch = copy = None
    opts = {"sni": None, "expect": None, "header": None, "cert": None, "timeout": 120.0}
    pos = []
    it = iter(args)
    for a in it:
        if a == "--since":
            since = int(next(it))
        elif a == "--since-file":
            since = next(it)
        elif a == "--write":
            write = (next(it), next(it))
        elif a == "--copy":
            copy = (next(it), next(it))
        elif a == "--pid":
            watch = int(next(it))
        elif a == "--signal":
            pid, _, name = next(it).partition(":")
            sig = (int(pid), getattr(signal, "SIG" + name))
        elif a == "--sni":
            opts["sni"] = next(it)
        elif a == "--expect":
            opts["expect"] = next(it).encode()
        elif a == "--header":
            opts["header"] = next(it).split(":", 1)
        elif a == "--cert-sha256":
            opts["cert"] = next(it).lower()
        elif a == "--timeout":
            opts["timeout"] = float(next(it))
        else:
            pos.append(a)
    host, port = pos[0], int(pos[1])
    sni = opts["sni"] or host
    ctx = client_ctx()
    t0 = time.monotonic()
    if isinstance(since, int):
        t0 -= (time.time_ns() - since) / 1e9
    elif sig is not None:
        os.kill(*sig)
    elif write is not None:
        with open(write[0], "w", newline="") as f:
            f.write(write[1].replace("\\n", "\r\n"))
    elif copy is not None:
        # every file of a directory over the same names in another, in
        # place (as cp does): the key first, then the chain
        for name in sorted(os.listdir(copy[0]), key=lambda n: "privkey" not in n):
            shutil.copyfile(os.path.join(copy[0], name), os.path.join(copy[1], name))
    while True:
        now = time.monotonic()
        if now - t0 > opts["timeout"]:
            print("timeout", file=sys.stderr)
            sys.exit(1)
        if watch is not None and not alive(watch):
            print("the server exited", file=sys.stderr)
            sys.exit(1)
        try:
            status, headers, body, der = fetch_once(ctx, host, port, sni)
        except (OSError, ValueError, IndexError):
            time.sleep(0.002)
            continue
        ok = status == 200
        if ok and opts["expect"] is not None:
            ok = opts["expect"] in body
        if ok and opts["header"] is not None:
            ok = headers.get(opts["header"][0].lower()) == opts["header"][1]
        if ok and opts["cert"] is not None:
            ok = hashlib.sha256(der).hexdigest() == opts["cert"]
        if ok:
            break
        time.sleep(0.002)
    if isinstance(since, str):
        # started before the server, so that Python's own start-up is not counted
        with open(since) as f:
            t0 = time.monotonic() - (time.time_ns() - int(f.read())) / 1e9
    print("%.1f" % ((time.monotonic() - t0) * 1000))


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def percentile(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


async def rate_run(host, port, names, rate, duration, keepalive):
    ctx = client_ctx()
    lat, errors = [], [0]
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.2
    total = int(rate * duration)

    async def one_close(due, name):
        try:
            r, w = await asyncio.open_connection(host, port, ssl=ctx, server_hostname=name)
            w.write(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                     % (PATH, name)).encode())
            data = await r.read()
            w.close()
            if not data.startswith(b"HTTP/1.1 200"):
                raise ValueError("status")
            lat.append(loop.time() - due)
        except Exception:
            errors[0] += 1

    async def conn_worker(k, name):
        # requests due at t0 + (k + j*C)/rate, one in flight per connection
        r, w = await asyncio.open_connection(host, port, ssl=ctx, server_hostname=name)
        req = ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (PATH, name)).encode()
        for i in range(k, total, keepalive):
            due = t0 + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                w.write(req)
                head = await r.readuntil(b"\r\n\r\n")
                clen = 0
                for ln in head.split(b"\r\n"):
                    if ln.lower().startswith(b"content-length:"):
                        clen = int(ln.split(b":")[1])
                await r.readexactly(clen)
                if not head.startswith(b"HTTP/1.1 200"):
                    raise ValueError("status")
                lat.append(loop.time() - due)
            except Exception:
                errors[0] += 1
                w.close()
                r, w = await asyncio.open_connection(host, port, ssl=ctx,
                                                     server_hostname=name)
        w.close()

    if keepalive:
        await asyncio.gather(*(conn_worker(k, names[k % len(names)])
                               for k in range(keepalive)))
    else:
        tasks = []
        for i in range(total):
            due = t0 + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one_close(due, names[i % len(names)])))
        await asyncio.gather(*tasks)
    return lat, errors[0]


def cmd_rate(args):
    host, port = args[0], int(args[1])
    opts = {"--names": None, "--rate": "200", "--duration": "5", "--keepalive": "0"}
    i = 2
    while i < len(args):
        opts[args[i]] = args[i + 1]
        i += 2
    with open(opts["--names"]) as f:
        names = [ln.strip() for ln in f if ln.strip()]
    lat, errors = asyncio.run(rate_run(host, port, names, float(opts["--rate"]),
                                       float(opts["--duration"]),
                                       int(opts["--keepalive"])))
    print("%.2f %.2f %d %d %d %.1f" % (percentile(lat, 50) * 1000, percentile(lat, 99) * 1000,
                                     len(lat), errors, sum(1 for x in lat if x > 0.5),
                                     max(lat or [0]) * 1000))


def load_child(host, port, sni, until, out):
    ctx = client_ctx()
    done = errors = 0
    while time.monotonic() < until:
        try:
            data, _ = exchange(ctx, host, port, sni, 10)
            if data.startswith(b"HTTP/1.1 200"):
                done += 1
            else:
                errors += 1
        except (OSError, ValueError):
            errors += 1
    os.write(out, b"%d %d\n" % (done, errors))


def cmd_load(args):
    host, port = args[0], int(args[1])
    opts = {"--sni": host, "--conns": "16", "--duration": "5"}
    for i in range(2, len(args), 2):
        opts[args[i]] = args[i + 1]
    conns, duration = int(opts["--conns"]), float(opts["--duration"])
    r, w = os.pipe()
    t0 = time.monotonic()
    until = t0 + duration
    kids = []
    for _ in range(conns):
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                load_child(host, port, opts["--sni"], until, w)
            finally:
                os._exit(0)
        kids.append(pid)
    os.close(w)
    for pid in kids:
        os.waitpid(pid, 0)
    wall = time.monotonic() - t0
    with os.fdopen(r) as f:
        counts = [ln.split() for ln in f.read().split("\n") if ln.strip()]
    done = sum(int(c[0]) for c in counts)
    errors = sum(int(c[1]) for c in counts) + conns - len(counts)
    print("  %d requests in %.2fs" % (done, wall))
    print("Requests/sec: %.2f" % (done / wall))
    if errors:
        print("Errors: %d" % errors)


def tree(pid):
    pids = [pid]
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            pids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return pids


def mem(pids):
    rss = pss = 0
    for p in pids:
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for ln in f:
                    if ln.startswith("Rss:"):
                        rss += int(ln.split()[1])
                    elif ln.startswith("Pss:"):
                        pss += int(ln.split()[1])
        except OSError:
            pass
    return rss, pss


def cpu(pids):
    hz = os.sysconf("SC_CLK_TCK")
    t = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            t += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return t / hz


def machine_busy():
    """CPU seconds spent so far by every core, not idle (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest is inside user)
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def cmd_timed(args):
    sys.stdout.flush()
    b0, t0 = machine_busy(), time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(args[0], args)
        finally:
            os._exit(127)
    _, status, ru = os.wait4(pid, 0)
    wall, busy = time.monotonic() - t0, machine_busy() - b0
    print("timed: %.3f %.3f %.3f" % (wall, ru.ru_utime + ru.ru_stime, busy))
    sys.exit(os.waitstatus_to_exitcode(status))


def median(v):
    v = sorted(v)
    if not v:
        return float("nan")
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def fmt(v):
    if v != v:
        return "-"
    if abs(v) >= 100 or v == int(v):
        return "{:,}".format(int(round(v)))
    return "%.1f" % v if abs(v) >= 10 else "%.2f" % v


def report(tsv, machine, out, libs_m, libs_n):
    rows, vals = [], {}
    with open(tsv) as f:
        for ln in f:
            row, srv, val = ln.rstrip("\n").split("\t")
            if row not in vals:
                rows.append(row)
                vals[row] = {"m": [], "n": []}
            try:
                vals[row][srv].append(float(val))
            except ValueError:
                pass
    lines = ["| figure | mta-stsd | nginx | ratio mta-stsd/nginx |",
             "| --- | ---: | ---: | ---: |"]
    for row in rows:
        med = {}
        for s in ("m", "n"):
            v = sorted(vals[row][s])
            med[s] = (v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2) \
                if v else float("nan")
        ratio = med["m"] / med["n"] if med["n"] == med["n"] and med["n"] and med["m"] == med["m"] else float("nan")
        label = row.replace("  ", "&nbsp;&nbsp;&nbsp;")
        lines.append("| %s | %s | %s | %s |" % (label, fmt(med["m"]), fmt(med["n"]),
                                               "-" if ratio != ratio else "%.2f" % ratio))
    with open(machine) as f:
        head = ["- " + ln.strip() for ln in f if ln.strip()]
    libs = []
    for who, p in (("mta-stsd", libs_m), ("nginx", libs_n)):
        try:
            with open(p) as f:
                libs.append("- libraries mapped by %s: %s" % (who, f.read().strip()))
        except OSError:
            pass
    text = "\n".join(head + [""] + lines + [""] + libs) + "\n"
    with open(out, "w") as f:
        f.write(text)


def mcreport(tsv, out):
    """The multi-core stage: per row and server, the medians with 1 and 2
    workers and their ratio; rows recorded with workers "r" are ratios
    already (per run) and fill only the ratio column."""
    rows, vals = [], {}
    with open(tsv) as f:
        for ln in f:
            row, srv, workers, val = ln.rstrip("\n").split("\t")
            if row not in vals:
                rows.append(row)
                vals[row] = {}
            try:
                vals[row].setdefault((srv, workers), []).append(float(val))
            except ValueError:
                pass
    lines = ["| figure | mta-stsd, 1 worker | mta-stsd, 2 workers | mta-stsd 2/1 "
             "| nginx, 1 worker | nginx, 2 workers | nginx 2/1 |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        cells = []
        for s in ("m", "n"):
            one = median(vals[row].get((s, "1"), []))
            two = median(vals[row].get((s, "2"), []))
            if (s, "r") in vals[row]:
                ratio = median(vals[row][(s, "r")])
            elif one == one and abs(one) >= 0.1 and two == two:
                ratio = two / one
            else:  # no ratio of a few hundredths (the rest of an idle machine)
                ratio = float("nan")
            cells += [fmt(one), fmt(two), "-" if ratio != ratio else "%.2f" % ratio]
        lines.append("| %s | %s |" % (row.replace("  ", "&nbsp;&nbsp;&nbsp;"), " | ".join(cells)))
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "wait":
        cmd_wait(args)
    elif cmd == "rate":
        cmd_rate(args)
    elif cmd == "load":
        cmd_load(args)
    elif cmd == "mem":
        print("%d %d" % mem([int(a) for a in args]))
    elif cmd == "cpu":
        print("%.2f" % cpu([int(a) for a in args]))
    elif cmd == "report":
        report(*args)
    elif cmd == "certsha":
        with open(args[0]) as f:
            first = f.read().split("-----END CERTIFICATE-----")[0]
        der = ssl.PEM_cert_to_DER_cert(first + "-----END CERTIFICATE-----\n")
        print(hashlib.sha256(der).hexdigest())
    elif cmd == "rewrite":
        for name in os.listdir(args[0]):
            if name.endswith(".txt"):
                p = os.path.join(args[0], name)
                with open(p) as f:
                    text = f.read()
                text = re.sub(r"max_age: [0-9]+", "max_age: " + args[1], text)
                with open(p, "w", newline="") as f:
                    f.write(text)
    elif cmd == "timed":
        cmd_timed(args)
    elif cmd == "mcreport":
        mcreport(*args)
    elif cmd == "tree":
        print(" ".join(str(p) for p in tree(int(args[0]))))
    elif cmd == "sample":
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while True:
            print("%d %d" % mem(tree(int(args[0])) + [int(a) for a in args[1:]]), flush=True)
            time.sleep(0.1)
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
