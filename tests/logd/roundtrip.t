# Round trip: records from two trackers at once, through TLS 1.3 with
# mutual authentication, arrive in SQLite complete, in order and once;
# the stored chain head equals the tracker's; verify and query agree.
source "$TOP/tests/lib.sh"
source "$TOP/tests/logd/logd-lib.sh"
need_bins
make_pki "$PKI" t1 t2
check "pki keys are 0600" test "$(stat -c %a "$PKI/t1.key") $(stat -c %a "$PKI/ca.key")" = "600 600"
logd_start || { not_ok "logd starts"; t_end; }
ok "logd starts on port $LOGD_PORT"

N=20000
"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --pki "$PKI" --name t1 --vm vm-a \
	--count $N --rate 20000 --timeout 60 >"$T_TMP/g1.out" 2>&1 &
g1=$!
"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --pki "$PKI" --name t2 --vm vm-b \
	--count 5000 --timeout 60 >"$T_TMP/g2.out" 2>&1 &
g2=$!
wait $g1; r1=$?
wait $g2; r2=$?
check "tracker t1: every record acknowledged" test "$r1" = 0
check "tracker t2: every record acknowledged" test "$r2" = 0
sed 's/^/# t1: /' "$T_TMP/g1.out" | grep -E 'rec/s|median'

s1=$(sql "SELECT id FROM streams WHERE tracker='t1'")
s2=$(sql "SELECT id FROM streams WHERE tracker='t2'")
check "one stream per tracker" test -n "$s1" -a -n "$s2" -a "$(sql 'SELECT count(*) FROM streams')" = 2
got=$(sql "SELECT count(*), min(seq), max(seq), count(DISTINCT seq) FROM records WHERE stream=$s1")
check "t1: $N records, seq 1..$N, each once ($got)" test "$got" = "$N|1|$N|$N"
got=$(sql "SELECT count(*), min(seq), max(seq) FROM records WHERE stream=$s2")
check "t2: 5000 records, seq 1..5000 ($got)" test "$got" = "5000|1|5000"
head1=$(field "$T_TMP/g1.out" head)
check "t1: stored chain head = tracker's chain head (content and order)" \
	test "$(sql "SELECT $(db_hex last_hash) FROM streams WHERE id=$s1")" = "$head1"
check "t2: stored chain head = tracker's" \
	test "$(sql "SELECT $(db_hex last_hash) FROM streams WHERE id=$s2")" = "$(field "$T_TMP/g2.out" head)"
check "vm names kept per tracker" test "$(sql "SELECT DISTINCT vm FROM records WHERE stream=$s2")" = vm-b
check "no anomaly events" test "$(sql 'SELECT count(*) FROM events')" = 0
db_verify >"$T_TMP/verify.out" 2>&1
check "cotrack verify: exit 0" test $? = 0
check "cotrack verify: both chains ok" test "$(grep -c 'chain ok' "$T_TMP/verify.out")" = 2

# query: json lines with the DESIGN.md names, filters, csv, table
if [ "$LOGD_BACKEND" = pg ]; then
	echo "# query checks left out: cotrack query does not read PostgreSQL yet"
else
"$COTRACK" query --db "$DB" --tracker t1 --format json >"$T_TMP/q.json"
check "query json: $N lines" test "$(wc -l <"$T_TMP/q.json")" = $N
check "query json: DESIGN.md field names, valid JSON" jq -e -s 'all(.[]; has("vm") and has("proto") and has("src") and has("sport") and has("dst") and has("dport") and has("first_ns") and has("last_ns") and has("pkts_fwd") and has("bytes_fwd") and has("pkts_rev") and has("bytes_rev") and has("tcp_state") and has("end") and has("seen_by") and has("netns") and has("seq"))' "$T_TMP/q.json"
check "query json: in seq order" jq -e -s '[.[].seq] == [range(1; '$((N + 1))')]' "$T_TMP/q.json"
"$COTRACK" query --db "$DB" --proto udp --port 53 --format json >"$T_TMP/q.udp"
n=$(wc -l <"$T_TMP/q.udp")
check "query --proto udp --port 53: $n records, all udp/53" jq -e -s 'length > 0 and all(.[]; .proto == "udp" and .dport == 53)' "$T_TMP/q.udp"
expect=$(sql "SELECT count(*) FROM records WHERE proto=2 AND (sport=53 OR dport=53)")
check "query udp/53 count matches the database ($expect)" test "$n" = "$expect"
"$COTRACK" query --db "$DB" --addr 10.0.1.3 --vm vm-a --seen-by both --format json >"$T_TMP/q.addr"
check "query --addr --vm --seen-by" jq -e -s 'length > 0 and all(.[]; (.src == "10.0.1.3" or .dst == "10.0.1.3") and .vm == "vm-a" and .seen_by == "both")' "$T_TMP/q.addr"
check "query --since 1h finds everything, --until 1h nothing" test \
	"$("$COTRACK" query --db "$DB" --since 1h --format csv | wc -l) $("$COTRACK" query --db "$DB" --until 1h --format csv | wc -l)" = "$((N + 5000 + 1)) 1"
check "query csv header" test "$("$COTRACK" query --db "$DB" --format csv --limit 1 | head -1 | cut -d, -f1-3)" = "seq,vm,proto"
check "query table" sh -c "'$COTRACK' query --db '$DB' --limit 5 2>/dev/null | grep -q '10.0.1'"
check "query rejects a bad filter" sh -c "! '$COTRACK' query --db '$DB' --proto nope 2>/dev/null"
fi
logd_stop TERM
check "logd stops on SIGTERM" test -z "$LOGD_PID"
t_end
