# The stream's row lock: while another session (standing in for another
# logd instance in the middle of a batch) holds the stream's row FOR
# UPDATE, logd stores nothing of that stream; its lock wait gives up
# after lock_timeout (5 s) instead of stalling the instance, nothing is
# acknowledged, and once the lock is gone the tracker's resend is stored
# once, the chain continuing from the head the other session left.
export LOGD_BACKEND=pg
source "$TOP/tests/lib.sh"
source "$TOP/tests/logd/logd-lib.sh"
need_bins
make_pki "$PKI" t1
KEY=hex:$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
logd_start || { not_ok "logd starts"; t_end; }
"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --pki "$PKI" --name t1 --count 1000 \
	--spool "$T_TMP/spool" --spool-key "$KEY" --timeout 30 >/dev/null 2>&1
check "first run: 1000 stored" test "$(sql 'SELECT count(*) FROM records')" = 1000
# hold the row for 9 s
sql "BEGIN; SELECT id FROM streams WHERE tracker = 't1' FOR UPDATE; SELECT pg_sleep(9); COMMIT;" >/dev/null 2>&1 &
locker=$!
t_on_exit "kill $locker"
for i in $(seq 50); do
	[ "$(sql "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'streams' AND l.mode = 'RowShareLock' AND l.granted")" -ge 1 ] && break
	sleep 0.1
done
"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --pki "$PKI" --name t1 --count 1000 \
	--spool "$T_TMP/spool" --spool-key "$KEY" --timeout 60 >"$T_TMP/g2.out" 2>&1 &
g=$!
sleep 3
check "while the row is locked nothing of the stream is stored" test "$(sql 'SELECT count(*) FROM records')" = 1000
check "  ... and logd is up" kill -0 "$LOGD_PID"
wait $locker
wait $g
check "after the lock: everything acknowledged" test $? = 0
check "logd's lock wait timed out rather than stalling" grep -q 'lock timeout' "$T_TMP/logd.log"
check "1..2000 stored once" test "$(sql 'SELECT count(*), count(DISTINCT seq), max(seq) FROM records')" = "2000|2000|2000"
db_verify >"$T_TMP/v.out"
check "verify: chain intact, no anomaly" test $? = 0
grep -m3 'lock timeout' "$T_TMP/logd.log" | sed 's/^/# /'
t_end
