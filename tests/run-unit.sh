#!/bin/sh
# tests/run-unit.sh BIN... - run cmocka unit test binaries and total their counts.
#
# Each binary's own output (cmocka's report) is shown as it is. Its counts come
# from cmocka's summary lines "[  PASSED  ] N test(s)." and
# "[  FAILED  ] N test(s)"; a binary that exits non-zero without reporting a
# failure, or prints no summary at all, counts as one failed test (it crashed
# or never ran its tests). Ends with "N passed, N failed"; exits 1 when any
# test failed.

set -u

TIMEOUT=${UNIT_TIMEOUT:-120}	# seconds per binary
total_pass=0
total_fail=0
out=$(mktemp /tmp/mtasts-unit.XXXXXX) || exit 1
trap 'rm -f "$out"' EXIT
trap 'exit 1' INT TERM HUP

# sum the N of every line matching the cmocka summary pattern $1 in file $2
sum_counts() {
	sed -n "s/^\[  $1  \] \([0-9][0-9]*\) test(s).*/\1/p" "$2" |
	    awk '{ s += $1 } END { print s + 0 }'
}

if [ $# -eq 0 ]; then
	echo "# no unit test binaries given"
fi

for bin in "$@"; do
	name=$(basename "$bin")
	echo "=== $name"
	if [ ! -x "$bin" ]; then
		echo "FAIL $name: missing or not executable"
		total_fail=$((total_fail + 1))
		continue
	fi
	# cmocka reports on stdout and details failures on stderr: keep both, in order
	timeout "$TIMEOUT" "$bin" >"$out" 2>&1
	rc=$?
	cat "$out"
	p=$(sum_counts PASSED "$out")
	f=$(sum_counts FAILED "$out")
	summaries=$(grep -c '^\[  \(PASSED\|FAILED\)  \] [0-9][0-9]* test(s)' "$out")
	why=
	if [ "$rc" -eq 124 ]; then
		why="timed out after ${TIMEOUT}s"
	elif [ "$summaries" -eq 0 ]; then
		why="printed no cmocka summary (exit $rc)"
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		why="exited with status $rc but reported no failed test"
	fi
	if [ -n "$why" ]; then
		f=$((f + 1))
		echo "FAIL $name: $why"
	elif [ "$f" -gt 0 ]; then
		echo "FAIL $name: $p passed, $f failed"
	else
		echo "PASS $name: $p passed"
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
done

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
