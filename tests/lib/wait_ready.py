"""wait_ready.py NAME ADDRESS:PORT... - wait until a test network answers.

Run inside the namespace of a shell suite (tests/lib/common.sh, wait_ready):
waits, at most 10 s, until NAME resolves to 127.0.0.1 and every ADDRESS:PORT
accepts a TCP connection ("::1:443" is IPv6). Exit 0 when all do, else 1
with the last error on stderr.
"""

import socket
import sys
import time


def main(argv):
    name, addrs = argv[0], [a.rsplit(":", 1) for a in argv[1:]]
    deadline = time.monotonic() + 10
    err = None
    while True:
        try:
            ok = socket.gethostbyname(name) == "127.0.0.1"
            for host, port in addrs:
                socket.create_connection((host, int(port)), timeout=1).close()
            if ok:
                return 0
            err = "%s does not resolve to 127.0.0.1" % name
        except OSError as e:
            err = e
        if time.monotonic() > deadline:
            sys.exit("not ready after 10 s: %s" % err)
        time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
