#!/bin/sh
# Build libmicrohttpd without HTTPS support (so without GnuTLS) from Debian
# 13's source package into a local prefix, as a static library.
#
# Usage: scripts/fetch-microhttpd.sh PREFIX
#
# mta-stsd terminates TLS with mbedTLS and hands libmicrohttpd plain HTTP
# over a socketpair: it never calls libmicrohttpd's TLS. Debian's package is
# built with GnuTLS, which then loads six GnuTLS packages' libraries (most of
# the library bytes the process maps) for nothing. This build leaves out
# HTTPS and every feature mta-stsd does not use (POST processing, Basic and
# Digest authentication, Upgrade, cookies), for `make NOGNUTLS=1` and the
# container image. The source comes through scripts/debian-source.sh (the
# mirror of the system's apt configuration, verified by Debian's keyring).
# Nothing is installed system-wide.
set -eu

prefix=${1:?usage: fetch-microhttpd.sh PREFIX}
suite=${MICROHTTPD_SUITE:-trixie}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/microhttpd-src.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

if ! sh "$here/debian-source.sh" libmicrohttpd "$work/src" "$suite"; then
	echo "fetch-microhttpd: could not fetch the libmicrohttpd source" >&2
	exit 1
fi
orig=$(ls "$work"/src/libmicrohttpd_*.orig.tar.* 2>/dev/null | grep -v '\.asc$' | head -n 1)
if [ -z "$orig" ]; then
	echo "fetch-microhttpd: no upstream tarball in the $suite source:" \
		"$(ls "$work/src")" >&2
	exit 1
fi
mkdir -p "$work/tree"
tar -xf "$orig" -C "$work/tree" --strip-components=1

# one section per function (the link keeps only what is called), position
# independent (mta-stsd is a PIE), hardened like the rest of the build
cflags="-O2 -g -ffunction-sections -fdata-sections -fPIC -fstack-protector-strong -D_FORTIFY_SOURCE=2"
if ! (cd "$work/tree" && ./configure --prefix="$prefix" --disable-shared \
	--enable-static --with-pic --disable-https --without-gnutls \
	--enable-epoll=yes --disable-curl --disable-doc --disable-examples \
	--disable-tools --disable-postprocessor --disable-bauth --disable-dauth \
	--disable-httpupgrade --disable-cookie CFLAGS="$cflags" \
	>"$work/configure.log" 2>&1 &&
	make -j "$(nproc 2>/dev/null || echo 2)" -C src/microhttpd >"$work/build.log" 2>&1 &&
	make -C src/microhttpd install >>"$work/build.log" 2>&1 &&
	make -C src/include install >>"$work/build.log" 2>&1 &&
	make install-pkgconfigDATA >>"$work/build.log" 2>&1); then
	tail -n 30 "$work/configure.log" "$work/build.log" 2>/dev/null >&2
	echo "fetch-microhttpd: building libmicrohttpd failed (log above)" >&2
	exit 1
fi
if grep -q '^#define HTTPS_SUPPORT 1' "$work/tree/MHD_config.h"; then
	echo "fetch-microhttpd: configure enabled HTTPS support after all" >&2
	exit 1
fi
echo "fetch-microhttpd: libmicrohttpd $(basename "$orig" | sed 's/libmicrohttpd_\(.*\)\.orig.*/\1/') without HTTPS installed in $prefix"
