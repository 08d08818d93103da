#!/bin/sh
# tests/image/base.sh [IMAGE [SUITE]] - make sure podman has the Dockerfile's
# base image: kept from an earlier run (podman's own storage is the cache),
# else pulled from its registry, else, with no registry reachable (these
# machines), bootstrapped with debootstrap (minbase) from the Debian mirror
# the system's apt configuration names (scripts/apt-mirror.sh) and imported
# under the base image's name, so that `FROM` finds it without a registry.
#
# IMAGE defaults to the Dockerfile's BASE, SUITE to trixie (Debian 13).
# Needs root, podman and debootstrap (tests/image/run.sh installs them).
set -eu
cd "$(dirname "$0")/../.."
name=${1:-$(sed -n 's/^ARG BASE=//p' Dockerfile | head -n 1)}
suite=${2:-trixie}

if podman image exists "$name"; then
	echo "base: $name is in podman's storage (kept from an earlier run)"
	exit 0
fi
if [ "${IMAGE_PULL:-1}" = 1 ] &&
	timeout 60 podman pull -q "$name" >/dev/null 2>&1; then
	echo "base: $name pulled"
	exit 0
fi
mirror=$(sh scripts/apt-mirror.sh)
root=$(mktemp -d /var/tmp/mta-stsd-base.XXXXXX)
trap 'rm -rf "$root"' EXIT INT TERM
echo "base: no registry reachable: bootstrapping Debian $suite (minbase) from $mirror"
if ! debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.log" 2>&1; then
	tail -n 20 "$root.log" >&2
	echo "base: debootstrap of $suite from $mirror failed (log above, $root.log)" >&2
	exit 1
fi
rm -f "$root.log"
# slim like the registry's -slim images: no package lists, caches, manuals
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/log/* \
	"$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
tar --numeric-owner -C "$root" -c . |
	podman import -q --change 'CMD ["bash"]' \
		--message "debootstrap --variant=minbase $suite $mirror" - "$name" >/dev/null
echo "base: $name imported ($(podman image inspect --format '{{.Size}}' "$name") bytes)"
