#!/bin/sh
# tests/e2e/sender.sh BINARY - end-to-end test with a real MTA-STS sender.
#
# In a private network namespace: dnsmasq answers the _mta-sts TXT records and
# resolves mta-sts.<domain> to 127.0.0.1, mta-stsd serves on 127.0.0.1:443 and
# [::1]:443, and Debian's postfix-mta-sts-resolver (mta-sts-query) fetches
# each domain's policy exactly as a sending MTA would, trusting only a test CA
# (SSL_CERT_FILE). Its answer must be VALID with the right id, mode, mx list
# and max_age. A domain with a TXT record but no policy served is the negative
# control: the sender must report FETCH_ERROR for it.
#
# Needs root (ip netns), dnsmasq, mta-sts-query, openssl, python3.
# Prints PASS/FAIL lines and "N passed, N failed"; exits 1 when anything failed.

set -u

BIN=${1:-}
NS=mtasts-e2e-$$
WORK=
SRV_PID=
DNS_PID=
NS_MADE=
passed=0
failed=0
T=20	# seconds allowed for any one command

. "$(dirname "$0")/../lib/common.sh"

trap 'netns_cleanup "$SRV_PID" "$DNS_PID"' EXIT
trap 'exit 1' INT TERM HUP

# ------------------------------------------------------------------ checks

need_binary "sh tests/e2e/sender.sh BINARY"
need_root_tools "apt-get install iproute2 openssl dnsmasq-base postfix-mta-sts-resolver" \
	mta-sts-query

make_work mtasts-e2e

# ------------------------------------------------------------------ test data
#
# domain        mode     mx                                   max_age  cert
# example.com   enforce  mail.example.com, *.mx.example.com   604800   EC, [example.com] section
# example.net   testing  mx1.example.net, mx2.example.net     86400    RSA, [example.net] section
# example.org   none     -                                    1209600  *.example.org wildcard, found in cert_dir
# nopolicy.test (TXT record and address only: nothing served, the negative control)

mkdir -p "$WORK/etc/policies" "$WORK/etc/certs" "$WORK/etc/live/wild" "$WORK/ca" || exit 1

printf 'version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.mx.example.com\nmax_age: 604800\n' \
	>"$WORK/etc/policies/example.com.txt"
# CRLF in, fields out of order: the server must still serve it normalised
printf 'max_age: 86400\r\nversion: STSv1\r\nmx: mx1.example.net\r\nmode: testing\r\nmx: mx2.example.net\r\n' \
	>"$WORK/etc/policies/example.net.txt"
printf 'version: STSv1\nmode: none\nmax_age: 1209600\n' >"$WORK/etc/policies/example.org.txt"

ossl() {
	out=$(timeout $T openssl "$@" 2>&1) || {
		echo "$out" >&2
		fail setup "openssl $1 failed"
		finish
	}
}

ca=$WORK/ca
ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$ca/ca.key"
ossl req -x509 -new -key "$ca/ca.key" -sha256 -subj "/CN=mta-stsd e2e test CA" -days 120 \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
	-out "$ca/ca.pem"

# leaf DIR KIND SAN...: DIR/fullchain.pem + DIR/privkey.pem
serial=100
leaf() {
	dir=$1 kind=$2
	shift 2
	mkdir -p "$dir"
	if [ "$kind" = rsa ]; then
		ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/privkey.pem"
	else
		ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/privkey.pem"
	fi
	san=
	for n in "$@"; do san="${san:+$san,}DNS:$n"; done
	printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' \
		"$san" >"$dir/ext.cnf"
	ossl req -new -key "$dir/privkey.pem" -subj "/CN=$1" -out "$dir/req.csr"
	serial=$((serial + 1))
	ossl x509 -req -in "$dir/req.csr" -CA "$ca/ca.pem" -CAkey "$ca/ca.key" \
		-set_serial $serial -days 90 -sha256 -extfile "$dir/ext.cnf" -out "$dir/fullchain.pem"
	rm -f "$dir/req.csr" "$dir/ext.cnf"
}
leaf "$WORK/etc/certs/example.com" ec mta-sts.example.com
leaf "$WORK/etc/certs/example.net" rsa mta-sts.example.net
leaf "$WORK/etc/live/wild" ec "*.example.org"

cat >"$WORK/etc/mta-stsd.conf" <<EOF
[server]
listen = 127.0.0.1:443
listen = [::1]:443
policy_dir = policies
cert_dir = live
log_level = info
access_log = stderr
allow_root = yes

[example.com]
cert = certs/example.com/fullchain.pem
key = certs/example.com/privkey.pem

[example.net]
cert = certs/example.net/fullchain.pem
key = certs/example.net/privkey.pem
EOF

ID_COM=e2ecom1
ID_NET=e2enet2
ID_ORG=e2eorg3
ID_NOP=e2enop4

# what the sender must report, domain by domain: result|id|mode|mx list|max_age
cat >"$WORK/expect" <<EOF
example.com VALID $ID_COM enforce mail.example.com,*.mx.example.com 604800
example.net VALID $ID_NET testing mx1.example.net,mx2.example.net 86400
example.org VALID $ID_ORG none - 1209600
nopolicy.test FETCH_ERROR
EOF

# strict reading of mta-sts-query's output, the repr of (STSFetchResult, (id, policy))
cat >"$WORK/check.py" <<'EOF'
import ast, re, sys
domain, want = sys.argv[1], sys.argv[2:]
out = sys.stdin.read()
lines = [l for l in out.splitlines() if l.startswith("(<STSFetchResult.")]
if len(lines) != 1:
    sys.exit("no single result line in the output: %r" % out[-300:])
m = re.fullmatch(r"\(<STSFetchResult\.(\w+): \d+>, (.*)\)", lines[0])
if not m:
    sys.exit("unparsable result line %r" % lines[0])
result, rest = m.group(1), ast.literal_eval(m.group(2))
if result != want[0]:
    sys.exit("result %s, expected %s (%s)" % (result, want[0], lines[0]))
if result != "VALID":
    if rest is not None:
        sys.exit("unexpected payload %r" % (rest,))
    sys.exit(0)
pid, pol = rest
exp = {"version": "STSv1", "mode": want[2],
       "mx": [] if want[3] == "-" else want[3].split(","), "max_age": int(want[4])}
if pid != want[1]:
    sys.exit("policy id %r, expected %r" % (pid, want[1]))
if pol != exp:
    sys.exit("policy %r, expected %r" % (pol, exp))
EOF

# ------------------------------------------------------------------ namespace

netns_create "$NS"
nsx() { ip netns exec "$NS" "$@"; }

start_dnsmasq \
	--txt-record="_mta-sts.example.com,v=STSv1; id=$ID_COM" \
	--txt-record="_mta-sts.example.net,v=STSv1; id=$ID_NET" \
	--txt-record="_mta-sts.example.org,v=STSv1; id=$ID_ORG" \
	--txt-record="_mta-sts.nopolicy.test,v=STSv1; id=$ID_NOP" \
	--address=/mta-sts.example.com/127.0.0.1 \
	--address=/mta-sts.example.net/127.0.0.1 \
	--address=/mta-sts.example.org/127.0.0.1 \
	--address=/mta-sts.nopolicy.test/127.0.0.1

ip netns exec "$NS" "$BIN" -c "$WORK/etc/mta-stsd.conf" >"$WORK/server.log" 2>&1 &
SRV_PID=$!

# wait (bounded) for both to answer
if ! out=$(wait_ready mta-sts.example.com 127.0.0.1:443 2>&1); then
	fail startup "$out"
	kill -0 "$SRV_PID" 2>/dev/null || echo "    (mta-stsd exited)"
	show "mta-stsd stderr" "$WORK/server.log"
	show "dnsmasq" "$WORK/dnsmasq.out"
	show "dnsmasq log" "$WORK/dnsmasq.log"
	finish
fi
pass startup

# ------------------------------------------------------------------ the sender

while read -r domain want; do
	out=$(nsx env SSL_CERT_FILE="$ca/ca.pem" timeout $T mta-sts-query -v debug "$domain" </dev/null 2>"$WORK/query.err")
	rc=$?
	if [ $rc -ne 0 ]; then
		fail "mta-sts-query $domain" "exit status $rc"
	elif why=$(printf '%s\n' "$out" | python3 "$WORK/check.py" "$domain" $want 2>&1); then
		pass "mta-sts-query $domain"
		continue
	else
		fail "mta-sts-query $domain" "$why"
	fi
	echo "    --- mta-sts-query stdout"
	printf '%s\n' "$out" | sed 's/^/    | /'
	show "mta-sts-query stderr" "$WORK/query.err"
	show "mta-stsd stderr" "$WORK/server.log"
	show "dnsmasq log" "$WORK/dnsmasq.log"
done <"$WORK/expect"

# ------------------------------------------------------------------ curl over real DNS and port 443

if command -v curl >/dev/null 2>&1; then
	body=$(nsx timeout $T curl </dev/null -sS --max-time 10 --cacert "$ca/ca.pem" \
		https://mta-sts.example.net/.well-known/mta-sts.txt 2>&1)
	want=$(printf 'version: STSv1\r\nmode: testing\r\nmx: mx1.example.net\r\nmx: mx2.example.net\r\nmax_age: 86400\r\n')
	if [ "$body" = "$want" ]; then
		pass "curl example.net over DNS"
	else
		fail "curl example.net over DNS" "body $(printf '%s' "$body" | od -c | head -n 8 | tr '\n' ' ')"
	fi
fi

# ------------------------------------------------------------------ shutdown

kill -TERM "$SRV_PID"
i=0
while [ $i -lt 50 ] && kill -0 "$SRV_PID" 2>/dev/null &&
    [ "$(ps -o stat= -p "$SRV_PID" 2>/dev/null | cut -c1)" != Z ]; do
	sleep 0.1; i=$((i + 1))
done
if kill -0 "$SRV_PID" 2>/dev/null &&
    [ "$(ps -o stat= -p "$SRV_PID" 2>/dev/null | cut -c1)" != Z ]; then
	fail shutdown "mta-stsd still running 5 s after SIGTERM"
else
	wait "$SRV_PID"
	rc=$?
	SRV_PID=
	if [ $rc -eq 0 ]; then
		pass shutdown
	else
		fail shutdown "mta-stsd exited with status $rc after SIGTERM"
		show "mta-stsd stderr" "$WORK/server.log"
	fi
fi

if grep -E -q 'ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:' "$WORK/server.log"; then
	fail sanitizer "sanitizer report in the mta-stsd log"
	show "mta-stsd stderr" "$WORK/server.log"
fi

finish
