# The tracker is SIGKILLed while logd is down (records pile up in its
# sealed spool), then restarted from the spool: every spooled record
# reaches logd, once, in order, with an unbroken chain and no gap.
source "$TOP/tests/lib.sh"
source "$TOP/tests/logd/logd-lib.sh"
need_bins
make_pki "$PKI" t1
KEY=hex:$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
SPOOL=$T_TMP/spool
port=$(free_port)
logd_start "$port" || { not_ok "logd starts"; t_end; }
"$LOADGEN" --server "127.0.0.1:$port" --pki "$PKI" --name t1 --count 100000 \
	--rate 10000 --progress --spool "$SPOOL" --spool-key "$KEY" \
	--timeout 60 >"$T_TMP/g1.out" 2>&1 &
g=$!
sleep 1.5
logd_stop KILL            # records now wait in the spool
sleep 1.5
acked=$(grep '^progress' "$T_TMP/g1.out" | tail -1 | awk '{print $5}')
added=$(grep '^progress' "$T_TMP/g1.out" | tail -1 | awk '{print $3}')
kill -KILL $g; wait $g 2>/dev/null
held=$(sql "SELECT coalesce(max(seq),0) FROM records")
check "acked before the kills ($acked) are stored ($held)" test "${acked:-0}" -le "$held"
check "the tracker had more than logd when killed ($added > $held)" test "${added:-0}" -gt "$held"
check "the spool is sealed: no vm name in clear" sh -c "! grep -q vm-a '$SPOOL'"
logd_start "$port" || not_ok "logd restarts"
"$LOADGEN" --server "127.0.0.1:$port" --pki "$PKI" --name t1 --count 1000 \
	--spool "$SPOOL" --spool-key "$KEY" --timeout 60 >"$T_TMP/g2.out" 2>&1
check "restarted tracker: everything acknowledged" test $? = 0
loaded=$(awk '/^epoch/ {print $4}' "$T_TMP/g2.out")
next=$(awk '/^epoch/ {print $7}' "$T_TMP/g2.out")
check "restarted tracker loaded its spool ($loaded records, continues at $next)" test "${loaded:-0}" -gt 0 -a "${next:-0}" -ge "$added"
last=$((next + 999))
got=$(sql "SELECT count(*), min(seq), max(seq) FROM records")
check "logd holds 1..$last once, no gap ($got)" test "$got" = "$last|1|$last"
check "a single stream (same epoch across the restart)" test "$(sql 'SELECT count(*) FROM streams')" = 1
check "chain head = tracker's" test "$(sql "SELECT $(db_hex last_hash) FROM streams")" = "$(field "$T_TMP/g2.out" head)"
db_verify >"$T_TMP/v.out"
check "verify: OK, no anomalies" test $? = 0
t_end
