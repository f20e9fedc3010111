# The readers on PostgreSQL (host/db): the same records stored by one
# logd in SQLite and by another in PostgreSQL (names_client.py's v1/v2
# batch and its v3 tunnel batch, byte-exact encodings, plus loadgen's
# records with lifetimes from 1 ms to 6 h for the window levels), then
# cotrack query (every format, --by, each filter, time windows), cotrack
# verify (clean, and a tampered record caught) and the IPFIX file give
# the same output from both, and so do cotrack graph (the workload map
# and the address map) and the console's API (flows by every filter and
# sort, the map, health).  A PostgreSQL URL in --db is never printed.
export LOGD_BACKEND=pg
source "$TOP/tests/lib.sh"
source "$TOP/tests/logd/logd-lib.sh"
need_bins
export TZ=UTC
make_pki "$PKI" t1 t2 t3
URL=$(db_arg)

# the same input into both stores: SQLite first, then PostgreSQL
feed() { # DB-ARG
	local out
	rm -f "$T_TMP/logd.port"
	"$COTRACK_LOGD" --db "$1" --pki "$PKI" --listen 127.0.0.1:0 \
		--port-file "$T_TMP/logd.port" >>"$T_TMP/logd.log" 2>&1 &
	LOGD_PID=$!
	for i in $(seq 100); do [ -s "$T_TMP/logd.port" ] && break; sleep 0.1; done
	LOGD_PORT=$(cat "$T_TMP/logd.port")
	out=$(timeout 30 python3 "$TOP/tests/logd/names_client.py" "$LOGD_PORT" "$PKI" t1 2>&1)
	grep -qx "ack 7" <<<"$out" || echo "# names batch: $out"
	out=$(timeout 30 python3 "$TOP/tests/logd/names_client.py" "$LOGD_PORT" "$PKI" t2 tunnels 2>&1)
	grep -q "^ack" <<<"$out" || echo "# tunnel batch: $out"
	logd_stop
}
feed "$T_TMP/lite.sqlite"
feed "$URL"
n_lite=$(sqlite3 "$T_TMP/lite.sqlite" 'SELECT count(*) FROM records')
check "both stores hold the same records ($n_lite)" \
	test "$n_lite" -gt 7 -a "$n_lite" = "$(sql 'SELECT count(*) FROM records')"

same() { # ARGS...: the two stores give the same output and status
	local a b ra rb
	a=$("$COTRACK" query --db "$T_TMP/lite.sqlite" "$@" 2>&1); ra=$?
	b=$("$COTRACK" query --db "$URL" "$@" 2>&1); rb=$?
	if [ "$a" = "$b" ] && [ $ra = $rb ]; then
		ok "query $*: the same from both (exit $ra, $(wc -l <<<"$a") lines)"
	else
		not_ok "query $*: differs (exit $ra / $rb)"
		diff <(echo "$a") <(echo "$b") | head -10 | sed 's/^/# /'
	fi
}
for f in json csv table; do same --format "$f"; done
for by in vm container process name; do same --by "$by" --format csv; done
same --vm fe --format csv
same --tracker t1 --format json
same --tracker t2 --format json
same --addr 10.0.0.2 --format csv
same --port 80 --format csv
same --proto udp --format csv
same --seen-by both --format csv
same --comm nginx --format csv
same --cgroup /be/api --format csv
same --name backend.svc --format csv
same --limit 3 --format csv
same --from 0 --format csv
same --from 2026-01-01T00:00:00Z --to now --format csv
same --from 0 --port 80 --by process --format csv
same --from 0 --vm fe --format csv
same --from 1767225600000000000 --to 1767225600000000000 --format csv

gsame() { # ARGS...: cotrack graph gives the same dot from both
	local a b ra rb
	a=$("$COTRACK" graph --db "$T_TMP/lite.sqlite" "$@" 2>&1); ra=$?
	b=$("$COTRACK" graph --db "$URL" "$@" 2>&1); rb=$?
	if [ "$a" = "$b" ] && [ $ra = $rb ] && [ $ra = 0 ]; then
		ok "graph $*: the same map from both ($(grep -c -- '->' <<<"$a") edges)"
	else
		not_ok "graph $*: differs (exit $ra / $rb)"
		diff <(echo "$a") <(echo "$b") | tail -4 | sed 's/^/# /'
	fi
}
gsame
gsame --by workload --from 0
gsame --by workload --vm fe
gsame --by workload --tracker t1 --proto tcp
gsame --by address
gsame --by address --from 0 --vm fe

# the console (--web) on both stores: the same JSON, byte for byte
webup() { # DB-ARG NAME: a logd with the console on $DB-ARG; prints its port
	local wp
	wp=$(free_port)
	"$COTRACK_LOGD" --db "$1" --pki "$PKI" --listen 127.0.0.1:0 --web "$wp" \
		--web-token "$T_TMP/$2.token" >"$T_TMP/$2.log" 2>&1 &
	echo "$! $wp"
}
read -r wl_pid wl_port < <(webup "$T_TMP/lite.sqlite" wl)
read -r wp_pid wp_port < <(webup "$URL" wp)
t_on_exit "kill $wl_pid $wp_pid 2>/dev/null"
for i in $(seq 100); do
	[ -s "$T_TMP/wl.token" ] && [ -s "$T_TMP/wp.token" ] &&
		grep -q "web console" "$T_TMP/wl.log" && grep -q "web console" "$T_TMP/wp.log" && break
	sleep 0.1
done
api() { # lite|pg PATH: the API's answer
	if [ "$1" = lite ]; then
		curl -sk -H "Authorization: Bearer $(cat "$T_TMP/wl.token")" "https://127.0.0.1:$wl_port$2"
	else
		curl -sk -H "Authorization: Bearer $(cat "$T_TMP/wp.token")" "https://127.0.0.1:$wp_port$2"
	fi
}
wsame() { # PATH [JQ]: the same answer from both (through JQ, default .)
	local a b
	a=$(api lite "$1" | jq -cS "${2:-.}"); b=$(api pg "$1" | jq -cS "${2:-.}")
	if [ -n "$a" ] && [ "$a" != null ] && [ "$a" = "$b" ]; then
		ok "console $1: the same from both (${#a} bytes)"
	else
		not_ok "console $1: differs"
		diff <(echo "$a" | jq .) <(echo "$b" | jq .) | head -10 | sed 's/^/# /'
	fi
}
api lite /api/graph >"$T_TMP/wg.json"
check "the console's map has nodes and edges" \
	test "$(jq '(.nodes | length) > 2 and (.edges | length) > 1' "$T_TMP/wg.json")" = true
# a node of each kind: a workload, a name, an address; an edge's two ends
kind() { jq -r --arg k "$1" '[.nodes[].id | select(startswith($k))][0] // "" | @uri' "$T_TMP/wg.json"; }
nw=$(kind w) nn=$(kind n) na=$(kind a)
n1=$(jq -r '.edges[0].source | @uri' "$T_TMP/wg.json")
n2=$(jq -r '.edges[0].target | @uri' "$T_TMP/wg.json")
check "a node of each kind to filter by" test -n "$nw" -a -n "$nn" -a -n "$na" -a -n "$n1"
for q in "" "?sort=vm" "?sort=vm&dir=desc" "?sort=tracker&dir=desc" \
	"?sort=bytes_fwd&dir=desc" "?sort=src" "?sort=dport&dir=desc" "?q=nginx" \
	"?q=NGINX" "?q=be%2F" "?vm=fe" "?addr=10.0.0.2" "?port=80" "?proto=udp" \
	"?seen=both" "?tracker=t2" "?limit=2&offset=3" "?from=0&to=9000000000000000000" \
	"?from=1767225600000000000&vm=fe" "?node=$nw" "?node=$nn" "?node=$na" "?node=$n2&peer=$n1"; do
	wsame "/api/flows$q" 'del(.rows[].stored_ns)' # when each logd stored it
done
for q in "" "?proto=tcp" "?vm=fe" "?tracker=t1" "?port=80" "?hide=$nw" \
	"?from=0&to=9000000000000000000" "?addr=10.0.0.2" "?q=nginx"; do
	wsame "/api/graph$q"
done
wsame /api/health '[.records, .events, [.trackers[] | [.tracker, .epoch, .last_seq, .gaps, .anomalies]]]'
check "the node filter selects records on PostgreSQL" \
	test "$(api pg "/api/flows?node=$nw" | jq .total)" -gt 0 -a "$(api pg "/api/flows?node=$nn" | jq .total)" -gt 0
kill "$wl_pid" "$wp_pid" 2>/dev/null
wait "$wl_pid" "$wp_pid" 2>/dev/null
check "no sanitizer report from either console" \
	test "$(cat "$T_TMP/wl.log" "$T_TMP/wp.log" | grep -c Sanitizer)" = 0

# a window over records with lifetimes of every level (PostgreSQL only:
# loadgen's records carry the time they are made), and hostile ones
logd_start || not_ok "logd on PostgreSQL starts again"
"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --pki "$PKI" --name t3 \
	--count 3000 --spread 6h --timeout 30 >"$T_TMP/g" 2>&1
check "loadgen's 3000 records with spread lifetimes stored" grep -q "^result complete" "$T_TMP/g"
logd_stop
w() { "$COTRACK" query --db "$URL" --tracker t3 --format csv "$@" 2>&1 | tail -n +2 | wc -l; }
n_all=$(w --from 0)
check "window from 0: all 3000" test "$n_all" = 3000
# the same window by plain SQL on the columns (overlap), no levels
for age in 600 3600 10800; do
	from=$(( $(date +%s) * 1000000000 - age * 1000000000 ))
	want=$(sql "SELECT count(*) FROM records r JOIN streams s ON s.id = r.stream WHERE s.tracker = 't3' AND r.last_ns >= $from")
	got=$(w --from "$from")
	check "window of the last $age s: $got records, as the plain overlap ($want)" test "$got" = "$want"
done
# hostile lifetimes: a record ending before it begins, or at the far end
sql "UPDATE records SET first_ns = 9223372036854775807, last_ns = -9223372036854775808 WHERE seq = 1 AND stream = (SELECT id FROM streams WHERE tracker = 't3')" >/dev/null
check "a window over a record with an impossible lifetime answers (no overflow error)" \
	sh -c "'$COTRACK' query --db '$URL' --from 0 --format csv >/dev/null 2>&1"

"$COTRACK" verify --db "$URL" >"$T_TMP/vp" 2>&1
rp=$?
"$COTRACK" verify --db "$T_TMP/lite.sqlite" >"$T_TMP/vl" 2>&1
check "verify on PostgreSQL finds the altered record (exit $rp)" sh -c "[ $rp = 1 ] && grep -q 'seq 1 does not match its chain hash' '$T_TMP/vp'"
check "verify on SQLite: the same records, clean" grep -q "OK$" "$T_TMP/vl"
check "verify reports t1's stream the same way from both" \
	test "$(grep 'tracker t1' "$T_TMP/vl")" = "$(grep 'tracker t1' "$T_TMP/vp")"

"$COTRACK" query --db "$T_TMP/lite.sqlite" --tracker t1 --format ipfix -o "$T_TMP/a.ipfix" 2>/dev/null
"$COTRACK" query --db "$URL" --tracker t1 --format ipfix -o "$T_TMP/b.ipfix" 2>/dev/null
check "the IPFIX files of t1 are the same size from both" \
	test -s "$T_TMP/a.ipfix" -a "$(stat -c %s "$T_TMP/a.ipfix")" = "$(stat -c %s "$T_TMP/b.ipfix")"

"$COTRACK" query --db "${URL/@/:hunter2@}x" --format csv >"$T_TMP/bad" 2>&1
rc=$?
check "a database that does not exist: an error, exit $rc, the URL's password not printed" \
	sh -c "[ $rc = 1 ] && ! grep -q hunter2 '$T_TMP/bad' && grep -q PostgreSQL '$T_TMP/bad'"
"$COTRACK" verify --db "postgresql://nobody@/nosuchdb?host=$T_TMP" >"$T_TMP/bad" 2>&1
check "verify: an unreachable database is exit 3" test $? = 3
"$COTRACK" query --db "$URL" --explain >"$T_TMP/bad" 2>&1
check "--explain on PostgreSQL: refused, said why" grep -q "SQLite databases only" "$T_TMP/bad"
t_end
