#!/bin/sh
# Download the source package of a Debian package from a given Debian release,
# from the mirror the system's apt configuration names (scripts/apt-mirror.sh).
#
# Usage: scripts/debian-source.sh PACKAGE DIR [SUITE]
# SUITE defaults to trixie (Debian 13). The .dsc, the upstream tarball
# (PACKAGE_VERSION.orig.tar.*) and Debian's changes land in DIR.
#
# apt runs with a private, throw-away state directory, so the system's own
# package lists are untouched, and verifies the download against Debian's
# archive keyring. Nothing is installed. Used for mbedTLS
# (scripts/fetch-mbedtls.sh) and libmicrohttpd (scripts/fetch-microhttpd.sh).
set -eu

pkg=${1:?usage: debian-source.sh PACKAGE DIR [SUITE]}
dir=${2:?usage: debian-source.sh PACKAGE DIR [SUITE]}
suite=${3:-trixie}
here=$(cd "$(dirname "$0")" && pwd)
mirror=$(sh "$here/apt-mirror.sh")
keyring=
for k in /usr/share/keyrings/debian-archive-keyring.gpg \
	/usr/share/keyrings/debian-archive-keyring.pgp; do
	[ -r "$k" ] && keyring=$k && break
done
if [ -z "$keyring" ]; then
	echo "debian-source: no Debian archive keyring in /usr/share/keyrings" \
		"(install debian-archive-keyring)" >&2
	exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/debian-source.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$dir"
echo "deb-src [signed-by=$keyring] $mirror $suite main" >"$work/sources.list"
apt_opts="-o Dir::Etc::SourceList=$work/sources.list -o Dir::Etc::SourceParts=/dev/null
 -o Dir::State::Lists=$work/lists -o Dir::Cache=$work/cache -o Debug::NoLocking=1
 -o APT::Sandbox::User=root -qq"

echo "debian-source: fetching the $suite source of $pkg from $mirror"
# shellcheck disable=SC2086
apt-get $apt_opts update
# shellcheck disable=SC2086
(cd "$dir" && apt-get $apt_opts --download-only source "$pkg")
