# Record version 2 (workload names) end to end: an old schema-1 database
# reads and verifies as it is (read-only: a temp view adds the columns),
# logd migrates it on open, takes a batch mixing v1 and v2 records
# encoded by an independent implementation (names_client.py: logd stores
# a record only when it is the canonical encoding), and query, verify and
# graph read both versions: golden output, --by groups, filters, the
# workload map, and a tampered name caught by verify.
source "$TOP/tests/lib.sh"
source "$TOP/tests/logd/logd-lib.sh"
need_bins
export TZ=UTC
G=$TOP/tests/golden
make_pki "$PKI" t1
python3 "$TOP/tests/logd/names_client.py" --old-db "$DB"
check "old database is schema 1" test "$(sql "SELECT v FROM meta WHERE k='schema'")" = 1
"$COTRACK" verify --db "$DB" >"$T_TMP/v0" 2>&1
check "verify reads a schema-1 database" test $? = 0
check "  and leaves it schema 1 (read-only)" test "$(sql "SELECT count(*) FROM pragma_table_info('records') WHERE name='src_pid'")" = 0
"$COTRACK" query --db "$DB" --format json >"$T_TMP/q0" 2>&1
check "query reads a schema-1 database (2 records, no names)" test "$(grep -c '"seq"' "$T_TMP/q0")" = 2 -a "$(grep -c '_pid' "$T_TMP/q0")" = 0

logd_start || { not_ok "logd starts"; t_end; }
out=$(timeout 30 python3 "$TOP/tests/logd/names_client.py" "$LOGD_PORT" "$PKI" t1 2>&1)
echo "$out" | sed 's/^/# /'
check "logd acknowledges the mixed v1/v2 batch" grep -qx "ack 7" <<<"$out"
check "  of 140-byte v1 and longer v2 encodings" grep -qx "sizes 140 181 192 170 182 181 140" <<<"$out"
logd_stop
check "logd migrated the database to schema 4 (names, then the tunnel and the query indexes)" test "$(sql "SELECT v FROM meta WHERE k='schema'")" = 4
check "  with the tunnel columns" test "$(sql "SELECT count(*) FROM pragma_table_info('records') WHERE name IN ('tun_type','tun_id','tun_src','tun_dst','inner_conns')")" = 5
check "  and the 7 query indexes" test "$(sql "SELECT count(*) FROM sqlite_master WHERE type='index' AND name LIKE 'rec\_%' ESCAPE '\\'")" = 7
check "  old rows read NULL names" test "$(sql "SELECT count(*) FROM records WHERE stream=1 AND src_pid IS NULL AND dst_name IS NULL")" = 2
check "  v2 rows hold them" test "$(sql "SELECT src_comm || ' ' || dst_name FROM records r JOIN streams s ON s.id=r.stream WHERE s.tracker='t1' AND seq=2")" = "nginx backend.svc"
check "  v1 rows in the new stream hold none" test "$(sql "SELECT count(*) FROM records r JOIN streams s ON s.id=r.stream WHERE s.tracker='t1' AND src_pid IS NULL AND dst_pid IS NULL AND src_name IS NULL AND dst_name IS NULL")" = 2

"$COTRACK" verify --db "$DB" >"$T_TMP/v1" 2>&1
check "verify: both streams' chains, v1 and v2 mixed" test $? = 0
sed 's/^/# /' "$T_TMP/v1"
for fmt in json csv table; do
	"$COTRACK" query --db "$DB" --tracker t1 --format "$fmt" >"$T_TMP/q.$fmt" 2>/dev/null
	if diff -u "$G/names.$fmt.ok" "$T_TMP/q.$fmt"; then
		ok "query --format $fmt matches names.$fmt.ok"
	else
		not_ok "query --format $fmt differs from names.$fmt.ok"
	fi
done
python3 - "$T_TMP/q.json" <<'PY' && ok "JSON: names only where present, hostile comm escaped" || not_ok "JSON names"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert [("src_pid" in r, "dst_pid" in r, r.get("dst_name")) for r in recs] == [
    (False, False, None), (True, False, "backend.svc"), (True, True, None),
    (False, True, None), (True, False, "x.example"), (True, False, "backend.svc"),
    (False, False, None)], recs
assert recs[4]["src_comm"] == 'a"b\\c d'
PY
for by in vm container process name; do
	"$COTRACK" query --db "$DB" --by "$by" --format csv
done >"$T_TMP/by" 2>&1
if diff -u "$G/names.by.ok" "$T_TMP/by"; then ok "query --by vm|container|process|name match names.by.ok"; else not_ok "query --by differs from names.by.ok"; fi
n() { "$COTRACK" query --db "$DB" --format csv "$@" 2>/dev/null | tail -n +2 | wc -l; }
check "--comm nginx: either end (3)" test "$(n --comm nginx)" = 3
check "--comm memcached: the responder end (1)" test "$(n --comm memcached)" = 1
check "--cgroup /be/api (1)" test "$(n --cgroup /be/api)" = 1
check "--name backend.svc (2)" test "$(n --name backend.svc)" = 2
check "--name with --vm be: none" test "$(n --name backend.svc --vm be)" = 0
check "--comm never matches v1 records" test "$(n --comm - )" = 0
"$COTRACK" query --db "$DB" --by nope >/dev/null 2>&1
check "--by nope is a usage error" test $? = 2

"$COTRACK" graph --db "$DB" >"$T_TMP/w.dot" 2>/dev/null
check "graph: the workload map for named data" grep -q 'service map by workload' "$T_TMP/w.dot"
if command -v dot >/dev/null; then check "dot accepts it" dot -Tcanon "$T_TMP/w.dot" -o /dev/null; fi
python3 - "$T_TMP/w.dot" <<'PY' && ok "graph: VM boxes, workloads inside, names outside, localhost edge inside, merged views" || not_ok "workload map"
import re, sys
t = open(sys.argv[1]).read()
box = {}
cur = None
for line in t.splitlines():
    m = re.match(r'  subgraph "cluster vm (.*)" \{', line)
    if m:
        cur = m.group(1)
    elif line == "  }":
        cur = None
    m = re.match(r'\s+(w\d+) \[label="(.*?)", shape', line)
    if m:
        box[m.group(2)] = (m.group(1), cur)
assert box["nginx\\n/fe/nginx"][1] == "fe", box
assert box["memcached\\n/fe/memcached"][1] == "fe", box
assert box["python3\\n/be/api"][1] == "be", box
assert box["backend.svc"][1] is None and box["10.0.0.3"][1] is None, box
assert box['a\\"b\\\\c d\\n/fe/odd{1}'][1] == "fe", box
ng, mc, api, bs = (box[k][0] for k in ("nginx\\n/fe/nginx",
    "memcached\\n/fe/memcached", "python3\\n/be/api", "backend.svc"))
edges = re.findall(r'  (w\d+) -> (w\d+) \[label="(.*?)"', t)
conns = sum(int(re.search(r'\\n(\d+) conn', l).group(1)) for _, _, l in edges)
assert conns == 8, conns  # 9 records, the fe/be pair is one connection
def e(a, b):
    return [l for x, y, l in edges if (x, y) == (a, b)]
assert e(ng, mc) == ["tcp :11211\\n1 conn\\n50 B > / 70 B <\\nseen vmi"], e(ng, mc)
assert e(ng, api) == ["tcp :8080 (backend.svc)\\n1 conn\\n600 B > / 8000 B <\\nseen both"], e(ng, api)
assert len(e(ng, bs)) == 1
PY
"$COTRACK" graph --db "$DB" --by address >"$T_TMP/a.dot" 2>/dev/null
check "graph --by address: the address map" grep -q '"s 10.0.0.3 8080 tcp"' "$T_TMP/a.dot"
"$COTRACK" graph --db "$DB" --tracker old >"$T_TMP/o.dot" 2>/dev/null
check "graph: v1-only selection keeps the address map" grep -q '"c 10.9.0.1"' "$T_TMP/o.dot"

# the hosted shipper (host/ship.c) and its sealed spool carry v2 too
make_pki "$T_TMP/pki2" lg
PKI_SAVE=$PKI; PKI=$T_TMP/pki2; DB_SAVE=$DB; DB=$T_TMP/lg.sqlite
logd_start || { not_ok "logd starts (loadgen)"; t_end; }
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T_TMP/spool.key"
"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --pki "$PKI" --name lg --vm lgvm \
	--count 3000 --names 3 --spool "$T_TMP/lg.spool" \
	--spool-key "hex:$(cat "$T_TMP/spool.key")" --timeout 60 >"$T_TMP/lg.out" 2>&1
check "loadgen --names 3: every record acknowledged" test $? = 0
logd_stop
check "  1000 of 3000 stored with names" test "$(sql "SELECT count(*) FROM records WHERE src_comm LIKE 'client%' AND dst_name LIKE 'svc%.test'")|$(sql 'SELECT count(*) FROM records')" = "1000|3000"
"$COTRACK" verify --db "$DB" >"$T_TMP/lgv" 2>&1
check "  verify: the chain over them" test $? = 0
"$COTRACK" query --db "$DB" --by process --format csv >"$T_TMP/lgby" 2>&1
check "  --by process: 7 client workloads and the unnamed rest" test "$(grep -c '^lgvm/client' "$T_TMP/lgby")|$(grep '^lgvm/-,' "$T_TMP/lgby" | cut -d, -f2)" = "7|2000"
PKI=$PKI_SAVE; DB=$DB_SAVE

sql "UPDATE records SET src_comm='evil' WHERE src_comm='nginx' AND seq=6"
"$COTRACK" verify --db "$DB" >"$T_TMP/v2" 2>&1
check "verify catches an altered comm" test $? != 0 -a "$(grep -c 'seq 6 does not match' "$T_TMP/v2")" = 1
sql "UPDATE records SET src_comm='nginx', dst_name=NULL WHERE seq=6 AND src_comm='evil'"
"$COTRACK" verify --db "$DB" >"$T_TMP/v3" 2>&1
check "verify catches a removed name" test $? != 0 -a "$(grep -c 'seq 6 does not match' "$T_TMP/v3")" = 1
t_end
