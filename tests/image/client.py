#!/usr/bin/env python3
"""tests/image/client.py - the HTTPS client of the image test (stdlib only).

  client.py get ADDR PORT SNI CA PATH     print the body of GET PATH (exit 1
                                          when the status is not 200)
  client.py cert ADDR PORT SNI CA         print the SHA-256 of the leaf
                                          certificate served for SNI
  client.py hold ADDR PORT SNI CA SECONDS handshake, send half a request and
                                          wait up to SECONDS for the server to
                                          close; prints "closed after N s" or
                                          "still open"; "ready" on stderr once
                                          the half request is sent

Each connection is made to ADDR (a loopback address) with SNI as the name
and CA as the only trust anchor; the certificate must match SNI.
"""
import hashlib
import socket
import ssl
import sys
import time


def connect(addr, port, sni, ca, timeout=10):
    ctx = ssl.create_default_context(cafile=ca)
    raw = socket.create_connection((addr, int(port)), timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname=sni)


def main(argv):
    if len(argv) < 6:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, addr, port, sni, ca = argv[1:6]
    if cmd == "get" and len(argv) == 7:
        s = connect(addr, port, sni, ca)
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                   % (argv[6], sni)).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0].decode("latin-1")
        sys.stdout.write(body.decode("utf-8", "replace"))
        if " 200 " not in status + " ":
            print("status: %s" % status, file=sys.stderr)
            return 1
        return 0
    if cmd == "cert" and len(argv) == 6:
        s = connect(addr, port, sni, ca)
        print(hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest())
        s.close()
        return 0
    if cmd == "hold" and len(argv) == 7:
        limit = float(argv[6])
        s = connect(addr, port, sni, ca, timeout=limit)
        s.sendall(("GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: %s\r\n"
                   % sni).encode())
        print("ready", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        try:
            while s.recv(65536):
                pass
            print("closed after %.1f s" % (time.monotonic() - t0))
        except socket.timeout:
            print("still open")
        except (ssl.SSLError, OSError) as e:
            print("closed after %.1f s (%s)" % (time.monotonic() - t0, e))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
