# The malformed-frame policy (docs/engine.md, "Malformed frames"): one
# hand-built frame per drop reason (tests/tools/mkbad.py, written as pcap
# directly: some need a capture length below the wire length).  Each is
# dropped with its reason and nothing else; tshark's conversations
# differ from ours exactly where the policy says (frames a Linux
# receiver drops but tshark dissects).
source "$TOP/tests/lib.sh"
command -v tshark >/dev/null || skip_all "needs tshark"
cap=$T_TMP/bad.pcap
python3 "$TOP/tests/tools/mkbad.py" "$cap" || { not_ok "make the capture"; t_end; }
"$COTRACK" replay -s --format json "$cap" >"$T_TMP/out.json" 2>"$T_TMP/stats"
check "replay exits 0" test $? = 0
# Expected: the count of each reason in mkbad.py's list.
python3 "$TOP/tests/tools/mkbad.py" --list | awk '$2 != "ok" {n[$2]++} END {for (r in n) print r, n[r]}' |
	sort >"$T_TMP/want"
awk '$1 == "dropped" && $3 != 0 {print $2, $3}' "$T_TMP/stats" | sort >"$T_TMP/got"
if diff -u "$T_TMP/want" "$T_TMP/got" >"$T_TMP/d"; then
	ok "every frame dropped with its reason ($(wc -l <"$T_TMP/want") reasons)"
else
	not_ok "drop reasons differ from mkbad.py's"
	sed 's/^/# /' "$T_TMP/d"
fi
check "the one good frame (IP length past a snaplen cut) is tracked, with its IP length" \
	test "$(cat "$T_TMP/out.json" | grep -c '"pkts_fwd":1,"bytes_fwd":160,')" = 1
tshark -r "$cap" -q -z conv,tcp -z conv,udp >"$T_TMP/conv" 2>/dev/null
python3 "$TOP/tests/tools/conv_compare.py" "$T_TMP/out.json" "$T_TMP/conv" >"$T_TMP/cmp"
sed 's/^/# /' "$T_TMP/cmp"
# tshark counts frames 3 (three VLAN tags), 6 (IPv4 total length past
# the frame), 8 (bad IPv4 option) with the good frame 7; frames 10, 12,
# 13 (IPv6: payload past the frame, nine extension headers, hop-by-hop
# not first); frame 17 (UDP length past the datagram).
cat >"$T_TMP/want" <<'W'
not ok - tcp 10.9.0.1:40000 <-> 10.9.0.2:80: cotrack (frames, frame bytes) [(1, 174), (0, 0)], tshark [(4, 412), (0, 0)]
not ok - tcp fd09::1:40000 <-> fd09::2:80: tshark has it, cotrack does not
not ok - udp 10.9.0.1:5000 <-> 10.9.0.2:53: tshark has it, cotrack does not
not ok - tcp conversations: cotrack 1, tshark 2
not ok - udp conversations: cotrack 0, tshark 1
W
if grep '^not ok' "$T_TMP/cmp" | diff -u "$T_TMP/want" - >"$T_TMP/d"; then
	ok "tshark differs exactly by the frames the policy drops"
else
	not_ok "differences with tshark are not the documented ones"
	sed 's/^/# /' "$T_TMP/d"
fi
t_end
