#!/bin/bash
# bench/mbedtls-options.sh - what mbedTLS build options do to the server CPU
# time of a TLS handshake. Builds mbedTLS variants (bench/mbedtls-variant.sh)
# and mta-stsd against each, then measures server CPU per 1,000 new TLS
# connections with wrk (one request per connection, 1 domain), alternating
# the variants and nginx, for three client offers:
#   tls13-x25519  wrk's default: TLS 1.3, X25519 key share, ECDSA P-256 certificate
#   tls13-p256    TLS 1.3 with only P-256 offered (secp256r1 ECDHE)
#   tls12-x25519  TLS 1.2 ECDHE-ECDSA, X25519
# Run as root after `make bench` has made the data set (.bench/data/1).
#
# Environment: MBEDTLS_TARBALL=path to mbedtls_3.6.*.orig.tar.* (else fetched
# from Debian 13's source package as scripts/fetch-mbedtls.sh does),
# VARIANTS="base everest ...", DURATION=6, REPS=3, MODES="tls13-x25519 ...".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=$root/.bench
vdir=$out/mbedtls-variants
ns=mtasts-bench-opt
py=${PYTHON:-python3}
tool="$py $here/tool.py"
dur=${DURATION:-6}
reps=${REPS:-3}
modes=${MODES:-"tls13-x25519 tls13-p256 tls12-x25519"}
variants=${VARIANTS:-"base nofp win6 nonist everest everest-drv psa psa-p256m psa-p256m-rand everest-p256m all"}

# name: the options on top of scripts/mbedtls-config.sh
opts() {
	case $1 in
	base) ;;
	nofp) echo set MBEDTLS_ECP_FIXED_POINT_OPTIM 0 ;;
	win6) echo set MBEDTLS_ECP_WINDOW_SIZE 6 ;;
	nonist) echo unset MBEDTLS_ECP_NIST_OPTIM ;;
	everest) echo set MBEDTLS_ECDH_VARIANT_EVEREST_ENABLED unset MTA_STSD_X25519_DRIVER_ENABLED ;;
	everest-drv) echo set MBEDTLS_ECDH_VARIANT_EVEREST_ENABLED set MTA_STSD_X25519_DRIVER_ENABLED ;;
	psa) echo set MBEDTLS_USE_PSA_CRYPTO ;;
	psa-p256m) echo set MBEDTLS_USE_PSA_CRYPTO set MBEDTLS_PSA_P256M_DRIVER_ENABLED ;;
	psa-p256m-rand) echo set MBEDTLS_USE_PSA_CRYPTO set MBEDTLS_PSA_P256M_DRIVER_ENABLED unset MBEDTLS_ECDSA_DETERMINISTIC ;;
	everest-p256m) echo set MBEDTLS_ECDH_VARIANT_EVEREST_ENABLED set MBEDTLS_PSA_P256M_DRIVER_ENABLED ;;
	# before / with the nettle driver (what scripts/mbedtls-config.sh sets where
	# pkg-config finds hogweed): the ECDSA signature, the key-pair check,
	# X25519 and (since issue 15's second pass) the TLS records through nettle.
	# Both on top of the project's other options, which since that pass
	# include MBEDTLS_PSA_ASSUME_EXCLUSIVE_BUFFERS and MBEDTLS_DEBUG_C off
	before) echo unset MTA_STSD_NETTLE_DRIVER_ENABLED unset MBEDTLS_USE_PSA_CRYPTO set MBEDTLS_ECDSA_DETERMINISTIC ;;
	nettle) echo set MTA_STSD_NETTLE_DRIVER_ENABLED set MBEDTLS_USE_PSA_CRYPTO unset MBEDTLS_ECDSA_DETERMINISTIC ;;
	all) echo set MBEDTLS_ECDH_VARIANT_EVEREST_ENABLED set MBEDTLS_USE_PSA_CRYPTO \
		set MBEDTLS_PSA_P256M_DRIVER_ENABLED unset MBEDTLS_ECDSA_DETERMINISTIC ;;
	*) echo "unknown variant $1" >&2; exit 2 ;;
	esac
}

if [ -z "${BENCH_IN_NS:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
	[ -d "$out/data/1" ] || { echo "no .bench/data/1: run make bench (or bench/gen.py) first" >&2; exit 1; }
	if [ -z "${MBEDTLS_TARBALL:-}" ]; then
		# Debian 13's mbedtls source, with a private apt state (as fetch-mbedtls.sh)
		mirror=$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
		[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
		[ -n "$mirror" ] || { echo "set MBEDTLS_TARBALL" >&2; exit 1; }
		a=$out/apt; mkdir -p "$a/lists/partial" "$a/cache/archives/partial" "$a/src"
		echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" >"$a/sources.list"
		o="-o Dir::Etc::SourceList=$a/sources.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$a/lists -o Dir::Cache=$a/cache -o Debug::NoLocking=1 -o APT::Sandbox::User=root -qq"
		# shellcheck disable=SC2086
		ls "$a"/src/mbedtls_3.6*.orig.tar.* >/dev/null 2>&1 ||
			{ apt-get $o update && (cd "$a/src" && apt-get $o --download-only source mbedtls); }
		MBEDTLS_TARBALL=$(ls "$a"/src/mbedtls_3.6*.orig.tar.* | head -n 1)
	fi
	export MBEDTLS_TARBALL
	for v in $variants; do
		if [ ! -f "$vdir/$v/lib/libmbedtls.a" ]; then
			# shellcheck disable=SC2046
			sh "$here/mbedtls-variant.sh" "$vdir/$v" $(opts "$v")
			rm -rf "$out/build-$v"
		fi
		# MBEDTLS_DEP= : the variant is this script's; without it the Makefile would
		# replace a variant older than scripts/mbedtls-config.sh or the driver with
		# the project's default build (delete .bench/mbedtls-variants/<v> to rebuild one)
		make -C "$root" -s BUILD="$out/build-$v" MBEDTLS_PREFIX="$vdir/$v" MBEDTLS_DEP= "$out/build-$v/mta-stsd"
	done
	ip netns del "$ns" 2>/dev/null || true
	ip netns add "$ns"
	trap 'ip netns del "$ns" 2>/dev/null || true; rm -rf "/etc/netns/$ns"' EXIT
	ip -n "$ns" link set lo up
	mkdir -p "/etc/netns/$ns"
	printf '127.0.0.1 localhost\n127.0.0.1 mta-sts.d1.test\n' >"/etc/netns/$ns/hosts"
	ip netns exec "$ns" env BENCH_IN_NS=1 DURATION="$dur" REPS="$reps" MODES="$modes" \
		VARIANTS="$variants" PYTHON="$py" bash "$0"
	exit
fi

w=$out/opt
rm -rf "$w"; mkdir -p "$w"
cp -a "$out/data/1" "$w/data"
if [ "$(nproc)" -ge 2 ]; then srv_cpu="taskset -c 0"; cli_cpu="taskset -c 1"; else srv_cpu=; cli_cpu=; fi
# client offers, through OpenSSL's configuration file (wrk has no options for them)
for m in $modes; do
	{
		echo "openssl_conf = init"
		echo "[init]"; echo "ssl_conf = ssl"
		echo "[ssl]"; echo "system_default = sd"
		echo "[sd]"
		case $m in
		tls13-x25519) echo "Groups = X25519:P-256" ;;
		tls13-p256) echo "Groups = P-256" ;;
		tls12-x25519) echo "Groups = X25519:P-256"; echo "MaxProtocol = TLSv1.2" ;;
		esac
	} >"$w/openssl-$m.cnf"
done

port=9000
declare -A pid
for v in $variants; do
	port=$((port + 1))
	mkdir -p "$w/$v"
	printf '[server]\nlisten = 127.0.0.1:%s\npolicy_dir = %s\ncert_dir = %s\naccess_log = off\nallow_root = yes\nauto_reload = no\n' \
		"$port" "$w/data/policies" "$w/data/certs" >"$w/$v/conf"
	$srv_cpu "$out/build-$v/mta-stsd" -c "$w/$v/conf" 2>"$w/$v/log" &
	pid[$v]=$!; echo "$port" >"$w/$v/port"
done
port=$((port + 1)); echo "$port" >"$w/nginx.port"
mkdir -p "$w/nginx/tmp"
cat >"$w/nginx/nginx.conf" <<EOF
worker_processes 1; daemon off; user root; pid $w/nginx/pid; error_log $w/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off; client_body_temp_path $w/nginx/tmp;
    ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers ECDHE+AESGCM:ECDHE+CHACHA20;
    ssl_ecdh_curve X25519:prime256v1:secp384r1; ssl_session_tickets off; ssl_session_cache off;
    server {
        listen 127.0.0.1:$port ssl; server_name mta-sts.d1.test;
        ssl_certificate $w/data/certs/mta-sts.d1.test/fullchain.pem;
        ssl_certificate_key $w/data/certs/mta-sts.d1.test/privkey.pem;
        location = /.well-known/mta-sts.txt { default_type text/plain; alias $w/data/policies/d1.test.txt; }
    }
}
EOF
$srv_cpu nginx -p "$w/nginx" -c "$w/nginx/nginx.conf" -e "$w/nginx/error.log" &
pid[nginx]=$!
sleep 2

: >"$w/results.tsv"
for m in $modes; do
	# the negotiated parameters, once
	p=$(cat "$w/base/port" 2>/dev/null || cat "$w/$(echo "$variants" | awk '{ print $1 }')/port")
	OPENSSL_CONF=$w/openssl-$m.cnf openssl s_client -connect "127.0.0.1:$p" -servername mta-sts.d1.test </dev/null 2>/dev/null |
		grep -E '^(New|Server Temp Key|Peer signature type)' | tr '\n' ' ' | sed "s/^/$m: /" >&2; echo >&2
	for r in $(seq 1 "$reps"); do
		list="$variants nginx"
		[ $((r % 2)) = 0 ] && list=$(echo "$list" | tr ' ' '\n' | tac | tr '\n' ' ')
		for v in $list; do
			if [ "$v" = nginx ]; then p=$(cat "$w/nginx.port"); else p=$(cat "$w/$v/port"); fi
			c0=$($tool cpu $($tool tree "${pid[$v]}"))
			o=$(OPENSSL_CONF=$w/openssl-$m.cnf $cli_cpu wrk -t1 -c16 -d"${dur}s" -s "$here/close.lua" \
				"https://mta-sts.d1.test:$p/.well-known/mta-sts.txt" 2>&1)
			c1=$($tool cpu $($tool tree "${pid[$v]}"))
			reqs=$(echo "$o" | awk '/requests in/ { print $1 }')
			rps=$(echo "$o" | awk '/^Requests\/sec/ { print $2 }')
			ms=$(echo "$c0 $c1 $reqs" | awk '{ printf "%.1f", ($2 - $1) * 1e6 / $3 }')
			printf '%s\t%s\t%s\t%s\n' "$m" "$v" "$ms" "$rps" >>"$w/results.tsv"
			echo "$m $v: $ms ms CPU per 1,000 connections, $rps conn/s" >&2
		done
	done
done
for v in "${!pid[@]}"; do kill "${pid[$v]}" 2>/dev/null || true; done
wait 2>/dev/null || true

# medians: one row per variant, one column per client offer
$py - "$w/results.tsv" "$variants nginx" "$modes" <<'EOF'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
variants, modes = sys.argv[2].split(), sys.argv[3].split()
def med(v):
    v = sorted(v)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2
m = {}
for mode, var, ms, rps in rows:
    m.setdefault((mode, var), ([], []))
    m[(mode, var)][0].append(float(ms)); m[(mode, var)][1].append(float(rps))
print("server CPU ms per 1,000 new TLS connections (connections/s), medians; x = ratio to nginx\n")
print("| variant | " + " | ".join(modes) + " |")
print("| --- |" + " ---: |" * len(modes))
for var in variants:
    cells = []
    for mode in modes:
        if (mode, var) not in m:
            cells.append("-"); continue
        c, r = med(m[(mode, var)][0]), med(m[(mode, var)][1])
        ng = med(m[(mode, "nginx")][0]) if (mode, "nginx") in m else float("nan")
        cells.append("%.0f (%.0f/s) %.2fx" % (c, r, c / ng))
    print("| %s | %s |" % (var, " | ".join(cells)))
EOF
