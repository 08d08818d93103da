#!/bin/bash
# tests/image/run.sh - `make image-test`: build the container image with
# podman and run it as the README's container section says.
#
# Needs root (rootful podman). Installs podman, runc and debootstrap through
# scripts/install-deps.sh when missing; writes the podman configuration these
# machines need (runc as the runtime, a default nofile ulimit within the
# hard limit) to $IMAGE_TEST_STATE/containers.conf and uses it for its own
# podman calls only (CONTAINERS_CONF); builds with --network host (the build
# stage fetches Debian's source packages) and --format docker (the OCI
# format has no HEALTHCHECK). The Debian 13 base comes from
# tests/image/base.sh: kept in podman's storage between runs, else pulled,
# else bootstrapped with debootstrap.
#
# The container runs read-only, as uid/gid 10443, with --cap-drop ALL (443
# opened to it by net.ipv4.ip_unprivileged_port_start in its own network
# namespace), ports published on 127.0.0.1 only, and the documented mounts:
# policies/, certbot's live/ and archive/. Checks: the image's size and
# contents, the policy served, a changed policy and a certbot-style renewal
# picked up without a signal, the health check turning healthy, RSS, and
# `podman stop` with a request in flight. Prints "N passed, N failed".
#
# Environment: IMAGE_TEST_STATE (default /var/tmp/mta-stsd-image-test),
# IMAGE_MAX_BYTES (15000000), IMAGE_MAX_RSS_KIB (3584), STOP_MAX_S (5).
set -u
cd "$(dirname "$0")/../.."
passed=0
failed=0
. tests/lib/common.sh

IMAGE=localhost/mta-stsd:image-test
NAME=mta-stsd-image-test-$$
STATE=${IMAGE_TEST_STATE:-/var/tmp/mta-stsd-image-test}
MAX_BYTES=${IMAGE_MAX_BYTES:-15000000}
MAX_RSS=${IMAGE_MAX_RSS_KIB:-3584}
STOP_MAX=${STOP_MAX_S:-5}
VERSION=$(sed -n 's/^VERSION = //p' Makefile)
T0=$(date +%s)
WORK=
CLIENT="python3 tests/image/client.py"

cleanup() {
	# one at a time: podman 4.3 removes none when one of several is missing
	for c in "$NAME" "$NAME-cap"; do
		podman rm -f -t 0 "$c" >/dev/null 2>&1
	done
	[ -n "$WORK" ] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# elapsed: seconds since the start, for the timing lines
elapsed() { echo $(($(date +%s) - T0)); }

if [ "$(id -u)" -ne 0 ]; then
	echo "image-test needs root (rootful podman, debootstrap)"
	fail setup "not root"
	finish
fi
if ! sh scripts/install-deps.sh podman runc debootstrap iptables \
	containernetworking-plugins openssl python3 >"$STATE.install.log" 2>&1; then
	fail setup "installing podman, runc, debootstrap failed: $(tail -n 3 "$STATE.install.log")"
	finish
fi
rm -f "$STATE.install.log"

# podman's configuration for these machines, for this script's calls only
mkdir -p "$STATE"
# limit NAME OPTION CAP: this shell's hard limit of OPTION, at most CAP
limit() {
	l=$(ulimit -H "$1")
	[ "$l" = unlimited ] || [ "$l" -gt "$2" ] && l=$2
	echo "$l"
}
nofile=$(limit -n 16384)
nproc=$(limit -u 16384)	# runc here could set 32768, not 60000 (below the hard limit)
cat >"$STATE/containers.conf" <<CONF
# written by tests/image/run.sh: podman's default nofile and nproc ulimits
# (1048576, 4194304) are above what runc may set on these machines; runc is
# the runtime installed
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
CONF
export CONTAINERS_CONF=$STATE/containers.conf

# --- the base image, then the build
tb=$(date +%s)
if ! sh tests/image/base.sh >"$STATE/base.log" 2>&1; then
	fail base "$(tail -n 5 "$STATE/base.log")"
	finish
fi
sed 's/^/# /' "$STATE/base.log"
echo "# base image ready in $(($(date +%s) - tb)) s"
tb=$(date +%s)
if ! podman build --format docker --network host --pull=never \
	--build-arg VERSION="$VERSION" -t "$IMAGE" . >"$STATE/build.log" 2>&1; then
	fail build "podman build failed"
	show "podman build" "$STATE/build.log"
	finish
fi
echo "# image built in $(($(date +%s) - tb)) s"
pass build

# --- the image itself
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
echo "# image size: $size bytes ($(awk -v s="$size" 'BEGIN { printf "%.2f MB", s / 1e6 }'))"
if [ "$size" -le "$MAX_BYTES" ]; then
	pass "image_size_at_most_$MAX_BYTES"
else
	fail "image_size_at_most_$MAX_BYTES" "$size bytes"
fi
files=$(podman run --rm --no-healthcheck --entrypoint /usr/sbin/mta-stsd "$IMAGE" -V 2>&1)
hc=$(podman image inspect --format '{{json .HealthCheck}}' "$IMAGE" 2>/dev/null)
cfg=$(podman image inspect --format '{{.User}} {{json .Config.ExposedPorts}} {{json .Config.Volumes}}' "$IMAGE" 2>/dev/null)
echo "# mta-stsd -V in the image: $(echo "$files" | tr '\n' ' ')"
echo "# user, ports, volumes: $cfg"
if echo "$hc" | grep -q 'health' && echo "$cfg" | grep -q '^10443:10443 ' &&
	echo "$cfg" | grep -q '443/tcp' && echo "$cfg" | grep -q '9100/tcp' &&
	! echo "$cfg" | grep -q '"/' && echo "$files" | grep -q '^libmicrohttpd'; then
	pass image_config
else
	fail image_config "healthcheck '$hc', user/ports/volumes '$cfg', -V '$files'"
fi
# no GnuTLS: the final image's files, listed from a container's root
mnt=$(podman create "$IMAGE" 2>/dev/null) && root=$(podman mount "$mnt" 2>/dev/null)
if [ -n "${root:-}" ]; then
	( cd "$root" && find . -type f -o -type l | sort ) >"$STATE/files.txt"
	podman umount "$mnt" >/dev/null 2>&1
	podman rm "$mnt" >/dev/null 2>&1
	echo "# files in the image: $(tr '\n' ' ' <"$STATE/files.txt")"
	if grep -qi -e gnutls -e nettle -e hogweed -e p11-kit -e tasn1 -e idn2 "$STATE/files.txt"; then
		fail no_gnutls "$(grep -i -e gnutls -e nettle "$STATE/files.txt" | tr '\n' ' ')"
	elif grep -q 'ssl/certs/ca-certificates.crt' "$STATE/files.txt"; then
		pass no_gnutls_ca_bundle_present
	else
		fail no_gnutls_ca_bundle_present "no CA bundle in the image"
	fi
else
	fail no_gnutls "cannot mount the image to list its files"
fi

# --- the host side: certbot's layout, policies, a throwaway CA
WORK=$(mktemp -d /tmp/mta-stsd-image-test.XXXXXX)
chmod 755 "$WORK"
le=$WORK/letsencrypt
mkdir -p "$le/live/example.com" "$le/archive/example.com" "$WORK/policies"
chmod 755 "$le" "$le/live" "$le/archive" "$le/live/example.com" "$le/archive/example.com" "$WORK/policies"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$WORK/ca.key" -out "$WORK/ca.pem" -days 90 \
	-subj "/CN=mta-stsd image test CA" 2>/dev/null
# issue N: archive/example.com/{fullchain,privkey}N.pem as certbot writes
# them (the key readable by the image's group 10443), then live/'s links
issue() {
	a=$le/archive/example.com
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$a/privkey$1.pem" -out "$WORK/leaf.csr" \
		-subj "/CN=mta-sts.example.com" 2>/dev/null
	printf 'subjectAltName=DNS:mta-sts.example.com\n' >"$WORK/leaf.ext"
	openssl x509 -req -in "$WORK/leaf.csr" -CA "$WORK/ca.pem" \
		-CAkey "$WORK/ca.key" -CAcreateserial -days 90 \
		-extfile "$WORK/leaf.ext" -out "$a/cert$1.pem" 2>/dev/null
	cp "$a/cert$1.pem" "$a/fullchain$1.pem"
	chgrp 10443 "$a/privkey$1.pem"
	chmod 640 "$a/privkey$1.pem"
	chmod 644 "$a/cert$1.pem" "$a/fullchain$1.pem"
	# certbot replaces each link: a new one beside it, renamed over it
	for f in fullchain privkey; do
		ln -s "../../archive/example.com/$f$1.pem" "$le/live/example.com/.$f.new"
		mv -T "$le/live/example.com/.$f.new" "$le/live/example.com/$f.pem"
	done
}
issue 1
policy() {
	printf 'version: STSv1\nmode: %s\nmx: mail.example.com\nmax_age: 86400\n' "$1" \
		>"$WORK/policies/.example.com.txt.new"
	chmod 644 "$WORK/policies/.example.com.txt.new"
	mv "$WORK/policies/.example.com.txt.new" "$WORK/policies/example.com.txt"
}
policy testing

ports=$(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))')
set -- $ports
P=$1 A=$2

# --- run it as the README says (podman, --cap-drop ALL); no systemd here to
# run the health check on a timer: `podman healthcheck run` below runs it
tr0=$(date +%s.%N)
if ! cid=$(podman run -d --name "$NAME" --health-interval disable \
	--read-only --cap-drop ALL \
	--sysctl net.ipv4.ip_unprivileged_port_start=443 \
	-p "127.0.0.1:$P:443" -p "127.0.0.1:$A:9100" \
	-v "$WORK/policies:/etc/mta-stsd/policies:ro" \
	-v "$le/live:/etc/mta-stsd/certs:ro" \
	-v "$le/archive:/etc/mta-stsd/archive:ro" \
	"$IMAGE" 2>"$STATE/run.err"); then
	fail run "podman run failed: $(cat "$STATE/run.err")"
	finish
fi
pid=$(podman inspect --format '{{.State.Pid}}' "$NAME")
logs() { podman logs "$NAME" >"$STATE/container.log" 2>&1; show "podman logs" "$STATE/container.log"; }

# served: the policy over the published port
served=
for _ in $(seq 1 100); do
	if body=$($CLIENT get 127.0.0.1 "$P" mta-sts.example.com "$WORK/ca.pem" \
		/.well-known/mta-sts.txt 2>/dev/null) && echo "$body" | grep -q 'mode: testing'; then
		served=1
		break
	fi
	sleep 0.1
done
if [ -n "$served" ]; then
	pass policy_served
	echo "# first policy served $(awk -v a="$tr0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s after podman run"
else
	fail policy_served "no policy on 127.0.0.1:$P"
	logs
fi

# unprivileged, no capabilities, read-only root
st=$(cat "/proc/$pid/status" 2>/dev/null)
uid=$(echo "$st" | awk '/^Uid:/ { print $2 }')
gid=$(echo "$st" | awk '/^Gid:/ { print $2 }')
capeff=$(echo "$st" | awk '/^CapEff:/ { print $2 }')
ro=$(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$NAME")
if [ "$uid" = 10443 ] && [ "$gid" = 10443 ] && [ "$capeff" = 0000000000000000 ] && [ "$ro" = true ]; then
	pass unprivileged_read_only
else
	fail unprivileged_read_only "uid $uid gid $gid CapEff $capeff read-only $ro"
fi
if podman logs "$NAME" 2>&1 | grep -q 'starting: listening on'; then
	pass logs_reach_podman_logs
else
	fail logs_reach_podman_logs "no start line in podman logs"
fi

# the health check turns healthy (podman runs it on request here: no systemd
# timers in these machines)
healthy=
for _ in $(seq 1 30); do
	podman healthcheck run "$NAME" >/dev/null 2>&1
	if [ "$(podman inspect --format '{{.State.Health.Status}}' "$NAME" 2>/dev/null)" = healthy ]; then
		healthy=1
		break
	fi
	sleep 0.5
done
if [ -n "$healthy" ]; then
	pass health_check_healthy
else
	fail health_check_healthy "status $(podman inspect --format '{{.State.Health.Status}}' "$NAME" 2>&1)"
fi
# the admin port, published on 127.0.0.1, and the probe from the host side
if build_probe=$(podman exec "$NAME" /usr/sbin/mta-stsd health --ready 2>&1) &&
	python3 -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:$A/readyz', timeout=5).status == 200 else 1)"; then
	pass admin_port_readyz
else
	fail admin_port_readyz "$build_probe"
fi

# -t, dns and check find the configuration by their default path
if out=$(podman exec "$NAME" /usr/sbin/mta-stsd -t 2>&1); then
	pass config_test_in_container
else
	fail config_test_in_container "$out"
fi

# RSS of the container serving one domain (its only process), after requests
for _ in 1 2 3 4 5; do
	$CLIENT get 127.0.0.1 "$P" mta-sts.example.com "$WORK/ca.pem" /.well-known/mta-sts.txt >/dev/null 2>&1
done
sleep 1
rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
echo "# RSS of the serving container: $rss KiB ($(awk -v r="$rss" 'BEGIN { printf "%.2f", r / 1024 }') MiB), $(awk '/^Rss(Anon|File|Shmem):/ { printf "%s %s KiB  ", $1, $2 }' "/proc/$pid/status")"
if [ -n "$rss" ] && [ "$rss" -le "$MAX_RSS" ]; then
	pass "rss_at_most_${MAX_RSS}_kib"
else
	fail "rss_at_most_${MAX_RSS}_kib" "$rss KiB"
fi

# a changed policy: picked up without a signal
policy enforce
t=$(date +%s.%N)
ok=
for _ in $(seq 1 50); do
	if $CLIENT get 127.0.0.1 "$P" mta-sts.example.com "$WORK/ca.pem" \
		/.well-known/mta-sts.txt 2>/dev/null | grep -q 'mode: enforce'; then
		ok=1
		break
	fi
	sleep 0.1
done
if [ -n "$ok" ]; then
	pass policy_change_picked_up
	echo "# policy change served after $(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s"
else
	fail policy_change_picked_up "still the old policy after 5 s"
	logs
fi

# a certbot-style renewal: new archive files, live/ links replaced
before=$($CLIENT cert 127.0.0.1 "$P" mta-sts.example.com "$WORK/ca.pem" 2>&1)
issue 2
t=$(date +%s.%N)
want=$(openssl x509 -in "$le/archive/example.com/cert2.pem" -outform DER | sha256sum | cut -d' ' -f1)
ok=
for _ in $(seq 1 50); do
	now=$($CLIENT cert 127.0.0.1 "$P" mta-sts.example.com "$WORK/ca.pem" 2>/dev/null)
	if [ "$now" = "$want" ]; then
		ok=1
		break
	fi
	sleep 0.1
done
if [ -n "$ok" ] && [ "$before" != "$want" ]; then
	pass certbot_renewal_picked_up
	echo "# renewed certificate served after $(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s"
else
	fail certbot_renewal_picked_up "served $now, renewed $want, before $before"
	logs
fi

# podman's other way to port 443: --cap-add NET_BIND_SERVICE (podman makes
# it an ambient capability of the non-root process), no sysctl
if podman run -d --name "$NAME-cap" --health-interval disable --read-only \
	--cap-drop ALL --cap-add NET_BIND_SERVICE -p "127.0.0.1::443" \
	-v "$WORK/policies:/etc/mta-stsd/policies:ro" \
	-v "$le/live:/etc/mta-stsd/certs:ro" \
	-v "$le/archive:/etc/mta-stsd/archive:ro" \
	"$IMAGE" >/dev/null 2>"$STATE/run-cap.err"; then
	ok=
	for _ in $(seq 1 50); do
		if podman exec "$NAME-cap" /usr/sbin/mta-stsd health --ready >/dev/null 2>&1; then
			ok=1
			break
		fi
		sleep 0.1
	done
	if [ -n "$ok" ]; then
		pass cap_add_net_bind_service_binds_443
	else
		fail cap_add_net_bind_service_binds_443 "$(podman logs "$NAME-cap" 2>&1 | tail -n 3)"
	fi
	podman rm -f -t 0 "$NAME-cap" >/dev/null 2>&1
else
	fail cap_add_net_bind_service_binds_443 "podman run failed: $(cat "$STATE/run-cap.err")"
fi

# podman stop with a request in flight: exit 0 within STOP_MAX s
$CLIENT hold 127.0.0.1 "$P" mta-sts.example.com "$WORK/ca.pem" 30 >"$STATE/hold.out" 2>"$STATE/hold.err" &
hold=$!
for _ in $(seq 1 50); do
	grep -q ready "$STATE/hold.err" && break
	sleep 0.1
done
t=$(date +%s.%N)
podman stop -t 10 "$NAME" >/dev/null 2>&1
took=$(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
code=$(podman inspect --format '{{.State.ExitCode}}' "$NAME")
wait "$hold"
echo "# podman stop took $took s with a half-sent request open; exit code $code; client: $(cat "$STATE/hold.out")"
if [ "$code" = 0 ] && awk -v t="$took" -v m="$STOP_MAX" 'BEGIN { exit !(t < m) }'; then
	pass stop_in_flight_exit_0
else
	fail stop_in_flight_exit_0 "took $took s, exit code $code"
	logs
fi

echo "# image-test took $(elapsed) s"
finish
