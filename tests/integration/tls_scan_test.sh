#!/usr/bin/env bash
# tls_scan_test.sh - scan a running mta-stsd with sslscan (Debian package
# "sslscan") and check its TLS quality:
#   only TLS 1.2 and 1.3 enabled (SSLv2, SSLv3, TLS 1.0, TLS 1.1 disabled);
#   every accepted suite forward secret (ECDHE, or TLS 1.3) and AEAD
#   (AES-GCM or ChaCha20-Poly1305); no TLS compression; no insecure
#   renegotiation; not vulnerable to Heartbleed.
#
#   tests/integration/tls_scan_test.sh [path/to/mta-stsd]   (default build/mta-stsd)
#
# The server gets one domain with both an ECDSA and an RSA certificate, so the
# ECDHE-ECDSA and ECDHE-RSA suites are both scanned. Prints "PASS name",
# "FAIL name: reason" or "SKIP name: why" per check, then "N passed, N failed";
# exit status 1 when a check failed. Needs openssl and sslscan.

set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
binary=${1:-$root/build/mta-stsd}
case $binary in /*) ;; *) binary=$PWD/$binary ;; esac

passed=0
failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}

if [ ! -x "$binary" ]; then
	fail binary "$binary is missing or not executable (run make)"
	finish
fi
for tool in openssl sslscan python3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		fail setup "$tool is not installed (Debian: apt-get install $tool)"
		finish
	fi
done

dir=$(mktemp -d /tmp/mtastsd-scan-XXXXXX)
pid=
# SIGTERM, at most 12 s, then SIGKILL; the exit status goes to stop_rc
stop_rc=
stop_server() {
	local killer
	kill -TERM "$pid" 2>/dev/null
	( sleep 12; kill -KILL "$pid" 2>/dev/null ) &
	killer=$!
	wait "$pid" 2>/dev/null
	stop_rc=$?
	kill "$killer" 2>/dev/null
	wait "$killer" 2>/dev/null
	pid=
}
cleanup() {
	[ -n "$pid" ] && stop_server
	rm -rf "$dir"
}
trap cleanup EXIT

# --- a throwaway CA-less setup: two self-signed leaves for the policy host
domain=example.com
host=mta-sts.$domain
mkdir -p "$dir/policies" "$dir/certs"
printf 'version: STSv1\nmode: enforce\nmx: mail.%s\nmax_age: 604800\n' "$domain" \
	>"$dir/policies/$domain.txt"
if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$dir/certs/ec.key" -out "$dir/certs/ec.pem" -subj "/CN=$host" \
	-addext "subjectAltName=DNS:$host" -days 30 >/dev/null 2>&1 ||
   ! openssl req -x509 -newkey rsa:2048 -nodes \
	-keyout "$dir/certs/rsa.key" -out "$dir/certs/rsa.pem" -subj "/CN=$host" \
	-addext "subjectAltName=DNS:$host" -days 30 >/dev/null 2>&1; then
	fail setup "openssl could not make the test certificates"
	finish
fi
chmod 600 "$dir"/certs/*.key

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
{
	echo "[server]"
	echo "listen = 127.0.0.1:$port"
	echo "policy_dir = policies"
	echo "log_level = info"
	echo "access_log = off"
	[ "$(id -u)" -eq 0 ] && echo "allow_root = yes"
	echo "[$domain]"
	echo "cert = certs/ec.pem"
	echo "key = certs/ec.key"
	echo "cert2 = certs/rsa.pem"
	echo "key2 = certs/rsa.key"
} >"$dir/mta-stsd.conf"

(cd / && exec "$binary" -c "$dir/mta-stsd.conf") >"$dir/server.log" 2>&1 &
pid=$!

# the domains load in the background after binding: wait for a real handshake
ready=
for _ in $(seq 100); do
	kill -0 "$pid" 2>/dev/null || break
	if timeout 5 openssl s_client -connect "127.0.0.1:$port" </dev/null \
		-servername "$host" >/dev/null 2>&1; then
		ready=yes
		break
	fi
	sleep 0.1
done
if [ -z "$ready" ]; then
	fail setup "the server did not complete a TLS handshake within 10 s"
	sed 's/^/    | /' "$dir/server.log"
	finish
fi

scan=$dir/sslscan.txt
timeout 170 sslscan --no-colour --sni-name="$host" "127.0.0.1:$port" >"$scan" 2>&1
rc=$?
if [ "$rc" -ne 0 ]; then
	fail sslscan "sslscan failed or timed out (exit $rc)"
	sed 's/^/    | /' "$scan"
	finish
fi
if ! grep -q "Supported Server Cipher" "$scan"; then
	fail sslscan "no cipher section in sslscan's output"
	sed 's/^/    | /' "$scan"
	finish
fi

# --- protocols: "SSLv2     disabled" ... "TLSv1.3   enabled"
proto_state() {
	awk -v p="$1" '$1 == p && ($2 == "enabled" || $2 == "disabled") { print $2; exit }' "$scan"
}
for p in SSLv2 SSLv3 TLSv1.0 TLSv1.1; do
	s=$(proto_state "$p")
	if [ "$s" = disabled ]; then pass "protocol_${p}_disabled"
	else fail "protocol_${p}_disabled" "sslscan says ${s:-nothing} for $p"; fi
done
for p in TLSv1.2 TLSv1.3; do
	s=$(proto_state "$p")
	if [ "$s" = enabled ]; then pass "protocol_${p}_enabled"
	else fail "protocol_${p}_enabled" "sslscan says ${s:-nothing} for $p"; fi
done

# --- accepted suites: "Preferred|Accepted  <proto>  <bits> bits  <name> ..."
suites=$(awk '($1 == "Accepted" || $1 == "Preferred") && $4 == "bits" { print $2, $5 }' "$scan")
if [ -z "$suites" ]; then
	fail suites_listed "sslscan listed no accepted cipher suite"
else
	pass suites_listed
	bad=
	while read -r proto name; do
		case $proto in TLSv1.2|TLSv1.3) ;; *) bad="$bad $proto:$name"; continue ;; esac
		case $name in
		TLS_AES_128_GCM_SHA256|TLS_AES_256_GCM_SHA384|TLS_CHACHA20_POLY1305_SHA256)
			[ "$proto" = TLSv1.3 ] || bad="$bad $proto:$name" ;;
		ECDHE-ECDSA-*-GCM-*|ECDHE-RSA-*-GCM-*|ECDHE-ECDSA-CHACHA20-POLY1305|ECDHE-RSA-CHACHA20-POLY1305)
			[ "$proto" = TLSv1.2 ] || bad="$bad $proto:$name" ;;
		*) bad="$bad $proto:$name" ;;
		esac
	done <<<"$suites"
	if [ -z "$bad" ]; then pass suites_forward_secret_aead_only
	else fail suites_forward_secret_aead_only "not ECDHE/TLS 1.3 AEAD:$bad"; fi
	# both certificate types were offered: both families must be there
	if grep -q "ECDHE-ECDSA-" <<<"$suites" && grep -q "ECDHE-RSA-" <<<"$suites"; then
		pass suites_ecdsa_and_rsa_scanned
	else
		fail suites_ecdsa_and_rsa_scanned "expected ECDHE-ECDSA and ECDHE-RSA suites: $(echo $suites)"
	fi
fi

# --- compression: "Compression disabled"; a scanner OpenSSL without zlib says
# it cannot test, which still means it found nothing enabled
comp=$(awk '/TLS Compression:/ { f = 1; next } f && NF { print; exit }' "$scan")
case $comp in
*"Compression disabled"*) pass no_compression ;;
*"does not support compression"*) pass no_compression; echo "# no_compression: this sslscan's OpenSSL cannot test compression ($comp)" ;;
*) fail no_compression "sslscan says: ${comp:-nothing}" ;;
esac

# --- renegotiation: secure, or not supported at all; never insecure
reneg=$(awk '/TLS renegotiation:/ { f = 1; next } f && NF { print; exit }' "$scan")
case $reneg in
*"Insecure"*|*"insecure"*) fail no_insecure_renegotiation "sslscan says: $reneg" ;;
*"Secure session renegotiation supported"*|*"renegotiation not supported"*) pass no_insecure_renegotiation ;;
*) fail no_insecure_renegotiation "unrecognised sslscan output: ${reneg:-nothing}" ;;
esac

# --- heartbleed: one line per protocol, all "not vulnerable"
hb=$(awk '/Heartbleed:/ { f = 1; next } f && /heartbleed/ { print } f && /^  [A-Z]/ { exit }' "$scan")
if [ -z "$hb" ]; then
	fail no_heartbleed "sslscan printed no Heartbleed result"
elif grep -v "not vulnerable to heartbleed" <<<"$hb" | grep -q .; then
	fail no_heartbleed "$(grep -v 'not vulnerable' <<<"$hb" | tr '\n' ' ')"
else
	pass no_heartbleed
fi

# --- the server survived the scan and still serves
if ! kill -0 "$pid" 2>/dev/null; then
	fail server_survived_scan "the server exited during the scan"
elif body=$(timeout 10 openssl s_client -quiet -connect "127.0.0.1:$port" \
	-servername "$host" 2>/dev/null <<<$'GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: '"$host"$'\r\nConnection: close\r\n\r\n') &&
	grep -q "mx: mail.$domain" <<<"$body"; then
	pass server_survived_scan
else
	fail server_survived_scan "no policy after the scan"
fi

t0=$(date +%s)
stop_server
echo "# SIGTERM to exit: $(( $(date +%s) - t0 )) s"
if [ "$stop_rc" = 0 ]; then pass server_exit_0_after_scan
else fail server_exit_0_after_scan "exit status $stop_rc on SIGTERM after the scan ($(( $(date +%s) - t0 )) s)"; fi

if [ "$failed" -gt 0 ]; then
	echo "    --- sslscan output"
	sed 's/^/    | /' "$scan"
	echo "    --- server log (last 40 lines)"
	tail -n 40 "$dir/server.log" | sed 's/^/    | /'
fi
finish
