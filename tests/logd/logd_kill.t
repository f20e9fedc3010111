# logd is SIGKILLed twice in the middle of a stream and restarted on the
# same port.  Everything it had acknowledged before each kill is in the
# database afterwards (ack only after commit), and at the end the stream
# is complete, once, with no anomaly.
source "$TOP/tests/lib.sh"
source "$TOP/tests/logd/logd-lib.sh"
need_bins
make_pki "$PKI" t1
port=$(free_port)
logd_start "$port" || { not_ok "logd starts"; t_end; }
N=60000
"$LOADGEN" --server "127.0.0.1:$port" --pki "$PKI" --name t1 --count $N \
	--rate 15000 --progress --timeout 90 >"$T_TMP/g.out" 2>&1 &
g=$!
for round in 1 2; do
	sleep 1.2
	acked=$(grep '^progress' "$T_TMP/g.out" | tail -1 | awk '{print $5}')
	logd_stop KILL
	held=$(sql "SELECT coalesce(max(seq),0) FROM records")
	cnt=$(sql "SELECT count(*) FROM records")
	check "kill $round: every record acked before the kill is stored (acked ${acked:-0} <= stored $held)" \
		test "${acked:-0}" -le "$held"
	check "kill $round: stored records are contiguous ($cnt = $held)" test "$cnt" = "$held"
	check "kill $round: the database is intact" test "$(db_intact)" = ok
	sleep 0.5
	logd_start "$port" || not_ok "logd restarts"
done
wait $g
check "tracker: every record acknowledged in the end" test $? = 0
got=$(sql "SELECT count(*), min(seq), max(seq) FROM records")
check "1..$N stored once ($got)" test "$got" = "$N|1|$N"
check "chain head = tracker's" test "$(sql "SELECT $(db_hex last_hash) FROM streams")" = "$(field "$T_TMP/g.out" head)"
db_verify >"$T_TMP/v.out"
check "verify: OK, no anomalies" test $? = 0
grep -E 'connects|rec/s' "$T_TMP/g.out" | sed 's/^/# /'
t_end
