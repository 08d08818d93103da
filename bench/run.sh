#!/bin/bash
# bench/run.sh - mta-stsd against nginx serving the same MTA-STS policies and
# certificates; prints a Markdown table and writes it to .bench/results.md.
# See docs/BENCHMARKS.md. Run as root (network namespace), e.g. `make bench`.
#
# Environment:
#   MTA_STSD=path      the binary to measure (default build/mta-stsd)
#   BENCH_QUICK=1      1 and 1,000 domains, 3-second runs (about 3 minutes)
#   BENCH_SIZES="1 1000 10000"  BENCH_DURATION=8  BENCH_REPS=3   override
#   BENCH_MC_SIZES="1"  the multi-core stage's sizes (default: the first of the
#                      sizes; empty: no multi-core stage)
#   BENCH_INSTALL=0    do not apt-get install missing tools (nginx-light wrk
#                      python3-cryptography), fail instead
#   BENCH_KEEP_ONLY=1  start-up, idle memory and the keep-alive wrk runs only
#                      (no new-connection runs, latency, reloads, multi-core):
#                      for a change to the per-request path (with
#                      BENCH_SIZES=1, about 1.5 minutes at 8-second runs)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=$root/.bench
bin=${MTA_STSD:-$root/build/mta-stsd}
ns=mtasts-bench
py=${PYTHON:-python3}
tool="$py $here/tool.py"

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	sizes=${BENCH_SIZES:-"1 1000"}; dur=${BENCH_DURATION:-3}; reps=${BENCH_REPS:-3}
else
	sizes=${BENCH_SIZES:-"1 1000 10000"}; dur=${BENCH_DURATION:-8}; reps=${BENCH_REPS:-3}
fi
lat_dur=$(( dur < 5 ? dur : 5 ))
mc_sizes=${BENCH_MC_SIZES-$(echo "$sizes" | awk '{ print $1 }')}
keep_only=${BENCH_KEEP_ONLY:-0}
[ "$keep_only" = 1 ] && mc_sizes=
mport=8443	# mta-stsd
nport=9443	# nginx

say() { printf '%s\n' "bench: $*" >&2; }
die() { say "$*"; exit 1; }

# ---------------------------------------------------------------- set-up (outside)
if [ -z "${BENCH_IN_NS:-}" ]; then
	[ "$(id -u)" = 0 ] || die "run as root (it creates the network namespace $ns)"
	[ -x "$bin" ] || die "no $bin: run make first"
	need=()
	command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
	command -v wrk >/dev/null 2>&1 || need+=(wrk)
	command -v ip >/dev/null 2>&1 || need+=(iproute2)
	command -v openssl >/dev/null 2>&1 || need+=(openssl)
	if ! $py -c 'import cryptography' 2>/dev/null; then
		if /usr/bin/python3 -c 'import cryptography' 2>/dev/null; then
			py=/usr/bin/python3
		else
			need+=(python3-cryptography); py=/usr/bin/python3
		fi
	fi
	if [ "${#need[@]}" -gt 0 ]; then
		[ "${BENCH_INSTALL:-1}" = 1 ] || die "missing: ${need[*]} (apt-get install them)"
		# (the nginx package must not start its own service: the script
		# keeps packages from starting theirs)
		sh "$root/scripts/install-deps.sh" "${need[@]}" >&2
	fi
	mkdir -p "$out"
	# the data sets (cached: generating 10,000 keys and certificates takes ~40 s)
	for n in $(echo $sizes $mc_sizes | tr ' ' '\n' | sort -un); do
		if [ ! -d "$out/data/$n" ]; then
			say "generating $n domains in .bench/data/$n"
			rm -rf "$out/data/$n.tmp"; mkdir -p "$out/data"
			start=$(date +%s%N)
			$py "$here/gen.py" "$out/data/$n" "$n"
			say "generated in $(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }') s"
		fi
	done
	# the namespace: loopback only, names resolved by its own hosts file
	ip netns del "$ns" 2>/dev/null || true
	ip netns add "$ns"
	cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "/etc/netns/$ns"; }
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	ip -n "$ns" link set lo up
	mkdir -p "/etc/netns/$ns"
	max=0; for n in $sizes $mc_sizes; do [ "$n" -gt "$max" ] && max=$n; done
	{ echo "127.0.0.1 localhost"; seq 1 "$max" | sed 's/.*/127.0.0.1 mta-sts.d&.test/'; } >"/etc/netns/$ns/hosts"
	rc=0
	ip netns exec "$ns" env BENCH_IN_NS=1 PYTHON="$py" MTA_STSD="$bin" BENCH_SIZES="$sizes" \
		BENCH_MC_SIZES="$mc_sizes" BENCH_DURATION="$dur" BENCH_REPS="$reps" \
		BENCH_KEEP_ONLY="$keep_only" bash "$0" "$@" || rc=$?
	exit $rc
fi

# ---------------------------------------------------------------- inside the namespace
tsv=$out/results.tsv
: >"$tsv"
rec() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$tsv"; }	# row server value
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# the server gets core 0, the load generators core 1 (when there are two)
if [ "$(nproc)" -ge 2 ]; then srv_cpu="taskset -c 0"; cli_cpu="taskset -c 1"; else srv_cpu=; cli_cpu=; fi
nginx=$(command -v nginx || echo /usr/sbin/nginx)

{
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo)"
	echo "kernel: $(uname -sr)"
	echo "os: $(. /etc/os-release && echo "$PRETTY_NAME")"
	echo "mta-stsd: $("$bin" -V | tr '\n' ' ')"
	echo "nginx: $("$nginx" -v 2>&1 | sed 's/^nginx version: //') ($(dpkg-query -W -f='${Package} ${Version}' nginx-light 2>/dev/null || dpkg-query -W -f='${Package} ${Version}' nginx-core 2>/dev/null || echo '?'))"
	echo "wrk: $(wrk -v 2>&1 | head -n 1 | awk '{ print $1, $2 }')"
	echo "openssl: $(openssl version)"
	echo "sizes: $sizes; run length ${dur} s; $reps runs each, medians; server pinned to CPU 0, load generator to CPU 1"
} >"$out/machine.txt"
cat "$out/machine.txt" >&2

started=()
helpers=()
finish() {	# whatever is still running when the script ends
	local p
	for p in "${helpers[@]}" "${started[@]}"; do
		alive "$p" && kill -TERM "$p" 2>/dev/null
	done
	return 0
}
trap finish EXIT
trap 'exit 130' INT TERM
alive() { [ -e "/proc/$1" ] && ! grep -q '^[^)]*) [ZX]' "/proc/$1/stat" 2>/dev/null; }
stop() {	# stop a server and reap it
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 200); do alive "$pid" || break; sleep 0.05; done
	alive "$pid" && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || true
}

write_configs() {	# $1 domains, $2 work dir
	local n=$1 w=$2
	cat >"$w/m/mta-stsd.conf" <<-EOF
	[server]
	listen = 127.0.0.1:$mport
	policy_dir = policies
	cert_dir = certs
	access_log = off
	log_level = info
	allow_root = yes
	max_connections = 4096
	max_connections_per_ip = 4096
	; SIGHUP only, so that a reload measured is the one signalled (the
	; inotify step below switches it on for itself)
	auto_reload = no
	EOF
	mkdir -p "$w/n/tmp"
	echo "add_header X-Bench-Gen 0;" >"$w/n/gen.conf"
	{
		cat <<-EOF
		worker_processes 1;
		daemon off;
		user root;
		pid $w/n/nginx.pid;
		error_log $w/n/error.log warn;
		events { worker_connections 4096; }
		http {
		    access_log off;
		    include $w/n/gen.conf;
		    client_body_temp_path $w/n/tmp/body;
		    proxy_temp_path $w/n/tmp/proxy;
		    fastcgi_temp_path $w/n/tmp/fastcgi;
		    uwsgi_temp_path $w/n/tmp/uwsgi;
		    scgi_temp_path $w/n/tmp/scgi;
		    server_names_hash_max_size 65536;
		    server_names_hash_bucket_size 128;
		    ssl_protocols TLSv1.2 TLSv1.3;
		    ssl_ciphers ECDHE+AESGCM:ECDHE+CHACHA20;
		    ssl_ecdh_curve X25519:prime256v1:secp384r1;
		    ssl_session_tickets off;
		    ssl_session_cache off;
		    keepalive_timeout 30s;
		    keepalive_requests 1000;
		EOF
		seq 1 "$n" | awk -v d="$w/n" -v p="$nport" '{
			h = "mta-sts.d" $1 ".test"
			printf "    server {\n        listen 127.0.0.1:%s ssl;\n        server_name %s;\n", p, h
			printf "        ssl_certificate %s/certs/%s/fullchain.pem;\n", d, h
			printf "        ssl_certificate_key %s/certs/%s/privkey.pem;\n", d, h
			printf "        location = /.well-known/mta-sts.txt { default_type text/plain; alias %s/policies/d%s.test.txt; }\n", d, $1
			printf "    }\n"
		}'
		echo "}"
	} >"$w/n/nginx.conf"
}

start_server() {	# $1 m|n, $2 work dir, $3 domains -> sets spid and startup_ms
	local s=$1 w=$2 n=$3 poller
	port=$([ "$s" = m ] && echo $mport || echo $nport)
	rm -f "$w/t0"
	# the poller first (Python's start-up is not the server's), then the clock, then the server
	$cli_cpu $tool wait --since-file "$w/t0" 127.0.0.1 "$port" \
		--sni "mta-sts.d$n.test" --expect "mx1.d$n.test" --timeout 300 >"$w/startup" &
	poller=$!
	sleep 0.5
	date +%s%N >"$w/t0"
	if [ "$s" = m ]; then
		$srv_cpu "$bin" -c "$w/m/mta-stsd.conf" 2>>"$w/m/log" &
	else
		$srv_cpu "$nginx" -p "$w/n" -c "$w/n/nginx.conf" -e "$w/n/error.log" 2>>"$w/n/log" &
	fi
	spid=$!
	started+=("$spid")
	if ! wait "$poller" || ! alive "$spid"; then
		tail -n 20 "$w/$s/log" "$w/n/error.log" >&2 2>/dev/null || true
		die "$(name "$s") did not start"
	fi
	startup_ms=$(cat "$w/startup")
}

name() { [ "$1" = m ] && echo mta-stsd || echo nginx; }
pids() { $tool tree "$1"; }

wrk_run() {	# $1 m|n $2 pid $3 domains $4 keep|close -> rec rows
	local s=$1 pid=$2 n=$3 mode=$4 port host c0 c1 o reqs rps errs script=
	port=$([ "$s" = m ] && echo $mport || echo $nport)
	host=mta-sts.d$(( (n + 1) / 2 )).test
	[ "$mode" = close ] && script="-s $here/close.lua"
	c0=$($tool cpu $(pids "$pid"))
	# shellcheck disable=SC2086
	o=$($cli_cpu wrk -t1 -c$([ "$mode" = close ] && echo 16 || echo 32) -d"${dur}s" $script \
		"https://$host:$port/.well-known/mta-sts.txt" 2>&1)
	c1=$($tool cpu $(pids "$pid"))
	reqs=$(echo "$o" | awk '/requests in/ { print $1 }')
	rps=$(echo "$o" | awk '/^Requests\/sec/ { print $2 }')
	errs=$(echo "$o" | awk '/Socket errors|Non-2xx/' | tr '\n' ' ')
	[ -n "$reqs" ] && [ "$reqs" -gt 0 ] || { echo "$o" >&2; die "wrk failed against $(name "$s")"; }
	[ -z "$errs" ] || say "$(name "$s") $mode: $errs"
	if [ "$mode" = keep ]; then
		rec "keep-alive requests/s, $n domains (higher is better)" "$s" "$rps"
		rec "server CPU ms per 1,000 keep-alive requests, $n domains" "$s" \
			"$(echo "$c0 $c1 $reqs" | awk '{ printf "%.1f", ($2 - $1) * 1e6 / $3 }')"
	else
		rec "new TLS connections/s, $n domains (higher is better)" "$s" "$rps"
		rec "server CPU ms per 1,000 new TLS connections, $n domains" "$s" \
			"$(echo "$c0 $c1 $reqs" | awk '{ printf "%.1f", ($2 - $1) * 1e6 / $3 }')"
	fi
	say "$(name "$s") $n $mode: $rps req/s, cpu $(echo "$c0 $c1 $reqs" | awk '{ printf "%.1f", ($2 - $1) * 1e6 / $3 }') ms/1000"
}

lat_run() {	# $1 m|n $2 domains $3 keep|close
	local s=$1 n=$2 mode=$3 port r
	port=$([ "$s" = m ] && echo $mport || echo $nport)
	if [ "$mode" = close ]; then
		r=$($cli_cpu $tool rate 127.0.0.1 "$port" --names "$w/names" --rate 100 --duration "$lat_dur")
		set -- $r
		rec "latency p50 ms, new connection per request at 100/s, $n domains" "$s" "$1"
		rec "latency p99 ms, new connection per request at 100/s, $n domains" "$s" "$2"
	else
		r=$($cli_cpu $tool rate 127.0.0.1 "$port" --names "$w/names" --rate 1000 --duration "$lat_dur" --keepalive 10)
		set -- $r
		rec "latency p50 ms, keep-alive (10 connections) at 1,000/s, $n domains" "$s" "$1"
		rec "latency p99 ms, keep-alive (10 connections) at 1,000/s, $n domains" "$s" "$2"
	fi
	[ "$4" = 0 ] || say "$(name "$s") latency $mode: $4 errors"
	say "$(name "$s") $n latency $mode: p50 $1 ms p99 $2 ms ($3 answers, $5 over 500 ms, max $6 ms)"
}

mark() { wc -l <"$w/m/log"; }
log_ms() {	# mta-stsd's own build time of the first reload logged after line $1
	local i l	# ($2: its trigger, default SIGHUP)
	for i in $(seq 1 100); do
		l=$(tail -n +"$(( $1 + 1 ))" "$w/m/log" | grep -m 1 "reload (${2:-SIGHUP}): generation" || true)
		[ -n "$l" ] && { echo "$l" | sed 's/.*; \([0-9.]*\) ms\( (incremental)\)\{0,1\}$/\1/'; return; }
		sleep 0.05
	done
	echo nan
}

for n in $sizes; do
	w=$out/run/$n
	rm -rf "$w"; mkdir -p "$w"
	cp -a "$out/data/$n" "$w/m"; cp -a "$out/data/$n" "$w/n"
	seq 1 "$(( n < 1000 ? n : 1000 ))" | sed 's/.*/mta-sts.d&.test/' >"$w/names"
	write_configs "$n" "$w"
	say "=== $n domain(s)"

	# start-up and idle memory; the last start of each is kept for the rest
	for r in $(seq 1 "$reps"); do
		order="m n"; [ $((r % 2)) = 0 ] && order="n m"
		for s in $order; do
			start_server "$s" "$w" "$n"
			[ "$n" -ge 1000 ] && rec "start-up to first answer ms, $n domains" "$s" "$startup_ms"
			sleep 1
			set -- $($tool mem $(pids "$spid"))
			rec "RSS idle MiB, $n domains (all processes)" "$s" "$(awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }')"
			rec "PSS idle MiB, $n domains (shared pages split)" "$s" "$(awk -v k="$2" 'BEGIN { printf "%.1f", k / 1024 }')"
			say "$(name "$s") $n start-up ${startup_ms} ms, idle rss $1 KiB pss $2 KiB"
			if [ "$r" -lt "$reps" ]; then stop "$spid"; else eval "pid_$s=$spid"; fi
		done
	done

	# load: keep-alive, then one request per connection; memory sampled throughout
	for s in m n; do
		eval "p=\$pid_$s"
		$tool sample "$p" >"$w/$s.mem" & eval "sampler_$s=$!"; helpers+=("$!")
	done
	for r in $(seq 1 "$reps"); do
		order="m n"; [ $((r % 2)) = 0 ] && order="n m"
		for s in $order; do eval "p=\$pid_$s"; wrk_run "$s" "$p" "$n" keep; done
		[ "$keep_only" = 1 ] && continue
		for s in $order; do eval "p=\$pid_$s"; wrk_run "$s" "$p" "$n" close; done
	done
	for s in m n; do
		eval "kill \$sampler_$s; wait \$sampler_$s 2>/dev/null || true"
		rec "RSS under load MiB, $n domains (peak, all processes)" "$s" "$(awk '$1 > m { m = $1 } END { printf "%.1f", m / 1024 }' "$w/$s.mem")"
		rec "PSS under load MiB, $n domains (peak)" "$s" "$(awk '$2 > m { m = $2 } END { printf "%.1f", m / 1024 }' "$w/$s.mem")"
	done
	for r in $(seq 1 "$reps"); do
		[ "$keep_only" = 1 ] && break
		order="m n"; [ $((r % 2)) = 0 ] && order="n m"
		for s in $order; do lat_run "$s" "$n" close; done
		for s in $order; do lat_run "$s" "$n" keep; done
	done

	# reloads (1,000 domains and more)
	if [ "$n" -ge 1000 ] && [ "$keep_only" != 1 ]; then
		mid=$(( (n + 1) / 2 )); mh=mta-sts.d$mid.test
		alt_sha=$($tool certsha "$w/m/alt/$mh/fullchain.pem")
		orig_sha=$($tool certsha "$w/m/certs/$mh/fullchain.pem")
		for r in $(seq 1 "$reps"); do
			age=$((86400 + r))
			# every file changed: all policies rewritten, all certificates and keys touched
			$tool rewrite "$w/m/policies" "$age"; find "$w/m/certs" -type f -exec touch {} +
			l0=$(mark)
			t=$($tool wait --signal "$pid_m:HUP" 127.0.0.1 $mport --sni "mta-sts.d$n.test" --expect "max_age: $age")
			rec "full reload (every file changed) until served ms, $n domains" m "$t"
			tm=$t
			rec "  mta-stsd's own build time of that reload (log) ms, $n domains" m "$(log_ms "$l0")"
			sleep 1	# the inotify follow-up finds nothing new
			$tool rewrite "$w/n/policies" "$age"; find "$w/n/certs" -type f -exec touch {} +
			echo "add_header X-Bench-Gen $r;" >"$w/n/gen.conf"
			t=$($tool wait --signal "$pid_n:HUP" 127.0.0.1 $nport --sni "mta-sts.d$n.test" --header "X-Bench-Gen:$r")
			rec "full reload (every file changed) until served ms, $n domains" n "$t"
			sleep 1
			say "full reload $n: mta-stsd $tm ms, nginx $t ms"

			# one policy edited, SIGHUP at once; then one edited, no signal (inotify)
			age=$((90000 + r))
			sed "s/max_age: [0-9]*/max_age: $age/" "$w/m/policies/d$mid.test.txt" >"$w/m/policies/d$mid.test.txt.new"
			mv "$w/m/policies/d$mid.test.txt.new" "$w/m/policies/d$mid.test.txt"
			l0=$(mark)
			t=$($tool wait --signal "$pid_m:HUP" 127.0.0.1 $mport --sni "$mh" --expect "max_age: $age")
			rec "one policy of $n changed + SIGHUP, until served ms" m "$t"
			rec "  mta-stsd's own build time of that reload (log) ms, one policy of $n" m "$(log_ms "$l0")"
			sleep 1
			sed -i 's/^auto_reload = no/auto_reload = yes/' "$w/m/mta-stsd.conf"
			l0=$(mark); kill -HUP "$pid_m"; log_ms "$l0" >/dev/null; sleep 0.5
			age=$((95000 + r)); text=$(sed "s/max_age: [0-9]*/max_age: $age/" "$w/m/policies/d$mid.test.txt" | tr -d '\r' | sed 's/$/\\n/' | tr -d '\n')
			l0=$(mark)
			t=$($tool wait --write "$w/m/policies/d$mid.test.txt" "$text" 127.0.0.1 $mport --sni "$mh" --expect "max_age: $age")
			rec "one policy of $n changed, no signal (mta-stsd: inotify), until served ms" m "$t"
			rec "  mta-stsd's own build time of that reload (log) ms, one policy of $n, inotify" m "$(log_ms "$l0" "file change")"
			grep -q "reload (file change).*(incremental)" "$w/m/log" || say "note: no incremental build logged"
			sleep 0.5
			# one certificate replaced, no signal (nginx has no way but a
			# reload); the SIGHUP step below puts the original back
			l0=$(mark)
			t=$($tool wait --copy "$w/m/alt/$mh" "$w/m/certs/$mh" 127.0.0.1 $mport --sni "$mh" --cert-sha256 "$alt_sha")
			rec "one certificate of $n replaced, no signal (mta-stsd: inotify), until served ms" m "$t"
			rec "  mta-stsd's own build time of that reload (log) ms, one certificate of $n, inotify" m "$(log_ms "$l0" "file change")"
			sleep 0.5
			sed -i 's/^auto_reload = yes/auto_reload = no/' "$w/m/mta-stsd.conf"
			l0=$(mark); kill -HUP "$pid_m"; log_ms "$l0" >/dev/null; sleep 1
			text=$(sed "s/max_age: [0-9]*/max_age: $age/" "$w/n/policies/d$mid.test.txt" | tr -d '\r' | sed 's/$/\\n/' | tr -d '\n')
			t=$($tool wait --write "$w/n/policies/d$mid.test.txt" "$text" 127.0.0.1 $nport --sni "$mh" --expect "max_age: $age")
			rec "one policy of $n changed, no signal (mta-stsd: inotify), until served ms" n "$t"

			# one certificate replaced, then a reload (nginx: its only way)
			# (mta-stsd serves the alternative one since the step above:
			# back to the original; nginx alternates)
			cp "$out/data/$n/certs/$mh/"*.pem "$w/m/certs/$mh/"
			if [ $((r % 2)) = 1 ]; then src=alt; sha=$alt_sha; else src=orig; sha=$orig_sha; fi
			if [ "$src" = alt ]; then cp "$w/n/alt/$mh/"*.pem "$w/n/certs/$mh/"
			else cp "$out/data/$n/certs/$mh/"*.pem "$w/n/certs/$mh/"; fi
			l0=$(mark)
			t=$($tool wait --signal "$pid_m:HUP" 127.0.0.1 $mport --sni "$mh" --cert-sha256 "$orig_sha")
			rec "one certificate of $n replaced + reload, until served ms" m "$t"
			rec "  mta-stsd's own build time of that reload (log) ms, one certificate of $n" m "$(log_ms "$l0")"
			sleep 1
			echo "add_header X-Bench-Gen c$r;" >"$w/n/gen.conf"
			t=$($tool wait --signal "$pid_n:HUP" 127.0.0.1 $nport --sni "$mh" --cert-sha256 "$sha")
			rec "one certificate of $n replaced + reload, until served ms" n "$t"
			sleep 1
			say "one-domain changes $n done (run $r)"
		done
	fi
	stop "$pid_m"; stop "$pid_n"
	grep -i 'error\|warn' "$w/m/log" | head -n 5 >&2 || true
done

# the binaries: stripped size, shared libraries mapped by a running process
tmpd=$(mktemp -d)
cp "$bin" "$tmpd/mta-stsd"; strip "$tmpd/mta-stsd"
cp "$nginx" "$tmpd/nginx"; strip "$tmpd/nginx" 2>/dev/null || true
rec "binary size KiB, stripped" m "$(( $(stat -c %s "$tmpd/mta-stsd") / 1024 ))"
rec "binary size KiB, stripped" n "$(( $(stat -c %s "$tmpd/nginx") / 1024 ))"
rm -rf "$tmpd"
n=$(echo "$sizes" | awk '{ print $1 }'); w=$out/run/$n
for s in m n; do
	start_server "$s" "$w" "$n"
	libs=$(for p in $(pids "$spid"); do awk '$6 ~ /\.so/ { print $6 }' "/proc/$p/maps"; done | sort -u)
	rec "shared libraries mapped (count)" "$s" "$(echo "$libs" | grep -c .)"
	rec "shared libraries mapped, total file size KiB" "$s" "$(echo "$libs" | xargs stat -L -c %s | awk '{ t += $1 } END { printf "%d", t / 1024 }')"
	echo "$libs" | xargs -n1 basename | tr '\n' ' ' >"$out/libs-$s.txt"
	stop "$spid"
done

# ---------------------------------------------------------------- multi-core
# Does a second worker give a second core's worth of requests? Each server with
# 1 and with 2 workers (mta-stsd `workers`, nginx `worker_processes`), nothing
# pinned, the load generator beside it (keep-alive: wrk -t2; new connections:
# tool.py load, 16 blocking clients): with 1 worker the server can use at most
# one core; with 2 workers what the client (and whatever else runs) leaves of
# both. So the ratio 2 workers / 1 worker is bounded by (cores - the client's
# share - everything else's, with 2 workers) / (the server's share with 1
# worker), which the table gives beside the ratio, from the client's own CPU
# time (wait4), the server's (/proc/PID/stat) and the machine's (/proc/stat).
# Separate ports, so that the earlier runs' TIME_WAIT sockets are
# not in the way.
mc_rec() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$mtsv"; }	# row server workers value

set_workers() {	# $1 work dir, $2 workers: for the next start of either server
	sed -i "s/^workers = .*/workers = $2/" "$1/m/mta-stsd.conf"
	sed -i "s/^worker_processes .*/worker_processes $2;/" "$1/n/nginx.conf"
}

mc_run() {	# $1 m|n $2 pid $3 domains $4 keep|close $5 workers -> mc_rec rows
	local s=$1 pid=$2 n=$3 mode=$4 k=$5 port host c0 c1 o reqs rps errs t what tag a l
	port=$([ "$s" = m ] && echo $mport || echo $nport)
	host=mta-sts.d$(( (n + 1) / 2 )).test
	c0=$($tool cpu $(pids "$pid"))
	if [ "$mode" = keep ]; then
		o=$($tool timed wrk -t2 -c32 -d"${dur}s" "https://$host:$port/.well-known/mta-sts.txt" 2>&1)
	else
		# not wrk: it polls for writability while a handshake waits for
		# the server, so its CPU time is not its cost and it takes CPU
		# the server would use (see tool.py load)
		o=$($tool timed $tool load 127.0.0.1 "$port" --sni "$host" --conns 16 --duration "$dur" 2>&1)
	fi
	c1=$($tool cpu $(pids "$pid"))
	reqs=$(echo "$o" | awk '/requests in/ { print $1 }')
	rps=$(echo "$o" | awk '/^Requests\/sec/ { print $2 }')
	errs=$(echo "$o" | awk '/Socket errors|Non-2xx|^Errors/' | tr '\n' ' ')
	t=$(echo "$o" | awk '/^timed:/ { print $2, $3, $4 }')
	[ -n "$reqs" ] && [ "$reqs" -gt 0 ] && [ -n "$t" ] || { echo "$o" >&2; die "wrk failed against $(name "$s")"; }
	[ -z "$errs" ] || say "$(name "$s") $mode $k workers: $errs"
	# wall s, wrk's CPU s, the machine's busy CPU s; the server's CPU s
	set -- $t "$(echo "$c0 $c1" | awk '{ printf "%.2f", $2 - $1 }')"
	if [ "$mode" = keep ]; then what="keep-alive requests"; tag=keep-alive; else what="new TLS connections"; tag="new connections"; fi
	# this run's shares, for the bound on the ratio once both runs of the pair are done
	eval "mc_srv_${mode}_$k=\$(awk -v c=\"\$4\" -v t=\"\$1\" 'BEGIN { print c / t }')"
	eval "mc_left_${mode}_$k=\$(awk -v b=\"\$3\" -v c=\"\$4\" -v t=\"\$1\" -v n=$ncpu 'BEGIN { print n - (b - c) / t }')"
	eval "a=\${mc_srv_${mode}_1:-} l=\${mc_left_${mode}_2:-}"
	mc_rec "$what/s, $n domains (higher is better)" "$s" "$k" "$rps"
	mc_rec "  bound on 2/1: cores left by the client and the rest (2 workers) / server's cores (1 worker), $tag" "$s" r \
		"$([ -n "$a" ] && [ -n "$l" ] && awk -v a="$a" -v l="$l" 'BEGIN { printf "%.2f", l / a }' || echo -)"
	mc_rec "  server CPU ms per 1,000 $what" "$s" "$k" "$(awk -v c="$4" -v r="$reqs" 'BEGIN { printf "%.1f", c * 1e6 / r }')"
	mc_rec "  server CPU, cores busy (of $ncpu), $tag" "$s" "$k" "$(awk -v c="$4" -v t="$1" 'BEGIN { printf "%.2f", c / t }')"
	mc_rec "  load generator CPU, cores busy, $tag" "$s" "$k" "$(awk -v c="$2" -v t="$1" 'BEGIN { printf "%.2f", c / t }')"
	mc_rec "  everything else (other processes, interrupts), cores busy, $tag" "$s" "$k" \
		"$(awk -v b="$3" -v c="$4" -v g="$2" -v t="$1" 'BEGIN { printf "%.2f", (b - c - g) / t }')"
	say "$(name "$s") $n $mode, $k worker(s): $rps req/s, server $(awk -v c="$4" -v t="$1" 'BEGIN { printf "%.2f", c / t }') cores, client $(awk -v c="$2" -v t="$1" 'BEGIN { printf "%.2f", c / t }') cores, machine $(awk -v c="$3" -v t="$1" 'BEGIN { printf "%.2f", c / t }') cores"
}

mc_shutdown() {	# $1 domains, $2 run: mta-stsd with 2 workers gets SIGTERM while two wrk run
	local n=$1 r=$2 port=$mport host l0 g1 g2 t0 t1 rc i
	host=mta-sts.d$(( (n + 1) / 2 )).test
	set_workers "$w" 2
	start_server m "$w" "$n"
	l0=$(wc -l <"$w/m/log")
	wrk -t1 -c16 -d"$(( dur + 5 ))s" "https://$host:$port/.well-known/mta-sts.txt" >"$w/shutdown-$r.keep" 2>&1 & g1=$!
	wrk -t1 -c16 -d"$(( dur + 5 ))s" -s "$here/close.lua" "https://$host:$port/.well-known/mta-sts.txt" >"$w/shutdown-$r.close" 2>&1 & g2=$!
	helpers+=("$g1" "$g2")
	sleep "$(awk -v d="$dur" 'BEGIN { print d / 2 }')"
	t0=$(date +%s%N)
	kill -TERM "$spid"
	# SHUTDOWN_MS (10 s) is the longest a shutdown waits for requests in flight
	for i in $(seq 1 300); do alive "$spid" || break; sleep 0.05; done
	t1=$(date +%s%N)
	alive "$spid" && kill -KILL "$spid"	# shows as status 137
	rc=0; wait "$spid" || rc=$?
	# SIGINT: wrk stops and prints what it got (requests answered before the end)
	kill -INT "$g1" "$g2" 2>/dev/null || true; wait "$g1" "$g2" 2>/dev/null || true
	tail -n +"$(( l0 + 1 ))" "$w/m/log" >"$w/shutdown-$r.log"
	mc_rec "shutdown under load: SIGTERM to exit ms" m 2 \
		"$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')"
	echo "$r exit=$rc keep=$(awk '/requests in/ { print $1 }' "$w/shutdown-$r.keep") close=$(awk '/requests in/ { print $1 }' "$w/shutdown-$r.close") shutting_down=$(grep -c 'shutting down' "$w/shutdown-$r.log") stopped=$(grep -c 'stopped$' "$w/shutdown-$r.log") bad=$(grep -ci 'error\|fatal\|abort\|assert\|sanitizer\|segmentation' "$w/shutdown-$r.log")" >>"$w/shutdown.txt"
	say "shutdown under load $r: exit $rc in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", (b - a) / 1e6 }') ms; $(tail -n 1 "$w/shutdown.txt")"
}

mtsv=$out/multicore.tsv
: >"$mtsv"
: >"$out/multicore.md"
ncpu=$(nproc)
if [ -n "$mc_sizes" ] && [ "$ncpu" -ge 2 ]; then
	srv_cpu=; cli_cpu=	# nothing pinned from here on
	mport=8543; nport=9543
	for n in $mc_sizes; do
		w=$out/run/mc-$n
		rm -rf "$w"; mkdir -p "$w"
		cp -a "$out/data/$n" "$w/m"; cp -a "$out/data/$n" "$w/n"
		write_configs "$n" "$w"
		echo "workers = 1" >>"$w/m/mta-stsd.conf"
		say "=== multi-core, $n domain(s): 1 and 2 workers, nothing pinned"
		for r in $(seq 1 "$reps"); do
			order="m n"; korder="1 2"
			[ $((r % 2)) = 0 ] && { order="n m"; korder="2 1"; }
			for s in $order; do
				unset mc_srv_keep_1 mc_srv_close_1 mc_left_keep_2 mc_left_close_2
				for k in $korder; do
					set_workers "$w" "$k"
					start_server "$s" "$w" "$n"
					mc_run "$s" "$spid" "$n" keep "$k"
					mc_run "$s" "$spid" "$n" close "$k"
					stop "$spid"
				done
			done
		done
	done
	n=$(echo "$mc_sizes" | awk '{ print $1 }'); w=$out/run/mc-$n
	: >"$w/shutdown.txt"
	for r in $(seq 1 "$reps"); do mc_shutdown "$n" "$r"; done
	$tool mcreport "$mtsv" "$out/multicore.md"
	{
		echo
		echo "Everything else on the machine during these runs: median $(awk -F '\t' '$1 ~ /everything else/ { print $4 }' "$mtsv" | median) cores (other processes and kernel threads: where other work on a shared machine shows)."
		echo
		echo "Shutdown under load (\`workers = 2\`, $n domain(s), SIGTERM halfway through a keep-alive and a new-connection wrk): $(awk '{ t++ } /exit=0 / && / keep=[1-9]/ && / close=[1-9]/ && / shutting_down=1 / && / stopped=1 / && / bad=0$/ { ok++ } END { printf "%d of %d were answering both clients, exited with status 0 and logged \"shutting down\" and \"stopped\" and nothing worse", ok, t }' "$w/shutdown.txt")."
	} >>"$out/multicore.md"
	mport=8443; nport=9443
fi

# stalls of the load generators' connections show here (SYN retried after 1 s, 3 s)
echo "loopback TCP counters of the run: $(nstat -az TcpExtTCPSynRetrans TcpExtListenOverflows TcpExtListenDrops 2>/dev/null |
	awk 'NR > 1 { printf "%s%s %s", sep, $1, $2; sep = ", " }')" >>"$out/machine.txt"
$tool report "$tsv" "$out/machine.txt" "$out/results.md" "$out/libs-m.txt" "$out/libs-n.txt"
if [ -s "$out/multicore.md" ]; then
	{
		echo
		echo "Multi-core ($mc_sizes domain(s)): 1 and 2 workers, nothing pinned, the load generator on the same $ncpu cores (keep-alive: \`wrk -t2 -c32\`; new connections: \`tool.py load\`, 16 blocking clients); medians of $reps runs of ${dur} s"
		echo
		cat "$out/multicore.md"
	} >>"$out/results.md"
fi
cat "$out/results.md"
