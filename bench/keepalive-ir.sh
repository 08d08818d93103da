#!/bin/bash
# bench/keepalive-ir.sh - instructions a server executes per keep-alive
# request, counted by callgrind: deterministic, so builds can be compared on a
# busy machine where CPU time is noise. The server runs under
# valgrind --tool=callgrind on 127.0.0.1 with .bench/data/1 (bench/gen.py);
# one TLS connection (Python's ssl, TCP_NODELAY) sends N requests one after the
# other, each answer read before the next request; the server is then stopped.
# Two runs, with N1 and N2 requests: (Ir(N2) - Ir(N1)) / (N2 - N1) is the cost
# of one request without start-up, handshake and shutdown. Kernel time is not
# counted (see the strace section of docs/BENCHMARKS.md for system calls).
#
# Usage: bench/keepalive-ir.sh BINARY|nginx [MODE] [N1] [N2]
#   MODE: tls13-aes256 (OpenSSL's and wrk's choice, the default), tls13-aes128,
#         tls13-chacha, tls12-aes128, tls12-chacha; the client offers only it
#   N1, N2: requests in the two runs (default 200 and 2200)
#   nginx: Debian's nginx with make bench's settings, one worker, no master
#   NEW_CONN=1: a new TLS connection for each request instead (Connection:
#   close): the instructions per handshake and request
#   KEEP_OUT=DIR keeps the callgrind outputs of both runs there (cg.N1,
#   cg.N2: for callgrind_annotate).
# Prints: MODE BINARY Ir_per_request (and the cipher the client negotiated).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=${1:?usage: keepalive-ir.sh BINARY|nginx [MODE] [N1] [N2]}
mode=${2:-tls13-aes256} n1=${3:-200} n2=${4:-2200}
data=$root/.bench/data/1
[ -d "$data" ] || { echo "no $data: run python3 bench/gen.py $data 1" >&2; exit 1; }
w=$(mktemp -d /tmp/keepalive-ir.XXXXXX)
trap 'rm -rf "$w"' EXIT

case $mode in
tls13-aes256) suites=TLS_AES_256_GCM_SHA384 max=TLSv1.3 ciphers=DEFAULT ;;
tls13-aes128) suites=TLS_AES_128_GCM_SHA256 max=TLSv1.3 ciphers=DEFAULT ;;
tls13-chacha) suites=TLS_CHACHA20_POLY1305_SHA256 max=TLSv1.3 ciphers=DEFAULT ;;
tls12-aes128) suites=TLS_AES_128_GCM_SHA256 max=TLSv1.2 ciphers=ECDHE-ECDSA-AES128-GCM-SHA256 ;;
tls12-chacha) suites=TLS_AES_128_GCM_SHA256 max=TLSv1.2 ciphers=ECDHE-ECDSA-CHACHA20-POLY1305 ;;
*) echo "keepalive-ir: unknown mode $mode" >&2; exit 2 ;;
esac
cat >"$w/openssl.cnf" <<EOF
openssl_conf = conf
[conf]
ssl_conf = ssl
[ssl]
system_default = sys
[sys]
Ciphersuites = $suites
CipherString = $ciphers
Groups = X25519:P-256
MaxProtocol = $max
EOF

cat >"$w/client.py" <<'PY'
import os, socket, ssl, sys, time
port, n, ca = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
deadline = time.monotonic() + 120
while True:		# the server starts slowly under valgrind
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("keepalive-ir: the server did not start")
        time.sleep(0.2)
new_conn = os.environ.get("NEW_CONN") == "1"
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
t = ctx.wrap_socket(s, server_hostname="mta-sts.d1.test")
req = b"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.d1.test\r\n"
req += b"Connection: close\r\n\r\n" if new_conn else b"\r\n"
buf = b""
for i in range(n):
    if new_conn and i > 0:
        t.close()
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t = ctx.wrap_socket(s, server_hostname="mta-sts.d1.test")
        buf = b""
    t.sendall(req)
    while True:
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if sep:
            length = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v)
            if len(rest) >= length:
                if not head.startswith(b"HTTP/1.1 200"):
                    sys.exit("keepalive-ir: " + head.split(b"\r\n")[0].decode())
                buf = rest[length:]
                break
        d = t.recv(65536)
        if not d:
            sys.exit("keepalive-ir: connection closed after %d answers" % i)
        buf += d
print("%s %s" % (t.version(), t.cipher()[0]), file=sys.stderr)
t.close()
PY

run() {	# $1 requests -> prints the server's Ir
	local n=$1 out=$w/cg.$1 pid
	if [ "$bin" = nginx ]; then
		mkdir -p "$w/ng"
		cat >"$w/ng/nginx.conf" <<-EOF
		daemon off; master_process off; worker_processes 1; user root;
		pid $w/ng/nginx.pid; error_log $w/ng/error.log;
		events { worker_connections 4096; }
		http {
		    access_log off; keepalive_timeout 30s; keepalive_requests 100000;
		    ssl_protocols TLSv1.2 TLSv1.3;
		    ssl_ciphers ECDHE+AESGCM:ECDHE+CHACHA20;
		    ssl_ecdh_curve X25519:prime256v1:secp384r1;
		    ssl_session_tickets off; ssl_session_cache off;
		    server {
		        listen 127.0.0.1:18443 ssl; server_name mta-sts.d1.test;
		        ssl_certificate $data/certs/mta-sts.d1.test/fullchain.pem;
		        ssl_certificate_key $data/certs/mta-sts.d1.test/privkey.pem;
		        location = /.well-known/mta-sts.txt { default_type text/plain; alias $data/policies/d1.test.txt; }
		    }
		}
		EOF
		valgrind --tool=callgrind --callgrind-out-file="$out" \
			/usr/sbin/nginx -p "$w/ng" -c "$w/ng/nginx.conf" 2>"$w/vg.log" &
	else
		printf '[server]\nlisten = 127.0.0.1:18443\npolicy_dir = %s\ncert_dir = %s\naccess_log = off\nallow_root = yes\nauto_reload = no\nmax_requests_per_connection = 100000\n' \
			"$data/policies" "$data/certs" >"$w/conf"
		valgrind --tool=callgrind --callgrind-out-file="$out" \
			"$bin" -c "$w/conf" 2>"$w/vg.log" &
	fi
	pid=$!
	if ! OPENSSL_CONF=$w/openssl.cnf python3 "$w/client.py" 18443 "$n" "$data/ca.pem" 2>"$w/client.log"; then
		cat "$w/client.log" >&2; kill "$pid"; wait "$pid" || true; tail -5 "$w/vg.log" >&2; exit 1
	fi
	kill -TERM "$pid"; wait "$pid" || true
	cat "$w/client.log" >&2
	awk '/^(summary|totals):/ { print $2; exit }' "$out"
	if [ -n "${KEEP_OUT:-}" ]; then mkdir -p "$KEEP_OUT"; cp "$out" "$KEEP_OUT/"; fi
}
a=$(run "$n1")
b=$(run "$n2")
echo "$mode$([ "${NEW_CONN:-}" = 1 ] && echo ' new-conn') $bin $(( (b - a) / (n2 - n1) )) Ir per request ($n1: $a, $n2: $b)"
