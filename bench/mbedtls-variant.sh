#!/bin/sh
# Build a variant of mbedTLS 3.6 (the project's options plus extra ones) into a
# prefix, to measure what an mbedTLS build option does to handshake CPU.
#
# Usage: bench/mbedtls-variant.sh PREFIX [set|unset OPTION [VALUE]]...
#   e.g. bench/mbedtls-variant.sh .bench/mbedtls-everest set MBEDTLS_ECDH_VARIANT_EVEREST_ENABLED
#
# The source is the tarball named by MBEDTLS_TARBALL (an mbedtls_3.6.*.orig.tar.*,
# as scripts/fetch-mbedtls.sh downloads it; bench/mbedtls-options.sh fetches one). The project's own options
# (scripts/mbedtls-config.sh, as fetch-mbedtls.sh applies them)
# are applied first, then the extra ones, in order.
set -eu
prefix=${1:?usage: mbedtls-variant.sh PREFIX [set|unset OPTION [VALUE]]...}
shift
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/mbedtls-variant.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

tarball=${MBEDTLS_TARBALL:-}
if [ -z "$tarball" ]; then
	echo "mbedtls-variant: set MBEDTLS_TARBALL to an mbedtls_3.6.*.orig.tar.* file" >&2
	exit 2
fi
mkdir -p "$work/tree"
tar -xf "$tarball" -C "$work/tree" --strip-components=1
cfg="python3 $work/tree/scripts/config.py -f $work/tree/include/mbedtls/mbedtls_config.h"
sh "$here/scripts/mbedtls-config.sh" "$work/tree"
while [ $# -gt 0 ]; do
	case $1 in
	set)
		if [ $# -ge 3 ] && [ "${3#MBEDTLS_}" = "$3" ] && [ "${3#MTA_STSD_}" = "$3" ] &&
			[ "$3" != set ] && [ "$3" != unset ]; then
			$cfg set "$2" "$3"; shift 3
		else
			$cfg set "$2"; shift 2
		fi ;;
	unset) $cfg unset "$2"; shift 2 ;;
	*) echo "mbedtls-variant: expected set or unset, got $1" >&2; exit 2 ;;
	esac
done
sh "$here/scripts/mbedtls-build.sh" "$work/tree" "$work/build" "$prefix"
rm -rf "$prefix"
cmake --install "$work/build" >/dev/null
# record the options for the report
grep -E '^#define (MBEDTLS_(ECP_|ECDH_VARIANT|PSA_P256M|USE_PSA|ECDSA_DET)|MTA_STSD_)' \
	"$prefix/include/mbedtls/mbedtls_config.h" >"$prefix/options.txt" || true
echo "mbedtls-variant: built into $prefix"
