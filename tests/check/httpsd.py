#!/usr/bin/env python3
"""tests/check/httpsd.py - deliberately misconfigured HTTPS servers for tests/check/run.sh.

Each argument is one listener, ADDR|MODE|CERT|KEY|BODY:
  ok        200, Content-Type: text/plain, the BODY file
  redirect  301 to https://www.example.net/.well-known/mta-sts.txt
  ctype     200 with the BODY file as Content-Type: text/html
  slow      waits 3 s, then answers as ok
Every listener is on port 443 of its address (a loopback address inside the
test's own network namespace). Runs until killed; prints "ready" when all
listeners are bound.
"""
import http.server
import ssl
import sys
import threading
import time


def make_handler(mode, body):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if mode == "redirect":
                self.send_response(301)
                self.send_header("Location", "https://www.example.net/.well-known/mta-sts.txt")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if mode == "slow":
                time.sleep(3)
            self.send_response(200)
            ctype = "text/html; charset=utf-8" if mode == "ctype" else "text/plain"
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):
            sys.stderr.write("httpsd %s %s\n" % (self.server.server_address[0], fmt % args))

    return Handler


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    servers = []
    for spec in sys.argv[1:]:
        addr, mode, cert, key, bodyfile = spec.split("|")
        with open(bodyfile, "rb") as f:
            body = f.read()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        srv = Server((addr, 443), make_handler(mode, body))
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True,
                                     do_handshake_on_connect=False)
        servers.append(srv)
    for srv in servers:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
