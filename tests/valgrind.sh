#!/bin/sh
# tests/valgrind.sh BINARY - the integration suite once more, every mta-stsd
# process under valgrind memcheck. Fails on any memcheck error or any
# definitely-lost block, reported per process from valgrind's own logs.
set -u
cd "$(dirname "$0")/.." || exit 1
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
PYTHON=${PYTHON:-python3}
if ! command -v valgrind >/dev/null 2>&1; then
	echo "valgrind: not installed (apt-get install valgrind)"
	echo "0 passed, 1 failed"
	exit 1
fi
tmp=$(mktemp -d /tmp/mtasts-vg.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/mta-stsd" <<WRAP
#!/bin/sh
exec valgrind -q --tool=memcheck --leak-check=full --show-leak-kinds=definite \
	--errors-for-leak-kinds=definite --track-fds=no --log-file=$tmp/vg.%p.log \
	"$bin" "\$@"
WRAP
chmod +x "$tmp/mta-stsd"

# the suite itself, slower under valgrind: its own timing tests are skipped
# by name (they measure latency, which valgrind multiplies)
MTASTSD_SLOW=1 "$PYTHON" tests/integration/run.py --binary "$tmp/mta-stsd" >"$tmp/suite.out" 2>&1
suite_rc=$?
sed -n '/^FAIL/,/^[A-Z]/p' "$tmp/suite.out" | head -n 80
suite_line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$tmp/suite.out" | tail -n 1)
echo "valgrind: integration suite: ${suite_line:-no summary} (exit $suite_rc)"

bad=0 n=0
for log in "$tmp"/vg.*.log; do
	[ -e "$log" ] || continue
	n=$((n + 1))
	if [ -s "$log" ]; then
		bad=$((bad + 1))
		echo "FAIL valgrind report in $(basename "$log"):"
		head -n 60 "$log" | sed 's/^/    | /'
	fi
done
echo "valgrind: $n mta-stsd processes checked, $bad with reports"
passed=0 failed=0
if [ "$suite_rc" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
if [ "$bad" -eq 0 ] && [ "$n" -gt 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
