# cotrack-logd --web: the console.  In a network namespace of its own
# (loopback only: neither logd nor chromium can reach anything else).
# Without the token everything answers 401 (every page, asset and API,
# a wrong token, cookie or bearer); the token file is made 0600 and a
# group-readable one is refused; bad parameters answer 400; no log line
# holds the secret.  Then a headless chromium (tests/logd/console.py)
# logs in and checks the map, a filter, hiding, paging, sorting and
# search against the database, and saves build/console.png.
# With LOGD_BACKEND=pg (pg_console.t) logd stores in PostgreSQL and the
# console reads it there.
if [ -z "${COT_CONSOLE_NETNS:-}" ]; then
	if unshare -n true 2>/dev/null; then
		COT_CONSOLE_NETNS=1 exec unshare -n -- bash "$0" "$@"
	fi
	echo "# skip: cannot make a network namespace (unshare -n)"
	exit 77
fi
source "$TOP/tests/lib.sh"
source "$TOP/tests/logd/logd-lib.sh"
ip link set lo up
need_bins
command -v curl >/dev/null || skip_all "curl not installed"
TOKEN=$DB.token
make_pki "$PKI" t1 t2

# a token file others may read is refused
umask 022
echo 0123456789abcdef0123456789abcdef >"$T_TMP/loose.token"
"$COTRACK_LOGD" --db "$DB" --pki "$PKI" --listen 127.0.0.1:0 --web 0 \
	--web-token "$T_TMP/loose.token" >"$T_TMP/loose.log" 2>&1 &
pid=$!
for i in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if kill -0 $pid 2>/dev/null; then kill $pid; wait $pid; rc=0; else wait $pid; rc=$?; fi
check "a token file readable by others is refused (exit $rc)" test "$rc" = 1
check "  saying why" grep -q "group or others" "$T_TMP/loose.log"

WPORT=$(free_port)
# on PostgreSQL the token file must be named (no database path to derive it)
WTOK=()
[ "$LOGD_BACKEND" = pg ] && WTOK=(--web-token "$TOKEN")
if [ "$LOGD_BACKEND" = pg ]; then
	"$COTRACK_LOGD" --db "$(db_arg)" --pki "$PKI" --listen 127.0.0.1:0 \
		--web 0 >"$T_TMP/notok.log" 2>&1
	rc=$?
	check "PostgreSQL without --web-token: usage error (exit $rc)" test "$rc" = 2
	check "  saying so" grep -q "needs --web-token FILE" "$T_TMP/notok.log"
fi
logd_start 0 --web "$WPORT" "${WTOK[@]}" -v || { not_ok "logd starts"; t_end; }
check "token file made with mode 0600" test "$(stat -c %a "$TOKEN")" = 600
SECRET=$(cat "$TOKEN")
check "token: 32 random bytes as hex" grep -Eqx '[0-9a-f]{64}' "$TOKEN"
check "logd says where the console is, and where the token" \
	grep -q "web console: https://127.0.0.1:$WPORT/ (token in $TOKEN)" "$T_TMP/logd.log"
U=https://127.0.0.1:$WPORT

for n in 1 2; do
	"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --pki "$PKI" --name t$n \
		--vm vm-$n --count $((300 * n)) --names 1 --timeout 30 >/dev/null 2>&1
done
check "records stored" test "$(sql 'SELECT count(*) FROM records')" = 900

# code URL [CURL ARGS...]: the HTTP status
code() { local u=$1; shift; curl -sk -o /dev/null -w '%{http_code}' "$@" "$u"; }
for p in / /index.html /app.js /style.css /api/graph /api/flows /api/health /nope "/api/flows?limit=1"; do
	check "no token: $p answers 401" test "$(code "$U$p")" = 401
done
# the secret with its last character changed
case $SECRET in *a) WRONG=${SECRET%?}b ;; *) WRONG=${SECRET%?}a ;; esac
check "wrong token at login: 401" test "$(code "$U/?token=$WRONG")" = 401
check "  and no cookie" test -z "$(curl -sk -D - -o /dev/null "$U/?token=wrong" | grep -i set-cookie)"
check "token of another length: 401" test "$(code "$U/?token=${SECRET}0")" = 401
check "wrong cookie: 401" test "$(code "$U/" -H "Cookie: cotrack_token=$WRONG")" = 401
check "wrong bearer: 401" test "$(code "$U/api/health" -H "Authorization: Bearer $WRONG")" = 401
check "bearer on a page (not the API): 401" test "$(code "$U/app.js" -H "Authorization: Bearer $SECRET")" = 401
check "token in the query of an API call: 401" test "$(code "$U/api/health?token=$SECRET")" = 401
check "POST with the token: 405" test "$(code "$U/api/health" -X POST -H "Authorization: Bearer $SECRET")" = 405

hdr=$(curl -sk -D - -o /dev/null "$U/?token=$SECRET")
check "login: 303 to /" grep -q "^HTTP/1.1 303" <<<"$hdr"
check "login: cookie HttpOnly; Secure; SameSite=Strict" \
	grep -qi "^set-cookie: cotrack_token=$SECRET; Path=/; HttpOnly; Secure; SameSite=Strict" <<<"$hdr"
check "the cookie opens the page" test "$(code "$U/" -H "Cookie: cotrack_token=$SECRET")" = 200
check "the cookie opens the API" test "$(code "$U/api/health" -H "Cookie: cotrack_token=$SECRET")" = 200
B=(-H "Authorization: Bearer $SECRET")
check "the bearer opens the API" test "$(code "$U/api/graph" "${B[@]}")" = 200
for bad in port=65536 port=-1 port=8x addr=10.0.0 addr=10.0.0.1x from=1e9 \
	to=-5 last=abc proto=sctp seen=all sort=hash dir=up limit=0 limit=1001 \
	offset=x bogus=1 "vm=$(printf 'x%.0s' $(seq 40))"; do
	check "bad parameter $bad: 400" test "$(code "$U/api/flows?$bad" "${B[@]}")" = 400
done
check "graph: bad max: 400" test "$(code "$U/api/graph?max=0" "${B[@]}")" = 400

# the API's numbers against the database
TAB=$'\t'
curl -sk "${B[@]}" "$U/api/flows?limit=1000&offset=0&sort=seq&dir=asc&vm=vm-2" >"$T_TMP/f.json"
check "flows: total of vm-2 as in the DB" test "$(jq .total "$T_TMP/f.json")" = "$(sql "SELECT count(*) FROM records WHERE vm='vm-2'")"
check "flows: every field of a record" test "$(jq -r '.rows[0] | [.seq, .vm, .src_comm, .src_cgroup, .dst_name, .bytes_fwd, .chain] | @tsv' "$T_TMP/f.json")" = \
	"$(sql "SELECT seq || '$TAB' || vm || '$TAB' || coalesce(src_comm, '') || '$TAB' || coalesce(src_cgroup, '') || '$TAB' || coalesce(dst_name, '') || '$TAB' || bytes_fwd || '$TAB' || 'verified' FROM records WHERE vm='vm-2' ORDER BY seq LIMIT 1")"
curl -sk "${B[@]}" "$U/api/graph" >"$T_TMP/g.json"
check "graph: connections add up to the records" test "$(jq '[.edges[].conns] | add' "$T_TMP/g.json")" = 900
check "graph: bytes each way add up" test "$(jq '[.edges[] | .bytes_fwd + .bytes_rev] | add' "$T_TMP/g.json")" = "$(sql 'SELECT sum(bytes_fwd + bytes_rev) FROM records')"
check "graph: seen_by adds up" test "$(jq '[.edges[].seen_by | .nic + .vmi + .both] | add' "$T_TMP/g.json")" = 900
check "graph: every node laid out" test "$(jq '[.nodes[] | select(.x == null)] | length' "$T_TMP/g.json")" = 0
check "graph: Grafana node-graph fields" test "$(jq '[.nodes[0] | has("id", "title", "subTitle", "mainStat", "secondaryStat")] + [.edges[0] | has("id", "source", "target", "mainStat", "secondaryStat")] | all' "$T_TMP/g.json")" = true
curl -sk "${B[@]}" "$U/api/health" >"$T_TMP/h.json"
check "health: one tracker per stream, last seq from the DB" test "$(jq -r '[.trackers[] | "\(.tracker) \(.last_seq)"] | join(",")' "$T_TMP/h.json")" = "t1 300,t2 600"
check "health: records per second over the last minute" test "$(jq '.records_per_s' "$T_TMP/h.json")" = 15

# a record whose guest-made strings are markup (inserted behind logd's
# back: the page must show them as text)
if [ "$LOGD_BACKEND" = pg ]; then ZEROS32="decode(repeat('00', 32), 'hex')"; else ZEROS32="zeroblob(32)"; fi
sql "INSERT INTO records(stream, seq, vm, proto, ipproto, seen_by, sport, dport, src, dst, first_ns, last_ns, pkts_fwd, bytes_fwd, pkts_rev, bytes_rev, stored_ns, hash, src_pid, src_comm, src_cgroup, dst_name) SELECT 1, 100000, 'vm-1', 1, 6, 1, 1234, 443, src, dst, first_ns, last_ns, 1, 1, 1, 1, stored_ns, $ZEROS32, 666, '<i>c</i>&amp;', '/\"><img src=x onerror=window.pwned=1>', '</script><script>window.pwned=3</script>' FROM records WHERE stream = 1 AND seq = 1"
check "a hostile record added" test "$(sql 'SELECT count(*) FROM records')" = 901

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && /usr/bin/python3 -c 'import selenium' 2>/dev/null; then
	mkdir -p "$TOP/build"
	[ "$LOGD_BACKEND" = pg ] && export CONSOLE_PG_DIR=$PGDIR PG_DB=$(db_name)
	timeout 180 /usr/bin/python3 "$TOP/tests/logd/console.py" "$U/" "$SECRET" "$DB" \
		"$TOP/build/console.png" "$T_TMP/chrome" 2>"$T_TMP/browser.err"
	rc=$?
	check "browser run ends cleanly (exit $rc)" test "$rc" = 0
	[ "$rc" = 0 ] || sed 's/^/# /' "$T_TMP/browser.err" | tail -20
	check "screenshot is a PNG" test "$(head -c 4 "$TOP/build/console.png" | tail -c 3)" = PNG
else
	not_ok "chromium, chromium-driver and python3-selenium are installed (scripts/debian-packages.txt)"
fi

if [ "$LOGD_BACKEND" = pg ]; then
	# PostgreSQL restarted under the console: each thread's connection is
	# lost once (503), then opened again
	"$PGSH" restart "$PGDIR" >/dev/null
	got=
	for i in $(seq 40); do
		got="$got $(code "$U/api/flows?limit=1" "${B[@]}")"
		case $got in *200) break ;; esac
		sleep 0.25
	done
	check "after a PostgreSQL restart the API answers again (${got# })" \
		sh -c "case '$got' in *200) exit 0 ;; esac; exit 1"
	# the other thread may still answer 503 once
	tot=
	for i in $(seq 10); do
		tot=$(curl -sk "${B[@]}" "$U/api/flows?limit=1" | jq .total)
		[ "$tot" = 901 ] && break
		sleep 0.25
	done
	check "  with the records of before ($tot)" test "$tot" = 901
	check "  logd said it opened the database again" grep -q "lost the database connection" "$T_TMP/logd.log"
fi

logd_stop
check "no log line holds the secret" test "$(grep -cF "$SECRET" "$T_TMP/logd.log")" = 0
check "no log line holds a login query" test "$(grep -c 'token=' "$T_TMP/logd.log")" = 0
check "logd stopped without sanitizer reports" test "$(grep -c 'Sanitizer' "$T_TMP/logd.log")" = 0
t_end
