#!/usr/bin/env bash
# make bench: runs every bench/*.sh in turn (BENCH=glob picks some) with
# the optimised build in $1.  Benchmarks print tables and ratios; they
# never pass or fail on timing.  Results also go to build/bench/*.txt.
set -u
O=$(cd "${1:?usage: bench/run.sh BUILD_DIR}" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
export O TOP="$top" BENCH_OUT="$top/build/bench"
mkdir -p "$BENCH_OUT"
for b in "$top"/bench/*.sh; do
	[ "$(basename "$b")" = run.sh ] && continue
	case $(basename "$b" .sh) in ${BENCH:-*}) ;; *) continue ;; esac
	echo "=== $(basename "$b" .sh)"
	bash "$b" 2>&1 | tee "$BENCH_OUT/$(basename "$b" .sh).txt"
	echo
done
