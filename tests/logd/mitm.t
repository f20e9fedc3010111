# A man in the middle on loopback flips bits, drops, duplicates and cuts
# the TLS stream, and replays a whole earlier session.  TLS rejects every
# altered byte (logd records a tls_integrity or protocol event and drops
# the connection), the tracker reconnects and resends, and at the end
# logd holds every record exactly once with an intact chain.
source "$TOP/tests/lib.sh"
source "$TOP/tests/logd/logd-lib.sh"
need_bins
make_pki "$PKI" t1

run_mode() { # mode faults
	local mode=$1 faults=$2 n=12000 ppid pport i
	DB=$T_TMP/db-$mode.sqlite
	logd_start || { not_ok "$mode: logd starts"; return; }
	rm -f "$T_TMP/mitm.port"
	python3 "$TOP/tests/logd/mitm.py" --target "$LOGD_PORT" --mode "$mode" \
		--faults "$faults" --seed 7 --port-file "$T_TMP/mitm.port" \
		--lifetime 120 >"$T_TMP/mitm-$mode.out" 2>&1 &
	ppid=$!
	for i in $(seq 50); do [ -s "$T_TMP/mitm.port" ] && break; sleep 0.1; done
	pport=$(cat "$T_TMP/mitm.port")
	"$LOADGEN" --server "127.0.0.1:$pport" --pki "$PKI" --name t1 \
		--count $n --rate 8000 --timeout 60 >"$T_TMP/g-$mode.out" 2>&1
	check "$mode: tracker got every record acknowledged" test $? = 0
	if [ "$mode" = replay ]; then
		for i in $(seq 100); do grep -q 'fault replay' "$T_TMP/mitm-$mode.out" && break; sleep 0.1; done
		sleep 0.5
	fi
	kill "$ppid" 2>/dev/null; wait "$ppid" 2>/dev/null
	logd_stop
	local done_faults
	done_faults=$(grep -c '^[0-9.]* fault' "$T_TMP/mitm-$mode.out")
	check "$mode: the proxy applied $faults faults ($done_faults)" test "$done_faults" = "$faults"
	sed 's/^/# proxy: /' "$T_TMP/mitm-$mode.out"
	got=$(sql "SELECT count(*), min(seq), max(seq) FROM records")
	check "$mode: logd holds 1..$n exactly once ($got)" test "$got" = "$n|1|$n"
	check "$mode: chain head = tracker's" test "$(sql "SELECT $(db_hex last_hash) FROM streams")" = "$(field "$T_TMP/g-$mode.out" head)"
	db_verify >"$T_TMP/v-$mode.out" 2>&1
	check "$mode: verify finds the chain intact" grep -q '^0 chain problems' "$T_TMP/v-$mode.out"
	check "$mode: no loss or conflict recorded" test \
		"$(sql "SELECT count(*) FROM events WHERE kind IN ('gap','conflict','chain','replay','tracker_drop','rollback','new_epoch')")" = 0
	case $mode in
	flip)
		check "flip: every flip recorded as a TLS integrity failure" \
			test "$(sql "SELECT count(*) FROM events WHERE kind='tls_integrity'")" = "$faults"
		check "verify exits non-zero and lists them" fails db_verify ;;
	drop | dup)
		check "$mode: every damaged connection recorded (tls_integrity/protocol)" \
			test "$(sql "SELECT count(*) FROM events WHERE kind IN ('tls_integrity','protocol')")" = "$faults" ;;
	cut)
		check "cut: the tracker reconnected $faults times" \
			test "$(grep -o ' connects [0-9]*' "$T_TMP/g-$mode.out" | awk '{print $2}')" -gt "$faults" ;;
	replay)
		check "replay: the replayed session failed its handshake, recorded" \
			test "$(sql "SELECT count(*) FROM events WHERE kind='handshake'")" = 1 ;;
	esac
	sql "SELECT kind, detail FROM events" | sed 's/^/# event: /' | head -5
}

run_mode flip 3
run_mode drop 2
run_mode dup 2
run_mode cut 4
run_mode replay 1
t_end
