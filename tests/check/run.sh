#!/bin/bash
# tests/check/run.sh BINARY - `mta-stsd check` and `mta-stsd dns` against crafted deployments.
#
# In a private network namespace (never touching a real address): dnsmasq
# serves crafted zones for one test domain per deployment pitfall, mta-stsd
# serves every domain's policy on 127.0.0.1:443 and [::1]:443, and
# tests/check/httpsd.py serves deliberately broken HTTPS on 127.0.0.2..9
# (a redirect, the wrong content type, a wrong-name, expired or soon-expiring
# certificate, a chain without its intermediate, a different policy, a slow
# answer). The certificates come from a test CA -> intermediate -> leaf
# chain. For each pitfall, `mta-stsd check --ca-file <root> <domain>` must
# print the expected finding and exit with the expected status; the correct
# deployments must come out clean. `mta-stsd dns` must print ids that parse
# back, match the served policy, change with the policy and stay the same
# across runs and machines.
#
# Needs root (ip netns), dnsmasq, openssl, python3, curl. VERBOSE=1 shows
# every check output, not only those of failed tests.
# Prints PASS/FAIL lines and "N passed, N failed"; exits 1 when anything failed.

set -u

BIN=${1:-}
NS=mtasts-chk-$$
WORK=
SRV_PID=
DNS_PID=
PY_PID=
NS_MADE=
passed=0
failed=0
T=30	# seconds allowed for any one command

SHOW_LINES=40
. "$(dirname "$0")/../lib/common.sh"

trap 'netns_cleanup "$SRV_PID" "$PY_PID" "$DNS_PID"' EXIT
trap 'exit 1' INT TERM HUP

# ------------------------------------------------------------------ prerequisites

need_binary "bash tests/check/run.sh BINARY"
HERE=$(cd "$(dirname "$0")" && pwd)
need_root_tools "apt-get install iproute2 openssl dnsmasq-base python3 curl" curl

make_work mtasts-chk
ETC=$WORK/etc
CA=$WORK/ca
mkdir -p "$ETC/policies" "$ETC/certs" "$CA/db" "$WORK/srv" || exit 1

# ------------------------------------------------------------------ certificates
#
# root CA -> intermediate CA -> leaves. The good leaf carries every
# mta-sts.<domain>.test name and is served with its intermediate.

ossl() {
	local out
	out=$(timeout $T openssl "$@" 2>&1) || {
		echo "$out" >&2
		fail setup "openssl $1 failed"
		finish
	}
}

ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$CA/root.key"
ossl req -x509 -new -key "$CA/root.key" -sha256 -subj "/CN=mta-stsd check test root" -days 120 \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
	-out "$CA/root.pem"
ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$CA/int.key"
ossl req -new -key "$CA/int.key" -subj "/CN=mta-stsd check test intermediate" -out "$CA/int.csr"
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' >"$CA/int.ext"
ossl x509 -req -in "$CA/int.csr" -CA "$CA/root.pem" -CAkey "$CA/root.key" -set_serial 2 \
	-days 110 -sha256 -extfile "$CA/int.ext" -out "$CA/int.pem"

# `openssl ca` for the leaves: it alone sets validity dates in the past
touch "$CA/db/index.txt"
echo 1000 >"$CA/db/serial"
cat >"$CA/ca.cnf" <<EOF
[ca]
default_ca = int
[int]
dir = $CA
database = \$dir/db/index.txt
serial = \$dir/db/serial
new_certs_dir = \$dir/db
certificate = \$dir/int.pem
private_key = \$dir/int.key
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = \$ENV::SAN
EOF

# leaf NAME DATES SAN...: $CA/NAME.key, NAME.pem (leaf), NAME.full (leaf + intermediate)
# DATES is "-days N" or "-startdate X -enddate Y"
leaf() {
	local name=$1 dates=$2 san='' n
	shift 2
	for n in "$@"; do san="${san:+$san,}DNS:$n"; done
	ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$CA/$name.key"
	ossl req -new -key "$CA/$name.key" -subj "/CN=$1" -out "$CA/$name.csr"
	# shellcheck disable=SC2086
	SAN=$san ossl ca -batch -notext -config "$CA/ca.cnf" -extensions leaf $dates \
		-in "$CA/$name.csr" -out "$CA/$name.pem"
	cat "$CA/$name.pem" "$CA/int.pem" >"$CA/$name.full"
}

# ------------------------------------------------------------------ the deployments
#
# Every domain has (unless its line says otherwise) a policy "enforce, mx:
# mx1.<domain>, max_age 604800", the right _mta-sts TXT id, a TLS-RPT record
# matching the configured tlsrpt, MX 10 mx1.<domain>, and mta-sts.<domain> at
# 127.0.0.1 where mta-stsd answers.
#
# domain          what is different                             expected
# good            MX also a.mx.good.test, mx: *.mx.good.test;   0, "ok"
#                 mta-sts at 127.0.0.1 and ::1
# testing         mode testing                                  0, info
# pinned          policy_id = pinned42 in its section           0, "ok"
# stale           TXT id=stale0old                              2, "publish id=<id>"
# twotxt          a second v=STSv1 TXT record                   2
# notxt           no _mta-sts TXT record                        2
# nortt           no TLS-RPT record                             1
# mxenf           MX mx2 not covered, enforce                   2
# mxtest          MX mx2 not covered, testing                   1
# mxextra         pattern *.old.mxextra.test matches no MX      1
# nullmx          null MX                                       1
# nomx            no MX record                                  1
# nohost          mta-sts.nohost.test does not resolve          2
# down            nothing listens at 127.0.0.10:443             2
# redirect        127.0.0.2 answers 301                         2
# ctype           127.0.0.3 answers text/html                   2
# wrongname       127.0.0.4 certificate for mta-sts.other.test  2
# expired         127.0.0.5 expired certificate                 2
# nointer         127.0.0.6 leaf without the intermediate       2
# differs         127.0.0.7 serves another policy               2
# slow            127.0.0.8 answers after 3 s                   1
# shortage        max_age 3600                                  1
# none            mode none                                     1
# expiring        127.0.0.9 certificate valid 10 more days      1

DOMAINS="good testing pinned stale twotxt notxt nortt mxenf mxtest mxextra nullmx nomx nohost
	down redirect ctype wrongname expired nointer differs slow shortage none expiring"

policy() {	# policy DOMAIN MODE MAX_AGE MX...
	local d=$1 mode=$2 age=$3
	shift 3
	{
		printf 'version: STSv1\nmode: %s\n' "$mode"
		for m in "$@"; do printf 'mx: %s\n' "$m"; done
		printf 'max_age: %s\n' "$age"
	} >"$ETC/policies/$d.test.txt"
}

names=
for d in $DOMAINS; do
	names="$names mta-sts.$d.test"
	case $d in
	good) policy good enforce 604800 mx1.good.test "*.mx.good.test" ;;
	testing | mxtest) policy $d testing 604800 mx1.$d.test ;;
	mxextra) policy mxextra enforce 604800 mx1.mxextra.test "*.old.mxextra.test" ;;
	shortage) policy shortage enforce 3600 mx1.shortage.test ;;
	none) policy none none 604800 ;;
	*) policy $d enforce 604800 mx1.$d.test ;;
	esac
done
# shellcheck disable=SC2086
leaf good "-days 80" $names
leaf other "-days 80" mta-sts.other.test
leaf expired "-startdate 20200101000000Z -enddate 20200201000000Z" mta-sts.expired.test
leaf expiring "-days 10" mta-sts.expiring.test

cp "$CA/good.full" "$ETC/certs/fullchain.pem"
cp "$CA/good.key" "$ETC/certs/privkey.pem"
cat >"$ETC/mta-stsd.conf" <<EOF
[server]
listen = 127.0.0.1:443
listen = [::1]:443
policy_dir = policies
log_level = warn
access_log = off
allow_root = yes

[defaults]
cert = certs/fullchain.pem
key = certs/privkey.pem
tlsrpt = mailto:tlsrpt@reports.example.net

[pinned.test]
policy_id = pinned42
EOF

# ------------------------------------------------------------------ mta-stsd dns

dns_json() {	# dns_json CONFIG OUT: run `dns --json`, check it parses
	timeout $T "$BIN" dns -c "$1" --json >"$2" 2>"$WORK/dns.err"
}
json_id() {	# json_id FILE DOMAIN: the id `dns --json` gives DOMAIN
	python3 -c 'import json,sys
for o in json.load(open(sys.argv[1])):
    if o["domain"] == sys.argv[2]: print(o["id"])' "$1" "$2"
}

if dns_json "$ETC/mta-stsd.conf" "$WORK/dns1.json" &&
    python3 - "$WORK/dns1.json" "$DOMAINS" <<'EOF'
import json, re, sys
doms = json.load(open(sys.argv[1]))
want = sorted(d + ".test" for d in sys.argv[2].split())
got = sorted(o["domain"] for o in doms)
assert got == want, "domains %r, expected %r" % (got, want)
for o in doms:
    assert re.fullmatch(r"[A-Za-z0-9]{1,32}", o["id"]), o
    r = o["records"]
    assert r[0] == {"name": "_mta-sts.%s." % o["domain"], "ttl": 3600, "type": "TXT",
                    "value": "v=STSv1; id=%s" % o["id"]}, r[0]
    assert r[1] == {"name": "_smtp._tls.%s." % o["domain"], "ttl": 3600, "type": "TXT",
                    "value": "v=TLSRPTv1; rua=mailto:tlsrpt@reports.example.net"}, r[1]
    assert o["address_needed"] == "mta-sts.%s." % o["domain"], o
    pinned = o["domain"] == "pinned.test"
    assert o["id_pinned"] == pinned and (o["id"] == "pinned42") == pinned, o
EOF
then
	pass "dns --json lists every domain with its records"
else
	fail "dns --json lists every domain with its records" "see above"
	show "dns stderr" "$WORK/dns.err"
	show "dns output" "$WORK/dns1.json"
	finish
fi

# zone-file output: the lines parse back to the same ids
out=$(timeout $T "$BIN" dns -c "$ETC/mta-stsd.conf" good.test pinned.test 2>"$WORK/dns.err")
if printf '%s\n' "$out" | python3 -c '
import re, sys
lines = sys.stdin.read().splitlines()
ids = {}
for l in lines:
    if l.startswith(";") or not l:
        continue
    m = re.fullmatch(r"(\S+)\. 3600 IN TXT \"(.*)\"", l)
    assert m, "not a zone line: %r" % l
    owner, value = m.groups()
    if owner.startswith("_mta-sts."):
        v = re.fullmatch(r"v=STSv1; id=([A-Za-z0-9]{1,32})", value)
        assert v, value
        ids[owner[9:]] = v.group(1)
    else:
        assert owner.startswith("_smtp._tls.") and value == "v=TLSRPTv1; rua=mailto:tlsrpt@reports.example.net", l
assert any("mta-sts.good.test. needs an A and/or AAAA record" in l for l in lines), lines
print(ids["good.test"], ids["pinned.test"])
' >"$WORK/zone.ids" 2>&1 && [ "$(cat "$WORK/zone.ids")" = "$(json_id "$WORK/dns1.json" good.test) pinned42" ]; then
	pass "dns zone lines parse back to the JSON ids"
else
	fail "dns zone lines parse back to the JSON ids" "$(cat "$WORK/zone.ids")"
	printf '%s\n' "$out" | sed 's/^/    | /'
fi

ID_GOOD=$(json_id "$WORK/dns1.json" good.test)

# the same files elsewhere (another machine) and a second run: the same ids
cp -r "$ETC" "$WORK/etc2"
if dns_json "$WORK/etc2/mta-stsd.conf" "$WORK/dns2.json" &&
    python3 -c 'import json,sys
a = {o["domain"]: o["id"] for o in json.load(open(sys.argv[1]))}
b = {o["domain"]: o["id"] for o in json.load(open(sys.argv[2]))}
sys.exit(a != b)' "$WORK/dns1.json" "$WORK/dns2.json"; then
	pass "dns ids stable across runs and copies"
else
	fail "dns ids stable across runs and copies" "ids differ"
fi

# a changed policy changes its id, and only its id
sed -i 's/^max_age: 604800/max_age: 1209600/' "$WORK/etc2/policies/good.test.txt"
if dns_json "$WORK/etc2/mta-stsd.conf" "$WORK/dns3.json" &&
    python3 -c 'import json,sys
a = {o["domain"]: o["id"] for o in json.load(open(sys.argv[1]))}
b = {o["domain"]: o["id"] for o in json.load(open(sys.argv[2]))}
changed = sorted(d for d in a if a[d] != b[d])
sys.exit(changed != ["good.test"])' "$WORK/dns1.json" "$WORK/dns3.json"; then
	pass "dns id changes with the policy"
else
	fail "dns id changes with the policy" "$(cat "$WORK/dns3.json")"
fi
# names that are not ASCII: dns --json stays valid JSON (valid UTF-8 as it
# is, a byte that is not UTF-8 as U+FFFD), and the warnings on stderr are
# escaped as -t escapes them (\xNN), never raw bytes
odd=$(printf 'caf\303\251\377')
mkdir -p "$WORK/etc2/odd"
cp "$WORK/etc2/policies/good.test.txt" "$WORK/etc2/odd/$odd.txt"
cp "$WORK/etc2/policies/good.test.txt" "$WORK/etc2/policies/$odd.txt"
printf '[good.test]\npolicy = odd/%s.txt\n' "$odd" >>"$WORK/etc2/mta-stsd.conf"
dns_json "$WORK/etc2/mta-stsd.conf" "$WORK/dns6.json"
if why=$(python3 - "$WORK/dns6.json" "$WORK/dns.err" <<'EOF' 2>&1
import json, sys
raw = open(sys.argv[1], "rb").read()
doc = json.loads(raw.decode("utf-8"))
good = [o for o in doc if o["domain"] == "good.test"]
assert good and good[0]["policy_file"].endswith("odd/caf\u00e9\ufffd.txt"), \
    "policy_file %r" % (good and good[0]["policy_file"])
err = open(sys.argv[2], "rb").read()
assert b"caf\\xc3\\xa9\\xff.txt" in err and all(b < 0x80 for b in err), \
    "stderr %r" % err
EOF
); then
	pass "dns --json and its warnings with names that are not ASCII"
else
	fail "dns --json and its warnings with names that are not ASCII" "$why"
	show "dns stderr" "$WORK/dns.err"
fi
rm -rf "$WORK/etc2"

# bodies for the broken servers
cp "$ETC/policies/differs.test.txt" "$WORK/srv/differs-held.txt"
printf 'version: STSv1\nmode: testing\nmx: mx1.differs.test\nmx: mx9.differs.test\nmax_age: 604800\n' \
	>"$WORK/srv/differs.txt"

# ------------------------------------------------------------------ zones

args=()
for d in $DOMAINS; do
	D=$d.test
	id=$(json_id "$WORK/dns1.json" "$D")
	case $d in
	stale) args+=("--txt-record=_mta-sts.$D,v=STSv1; id=stale0old") ;;
	twotxt) args+=("--txt-record=_mta-sts.$D,v=STSv1; id=$id" "--txt-record=_mta-sts.$D,v=STSv1; id=other1") ;;
	notxt) ;;
	*) args+=("--txt-record=_mta-sts.$D,v=STSv1; id=$id") ;;
	esac
	[ "$d" = nortt ] || args+=("--txt-record=_smtp._tls.$D,v=TLSRPTv1; rua=mailto:tlsrpt@reports.example.net")
	case $d in
	good) args+=("--mx-host=$D,mx1.$D,10" "--mx-host=$D,a.mx.$D,20") ;;
	mxenf | mxtest) args+=("--mx-host=$D,mx1.$D,10" "--mx-host=$D,mx2.$D,20") ;;
	nullmx) args+=("--mx-host=$D,.,0") ;;
	nomx) args+=("--host-record=$D,127.0.0.1") ;;
	*) args+=("--mx-host=$D,mx1.$D,10") ;;
	esac
	case $d in
	good) args+=("--host-record=mta-sts.$D,127.0.0.1,::1") ;;
	nohost) ;;
	down) args+=("--host-record=mta-sts.$D,127.0.0.10") ;;
	redirect) args+=("--host-record=mta-sts.$D,127.0.0.2") ;;
	ctype) args+=("--host-record=mta-sts.$D,127.0.0.3") ;;
	wrongname) args+=("--host-record=mta-sts.$D,127.0.0.4") ;;
	expired) args+=("--host-record=mta-sts.$D,127.0.0.5") ;;
	nointer) args+=("--host-record=mta-sts.$D,127.0.0.6") ;;
	differs) args+=("--host-record=mta-sts.$D,127.0.0.7") ;;
	slow) args+=("--host-record=mta-sts.$D,127.0.0.8") ;;
	expiring) args+=("--host-record=mta-sts.$D,127.0.0.9") ;;
	*) args+=("--host-record=mta-sts.$D,127.0.0.1") ;;
	esac
done

# ------------------------------------------------------------------ namespace

netns_create "$NS"
nsx() { ip netns exec "$NS" "$@"; }
for i in 2 3 4 5 6 7 8 9 10; do
	nsx ip addr add "127.0.0.$i/8" dev lo 2>/dev/null
done

start_dnsmasq --local=/test/ "${args[@]}"

ip netns exec "$NS" "$BIN" -c "$ETC/mta-stsd.conf" >"$WORK/server.log" 2>&1 &
SRV_PID=$!

S=$WORK/srv
cat "$CA/good.pem" >"$S/leaf-only.pem"
ip netns exec "$NS" python3 "$HERE/httpsd.py" \
	"127.0.0.2|redirect|$CA/good.full|$CA/good.key|$S/differs-held.txt" \
	"127.0.0.3|ctype|$CA/good.full|$CA/good.key|$ETC/policies/ctype.test.txt" \
	"127.0.0.4|ok|$CA/other.full|$CA/other.key|$ETC/policies/wrongname.test.txt" \
	"127.0.0.5|ok|$CA/expired.full|$CA/expired.key|$ETC/policies/expired.test.txt" \
	"127.0.0.6|ok|$S/leaf-only.pem|$CA/good.key|$ETC/policies/nointer.test.txt" \
	"127.0.0.7|ok|$CA/good.full|$CA/good.key|$S/differs.txt" \
	"127.0.0.8|slow|$CA/good.full|$CA/good.key|$ETC/policies/slow.test.txt" \
	"127.0.0.9|ok|$CA/expiring.full|$CA/expiring.key|$ETC/policies/expiring.test.txt" \
	>"$WORK/httpsd.out" 2>"$WORK/httpsd.log" &
PY_PID=$!

# every server answers: mta-stsd on 127.0.0.1 and ::1, httpsd.py on 127.0.0.2..9
READY="mta-sts.good.test 127.0.0.1:443 ::1:443 127.0.0.2:443 127.0.0.3:443 127.0.0.4:443
	127.0.0.5:443 127.0.0.6:443 127.0.0.7:443 127.0.0.8:443 127.0.0.9:443"
# shellcheck disable=SC2086 # READY is a list of words
if ! out=$(wait_ready $READY 2>&1); then
	fail startup "$out"
	show "mta-stsd stderr" "$WORK/server.log"
	show "dnsmasq" "$WORK/dnsmasq.out"
	show "httpsd" "$WORK/httpsd.log"
	finish
fi
pass startup

# ------------------------------------------------------------------ check, pitfall by pitfall

# expect NAME DOMAIN STATUS [PATTERN...]: run check on DOMAIN; it must exit
# with STATUS and print a line matching each PATTERN (grep -E); STATUS 0 also
# requires the "ok" line
expect() {
	local name=$1 domain=$2 want=$3 rc pat why=
	shift 3
	nsx timeout $T "$BIN" check -c "$ETC/mta-stsd.conf" --ca-file "$CA/root.pem" \
		--timeout 8 "$domain" >"$WORK/check.out" 2>"$WORK/check.err"
	rc=$?
	[ "$rc" -eq "$want" ] || why="exit status $rc, expected $want"
	for pat in "$@"; do
		grep -Eq -- "$pat" "$WORK/check.out" || why="${why:+$why; }no line matches /$pat/"
	done
	if [ "$want" -eq 0 ] && ! grep -q "^$domain ok " "$WORK/check.out"; then
		why="${why:+$why; }no \"$domain ok\" line"
	fi
	# every line is "<domain> <severity> <what> -- <fix>" (or the ok line)
	if grep -Ev "^$domain ((error|warning|info) .+ -- .+|ok .+)$" "$WORK/check.out" >/dev/null; then
		why="${why:+$why; }a line not in the finding format"
	fi
	if [ -z "$why" ]; then
		pass "$name"
		[ -z "${VERBOSE:-}" ] || sed 's/^/    | /' "$WORK/check.out"
	else
		fail "$name" "$why"
		show "check stdout" "$WORK/check.out"
		show "check stderr" "$WORK/check.err"
	fi
}

expect "correct deployment is clean" good.test 0 "^good\.test ok all checks passed: id $ID_GOOD, mode enforce, policy served at 127\.0\.0\.1, ::1$"
expect "testing mode is clean with a hint" testing.test 0 "^testing\.test info mode is testing.* -- .*enforce"
expect "pinned policy_id is clean" pinned.test 0 "id pinned42"
expect "stale TXT id" stale.test 2 \
	"^stale\.test error .*id=stale0old.*the policy changed but the TXT id did not -- publish id=$(json_id "$WORK/dns1.json" stale.test)"
expect "two v=STSv1 TXT records" twotxt.test 2 "^twotxt\.test error 2 TXT records at _mta-sts\.twotxt\.test start with v=STSv1"
expect "no TXT record" notxt.test 2 "^notxt\.test error no TXT record at _mta-sts\.notxt\.test .* -- publish _mta-sts\.notxt\.test\. 3600 IN TXT"
expect "TLS-RPT record missing" nortt.test 1 "^nortt\.test warning no TLS-RPT record at _smtp\._tls\.nortt\.test.* -- publish _smtp\._tls\.nortt\.test\. 3600 IN TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@reports\.example\.net\""
expect "MX not covered under enforce" mxenf.test 2 "^mxenf\.test error MX host mx2\.mxenf\.test .*not matched.* -- add \"mx: mx2\.mxenf\.test\""
expect "MX not covered under testing" mxtest.test 1 "^mxtest\.test warning MX host mx2\.mxtest\.test .*not matched"
expect "pattern matching no MX" mxextra.test 1 "^mxextra\.test warning mx pattern \*\.old\.mxextra\.test matches none of the MX hosts"
expect "null MX reported" nullmx.test 1 "^nullmx\.test warning nullmx\.test has a null MX"
expect "no MX reported" nomx.test 1 "^nomx\.test warning nomx\.test has no MX record"
expect "policy host does not resolve" nohost.test 2 "^nohost\.test error mta-sts\.nohost\.test does not resolve"
expect "policy host down" down.test 2 "^down\.test error cannot connect to mta-sts\.down\.test \[127\.0\.0\.10\] port 443"
expect "redirect" redirect.test 2 "^redirect\.test error .* answers 301, a redirect to https://www\.example\.net/.*senders never follow redirects"
expect "wrong content type" ctype.test 2 "^ctype\.test error .*Content-Type \"text/html; charset=utf-8\", not text/plain"
expect "wrong-name certificate" wrongname.test 2 "^wrongname\.test error the certificate of mta-sts\.wrongname\.test \[127\.0\.0\.4\] does not cover mta-sts\.wrongname\.test: it is for mta-sts\.other\.test"
expect "expired certificate" expired.test 2 "^expired\.test error the certificate of mta-sts\.expired\.test \[127\.0\.0\.5\] expired on 2020-02-01"
expect "missing intermediate" nointer.test 2 "^nointer\.test error mta-sts\.nointer\.test \[127\.0\.0\.6\] sends only its own certificate, without the intermediate.* -- serve the full chain"
expect "served policy differs" differs.test 2 "^differs\.test error the policy served at .* differs from the one this server holds: mode is testing, not enforce; mx mx9\.differs\.test is extra"
expect "slow answer" slow.test 1 "^slow\.test warning .* took [3-9]\.[0-9] s to answer: the strictest senders give up after 2 s"
expect "max_age under a day" shortage.test 1 "^shortage\.test warning max_age is 3600 s, under a day"
expect "mode none" none.test 1 "^none\.test warning mode is none"
expect "certificate expiring within 21 days" expiring.test 1 "^expiring\.test warning the certificate of mta-sts\.expiring\.test \[127\.0\.0\.9\] expires in (9|10) day"

# a name the configuration does not hold
expect "domain not held" unknown.test 2 "^unknown\.test error this server holds no policy for unknown\.test"

# ------------------------------------------------------------------ whole runs

# --json for monitoring: one document, findings per domain, exit field = status
nsx timeout $T "$BIN" check -c "$ETC/mta-stsd.conf" --ca-file "$CA/root.pem" --timeout 8 --json \
	good.test nortt.test stale.test >"$WORK/check.json" 2>"$WORK/check.err"
rc=$?
if why=$(python3 - "$WORK/check.json" "$rc" <<'EOF' 2>&1
import json, sys
doc = json.load(open(sys.argv[1]))
rc = int(sys.argv[2])
assert rc == 2 and doc["exit"] == 2, "exit %d / %r" % (rc, doc.get("exit"))
by = {d["domain"]: d for d in doc["domains"]}
assert list(by) == ["good.test", "nortt.test", "stale.test"], list(by)
assert by["good.test"]["status"] == "ok" and by["good.test"]["findings"] == [], by["good.test"]
assert by["nortt.test"]["status"] == "warning", by["nortt.test"]
assert by["stale.test"]["status"] == "error", by["stale.test"]
f = [x for x in by["stale.test"]["findings"] if x["severity"] == "error"]
assert f and "publish id=" in f[0]["fix"], f
assert doc["errors"] == 1 and doc["warnings"] == 1, doc
EOF
); then
	pass "check --json"
else
	fail "check --json" "$why"
	show "check --json" "$WORK/check.json"
fi

# the id published for a domain is the id of the policy mta-stsd actually serves
mkdir -p "$WORK/etc3/policies"
nsx timeout $T curl -sS --max-time 10 --cacert "$CA/root.pem" -o "$WORK/etc3/policies/good.test.txt" \
	https://mta-sts.good.test/.well-known/mta-sts.txt 2>"$WORK/curl.err"
cp -r "$ETC/certs" "$WORK/etc3/"
printf '[server]\npolicy_dir = policies\n[defaults]\ncert = certs/fullchain.pem\nkey = certs/privkey.pem\n' \
	>"$WORK/etc3/mta-stsd.conf"
if dns_json "$WORK/etc3/mta-stsd.conf" "$WORK/dns4.json" &&
    [ "$(json_id "$WORK/dns4.json" good.test)" = "$ID_GOOD" ]; then
	pass "dns id equals the id of the policy served"
else
	fail "dns id equals the id of the policy served" "served body gives id \"$(json_id "$WORK/dns4.json" good.test 2>&1)\", dns said $ID_GOOD"
	show curl "$WORK/curl.err"
	show "dns stderr" "$WORK/dns.err"
fi

# after a restart mta-stsd serves the same policy, so the published id still holds
stop_pid "$SRV_PID"
ip netns exec "$NS" "$BIN" -c "$ETC/mta-stsd.conf" >>"$WORK/server.log" 2>&1 &
SRV_PID=$!
# shellcheck disable=SC2086
if wait_ready $READY >/dev/null 2>&1; then
	expect "after a restart the published id still matches" good.test 0 "id $ID_GOOD"
else
	fail "after a restart the published id still matches" "mta-stsd did not come back"
	show "mta-stsd stderr" "$WORK/server.log"
fi

# a changed policy: check now says the TXT id is stale and names the new one
sed -i 's/^max_age: 604800/max_age: 1209600/' "$ETC/policies/good.test.txt"
dns_json "$ETC/mta-stsd.conf" "$WORK/dns5.json"
NEW_ID=$(json_id "$WORK/dns5.json" good.test)
if [ -n "$NEW_ID" ] && [ "$NEW_ID" != "$ID_GOOD" ]; then
	# the running server reloads the file; the check compares with the new policy
	sleep 1
	expect "changed policy makes the TXT id stale" good.test 2 "publish id=$NEW_ID"
else
	fail "changed policy makes the TXT id stale" "dns gave id \"$NEW_ID\" after the change (was $ID_GOOD)"
fi

finish
