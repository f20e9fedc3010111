# cotrack-logd --migrate-from FILE.sqlite --db postgresql://...: a SQLite
# store (two trackers, three streams, record versions 1 and 2, a
# new_epoch event) copied into PostgreSQL: the same streams, records and
# chain values, the same events, ids as they were; progress on a long
# copy; a second run is a no-op, a target holding other data is refused
# and left as it was; logd then continues on the copy.
export LOGD_BACKEND=pg
source "$TOP/tests/lib.sh"
source "$TOP/tests/logd/logd-lib.sh"
need_bins
make_pki "$PKI" t1 t2 t3
SQL_DB=$T_TMP/src.sqlite
LOGD_BACKEND=sqlite DB=$SQL_DB
logd_start || { not_ok "logd (SQLite) starts"; t_end; }
"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --pki "$PKI" --name t1 --count 105000 \
	--names 3 --spread 960h --timeout 60 >"$T_TMP/g1.out" 2>&1
check "t1: 105000 stored in SQLite" test $? = 0
"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --pki "$PKI" --name t1 --count 500 \
	--timeout 60 >/dev/null 2>&1
"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --pki "$PKI" --name t2 --count 3000 \
	--timeout 60 >/dev/null 2>&1
logd_stop
check "the file has a new_epoch event" test "$(sql "SELECT count(*) FROM events WHERE kind = 'new_epoch'")" = 1
dump_lite() {
	sql "SELECT id, tracker, epoch, last_seq, lower(hex(last_hash)) FROM streams ORDER BY id" >"$1.streams"
	sql "SELECT stream, seq, vm, src_pid, dst_name, first_ns, bytes_fwd, added_ns, stored_ns, lower(hex(hash)) FROM records ORDER BY stream, seq" >"$1.records"
	sql "SELECT id, time_ns, kind, tracker, stream, seq_first, seq_last, peer, detail FROM events ORDER BY id" >"$1.events"
}
dump_lite "$T_TMP/lite"

LOGD_BACKEND=pg DB=$T_TMP/target.db
URL=$(db_arg)
"$COTRACK_LOGD" --migrate-from "$SQL_DB" --db "$URL" >"$T_TMP/m1.out" 2>&1
check "migrate: exit 0" test $? = 0
check "migrate: progress on a long copy" grep -q 'copied 100000 of 108500 records' "$T_TMP/m1.out"
sed 's/^/# /' "$T_TMP/m1.out"
dump_pg() {
	sql "SELECT id, tracker, epoch, last_seq, encode(last_hash, 'hex') FROM streams ORDER BY id" >"$1.streams"
	sql "SELECT stream, seq, vm, src_pid, dst_name, first_ns, bytes_fwd, added_ns, stored_ns, encode(hash, 'hex') FROM records ORDER BY stream, seq" >"$1.records"
	sql "SELECT id, time_ns, kind, tracker, stream, seq_first, seq_last, peer, detail FROM events ORDER BY id" >"$1.events"
}
dump_pg "$T_TMP/pg"
for x in streams records events; do
	check "the same $x ($(wc -l <"$T_TMP/lite.$x") rows)" cmp -s "$T_TMP/lite.$x" "$T_TMP/pg.$x"
done
db_verify >"$T_TMP/v.out"
check "verify: the copied chains are intact (the one event listed)" \
	test "$(grep -c 'chain ok' "$T_TMP/v.out") $(tail -1 "$T_TMP/v.out")" = "3 0 chain problems, 1 anomalies: NOT OK"
"$COTRACK_LOGD" --migrate-from "$SQL_DB" --db "$URL" >"$T_TMP/m2.out" 2>&1
check "a second run: nothing to do, exit 0" test $? = 0 -a "$(grep -c 'nothing to do' "$T_TMP/m2.out")" = 1
OTHER=$T_TMP/other.sqlite
LOGD_BACKEND=sqlite DB=$OTHER
logd_start || not_ok "logd (SQLite) starts again"
"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --pki "$PKI" --name t3 --count 10 --timeout 30 >/dev/null 2>&1
logd_stop
LOGD_BACKEND=pg DB=$T_TMP/target.db
"$COTRACK_LOGD" --migrate-from "$OTHER" --db "$URL" >"$T_TMP/m3.out" 2>&1
check "another file into the filled target: refused (exit 1)" test $? = 1 -a "$(grep -c 'refusing' "$T_TMP/m3.out")" = 1
dump_pg "$T_TMP/pg2"
check "  ... and the target left as it was" cmp -s "$T_TMP/pg.records" "$T_TMP/pg2.records"
check "--migrate-from without a PostgreSQL --db: usage error" \
	sh -c "'$COTRACK_LOGD' --migrate-from '$SQL_DB' --db '$T_TMP/x.sqlite' 2>/dev/null; test \$? = 2"
check "a missing file: exit 1" sh -c "'$COTRACK_LOGD' --migrate-from '$T_TMP/none.sqlite' --db '$URL' 2>/dev/null; test \$? = 1"
logd_start || not_ok "logd on the copy starts"
"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --pki "$PKI" --name t3 --count 100 --timeout 30 >/dev/null 2>&1
check "logd continues on the copy: a new stream gets the next id (4)" \
	test "$(sql "SELECT id, last_seq FROM streams WHERE tracker = 't3'")" = "4|100"
t_end
