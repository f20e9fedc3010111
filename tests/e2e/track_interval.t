# Issue 4, capture versus memory-scan interval: the two-VM service (client
# in a namespace -> frontend VM -> cache on its localhost + backend VM)
# under cotrackd at --interval 1ms, 10ms, 100ms and 1s, TRACK_IV_N (300)
# client requests each.  Each interval is its own run (QEMU connects to
# cotrackd once, at start-up): fresh cotrackd, both guests booted again.
# Writes the table (interval, capture by the memory view alone, the NIC
# view alone, both) to $O/capture_interval.txt; bench/track-plot.sh
# draws it.  Asserted per interval: combined 100% with exact counts
# (track_check.py), cotrackd exits 0, no sanitizer report.  Not asserted:
# each view's own rate, and the extra row with the guest kernel's default
# TIME_WAIT table (512 buckets; TRACK_IV_TW512=0 skips it), which shows
# what the memory view loses when closed sockets leave memory at once.
source "$TOP/tests/lib.sh"
source "$TOP/tests/tools/service.sh"
source "$TOP/tests/tools/interval_run.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root for network namespaces and taps"
IVR_N=${TRACK_IV_N:-300}
IVS=${TRACK_IV_LIST:-1ms 10ms 100ms 1s}
"$G/build.sh" >"$T_TMP/build.log" 2>&1 || { not_ok "guest/build.sh"; tail "$T_TMP/build.log"; t_end; }
t_on_exit svc_cleanup
rows=()
rm -rf "$O/track_interval.failed"
for iv in $IVS; do
	if ! ivr_one "$COTRACKD" "$iv" 65536 "$IVR_N" "$T_TMP/iv-$iv" 1; then
		T_FAILS=$((T_FAILS + 1))
		mkdir -p "$O/track_interval.failed"
		rm -rf "$O/track_interval.failed/iv-$iv"
		cp -r "$T_TMP/iv-$iv" "$O/track_interval.failed/"
		echo "# artifacts in $O/track_interval.failed/iv-$iv"
	fi
	[ -s "$T_TMP/iv-$iv/row" ] && rows+=("$T_TMP/iv-$iv/row")
done
if [ "${TRACK_IV_TW512:-1}" = 1 ]; then
	iv=${TRACK_IV_TW512_AT:-1s}
	# Not asserted beyond cotrackd's own health: losses are the point.
	ivr_one "$COTRACKD" "$iv" 512 "$IVR_N" "$T_TMP/tw512" 0 || T_FAILS=$((T_FAILS + 1))
	[ -s "$T_TMP/tw512/row" ] && rows+=("$T_TMP/tw512/row")
fi
if [ ${#rows[@]} -gt 0 ]; then
	ivr_table "$O/capture_interval.txt" "${rows[@]}"
	sed 's/^/# /' "$O/capture_interval.txt"
	for iv in $IVS; do cat "$T_TMP/iv-$iv/by_source.txt" 2>/dev/null; done >"$O/capture_interval_by_source.txt"
fi
check "table has a row per interval" test "$(grep -vc '^#' "$O/capture_interval.txt" 2>/dev/null)" -ge "$(echo $IVS | wc -w)"
t_end
