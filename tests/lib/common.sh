# tests/lib/common.sh - shared by the shell test suites (POSIX sh): result
# counting, failure output and process stopping. Source it after setting
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
