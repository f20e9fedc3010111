# Two logd instances on one PostgreSQL database, four trackers spread
# over both (t1, t2 on A; t3, t4 on B), each with a sealed spool.  A is
# SIGKILLed in the middle; t1 and t2 are then restarted against B from
# their spools (the trackers take one server until failover lands in
# host/ship.c), so their streams continue on the other instance.  Every
# record is stored exactly once, every seq 1..N of every stream present,
# every chain links across the two instances (recomputed from the stored
# fields by pg_verify), nothing A acknowledged before its death is lost,
# and no anomaly is recorded.
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
N=40000 MORE=2000
declare -A KEY PORT PID HELD
PORT=([t1]=$A_PORT [t2]=$A_PORT [t3]=$B_PORT [t4]=$B_PORT)
for t in t1 t2 t3 t4; do
	KEY[$t]=hex:$(key)
	"$LOADGEN" --server "127.0.0.1:${PORT[$t]}" --pki "$PKI" --name $t \
		--count $N --rate 8000 --progress --spool "$T_TMP/spool.$t" \
		--spool-key "${KEY[$t]}" --timeout 60 >"$T_TMP/g1.$t" 2>&1 &
	PID[$t]=$!
	t_on_exit "kill -KILL ${PID[$t]}"
done
sleep 2
kill -KILL "$A_PID"; wait "$A_PID" 2>/dev/null
sleep 0.5
for t in t1 t2; do
	acked=$(grep '^progress' "$T_TMP/g1.$t" | tail -1 | awk '{print $5}')
	added=$(grep '^progress' "$T_TMP/g1.$t" | tail -1 | awk '{print $3}')
	kill -KILL "${PID[$t]}"; wait "${PID[$t]}" 2>/dev/null
	held=$(sql "SELECT coalesce(max(seq), 0) FROM records r JOIN streams s ON s.id = r.stream WHERE s.tracker = '$t'")
	check "$t: every record A acknowledged before its death is stored (acked ${acked:-0} <= stored $held)" \
		test "${acked:-0}" -le "$held"
	check "$t: A had acknowledged some ($acked)" test "${acked:-0}" -gt 0
	check "$t: the tracker had more than A stored ($added > $held)" test "${added:-0}" -gt "$held"
	HELD[$t]=$held
	# restarted against B with its spool: resends what A did not ack
	"$LOADGEN" --server "127.0.0.1:$B_PORT" --pki "$PKI" --name $t \
		--count $MORE --spool "$T_TMP/spool.$t" --spool-key "${KEY[$t]}" \
		--timeout 90 >"$T_TMP/g2.$t" 2>&1 &
	PID[$t]=$!
done
declare -A TOTAL HEAD
for t in t1 t2 t3 t4; do
	wait "${PID[$t]}"
	check "$t: every record acknowledged in the end" test $? = 0
	if [ $t = t1 ] || [ $t = t2 ]; then
		out=$T_TMP/g2.$t
		TOTAL[$t]=$(awk '/^last_seq/ {print $2}' "$out")
		check "$t: the restarted tracker loaded its spool" test "$(awk '/^epoch/ {print $4}' "$out")" -gt 0
	else
		out=$T_TMP/g1.$t
		TOTAL[$t]=$N
	fi
	HEAD[$t]=$(field "$out" head)
done
check "B took t1's and t2's streams over (${HELD[t1]} -> ${TOTAL[t1]}, ${HELD[t2]} -> ${TOTAL[t2]})" \
	test "${TOTAL[t1]:-0}" -gt "${HELD[t1]}" -a "${TOTAL[t2]:-0}" -gt "${HELD[t2]}"
check "no (stream, seq) stored twice" \
	test -z "$(sql 'SELECT stream, seq FROM records GROUP BY stream, seq HAVING count(*) > 1 LIMIT 5')"
check "one stream per tracker (the epoch survived the move)" test "$(sql 'SELECT count(*) FROM streams')" = 4
for t in t1 t2 t3 t4; do
	got=$(sql "SELECT count(*), min(seq), max(seq), count(DISTINCT seq) FROM records r JOIN streams s ON s.id = r.stream WHERE s.tracker = '$t'")
	n=${TOTAL[$t]}
	check "$t: 1..$n all present, once ($got)" test "$got" = "$n|1|$n|$n"
	check "$t: chain head = tracker's" \
		test "$(sql "SELECT $(db_hex last_hash) FROM streams WHERE tracker = '$t'")" = "${HEAD[$t]}"
done
db_verify >"$T_TMP/v.out"
check "pg_verify: every chain links across the instances, no anomaly" test $? = 0
check "pg_verify: four chains ok" test "$(grep -c 'chain ok' "$T_TMP/v.out")" = 4
sed 's/^/# /' "$T_TMP/v.out"
for t in t1 t2 t3 t4; do grep -h 'rec/s' "$T_TMP"/g[12].$t | sed "s/^/# $t: /"; done
t_end
