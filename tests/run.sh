#!/usr/bin/env bash
# Runs every test of the project and ends with "N passed, N failed".
#
#   tests/run.sh BUILD_DIR [PATTERN]
#
# A test is one "ok" / "not ok" line printed by a unit test binary
# ($BUILD_DIR/tests/test_*) or a script (tests/*/*.t).  A binary or script
# that dies without reporting a failure counts as one failed test.  A
# script that exits 77 is skipped (and says why); skips are counted.
# PATTERN (a shell glob on the test's name) runs a subset.
set -u
O=${1:?usage: tests/run.sh BUILD_DIR [PATTERN]}
PAT=${2:-*}
top=$(cd "$(dirname "$0")/.." && pwd)
O=$(cd "$O" && pwd)
export O TOP="$top"
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
logdir=$O/test-logs
mkdir -p "$logdir"
pass=0 fail=0 skip=0
failed_names=()

run_one() { # name cmd...
	local name=$1; shift
	local log=$logdir/${name//\//_}.log start=$SECONDS rc p f
	printf '%-40s ' "$name"
	"$@" >"$log" 2>&1 </dev/null
	rc=$?
	p=$(grep -c '^ok ' "$log")
	f=$(grep -c '^not ok ' "$log")
	if [ "$rc" = 77 ] && [ "$f" = 0 ]; then
		skip=$((skip + 1))
		printf 'skipped (%s)\n' "$(grep -m1 '^# skip' "$log" | sed 's/^# skip:* *//')"
		return
	fi
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		f=1
		echo "not ok - $name exited with status $rc" >>"$log"
	fi
	pass=$((pass + p)) fail=$((fail + f))
	if [ "$f" != 0 ]; then
		failed_names+=("$name")
		printf '%d passed, %d FAILED (%ds)\n' "$p" "$f" $((SECONDS - start))
		grep -E '^(not ok|#)' "$log" | head -30 | sed 's/^/    /'
		tail -5 "$log" | sed 's/^/    | /'
	else
		printf '%d passed (%ds)\n' "$p" $((SECONDS - start))
	fi
}

for t in "$O"/tests/test_*; do
	[ -x "$t" ] || continue
	n=unit/$(basename "$t")
	case $n in $PAT) run_one "$n" "$t" ;; esac
done
for t in "$top"/tests/*/*.t; do
	[ -f "$t" ] || continue
	n=$(basename "$(dirname "$t")")/$(basename "$t" .t)
	case $n in $PAT) run_one "$n" bash "$t" ;; esac
done

echo
if [ ${#failed_names[@]} -gt 0 ]; then
	echo "failed: ${failed_names[*]} (logs in $logdir)"
fi
if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" = 0 ]
