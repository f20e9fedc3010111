# Capture versus memory-scan interval (issue 4), as functions sourced by
# tests/e2e/track_interval.t and bench/track-plot.sh.  Needs
# tests/tools/service.sh sourced first (svc_*), root, and built guests.
#
#   ivr_one COTRACKD INTERVAL TWBUCKETS N DIR ASSERT
#
# One run of the two-VM service (each VM's backend from COT_BACKENDS, see
# service.sh): a fresh cotrackd at --interval INTERVAL --scan-fast 0
# (QEMU 7.2 connects to its stream socket once, so every interval needs
# its own cotrackd and guests), both guests booted with
# cotrack.twbuckets=TWBUCKETS, N client requests, the guests' snmp open
# counters before and after.  Prints TAP lines, each tagged [INTERVAL
# tw=TWBUCKETS]: with ASSERT=1 track_check.py's checks (exact counts,
# every connection once) count; with ASSERT=0 they are printed as
# comments only (a variant expected to lose connections).  Writes one
# table row to DIR/row:
#
#   LABEL INTERVAL_MS TWBUCKETS CONNS MEMORY% NIC% COMBINED%
#
# over every connection end of the run: client -> frontend, frontend ->
# cache (localhost) and frontend -> backend at the frontend and at the
# backend (CONNS = 4N when nothing is lost).  The ground truth count is
# 4N, checked against the guests' snmp deltas by track_check.py.
# Returns 0 when every asserted check passed.  Bounded: boots 180 s,
# every request 20 s, console commands 60 s.

IVR_HEADER="# interval interval_ms tw_buckets conns memory_pct nic_pct combined_pct"

# ivr_ms 1ms|10ms|100ms|1s|500us: the interval in milliseconds
ivr_ms() {
	awk -v x="$1" 'BEGIN {
		if (x ~ /us$/) { sub(/us$/, "", x); print x / 1000 }
		else if (x ~ /ms$/) { sub(/ms$/, "", x); print x + 0 }
		else if (x ~ /s$/) { sub(/s$/, "", x); print x * 1000 }
		else print x + 0 }'
}

# _ivr_delta fe|be 3|4: that snmp counter's change over the run (-1: missing)
_ivr_delta() {
	local a b
	a=$(svc_opens "$1" after "$2") b=$(svc_opens "$1" before "$2")
	case "$a,$b" in *[!0-9,]* | ,* | *,) echo -1 ;; *) echo $((a - b)) ;; esac
}

ivr_one() {
	local daemon=$1 iv=$2 tw=$3 n=$4 dir=$5 assert=$6
	local tag="[$iv tw=$tw]" fails=0 t0=$SECONDS fa fp bp st
	rm -rf "$dir"
	mkdir -p "$dir"
	: >"$dir/row"
	_ivr() { # ok|not_ok MESSAGE
		if [ "$1" = ok ]; then
			echo "ok - $tag $2"
		elif [ "$assert" = 1 ]; then
			echo "not ok - $tag $2"
			fails=$((fails + 1))
		else
			echo "# (not asserted) not ok - $tag $2"
		fi
	}
	# --scan-fast 0: the interval alone decides when the memory view
	# looks (no busy windows: docs/tracking.md)
	if ! svc_start "$dir/svc" "$daemon" --interval "$iv" --scan-fast 0; then
		echo "not ok - $tag cotrackd starts"
		sed 's/^/# /' "$dir/svc/cotrackd.log" | tail -5
		svc_cleanup
		return 1
	fi
	if ! SVC_TWBUCKETS=$tw svc_boot; then
		echo "not ok - $tag guests boot"
		tail -n 5 "$SVC_DIR"/*/console.log "$SVC_DIR"/*.out | sed 's/^/# /'
		svc_cleanup
		return 1
	fi
	echo "ok - $tag cotrackd up, both guests booted ($(svc_backends), $((SECONDS - t0)) s)"
	local t1=$SECONDS t2 t3
	svc_snmp before
	t2=$SECONDS
	svc_client "$n" >"$dir/client.log"
	tail -1 "$dir/client.log" | sed "s/^/# $tag /"
	t3=$SECONDS
	sleep 1
	svc_snmp after
	svc_stop_daemon
	echo "# $tag seconds: boot $((t1 - t0)), snmp $((t2 - t1)), client $((t3 - t2)), snmp+stop $((SECONDS - t3))"
	if [ "$SVC_DRC" = 0 ]; then
		echo "ok - $tag cotrackd exits 0 on SIGTERM"
	else
		echo "not ok - $tag cotrackd exits 0 on SIGTERM (status $SVC_DRC)"
		fails=$((fails + 1))
	fi
	fa=$(_ivr_delta fe 3) fp=$(_ivr_delta fe 4) bp=$(_ivr_delta be 4)
	# No snmp at stop needed: kill the guests (run.sh cleans up).
	svc_cleanup
	grep -E '^(fe|be): ' "$SVC_DIR/cotrackd.log" | sed "s/^/# $tag /"
	# Merges by tuple reuse grow with the interval: 1% is asserted up to
	# 10 ms; at 100 ms and 1 s only that each is explained by a reused
	# tuple (seen: 5 of 300 at 100 ms in a clean-clone CI run).
	local mp=1
	case $iv in 1ms | 10ms) ;; *) mp=100 ;; esac
	python3 "$SVC_TOP/tests/tools/track_check.py" "$SVC_DIR/records.json" \
		"$dir/client.log" "$n" "$fa" "$fp" "$bp" --label "$iv tw=$tw" \
		--max-merged-pct "$mp" \
		--table "$dir/by_source.txt" >"$dir/check.out" 2>&1
	st=$?
	while IFS= read -r l; do
		case $l in
		"ok - "*) _ivr ok "${l#ok - }" ;;
		"not ok - "*) _ivr not_ok "${l#not ok - }" ;;
		*) echo "$l" ;;
		esac
	done <"$dir/check.out"
	if [ "$st" != 0 ] && ! grep -q '^not ok' "$dir/check.out"; then
		_ivr not_ok "track_check.py failed (status $st)"
	fi
	if grep -q "ERROR: AddressSanitizer\|runtime error" "$SVC_DIR/cotrackd.log"; then
		echo "not ok - $tag sanitizer report from cotrackd"
		fails=$((fails + 1))
		grep -A5 "ERROR: AddressSanitizer\|runtime error" "$SVC_DIR/cotrackd.log" | head -20 | sed 's/^/# /'
	else
		echo "ok - $tag no sanitizer report from cotrackd"
	fi
	# The row: weights each source's percentages by its record count.
	# Ground truth is 4N connection ends (track_check.py checks it
	# against the guests' snmp deltas).
	awk -v iv="$iv" -v ms="$(ivr_ms "$iv")" -v tw="$tw" -v n="$n" '
		NR > 1 && NF >= 5 {
			c = $(NF - 3); conns += c
			mem += int(c * $(NF - 2) / 100 + 0.5)
			nic += int(c * $(NF - 1) / 100 + 0.5)
		}
		END {
			t = 4 * n
			printf "%-9s %11s %10d %6d %10.1f %8.1f %12.1f\n", iv, ms, tw, conns,
				100 * mem / t, 100 * nic / t, 100 * conns / t
		}' "$dir/by_source.txt" >"$dir/row"
	echo "# $tag row: $(cat "$dir/row") ($((SECONDS - t0)) s)"
	sed "s/^/# /" "$dir/by_source.txt"
	[ "$fails" = 0 ]
}

# ivr_table OUT ROWFILE...: the table, a header and one row per run
ivr_table() {
	local out=$1
	shift
	{
		echo "# cotrackd capture versus memory-scan interval: the two-VM service,"
		echo "# ${IVR_N:-?} client requests per row, ${IVR_CONNS_NOTE:-4 connection ends per request}."
		echo "# memory/nic: records seen by that view (seen_by vmi|both, nic|both);"
		echo "# combined: records at all; each over the ground truth (guest snmp + client log)."
		echo "$IVR_HEADER"
		cat "$@"
	} >"$out"
}
