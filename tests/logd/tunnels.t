# Record version 3 (tunnels) end to end: a batch mixing v3 records (a
# tunnel with or without names, an outer flow with inner_conns only) and
# a v1 one, encoded by an independent implementation (names_client.py
# tunnels: logd stores a record only when it is the canonical encoding);
# the database keeps the tunnel columns, query prints them, verify
# re-encodes every row to the same bytes and chain.
source "$TOP/tests/lib.sh"
source "$TOP/tests/logd/logd-lib.sh"
need_bins
export TZ=UTC
make_pki "$PKI" t1
logd_start || { not_ok "logd starts"; t_end; }
out=$(timeout 30 python3 "$TOP/tests/logd/names_client.py" "$LOGD_PORT" "$PKI" t1 tunnels 2>&1)
echo "$out" | sed 's/^/# /'
check "logd acknowledges the v3/v1 batch" grep -qx "ack 5" <<<"$out"
check "  of v3 encodings (197, or 202 with an owner) and one v1" grep -qx "sizes 197 197 197 202 140" <<<"$out"
logd_stop
check "tunnel columns stored (VNI 1 and 2, GRE key 42)" \
	test "$(sql "SELECT group_concat(tun_type || ':' || tun_id, ' ') FROM (SELECT * FROM records WHERE tun_type IS NOT NULL ORDER BY seq)")" = "1:1 1:2 3:42"
check "  NULL without a tunnel, inner_conns on the outer flow" \
	test "$(sql "SELECT count(*) FROM records WHERE tun_type IS NULL AND tun_src IS NULL")/$(sql "SELECT inner_conns FROM records WHERE seq=3")" = "2/2"
"$COTRACK" verify --db "$DB" >"$T_TMP/v" 2>&1
check "verify: v3 rows re-encode to their chain" test $? = 0
sed 's/^/# /' "$T_TMP/v"
"$COTRACK" query --db "$DB" --format json >"$T_TMP/q.json" 2>&1
check "query json: the tunnel fields" \
	grep -q '"src":"10.244.1.5".*"tunnel":"vxlan","tun_id":2,"tun_src":"192.0.2.1","tun_dst":"192.0.2.2"' "$T_TMP/q.json"
check "query json: inner_conns" grep -q '"dport":4789,.*"inner_conns":2}' "$T_TMP/q.json"
check "query json: none on the v1 record" \
	test "$(grep '"seq":5' "$T_TMP/q.json" | grep -c 'tun\|inner')" = 0
"$COTRACK" query --db "$DB" --format csv >"$T_TMP/q.csv" 2>&1
check "query csv: tunnel columns" grep -q ',gre,42,198.51.100.1,198.51.100.2,$' "$T_TMP/q.csv"
# Tamper with one tunnel column: verify must catch it.
sql "UPDATE records SET tun_id = 3 WHERE seq = 2"
"$COTRACK" verify --db "$DB" >"$T_TMP/v2" 2>&1
check "verify catches a changed VNI" test $? != 0
t_end
