#!/bin/sh
# bench/crypto.sh - instructions per elliptic-curve operation (callgrind), for
# mbedTLS builds side by side: bench/crypto.c built against each, every
# operation run N1 and N2 times, (Ir(N2) - Ir(N1)) / (N2 - N1) printed as a
# Markdown table. Instruction counts do not depend on what else the machine
# runs, unlike times; they are not cycles (a multiplication instruction counts
# once, like a move), so the ratios are indicative.
#
# Usage: bench/crypto.sh NAME=MBEDTLS_PREFIX...
#   e.g. bench/crypto.sh before=.bench/mbedtls-variants/base after=.deps/mbedtls
# Environment: OPS (default: all of bench/crypto.c's), N1=1, N2=6.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
n1=${N1:-1}
n2=${N2:-6}
ops=${OPS:-"p256-sign-psa p256-sign-pk p256-sign-ecp p256-pub-psa p256-pub-ecp p256-check-pair x25519-keygen x25519-agree x25519-everest x25519-nettle-g x25519-nettle"}
command -v valgrind >/dev/null || { echo "crypto.sh: needs valgrind" >&2; exit 1; }
names=
for spec in "$@"; do
	name=${spec%%=*}
	prefix=$(cd "${spec#*=}" && pwd)
	make -C "$root" -s BUILD="$root/.bench/build-crypto-$name" MBEDTLS_PREFIX="$prefix" \
		MBEDTLS_DEP= "$root/.bench/build-crypto-$name/bench_crypto" >&2
	names="$names $name"
done
ir() {	# binary op n -> instructions collected
	valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" "$2" "$3" 2>&1 >/dev/null |
		sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
printf '| operation (instructions per call) |'
for n in $names; do printf ' %s |' "$n"; done; echo
printf '| --- |'; for n in $names; do printf ' ---: |'; done; echo
for op in $ops; do
	printf '| %s |' "$op"
	for n in $names; do
		bin=$root/.bench/build-crypto-$n/bench_crypto
		if "$bin" "$op" 1 >/dev/null 2>&1; then
			a=$(ir "$bin" "$op" "$n1"); b=$(ir "$bin" "$op" "$n2")
			printf ' %s |' "$(echo "$a $b $n1 $n2" | awk '{ printf "%\047d", ($2 - $1) / ($4 - $3) }')"
		else
			printf ' - |'
		fi
	done
	echo
done
