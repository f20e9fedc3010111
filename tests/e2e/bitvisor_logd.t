# Issue 9 item 3: records from inside BitVisor to the real cotrack-logd,
# over BitVisor's own lwIP and mbedTLS (TLS 1.2, mutual authentication;
# logd --tls12-tracker).  BitVisor is built with a `cotrack pki`
# tracker certificate compiled in and its own address 10.0.0.3 on the
# physical side; logd listens on 10.0.0.1 in the test's namespace.  The
# guest serves N1 requests from the namespace, makes M to it and L to its
# own localhost; then logd is killed (SIGKILL), the same traffic again
# while it is down (the records wait in BitVisor's queue), logd starts
# again on the same database.  logd must then hold every record BitVisor
# wrote on its serial log, once, seq 1..n without gaps, `cotrack verify`
# clean, the 2x L localhost ones seen_by vmi, the ones to the guest both.
source "$TOP/tests/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root for network namespaces and taps"
TARBALL=${BITVISOR_TARBALL:-$TOP/../shared/third_party/bitvisor/bitvisor-66559d6.tar.gz}
[ -f "$TARBALL" ] || skip_all "no BitVisor tarball ($TARBALL)"
G=$TOP/guest
N=${BV_REQUESTS:-20} M=${BV_GUEST_REQUESTS:-5} L=${BV_LOCAL_REQUESTS:-5}
BV=$TOP/build/bitvisor-ship
PKI=$T_TMP/pki

"$G/build.sh" >"$T_TMP/build.log" 2>&1 || { not_ok "guest/build.sh"; tail "$T_TMP/build.log"; t_end; }
"$COTRACK" pki init "$PKI" --server-name 10.0.0.1 --tracker bvtest >"$T_TMP/pki.log" 2>&1
check "cotrack pki init" test -s "$PKI/bvtest.key"
t0=$(date +%s)
if ! BITVISOR_TARBALL=$TARBALL COT_BV_PKI=$PKI COT_BV_TRACKER=bvtest \
	COT_BV_LOGD=10.0.0.1:6514 COT_BV_IP=10.0.0.3/24 \
	"$TOP/tee/bitvisor/build.sh" "$BV" >"$T_TMP/bv-build.log" 2>&1; then
	not_ok "make bitvisor (shipping)"; tail -20 "$T_TMP/bv-build.log" | sed 's/^/# /'; t_end
fi
ok "bitvisor.elf with the shipper and bvtest's certificate ($(($(date +%s) - t0)) s)"

D=$T_TMP/bv
name=cotbvl-$$
"$G/bitvisor.sh" --dir "$D" --name "$name" --bitvisor "$BV" --timeout 600 \
	>"$T_TMP/bitvisor.out" 2>&1 &
BPID=$!
t_on_exit "kill $BPID; wait $BPID"
if ! "$G/ctl.sh" "$D" wait-ready 240; then
	not_ok "guest ready under BitVisor"
	tail -5 "$D/bitvisor.log" | tr -d '\r' | sed 's/^/# bitvisor | /'
	t_end
fi
ok "guest ready under BitVisor"
# shellcheck source=/dev/null
. "$D/guest.env"
NS=$COT_BV_NETNS GIP=$COT_BV_GUEST_IP HIP=$COT_BV_HOST_IP
DB=$T_TMP/db.sqlite
LPID=
logd_start() {
	ip netns exec "$NS" "$COTRACK_LOGD" --db "$DB" --pki "$PKI" --listen "$HIP:6514" \
		--tls12-tracker bvtest </dev/null >/dev/null 2>>"$T_TMP/logd.log" &
	LPID=$!
}
logd_start
t_on_exit 'kill $LPID'
bvlog() { tr -d '\r' <"$D/bitvisor.log"; }
wait_for() { # TRIES(0.5 s) CMD...
	local n=$1
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.5; done
	"$@"
}
connects() { bvlog | grep -c '^cotrack: ship: connected'; }
wait_for 60 sh -c "[ \$(tr -d '\r' <'$D/bitvisor.log' | grep -c '^cotrack: ship: connected') -ge 1 ]"
check "BitVisor connected to logd (TLS 1.2, its own IP)" test "$(connects)" -ge 1
bvlog | grep '^cotrack: ship' | head -5 | sed 's/^/# /'

mkdir -p "$T_TMP/www" && echo hello >"$T_TMP/www/index.html"
ip netns exec "$NS" python3 -m http.server 8080 --bind "$HIP" --directory "$T_TMP/www" \
	>"$T_TMP/www.log" 2>&1 &
WPID=$!
t_on_exit "kill $WPID"
wait_for 60 sh -c "tr -d '\r' <'$D/bitvisor.log' | grep -q '^cotrack: vmi: first scan'"
check "memory view up" sh -c "tr -d '\r' <'$D/bitvisor.log' | grep -q '^cotrack: vmi: first scan'"

traffic() { # ROUND
	ip netns exec "$NS" python3 "$TOP/tests/tools/httpclient.py" "$GIP:80" -n "$N" --timeout 10 \
		>>"$T_TMP/client.log"
	"$G/ctl.sh" "$D" cmd "get $HIP:8080/ $M" 120 >>"$T_TMP/get.log"
	"$G/ctl.sh" "$D" cmd "get 127.0.0.1:80/ $L" 120 >>"$T_TMP/get.log"
}
tcp_serial() { bvlog | grep -c '^cotrack-rec .*"proto":"tcp"'; }
db_count() {
	python3 -c 'import sqlite3,sys
try:
    print(sqlite3.connect(sys.argv[1]).execute("select count(*) from records").fetchone()[0])
except Exception:
    print(0)' "$DB"
}
R=$((N + M + L))
traffic 1
wait_for 60 sh -c "[ \$(tr -d '\r' <'$D/bitvisor.log' | grep -c '^cotrack-rec .*\"proto\":\"tcp\"') -ge $R ]"
all1=$(bvlog | grep -c '^cotrack-rec ')
wait_for 40 sh -c "[ \$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from records\").fetchone()[0])' '$DB' 2>/dev/null || echo 0) -ge $all1 ]"
check "round 1: logd holds all $all1 records BitVisor wrote ($(db_count))" test "$(db_count)" -ge "$all1"

kill -KILL "$LPID"
wait "$LPID" 2>/dev/null
ok "logd killed (SIGKILL)"
traffic 2
wait_for 60 sh -c "[ \$(tr -d '\r' <'$D/bitvisor.log' | grep -c '^cotrack-rec .*\"proto\":\"tcp\"') -ge $((2 * R)) ]"
held=$(db_count)
check "while logd is down nothing new arrives ($held = $all1)" test "$held" = "$all1"
sleep 1
logd_start
wait_for 60 sh -c "[ \$(tr -d '\r' <'$D/bitvisor.log' | grep -c '^cotrack: ship: connected') -ge 2 ]"
check "BitVisor reconnected after logd came back" test "$(connects)" -ge 2
all=$(bvlog | grep -c '^cotrack-rec ')
wait_for 60 sh -c "[ \$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from records\").fetchone()[0])' '$DB' 2>/dev/null || echo 0) -ge $all ]"
sleep 2
# a stats line after the last record (every 10 s at most)
"$G/ctl.sh" "$D" stop 30 >/dev/null 2>&1
wait "$BPID" 2>/dev/null
kill "$LPID" 2>/dev/null
wait "$LPID" 2>/dev/null
bvlog >"$T_TMP/bv.log"
grep '^cotrack: ship' "$T_TMP/bv.log" | tail -4 | sed 's/^/# /'
"$COTRACK" query --db "$DB" --format json >"$T_TMP/q.json"
python3 - "$T_TMP/bv.log" "$T_TMP/q.json" "$GIP" "$HIP" "$N" "$M" "$L" <<'PY'
import json, sys
bvlog, qf, gip, hip = sys.argv[1:5]
n, m, l = map(int, sys.argv[5:8])
serial = [json.loads(x.split(" ", 1)[1]) for x in open(bvlog) if x.startswith("cotrack-rec ")]
stored = [json.loads(x) for x in open(qf)]
def tap(ok, msg):
    print(("ok - " if ok else "not ok - ") + msg)
key = lambda r: (r["proto"], r["src"], r["sport"], r["dst"], r["dport"], r["first_ns"])
ks, kd = sorted(map(key, serial)), sorted(map(key, stored))
tap(len(stored) == len(serial) and ks == kd,
    "logd holds exactly the %d records of BitVisor's serial log (%d stored)" % (len(serial), len(stored)))
seqs = sorted(r["seq"] for r in stored)
tap(seqs == list(range(1, len(serial) + 1)), "seq 1..%d without gaps or duplicates" % len(serial))
tcp = [r for r in stored if r["proto"] == "tcp"]
inb = [r for r in tcp if r["src"] == hip and r["dst"] == gip and r["dport"] == 80]
out = [r for r in tcp if r["src"] == gip and r["dst"] == hip and r["dport"] == 8080]
lo = [r for r in tcp if r["src"] == "127.0.0.1" and r["dst"] == "127.0.0.1" and r["dport"] == 80]
tap(len(inb) == 2 * n, "%d of %d connections to the guest stored" % (len(inb), 2 * n))
tap(len(out) == 2 * m, "%d of %d guest connections out stored" % (len(out), 2 * m))
tap(len(lo) == 2 * l, "%d of %d localhost connections stored" % (len(lo), 2 * l))
tap(all(r["seen_by"] == "both" for r in inb), "connections to the guest seen_by both")
tap(all(r["seen_by"] in ("nic", "both") for r in out), "guest's own connections out seen_by nic or both")
tap(all(r["seen_by"] == "vmi" for r in lo), "localhost connections seen_by vmi")
tap(all(r["vm"] == "bv0" for r in stored), "vm bv0 on every record")
tap(not [r for r in tcp if r["dport"] == 6514 or r["sport"] == 6514], "the shipper's own TLS connection is not tracked")
PY
[ $? = 0 ] || T_FAILS=$((T_FAILS + 1))
if "$COTRACK" verify --db "$DB" >"$T_TMP/verify.out" 2>&1; then
	ok "cotrack verify: chain intact, no anomaly"
else
	not_ok "cotrack verify"; sed 's/^/# /' "$T_TMP/verify.out"
fi
tail -3 "$T_TMP/verify.out" | sed 's/^/# /'
st=$(grep '^cotrack: ship stats' "$T_TMP/bv.log" | tail -1)
case $st in *" dropped=0 "*) ok "no record dropped from BitVisor's queue" ;;
*) not_ok "no record dropped from BitVisor's queue (${st:-no stats line})" ;; esac
if [ "$T_FAILS" != 0 ]; then
	rm -rf "$O/bitvisor_logd.failed"
	mkdir -p "$O/bitvisor_logd.failed"
	cp "$T_TMP"/*.log "$T_TMP/q.json" "$D"/console.log "$D"/bitvisor.log "$O/bitvisor_logd.failed/" 2>/dev/null
	echo "# artifacts in $O/bitvisor_logd.failed"
fi
t_end
