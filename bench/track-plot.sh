#!/usr/bin/env bash
# Capture versus memory-scan interval (issue 4), as a plot: capture % of
# the memory view alone, the NIC view alone and both, per interval (log
# x axis), drawn with gnuplot (bench/track-plot.gp) from
# $BENCH_OUT/capture_interval.txt into $BENCH_OUT/capture_interval.png.
# When that table does not exist (or FORCE=1) it runs the experiment
# first, with the same code as tests/e2e/track_interval.t
# (tests/tools/interval_run.sh): for each interval a fresh cotrackd
# ($O/cotrackd) and both guests, N client requests; again with the guest
# kernel's default TIME_WAIT table (512) at TW512_LIST.  Only the
# combined 100% is checked (and reported, never fails the bench).
#
#   O=build/rel BENCH_OUT=build/bench bench/track-plot.sh
#   (N=300 INTERVALS="1ms 10ms 100ms 1s" TW512_LIST="1ms 10ms 100ms 1s" FORCE=0)
set -u
: "${O:?run through make bench (O=build dir)}" "${BENCH_OUT:=build/bench}"
top=$(cd "$(dirname "$0")/.." && pwd)
O=$(cd "$O" && pwd)
mkdir -p "$BENCH_OUT"
BENCH_OUT=$(cd "$BENCH_OUT" && pwd)
tab=$BENCH_OUT/capture_interval.txt
png=$BENCH_OUT/capture_interval.png
N=${N:-300}
INTERVALS=${INTERVALS:-1ms 10ms 100ms 1s}
TW512_LIST=${TW512_LIST-1ms 10ms 100ms 1s}
command -v gnuplot >/dev/null || { echo "track-plot: gnuplot missing (scripts/setup)"; exit 1; }

if [ ! -s "$tab" ] || [ "${FORCE:-0}" = 1 ]; then
	[ "$(id -u)" = 0 ] || { echo "track-plot: needs root (network namespace, tap) to run the experiment"; exit 0; }
	[ -x "$O/cotrackd" ] || { echo "track-plot: $O/cotrackd missing (make O=$O)"; exit 1; }
	TOP=$top
	source "$top/tests/tools/service.sh"
	source "$top/tests/tools/interval_run.sh"
	tmp=$(mktemp -d /tmp/cotrack-bench-plot.XXXXXX)
	trap 'svc_cleanup >/dev/null 2>&1; rm -rf "$tmp"' EXIT
	trap 'exit 130' INT TERM
	"$G/build.sh" >"$tmp/build.log" 2>&1 || { echo "track-plot: guest/build.sh failed"; tail -3 "$tmp/build.log"; exit 1; }
	rows=() fails=0
	for iv in $INTERVALS; do
		ivr_one "$O/cotrackd" "$iv" 65536 "$N" "$tmp/iv-$iv" 1 >"$tmp/iv-$iv.log" 2>&1 || fails=$((fails + 1))
		grep -E '^not ok|row:' "$tmp/iv-$iv.log"
		[ -s "$tmp/iv-$iv/row" ] && rows+=("$tmp/iv-$iv/row")
	done
	for iv in $TW512_LIST; do
		ivr_one "$O/cotrackd" "$iv" 512 "$N" "$tmp/tw-$iv" 0 >"$tmp/tw-$iv.log" 2>&1
		grep -E '^not ok|row:' "$tmp/tw-$iv.log"
		[ -s "$tmp/tw-$iv/row" ] && rows+=("$tmp/tw-$iv/row")
	done
	[ ${#rows[@]} -gt 0 ] || { echo "track-plot: no run produced a row"; exit 1; }
	IVR_N=$N ivr_table "$tab" "${rows[@]}"
	for iv in $INTERVALS; do cat "$tmp/iv-$iv/by_source.txt" 2>/dev/null; done >"$BENCH_OUT/capture_interval_by_source.txt"
	for iv in $TW512_LIST; do cat "$tmp/tw-$iv/by_source.txt" 2>/dev/null; done >>"$BENCH_OUT/capture_interval_by_source.txt"
	echo "combined 100% at every interval (TIME_WAIT table 65536): $([ $fails = 0 ] && echo yes || echo "NO, $fails run(s) failed")"
fi
cat "$tab"
n=$(sed -n 's/^# \([0-9]*\) client requests per row.*/\1/p' "$tab")
gnuplot -e "in='$tab'; out='$png'; sub='${n:-N} client requests per interval, 4 connection ends each'" \
	"$top/bench/track-plot.gp" || { echo "track-plot: gnuplot failed"; exit 1; }
echo "plot: $png"
