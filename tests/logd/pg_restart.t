# PostgreSQL itself restarted under logd while two trackers send: first a
# clean restart (fast shutdown), then a crash (every server process
# SIGKILLed, crash recovery on start).  The batch in flight fails and is
# rolled back, nothing is acknowledged that was not committed, logd
# neither exits nor hangs, reconnects (with backoff), and the trackers
# resend: every record stored once, every chain intact, no anomaly.
export LOGD_BACKEND=pg
source "$TOP/tests/lib.sh"
source "$TOP/tests/logd/logd-lib.sh"
need_bins
make_pki "$PKI" t1 t2
logd_start || { not_ok "logd starts"; t_end; }
N=60000
declare -A PID
for t in t1 t2; do
	"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --pki "$PKI" --name $t \
		--count $N --rate 6000 --progress --timeout 90 >"$T_TMP/g.$t" 2>&1 &
	PID[$t]=$!
	t_on_exit "kill -KILL ${PID[$t]}"
done
held() { sql "SELECT coalesce(max(seq), 0) FROM records r JOIN streams s ON s.id = r.stream WHERE s.tracker = '$1'"; }
for how in restart kill; do
	sleep 2
	declare -A ACKED
	for t in t1 t2; do
		ACKED[$t]=$(grep '^progress' "$T_TMP/g.$t" | tail -1 | awk '{print $5}')
	done
	if [ $how = restart ]; then
		"$PGSH" stop "$PGDIR"
	else
		"$PGSH" kill "$PGDIR"
	fi
	sleep 1.5                       # logd's batches fail meanwhile
	check "$how: logd is still running with the server down" kill -0 "$LOGD_PID"
	"$PGSH" start "$PGDIR" >/dev/null 2>&1
	check "$how: the server is back" test -f "$PGDIR/data/postmaster.pid"
	for t in t1 t2; do
		h=$(held $t)
		check "$how: $t: acknowledged before the $how (${ACKED[$t]:-0}) are stored ($h)" \
			test "${ACKED[$t]:-0}" -le "$h"
	done
done
for t in t1 t2; do
	wait "${PID[$t]}"
	check "$t: every record acknowledged in the end" test $? = 0
done
check "logd survived both" kill -0 "$LOGD_PID"
check "logd reconnected to the server" grep -q 'postgresql: reconnected' "$T_TMP/logd.log"
check "no (stream, seq) stored twice" \
	test -z "$(sql 'SELECT stream, seq FROM records GROUP BY stream, seq HAVING count(*) > 1 LIMIT 5')"
for t in t1 t2; do
	got=$(sql "SELECT count(*), min(seq), max(seq) FROM records r JOIN streams s ON s.id = r.stream WHERE s.tracker = '$t'")
	check "$t: 1..$N stored once ($got)" test "$got" = "$N|1|$N"
	check "$t: chain head = tracker's" \
		test "$(sql "SELECT $(db_hex last_hash) FROM streams WHERE tracker = '$t'")" = "$(field "$T_TMP/g.$t" head)"
done
db_verify >"$T_TMP/v.out"
check "verify: chains intact, no anomaly" test $? = 0
sed 's/^/# /' "$T_TMP/v.out"
grep -E 'postgresql|storage|nothing ack' "$T_TMP/logd.log" | sort | uniq -c | sort -rn | head -8 | sed 's/^/# logd: /'
for t in t1 t2; do grep -hE 'rec/s|connects' "$T_TMP/g.$t" | sed "s/^/# $t: /"; done
logd_stop TERM
check "logd stops on SIGTERM" test -z "$LOGD_PID"
t_end
