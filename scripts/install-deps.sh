#!/bin/sh
# Install what building and testing mta-stsd needs on Debian 12 or 13 (as root).
# Only missing packages are installed; services they ship are not started.
#
# Usage: scripts/install-deps.sh [PACKAGE...]
# With arguments, those packages instead of the project's (make bench uses it).
set -eu

packages="$*"
[ -n "$packages" ] || packages="build-essential pkg-config cmake python3 python3-jinja2 python3-jsonschema bzip2 xz-utils
libmicrohttpd-dev libinih-dev libcmocka-dev nettle-dev
openssl curl ca-certificates iproute2 procps
dnsmasq-base postfix-mta-sts-resolver sslscan valgrind clang libclang-rt-14-dev"

missing=
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -n "$missing" ] || exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing:$missing; run this script as root" >&2
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
