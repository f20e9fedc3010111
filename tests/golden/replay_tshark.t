# cotrack replay against an independent reference: real traffic between
# two network namespaces (TCP and UDP over IPv4 and IPv6, pings, refused
# connections), captured by tcpdump; tshark's conversation table must
# agree with our records on frames and bytes per direction, for the pcap,
# the same capture as pcapng, and the capture on standard input.
source "$TOP/tests/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root for network namespaces"
cap=$T_TMP/real.pcap
if ! "$TOP/tests/tools/mkcap.sh" "$cap" --conns 20 >"$T_TMP/mkcap.log" 2>&1; then
	not_ok "make a capture in network namespaces"
	cat "$T_TMP/mkcap.log"
	t_end
fi
ok "capture made with tcpdump ($(stat -c %s "$cap") bytes)"
editcap -F pcapng "$cap" "$T_TMP/real.pcapng"
tshark -r "$cap" -q -z conv,tcp -z conv,udp >"$T_TMP/conv.txt" 2>/dev/null

for in in "$cap" "$T_TMP/real.pcapng"; do
	"$COTRACK" replay --format json "$in" >"$T_TMP/out.json"
	check "replay $(basename "$in") exits 0" test $? = 0
	echo "# $(basename "$in") vs tshark:"
	python3 "$TOP/tests/tools/conv_compare.py" "$T_TMP/out.json" "$T_TMP/conv.txt" |
		sed "s/^ok - /ok - $(basename "$in"): /; s/^not ok - /not ok - $(basename "$in"): /"
done

"$COTRACK" replay --format json - <"$cap" >"$T_TMP/stdin.json"
check "replay from standard input gives the same records" \
	cmp -s "$T_TMP/stdin.json" "$T_TMP/out.json"

# Every TCP connection the traffic made ended cleanly (FIN both ways) or
# was refused (RST); the UDP flows are flushed as open at end of input.
n_fin=$(grep -c '"proto":"tcp".*"end":"fin"' "$T_TMP/out.json")
n_rst=$(grep -c '"proto":"tcp".*"end":"rst"' "$T_TMP/out.json")
check "40 TCP connections end fin (saw $n_fin)" test "$n_fin" = 40
check "2 refused connections end rst (saw $n_rst)" test "$n_rst" = 2
check "UDP flows flushed with end open" \
	test "$(grep -c '"proto":"udp".*"end":"open"' "$T_TMP/out.json")" = 2
check "every TCP connection's initiator is the client" \
	test "$(grep '"proto":"tcp"' "$T_TMP/out.json" | grep -vc '"src":"\(10.77.0.1\|fd77::1\)"')" = 0
seqs=$(python3 -c 'import json,sys; print(" ".join(str(json.loads(l)["seq"]) for l in open(sys.argv[1])))' "$T_TMP/out.json")
n=$(wc -l <"$T_TMP/out.json")
check "seq runs 1..$n without gaps" test "$seqs" = "$(seq -s ' ' 1 "$n")"
t_end
