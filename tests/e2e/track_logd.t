# The whole path of issue 5 from a real tracker: cotrackd tracks the
# two-VM service and ships every record over TLS 1.3 (mutual auth, sealed
# spool) to cotrack-logd, which stores them in SQLite.  What logd holds
# must be exactly what cotrackd wrote locally (same seq, same fields),
# its chain must verify, and query and graph must show the service.
source "$TOP/tests/lib.sh"
source "$TOP/tests/tools/service.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root for network namespaces and taps"
"$G/build.sh" >"$T_TMP/build.log" 2>&1 || { not_ok "guest/build.sh"; tail "$T_TMP/build.log"; t_end; }
t_on_exit svc_cleanup
"$COTRACK" pki init "$T_TMP/pki" --tracker cotrackd-1 >"$T_TMP/pki.log" 2>&1
check "cotrack pki init" test -s "$T_TMP/pki/cotrackd-1.pem"
"$COTRACK_LOGD" --db "$T_TMP/db.sqlite" --pki "$T_TMP/pki" --listen 127.0.0.1:0 \
	--port-file "$T_TMP/port" 2>"$T_TMP/logd.log" &
lpid=$!
t_on_exit "kill $lpid"
for _ in $(seq 100); do [ -s "$T_TMP/port" ] && break; sleep 0.1; done
port=$(cat "$T_TMP/port")
check "cotrack-logd listening (port ${port:-none})" test -n "$port"
key=hex:$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
svc_start "$T_TMP/svc" "$COTRACKD" --log-server "127.0.0.1:$port" \
	--pki "$T_TMP/pki" --name cotrackd-1 --spool "$T_TMP/spool" --spool-key "$key" ||
	{ not_ok "cotrackd starts"; cat "$T_TMP/svc/cotrackd.log"; t_end; }
svc_boot || { not_ok "guests boot"; t_end; }
svc_client 50 >"$T_TMP/client.log"
check "50 requests answered" grep -q "client ok=50 fail=0" "$T_TMP/client.log"
sleep 0.5
svc_stop_daemon
check "cotrackd exits 0" test "$SVC_DRC" = 0
grep "^shipping:" "$SVC_DIR/cotrackd.log" | sed 's/^/# /'
n=$(wc -l <"$SVC_DIR/records.json")
check "shipping summary: all $n acknowledged, none waiting or dropped" \
	grep -q "^shipping: $n records, $n acknowledged by logd, 0 waiting, 0 dropped" "$SVC_DIR/cotrackd.log"
svc_stop_guests
"$COTRACK" query --db "$T_TMP/db.sqlite" --format json >"$T_TMP/q.json"
python3 - "$SVC_DIR/records.json" "$T_TMP/q.json" <<'PY'
import json, sys
local = {r["seq"]: r for r in map(json.loads, open(sys.argv[1]))}
stored = [json.loads(l) for l in open(sys.argv[2])]
byseq = {r["seq"]: r for r in stored}
def tap(ok, msg):
    print(("ok - " if ok else "not ok - ") + msg)
tap(len(stored) == len(byseq) == len(local), "logd holds %d records once each, cotrackd wrote %d" % (len(stored), len(local)))
keys = ["vm", "proto", "src", "sport", "dst", "dport", "first_ns", "last_ns", "pkts_fwd",
        "bytes_fwd", "pkts_rev", "bytes_rev", "tcp_state", "end", "seen_by"]
diff = [s for s, r in local.items() if s not in byseq or any(r[k] != byseq[s][k] for k in keys)]
tap(not diff, "every record identical in logd and the local file (%d differ)" % len(diff))
tap(sorted(byseq) == list(range(1, len(local) + 1)), "seq 1..%d without gaps" % len(local))
PY
if "$COTRACK" verify --db "$T_TMP/db.sqlite" >"$T_TMP/verify.out" 2>&1; then
	ok "cotrack verify: chains intact, no anomaly"
else
	not_ok "cotrack verify"; sed 's/^/# /' "$T_TMP/verify.out"
fi
nl=$("$COTRACK" query --db "$T_TMP/db.sqlite" --vm fe --port 6379 --seen-by vmi --format csv | tail -n +2 | wc -l)
check "query: 50 localhost cache connections, memory view only ($nl)" test "$nl" = 50
"$COTRACK" graph --db "$T_TMP/db.sqlite" --format dot -o "$T_TMP/map.dot"

"$COTRACK" graph --db "$T_TMP/db.sqlite" --format png -o "$T_TMP/map.png"
check "graph: a PNG picture" sh -c "head -c 8 '$T_TMP/map.png' | od -An -c | grep -q 'P   N   G'"
t_end
