#!/bin/bash
# bench/profile.sh - server CPU per request of one mta-stsd binary under wrk,
# and optionally a perf profile of it: the binary pinned to CPU 0, wrk to
# CPU 1, in a private network namespace (root), on .bench/data/1 (made by
# make bench or bench/gen.py). Used for the A/B runs and profiles in
# docs/BENCHMARKS.md; run it under flock /tmp/bench.lock like make bench.
#
# Usage: bench/profile.sh BINARY keep|close SECONDS PERF_OUT|-
#   keep: wrk -t1 -c32 keep-alive; close: wrk -t1 -c16 -s bench/close.lua
#   PERF_OUT: perf record -F 2999 -g of the server into that file; - for none
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=$1 mode=$2 secs=$3 out=$4
ns=mtasts-profile
if [ -z "${IN_NS:-}" ]; then
	[ -d "$root/.bench/data/1" ] || { echo "no .bench/data/1: run bench/gen.py .bench/data/1 1" >&2; exit 1; }
	ip netns del $ns 2>/dev/null; ip netns add $ns; ip -n $ns link set lo up
	mkdir -p /etc/netns/$ns
	printf '127.0.0.1 localhost\n127.0.0.1 mta-sts.d1.test\n' >/etc/netns/$ns/hosts
	ip netns exec $ns env IN_NS=1 bash "$0" "$@"; rc=$?
	ip netns del $ns; rm -rf /etc/netns/$ns; exit $rc
fi
w=$(mktemp -d /tmp/mtasts-profile.XXXXXX)
printf '[server]\nlisten = 127.0.0.1:8443\npolicy_dir = %s\ncert_dir = %s\naccess_log = off\nallow_root = yes\nauto_reload = no\nmax_connections = 4096\nmax_connections_per_ip = 4096\n' \
	"$root/.bench/data/1/policies" "$root/.bench/data/1/certs" >"$w/conf"
taskset -c 0 "$bin" -c "$w/conf" 2>"$w/log" &
P=$!
sleep 0.7
args=(); c=32
[ "$mode" = close ] && { args=(-s "$here/close.lua"); c=16; }
url=https://mta-sts.d1.test:8443/.well-known/mta-sts.txt
taskset -c 1 wrk -t1 -c$c -d1s "${args[@]}" $url >/dev/null 2>&1	# warm-up
R=
if [ "$out" != - ]; then
	perf record -F 2999 -g -p $P -o "$out" -- sleep "$secs" >/dev/null 2>&1 &
	R=$!
fi
c0=$(awk '{ print $14 + $15 }' /proc/$P/stat)
o=$(taskset -c 1 wrk -t1 -c$c -d${secs}s "${args[@]}" $url 2>&1)
c1=$(awk '{ print $14 + $15 }' /proc/$P/stat)
[ -n "$R" ] && wait $R
reqs=$(echo "$o" | awk '/requests in/ { print $1 }')
tck=$(getconf CLK_TCK)
echo "$mode: $reqs requests, server CPU $(echo "$c0 $c1 $reqs $tck" | awk '{ printf "%.1f", ($2 - $1) * 1e6 / $4 / $3 }') ms per 1,000"
kill $P; wait $P 2>/dev/null
rm -rf "$w"
