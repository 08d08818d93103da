#!/bin/sh
# tests/run-all.sh - every test suite, one total.
#
# From the repository root (the script goes there itself): the cmocka unit
# tests (build/test_*), the include-graph check (tests/include_graph_test.py,
# scripts/include-graph.py), the integration tests (tests/integration/run.py and
# the *_test.py beside it), the end-to-end sender test (tests/e2e/sender.sh),
# the `check` tests and the allocation-failure injection
# (tests/faults/alloc_test.py), each against build/mta-stsd, and the
# Kubernetes manifests' validation (tests/deploy/validate.py). Each suite must end with a "N passed, N failed" line; the
# totals are summed into the final line "N passed, N failed". Exits 1 when any
# test failed, or any suite timed out, crashed or printed no summary line (such
# a suite adds one to the failed count).
#
# Environment: PYTHON (default python3), BUILD (default build), FULL=1 to
# add the sanitizer, valgrind and fuzzing passes (what `make test` and CI run).

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

# every suite against one build; a suite file not present yet is not run
suites() {
	tag=$1 build=$2 bin=$2/mta-stsd
	set -- "$build"/test_*
	[ -e "$1" ] || set --
	run_suite "unit$tag" 600 sh tests/run-unit.sh "$@"
	run_suite "integration$tag" 600 "$PYTHON" tests/integration/run.py --binary "$bin"
	run_suite "e2e$tag" 300 sh tests/e2e/sender.sh "$bin"
	for t in reload observe hostile sni certs layouts keys challenge httpc acmed acme; do
		[ -f "tests/integration/${t}_test.py" ] &&
			run_suite "$t$tag" 900 "$PYTHON" "tests/integration/${t}_test.py" --binary "$bin"
	done
	[ -f tests/integration/tls_scan_test.sh ] &&
		run_suite "tls-scan$tag" 300 bash tests/integration/tls_scan_test.sh "$bin"
	[ -f tests/check/run.sh ] &&
		run_suite "check$tag" 600 bash tests/check/run.sh "$bin"
	return 0
}

# the #include graph of server/: no cycle, no layer including one above it
run_suite include-graph 60 "$PYTHON" tests/include_graph_test.py
suites "" "$BUILD"
# the ACME protocol against Pebble (build/acme-order; skipped without pebble)
[ -f tests/acme/order_test.py ] &&
	run_suite acme-order 300 "$PYTHON" tests/acme/order_test.py --order "$BUILD/acme-order"
# every allocation of a load made to fail in turn (normal build only: the
# LD_PRELOAD shim hands allocations to glibc, past ASan's allocator)
[ -f tests/faults/alloc_test.py ] &&
	run_suite faults 120 "$PYTHON" tests/faults/alloc_test.py --binary "$BIN" \
	    --shim "$BUILD/failalloc.so"
# the Kubernetes manifests (deploy/kubernetes/), checked without a cluster
[ -f tests/deploy/validate.py ] &&
	run_suite deploy 120 "$PYTHON" tests/deploy/validate.py --binary "$BIN"
# FULL=1 (make test): the whole suite again on the ASan + UBSan build, the
# integration suite under valgrind, and every fuzzer for FUZZ_TIME seconds
if [ "${FULL:-0}" = 1 ]; then
	suites "-asan" "${ASAN_BUILD:-build-asan}"
	run_suite valgrind 1800 sh tests/valgrind.sh "$BIN"
	run_suite fuzz 1200 sh -c 'make -s fuzz FUZZ_TIME=${FUZZ_TIME:-60} && echo "1 passed, 0 failed"'
fi

echo "##### summary"
printf '%s' "$report"
[ "$total_skip" -gt 0 ] && echo "# $total_skip skipped"
[ -n "$broken" ] && echo "# suites that crashed, timed out or printed no summary:$broken"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ] && [ -z "$broken" ]
