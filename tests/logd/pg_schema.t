# The PostgreSQL store's schema: records of 40 days (loadgen --spread),
# some naming workloads (record version 2), from three VMs.  Every day
# from 31 days back has its own partition, made on demand inside the
# batch's transaction; older records are in records_default; every field
# round-trips (cotrack verify re-encodes each record from its columns and
# recomputes the chain); the console's indexes exist on the partitioned
# table; two logd instances starting together on an empty database both
# come up (the schema is made under an advisory lock).  A day whose
# records sit in records_default (stored while it had no partition) gets
# its partition when a record of it comes: they move into it.
export LOGD_BACKEND=pg
source "$TOP/tests/lib.sh"
source "$TOP/tests/logd/logd-lib.sh"
need_bins
make_pki "$PKI" t1
DB=$T_TMP/race.db
url=$(db_arg)
for i in 1 2; do
	"$COTRACK_LOGD" --db "$url" --pki "$PKI" --listen 127.0.0.1:0 \
		--port-file "$T_TMP/race.$i" >"$T_TMP/race.$i.log" 2>&1 &
	eval "R$i=\$!"
done
for i in $(seq 100); do [ -s "$T_TMP/race.1" ] && [ -s "$T_TMP/race.2" ] && break; sleep 0.1; done
check "two instances starting together on an empty database both come up" test -s "$T_TMP/race.1" -a -s "$T_TMP/race.2"
kill -TERM $R1 $R2; wait $R1 $R2 2>/dev/null
DB=$T_TMP/db.sqlite
logd_start || { not_ok "logd starts"; t_end; }
N=20000
"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --pki "$PKI" --name t1 --count $N \
	--spread 960h --names 3 --vms 3 --timeout 60 >"$T_TMP/g.out" 2>&1
check "all $N acknowledged" test $? = 0
check "1..$N stored" test "$(sql 'SELECT count(*), max(seq) FROM records')" = "$N|$N"
day=86400000000000
today=$(( $(date +%s) / 86400 ))
parts=$(sql "SELECT count(*) FROM pg_inherits WHERE inhparent = 'records'::regclass AND inhrelid <> 'records_default'::regclass")
check "a partition per day from 31 days back to tomorrow ($parts >= 33)" test "$parts" -ge 33
check "each day's partition is named for its day and holds only that day" \
	test "$(sql "SELECT count(*) FROM records_d$today WHERE first_ns < $today * $day OR first_ns >= ($today + 1) * $day")" = 0
check "older records went to records_default" \
	test "$(sql "SELECT count(*) > 0, count(*) FILTER (WHERE first_ns >= ($today - 31) * $day) FROM records_default")" = "t|0"
check "every record is in some partition" \
	test "$(sql "SELECT sum(n) FROM (SELECT count(*) AS n FROM records_default UNION ALL SELECT count(*) FROM records WHERE tableoid <> 'records_default'::regclass) x")" = $N
check "names stored (record version 2)" test "$(sql 'SELECT count(*) > 0 FROM records WHERE src_pid IS NOT NULL AND dst_name IS NOT NULL')" = t
check "three VMs" test "$(sql 'SELECT count(DISTINCT vm) FROM records')" = 3
idx=$(sql "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE tablename = 'records'")
check "the query indexes exist ($idx)" test "$idx" = "rec_dport,rec_dst,rec_span,rec_sport,rec_src,rec_vm,rec_vm_span,records_pkey"
check "blobs are bytea, u64 bigint" test "$(sql "SELECT string_agg(data_type, ',' ORDER BY column_name) FROM information_schema.columns WHERE table_name = 'records' AND column_name IN ('src', 'hash', 'bytes_fwd', 'first_ns')")" = "bigint,bigint,bytea,bytea"
check "cot_span: a hostile lifetime does not overflow" test "$(sql "SELECT cot_span(-9223372036854775808, 9223372036854775807), cot_span(5, 1), cot_span(0, 1500000000)")" = "7|0|1"
db_verify >"$T_TMP/v.out"
check "verify: every field round-trips (chain recomputed), no anomaly" test $? = 0
sed 's/^/# /' "$T_TMP/v.out"

# a day's records in records_default: its partition taken away, its rows
# put back through the parent (nothing else takes them)
X=$((today - 10))
nx=$(sql "SELECT count(*) FROM records_d$X")
sql "CREATE TEMP TABLE keep AS SELECT * FROM records_d$X; DROP TABLE records_d$X; INSERT INTO records SELECT * FROM keep" >/dev/null
check "day $X's $nx records are in records_default" \
	test "$nx" -gt 0 -a "$(sql "SELECT count(*) FROM records_default WHERE first_ns >= $X * $day AND first_ns < ($X + 1) * $day")" = "$nx"
logd_stop
logd_start || not_ok "logd starts again"
# another tracker (t1 again would be a new epoch of its: an anomaly)
"$COTRACK" pki add "$PKI" t2 >/dev/null
"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --pki "$PKI" --name t2 --count 2000 \
	--spread 960h --timeout 60 >"$T_TMP/g2.out" 2>&1
check "2000 more acknowledged" test $? = 0
check "day $X has its partition again" \
	test "$(sql "SELECT count(*) FROM pg_inherits WHERE inhparent = 'records'::regclass AND inhrelid = 'records_d$X'::regclass")" = 1
check "  holding the day's records of before and the new ones" \
	test "$(sql "SELECT count(*) >= $nx, count(*) FILTER (WHERE first_ns < $X * $day OR first_ns >= ($X + 1) * $day) FROM records_d$X")" = "t|0"
check "  and records_default none of that day" \
	test "$(sql "SELECT count(*) FROM records_default WHERE first_ns >= $X * $day AND first_ns < ($X + 1) * $day")" = 0
check "  logd said it moved them" grep -q "records moved from records_default into its own partition records_d$X" "$T_TMP/logd.log"
check "every record still there ($((N + 2000)))" test "$(sql 'SELECT count(*) FROM records')" = $((N + 2000))
db_verify >"$T_TMP/v2.out"
check "verify after the move: no anomaly" test $? = 0
sed "s/^/# /" "$T_TMP/v2.out"
t_end
