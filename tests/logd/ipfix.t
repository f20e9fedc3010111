# IPFIX export (issue 13, item 2): cotrack-logd --ipfix sends every
# committed record, once, as an RFC 5103 biflow. Debian's nfcapd
# receives it over UDP, and nfdump lists the same connections as
# cotrack query, with the same packets and bytes both ways. tshark
# decodes the capture without an error. A restarted logd sends only
# what is new. Over TCP the stream is a valid IPFIX file for
# libfixbuf's ipfixDump. cotrack query --format ipfix writes one too.
# Loopback only.
source "$TOP/tests/lib.sh"
source "$TOP/tests/logd/logd-lib.sh"
need_bins
for b in nfcapd nfdump ipfixDump tshark tcpdump socat ss; do
	command -v "$b" >/dev/null || { not_ok "$b is missing (scripts/setup installs it)"; t_end; }
done
make_pki "$PKI" t1
udp_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
npid= cpid= spid=
stop_bg() {
	for p in $npid $cpid $spid; do kill -TERM "$p" 2>/dev/null; done
	for p in $npid $cpid $spid; do wait "$p" 2>/dev/null; done
	npid= cpid= spid=
}
t_on_exit stop_bg

# nfcapd_start DIR: a collector on a free UDP port (sets NF_PORT, npid)
nfcapd_start() {
	NF_PORT=$(udp_port)
	mkdir -p "$1"
	nfcapd -b 127.0.0.1 -p "$NF_PORT" -w "$1" -t 3600 >>"$T_TMP/nfcapd.log" 2>&1 &
	npid=$!
	for _ in $(seq 50); do
		ss -u -l -n "sport = :$NF_PORT" | grep -q "$NF_PORT" && return 0
		sleep 0.1
	done
	return 1
}
# nfcapd_stop: once it has read every datagram (its receive queue is
# empty, bounded by 10 s), stop it so that it writes its file
nfcapd_stop() {
	for _ in $(seq 100); do
		[ "$(ss -u -l -n "sport = :$NF_PORT" | awk 'NR > 1 {print $2}')" = 0 ] && break
		sleep 0.1
	done
	kill -TERM "$npid"
	wait "$npid"
	npid=
}
# what nfdump lists, one line per flow, sorted: addresses, ports,
# protocol number, packets and bytes each way
nf_flows() {
	nfdump -R "$1" -q -N -o 'fmt:%sa|%sp|%da|%dp|%pr|%ipkt|%ibyt|%opkt|%obyt' |
		tr -d ' ' | sort
}
# the same from the database (protocol numbers: nfdump prints those)
db_flows() {
	"$COTRACK" query --db "$DB" --format json "$@" |
		jq -r '[.src, (.sport|tostring), .dst, (.dport|tostring), .proto, (.pkts_fwd|tostring), (.bytes_fwd|tostring), (.pkts_rev|tostring), (.bytes_rev|tostring)] | join("|")' |
		sed 's/|tcp|/|6|/; s/|udp|/|17|/; s/|icmp|/|1|/; s/|icmp6|/|58|/' | sort
}

N=3000
nfcapd_start "$T_TMP/nf1" || { not_ok "nfcapd listens"; t_end; }
tcpdump -i lo -U -w "$T_TMP/cap.pcap" "udp port $NF_PORT" >/dev/null 2>"$T_TMP/tcpdump.err" &
cpid=$!
# tcpdump says "listening on" once its capture runs (bounded: 10 s)
for _ in $(seq 100); do grep -q 'listening on' "$T_TMP/tcpdump.err" && break; sleep 0.1; done
check "tcpdump captures" grep -q 'listening on' "$T_TMP/tcpdump.err"
logd_start 0 --ipfix "127.0.0.1:$NF_PORT" || { not_ok "logd starts with --ipfix"; t_end; }
ok "logd starts with --ipfix 127.0.0.1:$NF_PORT"
"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --pki "$PKI" --name t1 --vm vm-a \
	--count $N --timeout 60 >"$T_TMP/g1.out" 2>&1
check "loadgen: $N records acknowledged" test $? = 0
logd_stop TERM
nfcapd_stop
# tcpdump loses what it has not read yet when it is stopped: leave it
# running until tshark finds every data record in its file (it catches
# up however slowly it is scheduled; one look a second, at most 60)
tdec() {
	tshark -r "$T_TMP/cap.pcap" -d "udp.port==$NF_PORT,cflow" -T fields \
		-e cflow.srcaddr 2>/dev/null | tr ',' '\n' | grep -c .
}
for _ in $(seq 60); do
	[ "$(tdec)" = $N ] && break
	sleep 1
done
kill -TERM "$cpid"; wait "$cpid"; cpid=
check "logd says it exported $N records" grep -q "ipfix: $N records exported, 0 transport errors" "$T_TMP/logd.log"
check "the state file holds stream 1 at seq $N" test "$(cat "$DB.ipfix")" = "1 $N"
nf_flows "$T_TMP/nf1" >"$T_TMP/nf1.txt"
db_flows >"$T_TMP/db1.txt"
check "nfdump: $N flows ($(wc -l <"$T_TMP/nf1.txt"))" test "$(wc -l <"$T_TMP/nf1.txt")" = $N
check "nfdump lists the same connections, packets and bytes both ways as cotrack query" \
	diff -u "$T_TMP/db1.txt" "$T_TMP/nf1.txt"
bad=$(tshark -r "$T_TMP/cap.pcap" -d "udp.port==$NF_PORT,cflow" \
	-Y '_ws.malformed || _ws.expert.severity >= error' 2>/dev/null | wc -l)
check "tshark: no malformed or error-level IPFIX ($bad)" test "$bad" = 0
got=$(tdec)
check "tshark decodes $N data records from the capture ($got)" test "$got" = $N
tpl=$(tshark -r "$T_TMP/cap.pcap" -d "udp.port==$NF_PORT,cflow" -T fields \
	-e cflow.template_id 2>/dev/null | tr ',' '\n' | sort -u | tr '\n' ' ')
check "tshark sees templates 256 (IPv4) and 257 (IPv6) ($tpl)" \
	sh -c "echo '$tpl' | grep -q 256 && echo '$tpl' | grep -q 257"

# once: a restarted logd sends only the records that came after
nfcapd_start "$T_TMP/nf2" || { not_ok "second nfcapd listens"; t_end; }
logd_start 0 --ipfix "127.0.0.1:$NF_PORT" || { not_ok "logd restarts"; t_end; }
"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --pki "$PKI" --name t1 --vm vm-b \
	--count 500 --timeout 60 >"$T_TMP/g2.out" 2>&1
check "loadgen: 500 more records acknowledged" test $? = 0
logd_stop TERM
nfcapd_stop
nf_flows "$T_TMP/nf2" >"$T_TMP/nf2.txt"
db_flows --vm vm-b >"$T_TMP/db2.txt"
check "after the restart: only the 500 new records exported ($(wc -l <"$T_TMP/nf2.txt"))" \
	test "$(wc -l <"$T_TMP/nf2.txt")" = 500
check "after the restart: they are the new tracker run's" diff -u "$T_TMP/db2.txt" "$T_TMP/nf2.txt"

# TCP: what logd writes into the connection is an IPFIX file
TP=$(free_port)
# (bounded: socat ends when logd closes the connection, or after 60 s)
timeout 60 socat -u "TCP-LISTEN:$TP,bind=127.0.0.1,reuseaddr" "OPEN:$T_TMP/tcp.ipfix,creat,trunc" &
spid=$!
for _ in $(seq 50); do ss -t -l -n "sport = :$TP" | grep -q "$TP" && break; sleep 0.1; done
logd_start 0 --ipfix "tcp://127.0.0.1:$TP" --ipfix-state "$T_TMP/tcp.state" ||
	{ not_ok "logd starts with a TCP collector"; t_end; }
logd_stop TERM
wait "$spid"; spid=
check "TCP: logd exported all $((N + 500)) records" \
	grep -q "ipfix: $((N + 500)) records exported, 0 transport errors" "$T_TMP/logd.log"
got=$(ipfixDump --in "$T_TMP/tcp.ipfix" 2>"$T_TMP/dump.err" | grep -c '^--- data record')
check "TCP: ipfixDump reads $((N + 500)) data records from the stream ($got)" test "$got" = $((N + 500))
check "TCP: ipfixDump reports no error" test ! -s "$T_TMP/dump.err"

# cotrack query --format ipfix -o FILE
"$COTRACK" query --db "$DB" --vm vm-a --format ipfix -o "$T_TMP/q.ipfix" 2>"$T_TMP/q.err"
check "query --format ipfix: exit 0" test $? = 0
got=$(ipfixDump --in "$T_TMP/q.ipfix" 2>/dev/null | grep -c '^--- data record')
check "query --format ipfix: $N data records in the file ($got)" test "$got" = $N
first=$(ipfixDump --in "$T_TMP/q.ipfix" 2>/dev/null | awk '/reverseOctetDeltaCount :/ {print $NF; exit}')
check "query --format ipfix: reverse bytes of the first record = bytes_rev ($first)" \
	test "$first" = "$(sql "SELECT bytes_rev FROM records r JOIN streams s ON s.id = r.stream WHERE r.vm = 'vm-a' ORDER BY r.stream, r.seq LIMIT 1")"
check "query: --format ipfix without -o is a usage error" \
	sh -c "'$COTRACK' query --db '$DB' --format ipfix >/dev/null 2>&1; test \$? = 2"
check "logd: a bad --ipfix target is a usage error" \
	sh -c "'$COTRACK_LOGD' --db '$T_TMP/x.db' --pki '$PKI' --ipfix 'sctp://x:1' >/dev/null 2>&1; test \$? = 2"
t_end
