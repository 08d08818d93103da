#!/bin/sh
# Build mbedTLS 3.6 LTS from Debian 13's source package into a local prefix.
#
# Usage: scripts/fetch-mbedtls.sh PREFIX
#
# Debian 12 packages mbedTLS 2.28, which is end of life; Debian 13 packages
# 3.6. This script asks apt (with a private, throw-away state directory, so the
# system's own package lists are untouched) for the trixie source of mbedtls,
# from the same mirror that the system's apt configuration already names, and
# builds the static libraries into PREFIX. apt verifies the download against
# Debian's archive keyring (scripts/debian-source.sh, shared with
# scripts/fetch-microhttpd.sh). Nothing is installed system-wide.
set -eu

prefix=${1:?usage: fetch-mbedtls.sh PREFIX}
suite=${MBEDTLS_SUITE:-trixie}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/mbedtls-src.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

if [ -n "${MBEDTLS_TARBALL:-}" ]; then
	# a source tarball at hand (an mbedtls_3.6*.orig.tar.*, e.g. one this script
	# downloaded before: it keeps a copy in src/ beside PREFIX)
	orig=$MBEDTLS_TARBALL
else
	if ! sh "$here/debian-source.sh" mbedtls "$work/src" "$suite"; then
		echo "fetch-mbedtls: could not fetch the mbedtls source; or install" \
			"mbedTLS 3.6 so that pkg-config finds mbedtls >= 3.6" >&2
		exit 1
	fi

	orig=$(ls "$work"/src/mbedtls_3.6*.orig.tar.* 2>/dev/null | head -n 1)
	if [ -z "$orig" ]; then
		echo "fetch-mbedtls: the $suite mbedtls source is not version 3.6:" \
			"$(ls "$work/src")" >&2
		exit 1
	fi
	mkdir -p "$(dirname "$prefix")/src"
	cp "$orig" "$(dirname "$prefix")/src/" 2>/dev/null || true
fi
mkdir -p "$work/tree"
tar -xf "$orig" -C "$work/tree" --strip-components=1

# our configuration on top of mbedTLS's default one, then the build
sh "$here/mbedtls-config.sh" "$work/tree"
sh "$here/mbedtls-build.sh" "$work/tree" "$work/build" "$prefix"
cmake --install "$work/build" >/dev/null
echo "fetch-mbedtls: mbedTLS $(basename "$orig" | sed 's/mbedtls_\(.*\)\.orig.*/\1/') installed in $prefix"
