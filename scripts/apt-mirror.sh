#!/bin/sh
# Print the Debian mirror that the system's apt configuration names (deb822
# *.sources files first, then the one-line sources.list form): the base URL
# whose path ends in /debian. The one place that reads it, for fetching
# Debian source packages (scripts/debian-source.sh) and for bootstrapping a
# Debian base image (tests/image/base.sh).
#
# Usage: scripts/apt-mirror.sh
# Exits 1, saying so on stderr, when no such mirror is configured.
set -eu

etc=${APT_MIRROR_ETC:-/etc/apt}
mirror=
for f in "$etc"/sources.list.d/*.sources; do
	[ -r "$f" ] || continue
	mirror=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f")
	[ -n "$mirror" ] && break
done
if [ -z "$mirror" ]; then
	mirror=$(cat "$etc/sources.list" "$etc"/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "deb" || $1 == "deb-src" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\// && $i ~ /\/debian\/?$/) { print $i; exit } }')
fi
if [ -z "$mirror" ]; then
	echo "apt-mirror: no Debian mirror (a URI ending in /debian) in" \
		"$etc/sources.list or $etc/sources.list.d/" >&2
	exit 1
fi
echo "${mirror%/}"
