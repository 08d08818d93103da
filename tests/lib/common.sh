# tests/lib/common.sh - shared by the shell test suites (POSIX sh): result
# counting, failure output, process stopping, and the network namespace the
# check and e2e suites run in. Source it after setting
# passed=0 failed=0.

# pass NAME / fail NAME REASON: one result line, counted
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }

# show TITLE FILE: the end of a file, indented, for failure reports
show() {
	[ -s "$2" ] || return 0
	echo "    --- $1"
	sed 's/^/    | /' "$2" | tail -n "${SHOW_LINES:-60}"
}

# finish: the summary line the runners read, and the exit status
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}

# stop_pid PID: SIGTERM, up to 5 s, then SIGKILL; reaps it
stop_pid() {
	kill -0 "$1" 2>/dev/null || return 0
	kill -TERM "$1" 2>/dev/null
	_i=0
	while kill -0 "$1" 2>/dev/null && [ $_i -lt 50 ]; do
		# a zombie child still answers kill -0: look at its state
		[ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" = Z ] && break
		sleep 0.1
		_i=$((_i + 1))
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# need_binary USAGE: make BIN (the suite's argument, a mta-stsd binary)
# absolute; without one, print USAGE and exit 2; when it is not executable,
# record a "setup" failure and finish
need_binary() {
	if [ -z "$BIN" ]; then
		echo "usage: $1" >&2
		exit 2
	fi
	case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
	if [ ! -x "$BIN" ]; then
		fail setup "$BIN is missing or not executable (run make)"
		finish
	fi
}

# make_work NAME: WORK, a new directory /tmp/NAME.XXXXXX that processes
# dropping privileges may enter (netns_cleanup removes it)
make_work() {
	WORK=$(mktemp -d "/tmp/$1.XXXXXX") || { fail setup "mktemp failed"; finish; }
	chmod 755 "$WORK"
}

# need_root_tools HINT CMD...: the prerequisites of a namespace suite: it
# must run as root, and every CMD (and dnsmasq) must be installed; HINT says
# how to install them. Records one "setup" failure and finishes when not.
# Sets DNSMASQ to dnsmasq's path (Debian keeps it in /usr/sbin).
need_root_tools() {
	_hint=$1
	shift
	_missing=
	for _cmd in ip openssl python3 timeout "$@"; do
		command -v "$_cmd" >/dev/null 2>&1 || _missing="$_missing $_cmd"
	done
	DNSMASQ=$(command -v dnsmasq 2>/dev/null || echo /usr/sbin/dnsmasq)
	[ -x "$DNSMASQ" ] || _missing="$_missing dnsmasq"
	if [ -n "$_missing" ]; then
		fail setup "missing:$_missing ($_hint)"
		finish
	fi
	if [ "$(id -u)" -ne 0 ]; then
		fail setup "must run as root to create a network namespace"
		finish
	fi
}

# netns_create NAME: a private network namespace with lo up, resolving
# through 127.0.0.1 inside it (/etc/netns/NAME/resolv.conf) and with no
# /etc/hosts entry but localhost. Sets NS_MADE for netns_cleanup. Records a
# "netns" failure and finishes when it cannot.
netns_create() {
	if ! _out=$(ip netns add "$1" 2>&1); then
		fail netns "cannot create network namespace $1: $_out"
		finish
	fi
	NS_MADE=$1
	mkdir -p "/etc/netns/$1"
	echo "nameserver 127.0.0.1" >"/etc/netns/$1/resolv.conf"
	printf '127.0.0.1 localhost\n::1 localhost\n' >"/etc/netns/$1/hosts"
	if ! _out=$(ip netns exec "$1" ip link set lo up 2>&1); then
		fail netns "cannot bring lo up in $1: $_out"
		finish
	fi
}

# netns_cleanup [PID...]: the EXIT trap of a namespace suite: stop each
# process it started (by its pid only; empty ones are skipped), remove the
# namespace netns_create made and the work directory $WORK
netns_cleanup() {
	for _pid in "$@"; do
		[ -n "$_pid" ] && stop_pid "$_pid"
	done
	if [ -n "${NS_MADE:-}" ]; then
		ip netns del "$NS_MADE" 2>/dev/null
		rm -rf "/etc/netns/$NS_MADE"
	fi
	[ -n "${WORK:-}" ] && rm -rf "$WORK"
}

# start_dnsmasq ARG...: dnsmasq in the namespace $NS on 127.0.0.1:53,
# answering what the ARGs (its --address, --txt-record ... options) say;
# DNS_PID is its pid (ip netns exec execs it, so $! is dnsmasq itself), its
# output and query log go to $WORK/dnsmasq.out and $WORK/dnsmasq.log
start_dnsmasq() {
	ip netns exec "$NS" "$DNSMASQ" --keep-in-foreground --conf-file=/dev/null \
		--no-resolv --no-hosts --listen-address=127.0.0.1 --bind-interfaces \
		--port=53 --user=root --pid-file="$WORK/dnsmasq.pid" --log-queries \
		--log-facility="$WORK/dnsmasq.log" "$@" >"$WORK/dnsmasq.out" 2>&1 &
	DNS_PID=$!
}

# wait_ready NAME ADDRESS:PORT...: wait (at most 10 s) until, inside $NS,
# NAME resolves to 127.0.0.1 and every ADDRESS:PORT accepts connections;
# returns 1 and prints why when not (tests/lib/wait_ready.py, found beside
# this file from the suite's path: every suite is tests/<suite>/<script>)
wait_ready() {
	ip netns exec "$NS" timeout "$T" python3 "$(dirname "$0")/../lib/wait_ready.py" "$@"
}
