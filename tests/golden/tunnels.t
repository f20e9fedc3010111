# Tunnels and offloaded segments: captures made by text2pcap from frames
# built by hand (tests/tools/mktun.py, one capture per case), replayed,
# and checked against tshark's conversations.  tshark counts the inner
# conversations of these tunnels, the outer UDP ones too; its bytes are
# frame bytes, ours IP-layer bytes of the packet we track, so each case
# says how many bytes a frame carries outside its inner IP packet
# (--tun-l2).  Where we differ from tshark on purpose (docs/engine.md,
# "Malformed frames"), the difference itself is the expected output.
source "$TOP/tests/lib.sh"
export TZ=UTC
command -v tshark >/dev/null || skip_all "needs tshark"
cap() { # case: $T_TMP/case.pcap
	python3 "$TOP/tests/tools/mktun.py" "$1" >"$T_TMP/$1.hex" &&
		text2pcap -q -F pcap -t "%Y-%m-%d %H:%M:%S.%f" "$T_TMP/$1.hex" \
			"$T_TMP/$1.pcap" >/dev/null 2>&1
}
fields=$(python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import conv_compare; print(conv_compare.FIELDS)' "$TOP/tests/tools")

# against CASE "TYPE=N ..." [tshark options...]: tshark's conversations
against() {
	local c=$1 l2=$2 x args=()
	shift 2
	cap "$c" || { not_ok "$c: make the capture"; return; }
	for x in $l2; do args+=(--tun-l2 "$x"); done
	"$COTRACK" replay --format json "$T_TMP/$c.pcap" >"$T_TMP/$c.json"
	check "$c: replay exits 0" test $? = 0
	tshark -r "$T_TMP/$c.pcap" "$@" -q -z conv,tcp -z conv,udp >"$T_TMP/$c.conv" 2>/dev/null
	python3 "$TOP/tests/tools/conv_compare.py" "$T_TMP/$c.json" "$T_TMP/$c.conv" "${args[@]}" |
		sed "s/^ok - /ok - $c: /; s/^not ok - /not ok - $c: /"
}

# --- tunnels: inner conversations equal to tshark's ---------------------
against vxlan "vxlan=64"
against vxlan8472 "vxlan=64" -d udp.port==8472,vxlan
against vxlan6 "vxlan=84"
against geneve "geneve=72"
against geneve_ip6 "geneve=50"
against gre "gre=38"
against gre_cks "gre=50"
against gretap "gre=56"
against erspan "erspan=64"
against erspan1 "erspan=52"
against ipip "ipip=34"
against ip6tnl "ipip=54"
against nested "vxlan=92 gre=42"

# --- what the records say about the tunnel ------------------------------
j=$T_TMP/vxlan.json
n=$(grep -c '"proto":"tcp","src":"10.1.0.1","sport":40001.*"tunnel":"vxlan"' "$j")
check "vxlan: one inner 5-tuple in VNIs 100 and 200 is two connections (saw $n)" test "$n" = 2
check "vxlan: the records carry VNI 100 and 200" \
	test "$(grep '"proto":"tcp"' "$j" | grep -o '"tun_id":[0-9]*' | sort | tr '\n' ' ')" = '"tun_id":100 "tun_id":200 '
check "vxlan: outer addresses in the initiator's order" \
	test "$(grep -c '"tun_src":"192.0.2.1","tun_dst":"192.0.2.2"' "$j")" = 4
check "vxlan: the outer flow that first carried them counts 4 inner connections" \
	grep -q '"src":"192.0.2.1","sport":50001,.*"inner_conns":4' "$j"
check "vxlan: the reverse outer flow opened none" \
	grep -q '"src":"192.0.2.2","sport":50002,.*"end":"open","seen_by":"nic"}$' "$j"
j=$T_TMP/nested.json
check "nested: VXLAN's UDP flows are keyed by the GRE tunnel around them" \
	test "$(grep -c '"proto":"udp","src":"172.16.0.[12]".*"tunnel":"gre","tun_id":1,' "$j")" = 2
check "nested: the GRE flow counts the VXLAN flows as inner connections" \
	grep -q '"proto":"other","src":"192.0.2.1".*"inner_conns":2' "$j"
j=$T_TMP/gre_cks.json
check "gre: the key is the tunnel id" grep -q '"tunnel":"gre","tun_id":42,' "$j"
check "erspan II: the session id is the tunnel id" grep -q '"tunnel":"erspan","tun_id":33,' "$T_TMP/erspan.json"
check "geneve: the VNI is the tunnel id" grep -q '"tunnel":"geneve","tun_id":5001,' "$T_TMP/geneve.json"

# --- switches ----------------------------------------------------------
"$COTRACK" replay --format json --no-decap "$T_TMP/vxlan.pcap" >"$T_TMP/nodecap.json"
check "--no-decap: only the two outer UDP flows, no tunnel fields" \
	test "$(wc -l <"$T_TMP/nodecap.json")/$(grep -c 'tun\|inner' "$T_TMP/nodecap.json")" = 2/0
"$COTRACK" replay --format json --vxlan-port 4789 "$T_TMP/vxlan8472.pcap" >"$T_TMP/p.json"
check "--vxlan-port 4789 replaces the defaults: 8472 is plain UDP" \
	test "$(grep -c tunnel "$T_TMP/p.json")" = 0
"$COTRACK" replay --format json --vxlan-port 1,2 --vxlan-port 8472 "$T_TMP/vxlan8472.pcap" >"$T_TMP/p.json"
check "--vxlan-port lists and repeats" test "$(grep -c '"tunnel":"vxlan"' "$T_TMP/p.json")" = 4
"$COTRACK" replay --format json --geneve-port 4789 --vxlan-port 9 "$T_TMP/vxlan.pcap" >"$T_TMP/p.json"
check "--geneve-port: VXLAN frames on a Geneve port are not Geneve (no tunnel)" \
	test "$(grep -c '"tunnel"\|inner_conns' "$T_TMP/p.json")/$(wc -l <"$T_TMP/p.json")" = 0/2
"$COTRACK" replay --vxlan-port 1,2,3,4,5 "$T_TMP/vxlan.pcap" >/dev/null 2>&1
check "--vxlan-port: at most 4 ports (usage error)" test $? = 2
"$COTRACK" replay --vxlan-port 0 "$T_TMP/vxlan.pcap" >/dev/null 2>&1
check "--vxlan-port 0 is a usage error" test $? = 2
"$COTRACK" replay --format csv "$T_TMP/vxlan.pcap" >"$T_TMP/vxlan.csv"
check "csv: tunnel columns" \
	grep -q ',tcp,10.1.0.1,40001,.*,vxlan,100,192.0.2.1,192.0.2.2,$' "$T_TMP/vxlan.csv"

# --- offloads: one packet of the frame's length -------------------------
for c in tso4 jumbo6; do
	cap "$c"
	"$COTRACK" replay --format json "$T_TMP/$c.pcap" >"$T_TMP/$c.json"
	# tshark prints its conversation table in kB here: count fields
	# shellcheck disable=SC2086
	tshark -r "$T_TMP/$c.pcap" $fields >"$T_TMP/$c.fields" 2>/dev/null
	python3 "$TOP/tests/tools/conv_compare.py" --fields "$T_TMP/$c.json" "$T_TMP/$c.fields" |
		sed "s/^ok - /ok - $c: /; s/^not ok - /not ok - $c: /"
done
check "tso4: the super-frames count 5040 and 10040 bytes" \
	grep -q '"pkts_fwd":5,"bytes_fwd":5200,"pkts_rev":3,"bytes_rev":10120' "$T_TMP/tso4.json"
check "jumbo6: the jumbograms count 70068 and 70068 bytes" \
	grep -q '"pkts_fwd":5,"bytes_fwd":70308,"pkts_rev":3,"bytes_rev":70188' "$T_TMP/jumbo6.json"
# BIG TCP without hop-by-hop header: tshark calls it malformed (no TCP),
# we count it.  The one difference expected: that frame.
cap bigtcp6
"$COTRACK" replay --format json "$T_TMP/bigtcp6.pcap" >"$T_TMP/bigtcp6.json"
# shellcheck disable=SC2086
tshark -r "$T_TMP/bigtcp6.pcap" $fields >"$T_TMP/bigtcp6.fields" 2>/dev/null
python3 "$TOP/tests/tools/conv_compare.py" --fields "$T_TMP/bigtcp6.json" "$T_TMP/bigtcp6.fields" >"$T_TMP/bigtcp6.cmp"
check "bigtcp6: the only difference is the payload-length-0 frame (70074 bytes) tshark leaves out" \
	test "$(grep '^not ok' "$T_TMP/bigtcp6.cmp")" = \
	"not ok - tcp fd01::1:40001 <-> fd01::2:8080: cotrack (frames, frame bytes) [(4, 296), (3, 70222)], tshark [(4, 296), (2, 148)]"

# --- tunnel headers the receiver would drop: the outer flow only --------
against badtun "" >"$T_TMP/badtun.cmp"
grep -v '^not ok' "$T_TMP/badtun.cmp"
check "badtun: tshark decodes the inner SYN of 4 frames we refuse, nothing else differs" \
	test "$(grep '^not ok' "$T_TMP/badtun.cmp" | tr '\n' '|')" = \
	"not ok - badtun: tcp 10.1.0.1:40001 <-> 10.1.0.2:8080: tshark has it, cotrack does not|not ok - badtun: tcp conversations: cotrack 0, tshark 1|"
"$COTRACK" replay -s "$T_TMP/badtun.pcap" >/dev/null 2>"$T_TMP/badtun.stats"
check "badtun: why, counted (4 bad-tun, 1 bad-ip4 inside)" \
	test "$(grep -c '^not decapsulated bad-tun *4$\|^not decapsulated bad-ip4 *1$' "$T_TMP/badtun.stats")" = 2
t_end
