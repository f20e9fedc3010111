# Two logd instances on one PostgreSQL database, four trackers spread
# over both (t1, t2 prefer A: --server A,B; t3, t4 prefer B: --server
# B,A), each with a sealed spool.  A is SIGKILLed in the middle; t1 and
# t2 fail over to B by themselves (host/ship.h, "Several log servers")
# and resend from their spools what A had not acknowledged, so their
# streams continue on the other instance.  Every record is stored exactly
# once, every seq 1..N of every stream present, every chain links across
# the two instances (cotrack verify recomputes them from the stored
# fields), nothing A acknowledged before its death is lost, and no
# anomaly is recorded: not even a gap, since B sees what A stored.
export LOGD_BACKEND=pg
source "$TOP/tests/lib.sh"
source "$TOP/tests/logd/logd-lib.sh"
need_bins
make_pki "$PKI" t1 t2 t3 t4
logd_start || { not_ok "logd A starts"; t_end; }
A_PID=$LOGD_PID A_PORT=$LOGD_PORT
t_on_exit 'kill -KILL $A_PID'
LOGD_PID=
logd_start || { not_ok "logd B starts"; t_end; }
B_PORT=$LOGD_PORT
check "two instances on one database" test "$A_PORT" != "$B_PORT"
key() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
N=40000
declare -A KEY LIST PID HELD ACKED
A=127.0.0.1:$A_PORT B=127.0.0.1:$B_PORT
LIST=([t1]=$A,$B [t2]=$A,$B [t3]=$B,$A [t4]=$B,$A)
for t in t1 t2 t3 t4; do
	KEY[$t]=hex:$(key)
	"$LOADGEN" --server "${LIST[$t]}" --pki "$PKI" --name $t \
		--count $N --rate 8000 --progress --spool "$T_TMP/spool.$t" \
		--spool-key "${KEY[$t]}" --timeout 90 >"$T_TMP/g1.$t" 2>&1 &
	PID[$t]=$!
	t_on_exit "kill -KILL ${PID[$t]}"
done
sleep 2
for t in t1 t2; do
	ACKED[$t]=$(grep '^progress' "$T_TMP/g1.$t" | tail -1 | awk '{print $5}')
done
kill -KILL "$A_PID"; wait "$A_PID" 2>/dev/null
for t in t1 t2; do
	HELD[$t]=$(sql "SELECT coalesce(max(seq), 0) FROM records r JOIN streams s ON s.id = r.stream WHERE s.tracker = '$t'")
	check "$t: every record A acknowledged before its death is stored (acked ${ACKED[$t]:-0} <= stored ${HELD[$t]})" \
		test "${ACKED[$t]:-0}" -le "${HELD[$t]}"
	check "$t: A had acknowledged some (${ACKED[$t]})" test "${ACKED[$t]:-0}" -gt 0
	check "$t: A died before the tracker finished (${HELD[$t]} < $N)" test "${HELD[$t]}" -lt $N
done
declare -A HEAD
for t in t1 t2 t3 t4; do
	wait "${PID[$t]}"
	check "$t: every record acknowledged in the end" test $? = 0
	HEAD[$t]=$(field "$T_TMP/g1.$t" head)
	line=$(grep '^last_seq' "$T_TMP/g1.$t")
	case $t in
	t1 | t2) check "$t: switched to B by itself ($line)" grep -q "switches 1 server $B\$" <<<"$line" ;;
	*) check "$t: stayed on B ($line)" grep -q "switches 0 server $B\$" <<<"$line" ;;
	esac
done
check "no (stream, seq) stored twice" \
	test -z "$(sql 'SELECT stream, seq FROM records GROUP BY stream, seq HAVING count(*) > 1 LIMIT 5')"
check "one stream per tracker (the epoch survived the move)" test "$(sql 'SELECT count(*) FROM streams')" = 4
for t in t1 t2 t3 t4; do
	got=$(sql "SELECT count(*), min(seq), max(seq), count(DISTINCT seq) FROM records r JOIN streams s ON s.id = r.stream WHERE s.tracker = '$t'")
	check "$t: 1..$N all present, once ($got)" test "$got" = "$N|1|$N|$N"
	check "$t: chain head = tracker's" \
		test "$(sql "SELECT $(db_hex last_hash) FROM streams WHERE tracker = '$t'")" = "${HEAD[$t]}"
done
db_verify >"$T_TMP/v.out"
check "verify: every chain links across the instances, no anomaly (no gap either)" test $? = 0
check "verify: four chains ok" test "$(grep -c 'chain ok' "$T_TMP/v.out")" = 4
sed 's/^/# /' "$T_TMP/v.out"
for t in t1 t2 t3 t4; do grep -h 'rec/s' "$T_TMP"/g1.$t | sed "s/^/# $t: /"; done
t_end
