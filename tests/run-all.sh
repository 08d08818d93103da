#!/bin/sh
# tests/run-all.sh - every test suite, one total.
#
# From the repository root (the script goes there itself): the cmocka unit
# tests (build/test_*), the integration tests (tests/integration/run.py) and
# the end-to-end sender test (tests/e2e/sender.sh), each against
# build/mta-stsd. Each suite must end with a "N passed, N failed" line; the
# totals are summed into the final line "N passed, N failed". Exits 1 when any
# test failed, or any suite timed out, crashed or printed no summary line (such
# a suite adds one to the failed count).
#
# Environment: PYTHON (default python3), BUILD (default build).

set -u

cd "$(dirname "$0")/.." || exit 1
PYTHON=${PYTHON:-python3}
BUILD=${BUILD:-build}
BIN=$BUILD/mta-stsd

tmp=$(mktemp -d /tmp/mtasts-all.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP

total_pass=0
total_fail=0
total_skip=0
broken=
report=

# run_suite NAME TIMEOUT CMD...: show its output as it comes, then add its
# last "N passed, N failed[, N skipped]" line to the totals
run_suite() {
	name=$1 limit=$2
	shift 2
	echo "##### $name: $*"
	{ timeout "$limit" "$@" 2>&1; echo $? >"$tmp/$name.rc"; } | tee "$tmp/$name.out"
	rc=$(cat "$tmp/$name.rc")
	line=$(grep -E '^([A-Za-z0-9_-]+: )?[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' \
	    "$tmp/$name.out" | tail -n 1)
	if [ -z "$line" ]; then
		if [ "$rc" -eq 124 ]; then
			why="timed out after ${limit}s"
		else
			why="printed no summary line (exit $rc)"
		fi
		broken="$broken $name"
		total_fail=$((total_fail + 1))	# the suite itself counts as one failure
		report="$report# $name: $why
"
		return
	fi
	line=${line#*: }
	p=$(echo "$line" | sed 's/^\([0-9]*\) passed.*/\1/')
	f=$(echo "$line" | sed 's/.* \([0-9]*\) failed.*/\1/')
	s=0
	case $line in *skipped) s=$(echo "$line" | sed 's/.* \([0-9]*\) skipped$/\1/') ;; esac
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	total_skip=$((total_skip + s))
	note=
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		# a suite that fails without counting a failure crashed somewhere
		broken="$broken $name"
		total_fail=$((total_fail + 1))
		note=" (exit $rc without a counted failure)"
	fi
	report="$report# $name: $line, exit $rc$note
"
}

set -- "$BUILD"/test_*
[ -e "$1" ] || set --
run_suite unit 600 sh tests/run-unit.sh "$@"
run_suite integration 300 "$PYTHON" tests/integration/run.py --binary "$BIN"
run_suite e2e 180 sh tests/e2e/sender.sh "$BIN"

echo "##### summary"
printf '%s' "$report"
[ "$total_skip" -gt 0 ] && echo "# $total_skip skipped"
[ -n "$broken" ] && echo "# suites that crashed, timed out or printed no summary:$broken"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ] && [ -z "$broken" ]
