# Queries at scale, small: 20000 records through logd (two trackers,
# five VMs, 500 client addresses, lifetimes from 1 ms to 6 h spread over
# two hours) plus crafted rows for the span levels loadgen never makes
# (30 days, 1970 to now, last_ns < first_ns, an overflowing difference).
# For each query shape: SQLite's plan for the SQL cotrack query runs
# searches records through one of the query indexes (no SCAN of
# records), and the output is the same as on a copy of the database
# whose indexes are dropped (plain predicates, full scans), and as a
# count in plain SQL.  Then that copy, opened read-write by logd, gains
# the indexes again (schema 4); a schema-3 copy (rec_span, not the
# covering rec_win) answers the same read-only and is migrated to
# schema 4 by logd.  --from/--to parse RFC 3339 and ages and
# refuse bad times.  No timing here: bench/query.sh times the 10M case.
source "$TOP/tests/lib.sh"
source "$TOP/tests/logd/logd-lib.sh"
need_bins
export TZ=UTC
make_pki "$PKI" t1 t2
logd_start || { not_ok "logd starts"; t_end; }
"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --pki "$PKI" --name t1 --vm a --vms 3 \
	--hosts 500 --spread 2h --names 20 --count 12000 --timeout 60 >"$T_TMP/lg1" 2>&1
check "loadgen t1: all acknowledged" test $? = 0
"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --pki "$PKI" --name t2 --vm b --vms 2 \
	--hosts 500 --spread 2h --count 8000 --timeout 60 >"$T_TMP/lg2" 2>&1
check "loadgen t2: all acknowledged" test $? = 0
logd_stop
check "20000 records stored" test "$(sql 'SELECT count(*) FROM records')" = 20000
check "schema 4" test "$(sql "SELECT v FROM meta WHERE k='schema'")" = 4
idx() { sqlite3 "$1" "SELECT group_concat(name) FROM (SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='records' AND name LIKE 'rec\_%' ESCAPE '\\' ORDER BY name)"; }
IDX4=rec_dport,rec_dst,rec_sport,rec_src,rec_vm,rec_vm_win,rec_win
check "the 7 query indexes exist ($(idx "$DB"))" test "$(idx "$DB")" = $IDX4

last=$(sql 'SELECT max(last_ns) FROM records')
start=$(sql 'SELECT min(first_ns) FROM records WHERE last_ns - first_ns < 1000000000')
S=1000000000
mid=$((last - 3600 * S))
min1=$((mid + 60 * S))
hour=$((mid + 3600 * S))
# Rows loadgen never makes, all overlapping [mid, min1]: span levels 6
# and 7, last_ns < first_ns (level 0), and an int64 difference that
# overflows (SQLite makes it REAL: level 7).  Not chained: query does
# not verify.
A="X'00000000000000000000FFFF0A000001'"
B="X'00000000000000000000FFFF0A000103'"
sql "INSERT INTO records(stream, seq, vm, proto, sport, dport, src, dst, first_ns, last_ns, hash) VALUES
 (1, 900001, 'a-0', 1, 1111, 5432, $A, $B, $((mid - 30 * 86400 * S)), $((mid + 10 * S)), X'00'),
 (1, 900002, 'a-0', 1, 1112, 5432, $A, $B, 0, $((mid + 5 * S)), X'00'),
 (1, 900003, 'a-0', 1, 1113, 5432, $A, $B, $((mid + 20 * S)), $((mid + 10 * S)), X'00'),
 (1, 900004, 'a-0', 1, 1114, 5432, $A, $B, -9000000000000000000, 9000000000000000000, X'00');"
check "crafted rows cover span levels 0, 6, 7" test "$(sql "SELECT group_concat(x) FROM (SELECT DISTINCT (CASE WHEN last_ns - first_ns < 1000000000000000 THEN 'lo' ELSE 'hi' END) AS x FROM records WHERE seq > 900000 ORDER BY x)")" = "hi,lo"

cp "$DB" "$T_TMP/noidx.sqlite"
sqlite3 "$T_TMP/noidx.sqlite" "DROP INDEX rec_win; DROP INDEX rec_vm_win; DROP INDEX rec_vm; DROP INDEX rec_src; DROP INDEX rec_dst; DROP INDEX rec_sport; DROP INDEX rec_dport; UPDATE meta SET v='2' WHERE k='schema';"
check "the copy has no query index" test "$(sqlite3 "$T_TMP/noidx.sqlite" "SELECT count(*) FROM sqlite_master WHERE type='index' AND name LIKE 'rec\_%' ESCAPE '\\'")" = 0

client=$(sql "SELECT quote(src) FROM records WHERE substr(src, 13, 2) = X'0A02' LIMIT 1")
client=$(python3 -c "import sys,ipaddress; print(ipaddress.ip_address(bytes.fromhex(sys.argv[1][2:-1])).ipv4_mapped)" "$client")
W=(--from "$mid" --to "$min1")
# name | plain-SQL WHERE counting the same records ("" = not counted) | args
shapes=(
	"window 1 min|last_ns >= $mid AND first_ns <= $min1|${W[*]}"
	"window 10 s|last_ns >= $mid AND first_ns <= $((mid + 10 * S))|--from $mid --to $((mid + 10 * S))"
	"window at the start|last_ns >= $start AND first_ns <= $((start + 300 * S))|--from $start --to $((start + 300 * S))"
	"open-ended --from|last_ns >= $((last - 1800 * S))|--from $((last - 1800 * S))"
	"open-ended --to|first_ns <= $((start + 600 * S))|--to $((start + 600 * S))"
	"vm|vm = 'a-1'|--vm a-1"
	"vm + window|vm = 'a-1' AND last_ns >= $mid AND first_ns <= $min1|--vm a-1 ${W[*]}"
	"addr (service)|src = $B OR dst = $B|--addr 10.0.1.3"
	"addr (client)||--addr $client"
	"port, --limit 50||--port 5432 --limit 50"
	"port|sport = 5432 OR dport = 5432|--port 5432"
	"addr + port + window||--addr 10.0.1.2 --port 8080 ${W[*]}"
	"vm + port + window 1 h||--vm b-0 --port 6379 --from $mid --to $hour"
	"tracker + window||--tracker t2 ${W[*]}"
	"addr, --limit 7||--addr 10.0.1.3 --limit 7"
	"window --by vm||${W[*]} --by vm"
	"vm --by process||--vm a-0 --by process"
	"port --by name||--port 53 --by name"
	"window 1 h --by container||--from $mid --to $hour --by container"
)
for sh in "${shapes[@]}"; do
	name=${sh%%|*}; rest=${sh#*|}; where=${rest%%|*}; args=${rest#*|}
	# shellcheck disable=SC2086
	"$COTRACK" query --db "$DB" --explain $args >"$T_TMP/plan" 2>&1
	if grep -q ' SCAN r\b' "$T_TMP/plan" || ! grep -q 'SEARCH r USING \(COVERING \)\?\(INDEX rec_\|PRIMARY KEY\)' "$T_TMP/plan"; then
		not_ok "$name: plan searches an index"; sed 's/^/# /' "$T_TMP/plan"
	else
		ok "$name: plan searches $(grep -o 'INDEX rec_[a-z_]*' "$T_TMP/plan" | sort -u | paste -sd, -)"
	fi
	# shellcheck disable=SC2086
	"$COTRACK" query --db "$DB" --format csv $args >"$T_TMP/with" 2>&1
	# shellcheck disable=SC2086
	"$COTRACK" query --db "$T_TMP/noidx.sqlite" --format csv $args >"$T_TMP/without" 2>&1
	n=$(($(wc -l <"$T_TMP/with") - 1))
	if [ "$n" -gt 0 ] && cmp -s "$T_TMP/with" "$T_TMP/without"; then
		ok "$name: $n rows, the same without the indexes"
	else
		not_ok "$name: $n rows, the same without the indexes"
		diff "$T_TMP/with" "$T_TMP/without" | head -5 | sed 's/^/# /'
	fi
	if [ -n "$where" ]; then
		want=$(sql "SELECT count(*) FROM records WHERE $where")
		check "$name: the $want records plain SQL counts" test "$n" = "$want"
	fi
done
"$COTRACK" query --db "$DB" --format csv "${W[@]}" | grep -cE '(^|,)90000[1-4],' >"$T_TMP/crafted"
check "window 1 min holds the 4 crafted rows" test "$(cat "$T_TMP/crafted")" = 4
"$COTRACK" query --db "$DB" --explain --vm a-1 --limit 5 >"$T_TMP/plan"
check "vm --limit: rows in (stream, seq) order from the index, no sort" test "$(grep -c 'TEMP B-TREE' "$T_TMP/plan")" = 0
"$COTRACK" query --db "$DB" --explain --port 5432 --limit 5 >"$T_TMP/plan"
check "port --limit: the two ends merged (MERGE (UNION)), no sort" grep -q 'MERGE (UNION)' "$T_TMP/plan"

# graph: the same map with and without the indexes
for by in address workload; do
	"$COTRACK" graph --db "$DB" "${W[@]}" --by $by >"$T_TMP/g1" 2>/dev/null
	"$COTRACK" graph --db "$T_TMP/noidx.sqlite" "${W[@]}" --by $by >"$T_TMP/g2" 2>/dev/null
	check "graph --by $by over a window: the same without the indexes ($(grep -c ' -> ' "$T_TMP/g1") edges)" \
		test "$(grep -c ' -> ' "$T_TMP/g1")" -gt 0 -a -z "$(cmp "$T_TMP/g1" "$T_TMP/g2" 2>&1)"
done

"$COTRACK" graph --db "$DB" "${W[@]}" --by workload --explain >"$T_TMP/plan"
check "graph over a window reads rec_win alone (a covering index)" grep -q 'SEARCH r USING COVERING INDEX rec_win' "$T_TMP/plan"
"$COTRACK" graph --db "$DB" "${W[@]}" --vm a-1 --explain >"$T_TMP/plan"
check "graph of a VM over a window reads rec_vm_win alone" grep -q 'SEARCH r USING COVERING INDEX rec_vm_win (vm=? AND <expr>=?' "$T_TMP/plan"
"$COTRACK" graph --db "$DB" --by address --explain >"$T_TMP/plan"
check "graph over everything reads the table in order, not through an index" \
	test "$(grep -c 'SEARCH r USING PRIMARY KEY' "$T_TMP/plan")" = 1 -a "$(grep -c 'r USING INDEX' "$T_TMP/plan")" = 0

# Time arguments
q1() { "$COTRACK" query --db "$DB" --explain "$@" 2>&1 | sed -n 's/.*last_ns >= \([0-9-]*\).*/\1/p' | head -1; }
check "RFC 3339 with an offset" test "$(q1 --from 2026-12-02T07:30:00+01:00)" = "$(q1 --from 2026-12-02T06:30:00Z)"
check "  fractional seconds" test "$(q1 --from 2026-12-02T06:30:00.25Z)" = "$(($(q1 --from 2026-12-02T06:30:00Z) + 250000000))"
check "  = seconds since the epoch" test "$(q1 --from 2026-12-02T06:30:00Z)" = "$(q1 --from "$(date -ud 2026-12-02T06:30:00Z +%s)")"
now_s=$(date +%s)
ago=$(q1 --from -5m)
check "-5m is five minutes ago" test $((ago / S)) -ge $((now_s - 301)) -a $((ago / S)) -le $((now_s - 299 + 5))
for bad in yesterday -100 2026-13-01 2026-12-02T25:00:00Z 2026-12-02T06:00:00+1 "2026-12-02T06:00:00.Z" -5x; do
	"$COTRACK" query --db "$DB" --from "$bad" >/dev/null 2>"$T_TMP/err"
	rc=$?
	check "--from '$bad' refused (exit $rc)" test "$rc" = 2 -a "$(grep -c 'bad time' "$T_TMP/err")" = 1
done

# The copy, opened read-write by logd, gains the indexes back
DB=$T_TMP/noidx.sqlite
logd_start || { not_ok "logd starts on the copy"; t_end; }
logd_stop
check "logd gave the old database its indexes" test "$(idx "$DB")" = $IDX4
check "  and made it schema 4" test "$(sqlite3 "$DB" "SELECT v FROM meta WHERE k='schema'")" = 4
"$COTRACK" query --db "$DB" --format csv "${W[@]}" >"$T_TMP/after"
"$COTRACK" query --db "$T_TMP/db.sqlite" --format csv "${W[@]}" >"$T_TMP/orig"
check "  and answers as the original" cmp -s "$T_TMP/after" "$T_TMP/orig"

# A schema-3 database (rec_span, rec_vm_span: the span level and
# first_ns only) reads the same, read-only, through them; logd's
# read-write open makes it schema 4 (rec_win and rec_vm_win built, the
# old two dropped).
DB3=$T_TMP/s3.sqlite
cp "$T_TMP/db.sqlite" "$DB3"
SPAN="(CASE WHEN last_ns - first_ns < 1000000000 THEN 0 WHEN last_ns - first_ns < 10000000000 THEN 1 WHEN last_ns - first_ns < 100000000000 THEN 2 WHEN last_ns - first_ns < 1000000000000 THEN 3 WHEN last_ns - first_ns < 10000000000000 THEN 4 WHEN last_ns - first_ns < 100000000000000 THEN 5 WHEN last_ns - first_ns < 1000000000000000 THEN 6 ELSE 7 END)"
sqlite3 "$DB3" "DROP INDEX rec_win; DROP INDEX rec_vm_win; CREATE INDEX rec_span ON records($SPAN, first_ns); CREATE INDEX rec_vm_span ON records(vm, $SPAN, first_ns); UPDATE meta SET v='3' WHERE k='schema';"
check "a schema-3 copy" test "$(idx "$DB3")" = rec_dport,rec_dst,rec_span,rec_sport,rec_src,rec_vm,rec_vm_span
for a in "${W[*]}" "--from $mid --to $hour --by process" "--addr 10.0.1.3 --from $mid --to $hour --by vm" "--vm a-1 --from $mid --to $hour --by name"; do
	# shellcheck disable=SC2086
	"$COTRACK" query --db "$DB3" --format csv $a >"$T_TMP/s3.out" 2>&1
	# shellcheck disable=SC2086
	"$COTRACK" query --db "$T_TMP/db.sqlite" --format csv $a >"$T_TMP/s4.out" 2>&1
	check "  query $a: the same as schema 4 ($(($(wc -l <"$T_TMP/s4.out") - 1)) rows)" cmp -s "$T_TMP/s3.out" "$T_TMP/s4.out"
done
"$COTRACK" graph --db "$DB3" "${W[@]}" --by workload >"$T_TMP/g3" 2>/dev/null
"$COTRACK" graph --db "$T_TMP/db.sqlite" "${W[@]}" --by workload >"$T_TMP/g4" 2>/dev/null
check "  graph over a window: the same as schema 4" cmp -s "$T_TMP/g3" "$T_TMP/g4"
"$COTRACK" graph --db "$DB3" "${W[@]}" --by workload --explain >"$T_TMP/plan"
check "  searched through rec_span, read-only" grep -q 'SEARCH r USING INDEX rec_span' "$T_TMP/plan"
check "  and left schema 3" test "$(sqlite3 "$DB3" "SELECT v FROM meta WHERE k='schema'")" = 3
DB=$DB3
logd_start || { not_ok "logd starts on the schema-3 copy"; t_end; }
logd_stop
check "logd migrated the schema-3 copy ($(idx "$DB3"))" test "$(idx "$DB3")" = $IDX4
check "  to schema 4" test "$(sqlite3 "$DB3" "SELECT v FROM meta WHERE k='schema'")" = 4
"$COTRACK" graph --db "$DB3" "${W[@]}" --by workload >"$T_TMP/g3" 2>/dev/null
check "  and maps as before" cmp -s "$T_TMP/g3" "$T_TMP/g4"
t_end
