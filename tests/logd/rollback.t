# The tracker's disk rolls its spool back to an older copy between two
# runs.  The restarted tracker holds less than logd already has: logd
# records a rollback, the tracker starts a new epoch (renumbering what it
# still holds) and logd records that too; nothing is silently merged.
source "$TOP/tests/lib.sh"
source "$TOP/tests/logd/logd-lib.sh"
need_bins
make_pki "$PKI" t1
KEY=hex:$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
SPOOL=$T_TMP/spool
port=$(free_port)
"$LOADGEN" --server "127.0.0.1:$port" --pki "$PKI" --name t1 --count 1000 \
	--spool "$SPOOL" --spool-key "$KEY" --timeout 1 >/dev/null 2>&1
cp "$SPOOL" "$T_TMP/spool.old"          # the disk keeps this copy
logd_start "$port" || { not_ok "logd starts"; t_end; }
"$LOADGEN" --server "127.0.0.1:$port" --pki "$PKI" --name t1 --count 500 \
	--spool "$SPOOL" --spool-key "$KEY" --timeout 30 >"$T_TMP/g2.out" 2>&1
check "first stream: 1..1500 delivered" test "$(sql 'SELECT count(*), max(seq) FROM records')" = "1500|1500"
cp "$T_TMP/spool.old" "$SPOOL"          # ... and puts it back
"$LOADGEN" --server "127.0.0.1:$port" --pki "$PKI" --name t1 --count 10 \
	--spool "$SPOOL" --spool-key "$KEY" --timeout 30 >"$T_TMP/g3.out" 2>&1
check "the rolled-back tracker still delivers what it holds" test $? = 0
check "the tracker noticed and started a new epoch" grep -q 'starting a new epoch' "$T_TMP/g3.out"
check "logd recorded the rollback (1011..1500 held by logd, not by the tracker)" \
	test "$(sql "SELECT seq_first, seq_last FROM events WHERE kind='rollback'")" = "1011|1500"
check "logd recorded the new epoch" test "$(sql "SELECT count(*) FROM events WHERE kind='new_epoch'")" = 1
check "two streams: the old one untouched, the new one 1..1010" \
	test "$(sql 'SELECT count(*) FROM records GROUP BY stream ORDER BY stream' | paste -sd,)" = "1500,1010"
db_verify >"$T_TMP/v.out"
check "verify: both chains intact, but anomalies listed (exit 1)" test $? = 1 -a "$(grep -c 'chain ok' "$T_TMP/v.out")" = 2
sed 's/^/# /' "$T_TMP/v.out"
t_end
