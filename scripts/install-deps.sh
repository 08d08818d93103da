#!/bin/sh
# Install what building and testing mta-stsd needs on Debian 12 or 13 (as root).
# Only missing packages are installed; services they ship are not started.
# make runs it itself when the build or the tests lack something (see the
# Makefile's set-up block); as another user it says the one command to run.
#
# Usage: scripts/install-deps.sh [--build | PACKAGE...]
# No argument: everything building and testing needs. --build: what `make`
# and `make run` need. With package names, those (make bench uses it).
set -eu

build_pkgs="build-essential pkg-config cmake python3 python3-jinja2 python3-jsonschema bzip2 xz-utils
libmicrohttpd-dev libinih-dev libjansson-dev nettle-dev openssl ca-certificates"
test_pkgs="libcmocka-dev curl iproute2 procps
dnsmasq-base postfix-mta-sts-resolver sslscan valgrind clang libclang-rt-14-dev
pebble lego python3-kubernetes python3-yaml"
# the command to suggest: the whole set (so that `make test` works next), or
# the caller's own list
cmd="sudo sh scripts/install-deps.sh"
case ${1:-} in
--build) packages=$build_pkgs ;;
'') packages="$build_pkgs $test_pkgs" ;;
*) packages="$*" cmd="$cmd $*" ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "install-deps: no dpkg-query, so not Debian: install the equivalents of" \
		$packages "with the system's package manager, then run make with INSTALL_DEPS=no" >&2
	exit 1
fi
missing=
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -n "$missing" ] || exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing:$missing" >&2
	echo "install-deps: run this once as root, then make again: $cmd" >&2
	exit 1
fi
echo "install-deps: installing$missing"
# packages must not start the services they ship (dnsmasq, postfix-mta-sts-resolver)
policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	policy=1
fi
apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
[ -z "$policy" ] || rm -f /usr/sbin/policy-rc.d
