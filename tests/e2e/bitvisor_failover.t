# Issue 15 item 2 inside BitVisor: the shipper in BitVisor (lwIP +
# mbedTLS, TLS 1.2) with a list of two log servers, A = 10.0.0.1:6514
# and B = 10.0.0.4:6514, each with a store of its own and a certificate
# naming its own address.  Under QEMU TCG as tests/e2e/bitvisor_logd.t.
#
# 1. A is down and B presents A's certificate (which does not name
#    10.0.0.4): BitVisor must refuse B (its certificate check; lwIP's
#    altcp_tls alone would accept it) and send it nothing.
# 2. A and B up with their own certificates: BitVisor connects to A.
#    Traffic; A is SIGKILLed while the next round's records are being
#    made; the rest go to B.  Then every record BitVisor wrote on its
#    serial log is in A or B, each seq once per store; a seq in both
#    (stored by A, not acknowledged before the kill) is the same record;
#    B's chain continues from A's: B records one gap, for seqs A holds
#    only, and `cotrack verify` says nothing else; A's store is clean.
# 3. A comes back on its store and B is stopped (SIGSTOP: its TCP stays
#    open, nothing is acknowledged): BitVisor leaves B after its ACK
#    timeout (COT_BV_ACK_TIMEOUT_MS=5000 in this build) and goes on with
#    A, which records one gap, for what B holds; B resumed commits what
#    it had read, the same records; the union is still every seq.
# Checks are on counts and contents, never on how fast the machine is;
# every wait is bounded.
source "$TOP/tests/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root for network namespaces and taps"
TARBALL=${BITVISOR_TARBALL:-$TOP/../shared/third_party/bitvisor/bitvisor-66559d6.tar.gz}
[ -f "$TARBALL" ] || skip_all "no BitVisor tarball ($TARBALL)"
command -v sqlite3 >/dev/null || skip_all "no sqlite3"
command -v openssl >/dev/null || skip_all "no openssl"
G=$TOP/guest
N=${BV_REQUESTS:-20} M=${BV_GUEST_REQUESTS:-5} L=${BV_LOCAL_REQUESTS:-5}
BV=$TOP/build/bitvisor-failover
PKI=$T_TMP/pki
AIP=10.0.0.1 BIP=10.0.0.4

"$G/build.sh" >"$T_TMP/build.log" 2>&1 || { not_ok "guest/build.sh"; tail "$T_TMP/build.log"; t_end; }
"$COTRACK" pki init "$PKI" --server-name $AIP --tracker bvtest >"$T_TMP/pki.log" 2>&1
# B's own certificate, from the same CA, naming only 10.0.0.4, as an
# iPAddress (cotrack pki's server certificate names 10.0.0.1 as a
# dNSName: both forms are checked)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$PKI/b.key" -subj "/CN=$BIP" -out "$T_TMP/b.csr" >"$T_TMP/openssl.log" 2>&1
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:%s\n' \
	$BIP >"$T_TMP/b.ext"
openssl x509 -req -in "$T_TMP/b.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" \
	-CAcreateserial -days 30 -sha256 -extfile "$T_TMP/b.ext" -out "$PKI/b.pem" >>"$T_TMP/openssl.log" 2>&1
chmod 600 "$PKI/b.key"
check "PKI: A's certificate (names $AIP), B's (names $BIP only)" \
	sh -c "openssl x509 -in '$PKI/b.pem' -noout -ext subjectAltName | grep -q 'IP Address:$BIP' &&
		openssl x509 -in '$PKI/server.pem' -noout -ext subjectAltName | grep -q '$AIP' &&
		! openssl x509 -in '$PKI/server.pem' -noout -ext subjectAltName | grep -q '$BIP'"
t0=$(date +%s)
if ! BITVISOR_TARBALL=$TARBALL COT_BV_PKI=$PKI COT_BV_TRACKER=bvtest \
	COT_BV_LOGD=$AIP:6514,$BIP:6514 COT_BV_IP=10.0.0.3/24 COT_BV_ACK_TIMEOUT_MS=5000 \
	"$TOP/tee/bitvisor/build.sh" "$BV" >"$T_TMP/bv-build.log" 2>&1; then
	not_ok "make bitvisor (two log servers)"; tail -20 "$T_TMP/bv-build.log" | sed 's/^/# /'; t_end
fi
ok "bitvisor.elf with the list $AIP:6514,$BIP:6514 ($(($(date +%s) - t0)) s)"
# a bad list is refused by the build, with the reason
for bad in "$AIP:6514," "$AIP" "host.example:6514" "$AIP:0" \
	"$(printf '10.0.0.1:1,%.0s' $(seq 8))10.0.0.1:2"; do
	BITVISOR_TARBALL=$TARBALL COT_BV_PKI=$PKI COT_BV_TRACKER=bvtest COT_BV_LOGD=$bad \
		"$TOP/tee/bitvisor/build.sh" "$BV" >"$T_TMP/bad.log" 2>&1
	rc=$?
	check "COT_BV_LOGD='${bad:0:30}': build refused (exit $rc), says why" \
		sh -c "[ $rc != 0 ] && grep -q 'COT_BV_LOGD' '$T_TMP/bad.log'"
done

D=$T_TMP/bv
name=cotbvf-$$
"$G/bitvisor.sh" --dir "$D" --name "$name" --bitvisor "$BV" --timeout 900 \
	>"$T_TMP/bitvisor.out" 2>&1 &
BPID=$!
t_on_exit "kill $BPID; wait $BPID"
if ! "$G/ctl.sh" "$D" wait-ready 300; then
	not_ok "guest ready under BitVisor"
	tail -5 "$D/bitvisor.log" | tr -d '\r' | sed 's/^/# bitvisor | /'
	t_end
fi
ok "guest ready under BitVisor"
# shellcheck source=/dev/null
. "$D/guest.env"
NS=$COT_BV_NETNS GIP=$COT_BV_GUEST_IP HIP=$COT_BV_HOST_IP
ip -n "$NS" addr add $BIP/24 dev "$COT_BV_TAP"
bvlog() { tr -d '\r' <"$D/bitvisor.log"; }
wait_for() { # TRIES(0.5 s) CMD...
	local n=$1
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.5; done
	"$@"
}
# logd_on NAME IP CERT: logd for NAME on IP:6514, store $T_TMP/NAME.sqlite
logd_on() {
	ip netns exec "$NS" "$COTRACK_LOGD" --db "$T_TMP/$1.sqlite" --ca "$PKI/ca.pem" \
		--cert "$PKI/$3.pem" --key "$PKI/$3.key" --listen "$2:6514" \
		--tls12-tracker bvtest </dev/null >/dev/null 2>>"$T_TMP/logd-$1.log" &
	eval "PID_$1=$!"
	t_on_exit "kill -KILL $! 2>/dev/null"
}
q() { sqlite3 -batch "$T_TMP/$1.sqlite" "$2" 2>/dev/null; }
nrec() { local n; n=$(q "$1" "SELECT count(*) FROM records"); echo "${n:-0}"; }
has() { bvlog | grep -q "$1"; }

# 1. A down, B with A's certificate: refused, nothing sent
logd_on Bwrong $BIP server
wait_for 120 has "^cotrack: ship: logd $BIP:6514: certificate does not name $BIP"
check "B presenting a certificate for $AIP only is refused" \
	has "^cotrack: ship: logd $BIP:6514: certificate does not name $BIP"
bvlog | grep '^cotrack: ship' | head -6 | sed 's/^/# /'
check "  and sent nothing: no stream in B's store" \
	test "$(q Bwrong 'SELECT count(*) FROM streams')" = 0
check "  BitVisor never connected" sh -c "! tr -d '\r' <'$D/bitvisor.log' | grep -q '^cotrack: ship: connected'"
kill -KILL "$PID_Bwrong"
wait "$PID_Bwrong" 2>/dev/null

# 2. A and B with their own certificates: on A, A killed, on to B.  B
# starts once BitVisor is on A: every round begins with A, but while B
# alone were up, an attempt at A could fail just before A listens and
# the same round go on to B.
logd_on A $AIP server
wait_for 120 has "^cotrack: ship: connected to $AIP:6514"
check "BitVisor connected to A ($AIP:6514) after the failed round" has "^cotrack: ship: connected to $AIP:6514"
logd_on B $BIP b

mkdir -p "$T_TMP/www" && echo hello >"$T_TMP/www/index.html"
ip netns exec "$NS" python3 -m http.server 8080 --bind "$HIP" --directory "$T_TMP/www" \
	>"$T_TMP/www.log" 2>&1 &
WPID=$!
t_on_exit "kill $WPID"
wait_for 60 has '^cotrack: vmi: first scan'
traffic() {
	ip netns exec "$NS" python3 "$TOP/tests/tools/httpclient.py" "$GIP:80" -n "$N" --timeout 10 \
		>>"$T_TMP/client.log"
	"$G/ctl.sh" "$D" cmd "get $HIP:8080/ $M" 120 >>"$T_TMP/get.log"
	"$G/ctl.sh" "$D" cmd "get 127.0.0.1:80/ $L" 120 >>"$T_TMP/get.log"
}
serial() { bvlog | grep -c '^cotrack-rec '; }
R=$((N + M + L))
traffic
wait_for 60 sh -c "[ \$(tr -d '\r' <'$D/bitvisor.log' | grep -c '^cotrack-rec .*\"proto\":\"tcp\"') -ge $R ]"
s1=$(serial)
wait_for 60 sh -c "[ \$(sqlite3 -batch '$T_TMP/A.sqlite' 'SELECT count(*) FROM records' 2>/dev/null || echo 0) -ge $s1 ]"
check "round 1: A holds the $s1 records BitVisor wrote ($(nrec A))" test "$(nrec A)" -ge "$s1"
check "  B nothing yet" test "$(nrec B)" = 0

# round 2 in the background; A killed once its records are being made
traffic &
TPID=$!
wait_for 120 sh -c "[ \$(tr -d '\r' <'$D/bitvisor.log' | grep -c '^cotrack-rec ') -ge $((s1 + 5)) ]"
kill -KILL "$PID_A"
wait "$PID_A" 2>/dev/null
ok "A killed (SIGKILL) at $(serial) records written, $(nrec A) stored by A"
wait $TPID
wait_for 60 sh -c "[ \$(tr -d '\r' <'$D/bitvisor.log' | grep -c '^cotrack-rec .*\"proto\":\"tcp\"') -ge $((2 * R)) ]"
wait_for 120 has "^cotrack: ship: connected to $BIP:6514"
check "BitVisor moved to B" has "^cotrack: ship: connected to $BIP:6514"
check "  and said why it left A" has "^cotrack: ship: logd $AIP:6514: .*; switching to $BIP:6514"
amax=$(q A "SELECT max(seq) FROM records")
# everything after what A holds must reach B (bounded: 60 s), then the
# serial log and the stores stand still until the next round
settled() { # STORE: it holds the last seq on the serial log
	local n
	n=$(serial)
	[ "$(q "$1" 'SELECT max(seq) FROM records')" = "$n" ] && sleep 2 && [ "$(serial)" = "$n" ]
}
wait_for 120 settled B
all=$(serial)
bmin=$(q B "SELECT min(seq) FROM records")
bmax=$(q B "SELECT max(seq) FROM records")
echo "# serial $all records; A holds 1..$amax ($(nrec A)), B $bmin..$bmax ($(nrec B))"
check "B begins no later than A's last + 1 (B from $bmin, A to $amax)" \
	test -n "$bmin" -a "${bmin:-0}" -le $((amax + 1))
check "  and B goes on to the last record written ($bmax = $all)" test "${bmax:-0}" = "$all"
# union STORE1 STORE2 N: every seq 1..N in one of them, a seq in both the
# same record, one stream each
union() {
	sqlite3 -batch "$T_TMP/$2.sqlite" "ATTACH '$T_TMP/$1.sqlite' AS a;
		SELECT count(*) FROM (SELECT seq FROM records UNION SELECT seq FROM a.records);
		SELECT count(*) FROM records b JOIN a.records x USING (stream, seq);
		SELECT count(*) FROM records b JOIN a.records x USING (stream, seq) WHERE b.hash != x.hash;
		SELECT count(*) FROM streams;
		SELECT count(*) FROM a.streams;" >"$T_TMP/u"
	check "every seq 1..$3 is in $1 or $2 ($(sed -n 1p "$T_TMP/u"))" test "$(sed -n 1p "$T_TMP/u")" = "$3"
	check "  a seq in both ($(sed -n 2p "$T_TMP/u"): stored, not acknowledged) is the same record" \
		test "$(sed -n 3p "$T_TMP/u")" = 0
	check "  one stream in each store" test "$(sed -n 4p "$T_TMP/u")$(sed -n 5p "$T_TMP/u")" = 11
}
union A B "$all"
check "B records one gap, 1..$((bmin - 1)), within what A holds" \
	test "$(q B "SELECT count(*) FROM events WHERE kind = 'gap'")" = 1 -a \
	"$(q B "SELECT count(*) FROM events WHERE kind = 'gap' AND seq_first = 1 AND seq_last = $((bmin - 1))")" = 1 -a \
	$((bmin - 1)) -le "${amax:-0}"
"$COTRACK" verify --db "$T_TMP/B.sqlite" >"$T_TMP/vb" 2>&1
check "  verify on B: its chain links from there, the gap said" grep -q "gap, seq 1..$((bmin - 1)) missing" "$T_TMP/vb"
check "  and nothing else wrong" grep -q "^1 chain problems, 1 anomalies" "$T_TMP/vb"
tail -2 "$T_TMP/vb" | sed 's/^/# /'
if "$COTRACK" verify --db "$T_TMP/A.sqlite" >"$T_TMP/va" 2>&1; then
	ok "verify on A: chain intact, no anomaly"
else
	not_ok "verify on A"; tail -3 "$T_TMP/va" | sed 's/^/# /'
fi

# 3. B stopped (SIGSTOP), not killed, A back on its store: BitVisor's
# batches to B go unacknowledged; after COT_BV_ACK_TIMEOUT_MS (5 s in
# this build) it leaves B for A, which records a gap for what B holds
logd_on A $AIP server
kill -STOP "$PID_B"
traffic
wait_for 120 has "^cotrack: ship: logd $BIP:6514: no acknowledgement; switching to $AIP:6514"
check "B stopped: BitVisor leaves it after the ACK timeout, for A" \
	has "^cotrack: ship: logd $BIP:6514: no acknowledgement; switching to $AIP:6514"
wait_for 60 sh -c "[ \$(tr -d '\r' <'$D/bitvisor.log' | grep -c '^cotrack-rec .*\"proto\":\"tcp\"') -ge $((3 * R)) ]"
wait_for 120 settled A
kill -CONT "$PID_B"
# B commits what it had read before the stop; wait until it stays put
prev=-1
for _ in $(seq 20); do
	n=$(nrec B)
	[ "$n" = "$prev" ] && break
	prev=$n
	sleep 0.5
done
# a stats line from after the move (one every 10 s)
last_stats_on_a() { bvlog | grep '^cotrack: ship stats' | tail -1 | grep -q " server=$AIP:6514"; }
wait_for 60 last_stats_on_a
"$G/ctl.sh" "$D" stop 30 >/dev/null 2>&1
wait "$BPID" 2>/dev/null
for p in "$PID_A" "$PID_B"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
bvlog >"$T_TMP/bv.log"
grep '^cotrack: ship' "$T_TMP/bv.log" | tail -5 | sed 's/^/# /'
all3=$(grep -c '^cotrack-rec ' "$T_TMP/bv.log")
a3min=$(q A "SELECT min(seq) FROM records WHERE seq > $amax")
echo "# serial $all3 records; A 1..$amax then $a3min..$(q A 'SELECT max(seq) FROM records'), B $bmin..$(q B 'SELECT max(seq) FROM records')"
check "A takes the stream on after B's part (from $a3min, B reached $bmax)" \
	test -n "$a3min" -a "${a3min:-0}" -gt "$bmax"
check "  to the last record written" test "$(q A 'SELECT max(seq) FROM records')" = "$all3"
union A B "$all3"
check "A records one gap, $((amax + 1))..$((a3min - 1)), within what B holds" \
	test "$(q A "SELECT count(*) FROM events WHERE kind = 'gap'")" = 1 -a \
	"$(q A "SELECT count(*) FROM events WHERE kind = 'gap' AND seq_first = $((amax + 1)) AND seq_last = $((a3min - 1))")" = 1 -a \
	$((a3min - 1)) -le "$(q B 'SELECT max(seq) FROM records')"
# the serial log's records are exactly the union's (by connection)
"$COTRACK" query --db "$T_TMP/A.sqlite" --format json >"$T_TMP/qa.json"
"$COTRACK" query --db "$T_TMP/B.sqlite" --format json >"$T_TMP/qb.json"
python3 - "$T_TMP/bv.log" "$T_TMP/qa.json" "$T_TMP/qb.json" <<'PY'
import json, sys
serial = [json.loads(x.split(" ", 1)[1]) for x in open(sys.argv[1]) if x.startswith("cotrack-rec ")]
by = {}
for f in sys.argv[2:]:
    for x in open(f):
        r = json.loads(x)
        by.setdefault(r["seq"], r)
key = lambda r: (r["proto"], r["src"], r["sport"], r["dst"], r["dport"], r["first_ns"])
ok = sorted(map(key, serial)) == sorted(map(key, by.values()))
print(("ok - " if ok else "not ok - ") +
      "A and B together hold exactly the %d records of BitVisor's serial log (%d)" % (len(serial), len(by)))
PY
[ $? = 0 ] || T_FAILS=$((T_FAILS + 1))
st=$(grep '^cotrack: ship stats' "$T_TMP/bv.log" | tail -1)
case $st in *" dropped=0 "*" server=$AIP:6514"*) ok "no record dropped; the last stats say server=$AIP:6514" ;;
*) not_ok "no record dropped, on A at the end (${st:-no stats line})" ;; esac
case $st in *" cert_failures=0 "*) not_ok "stats count the refused certificate ($st)" ;;
*) ok "stats count the refused certificate" ;; esac
if [ "$T_FAILS" != 0 ]; then
	rm -rf "$O/bitvisor_failover.failed"
	mkdir -p "$O/bitvisor_failover.failed"
	cp "$T_TMP"/*.log "$T_TMP"/*.json "$D"/console.log "$D"/bitvisor.log "$O/bitvisor_failover.failed/" 2>/dev/null
	echo "# artifacts in $O/bitvisor_failover.failed"
fi
t_end
