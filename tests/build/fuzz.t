# Every libFuzzer target (fuzz/fuzz_*.c) runs from its seed corpus for a
# short bounded time under ASan+UBSan (FUZZ_CHECK_SECONDS, default 10);
# `make fuzz` runs them longer.  A crash or sanitizer report fails.
source "$TOP/tests/lib.sh"
secs=${FUZZ_CHECK_SECONDS:-10}
make -C "$TOP" --no-print-directory -s fuzz-build >"$T_TMP/build.log" 2>&1 ||
	{ not_ok "fuzz targets build"; cat "$T_TMP/build.log"; t_end; }
ok "fuzz targets build"
n=0
for f in "$TOP"/build/fuzz/fuzz_*; do
	[ -x "$f" ] || continue
	name=$(basename "$f")
	corpus=$TOP/fuzz/corpus/${name#fuzz_}
	work=$T_TMP/$name
	mkdir -p "$work"
	if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus")" ]; then
		not_ok "$name has a seed corpus in fuzz/corpus/${name#fuzz_}"
		continue
	fi
	if (cd "$work" && "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		"$work" "$corpus" >"$work.log" 2>&1); then
		ok "$name: $(grep -m1 -o 'stat::number_of_executed_units: [0-9]*' "$work.log" || tail -1 "$work.log" | cut -c1-60) runs, ${secs}s, no crash"
	else
		not_ok "$name crashed: $(grep -m3 -E 'ERROR|runtime error|SUMMARY' "$work.log")"
		tail -40 "$work.log" | sed 's/^/# /'
	fi
	n=$((n + 1))
done
check "at least one fuzz target ran ($n)" test "$n" -gt 0
t_end
