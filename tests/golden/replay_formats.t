# Golden files for cotrack replay's output formats and counters: hand-made
# frames (tests/golden/frames.hex, from tests/tools/craft.py) turned into
# a capture by text2pcap: 802.1Q and QinQ, IPv4 options and fragments,
# IPv6 extension headers and fragments, ICMP/ICMPv6 echo, malformed
# frames.  The .ok files were checked by hand against tshark's dissection.
source "$TOP/tests/lib.sh"
export TZ=UTC
cap=$T_TMP/frames.pcap
text2pcap -q -F pcap -t "%Y-%m-%d %H:%M:%S.%f" "$TOP/tests/golden/frames.hex" "$cap"
check "text2pcap made the capture" test -s "$cap"
for fmt in json csv table; do
	"$COTRACK" replay --format "$fmt" "$cap" >"$T_TMP/out.$fmt"
	if diff -u "$TOP/tests/golden/frames.$fmt.ok" "$T_TMP/out.$fmt"; then
		ok "format $fmt matches frames.$fmt.ok"
	else
		not_ok "format $fmt differs from frames.$fmt.ok"
	fi
done
text2pcap -q -t "%Y-%m-%d %H:%M:%S.%f" "$TOP/tests/golden/frames.hex" "$T_TMP/frames.pcapng"
"$COTRACK" replay --format json "$T_TMP/frames.pcapng" >"$T_TMP/ng.json"
check "the same frames as pcapng give the same records" cmp -s "$T_TMP/ng.json" "$T_TMP/out.json"
"$COTRACK" replay --stats --format json "$cap" 2>"$T_TMP/stats" >/dev/null
if diff -u "$TOP/tests/golden/frames.stats.ok" "$T_TMP/stats"; then
	ok "--stats counters match frames.stats.ok"
else
	not_ok "--stats counters differ from frames.stats.ok"
fi
python3 - "$T_TMP/out.json" <<'PY' && ok "every JSON line carries every record field" || not_ok "JSON fields"
import json, sys
need = {"seq", "vm", "proto", "src", "sport", "dst", "dport", "first_ns",
        "last_ns", "pkts_fwd", "bytes_fwd", "pkts_rev", "bytes_rev",
        "tcp_state", "end", "seen_by"}
for line in open(sys.argv[1]):
    missing = need - set(json.loads(line))
    if missing:
        sys.exit("missing %s" % missing)
PY
t_end
