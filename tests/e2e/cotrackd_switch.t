# cotrackd without guests: two fake QEMUs on its VM sockets.  Frames are
# switched unchanged (broadcast floods, learned unicast goes to one
# port), every frame is tracked (a TCP conversation becomes one record
# at the right VM), SIGHUP reopens the output, a bad stream header drops
# only that connection, SIGTERM ends open connections with "shutdown"
# and prints a summary.
source "$TOP/tests/lib.sh"
D=$T_TMP
F=$TOP/tests/tools/fakeqemu.py
"$COTRACKD" --vm a,net=$D/a.sock --vm b,net=$D/b.sock --vm c,net=$D/c.sock \
	-o $D/rec.json 2>$D/d.log &
dpid=$!
t_on_exit "kill $dpid"
for _ in $(seq 50); do [ -S $D/c.sock ] && break; sleep 0.1; done
check "cotrackd listens on three VM sockets" test -S $D/a.sock -a -S $D/b.sock -a -S $D/c.sock

# Frames: a broadcast ARP from A, then a TCP handshake and data between
# A (02:..:0a, 10.9.0.1) and B (02:..:0b, 10.9.0.2), written by python.
python3 - "$D" <<'PY'
import struct, sys
d = sys.argv[1]
A, B = bytes.fromhex("02000000000a"), bytes.fromhex("02000000000b")
def ip(src, dst, payload):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, 6, 0,
                    bytes(src), bytes(dst))
    return h + payload
def tcp(sp, dp, fl, data=b""):
    return struct.pack("!HHIIBBHHH", sp, dp, 1, 0, 0x50, fl, 1000, 0, 0) + data
arp = b"\xff" * 6 + A + b"\x08\x06" + bytes(28)
a2b = [B + A + b"\x08\x00" + ip([10,9,0,1], [10,9,0,2], tcp(4000, 80, f, x))
       for f, x in ((2, b""), (16, b""), (24, b"hello"), (17, b""))]
b2a = [A + B + b"\x08\x00" + ip([10,9,0,2], [10,9,0,1], tcp(80, 4000, f, x))
       for f, x in ((18, b""), (24, b"world!"), (17, b""))]
open(d + "/a1.hex", "w").write(arp.hex() + "\n")
open(d + "/a2.hex", "w").write("\n".join(f.hex() for f in a2b) + "\n")
open(d + "/b1.hex", "w").write("\n".join(f.hex() for f in b2a) + "\n")
PY
wait_connected() { # FILE...: until each receiver says it is connected
	local f
	for f in "$@"; do
		for _ in $(seq 200); do grep -q connected "$f" 2>/dev/null && break; sleep 0.05; done
	done
}
# A's broadcast and its TCP frames (B's address not learned yet: flooded).
cat $D/a1.hex $D/a2.hex >$D/a12.hex
python3 $F $D/b.sock recv 5 30 >$D/b.got &
rb=$!
python3 $F $D/c.sock recv 5 30 >$D/c.got &
rc=$!
wait_connected $D/b.got $D/c.got
python3 $F $D/b.sock recv 1 1 >/dev/null 2>&1 # a second QEMU on b: refused
python3 $F $D/a.sock send $D/a12.hex 0.3
wait $rb $rc
check "B got the broadcast unchanged" grep -qx "$(cat $D/a1.hex)" $D/b.got
check "C got the broadcast unchanged" grep -qx "$(cat $D/a1.hex)" $D/c.got
check "B got all 4 of A's TCP frames, unchanged, in order" \
	test "$(grep -v -e connected -e "^ffffffffffff" $D/b.got)" = "$(cat $D/a2.hex)"
# B answers; A's address was learned from its frames, so they go to A only.
python3 $F $D/a.sock recv 3 30 >$D/a.got &
ra=$!
python3 $F $D/c.sock recv 1 3 >$D/c2.got &
rc=$!
wait_connected $D/a.got $D/c2.got
python3 $F $D/b.sock send $D/b1.hex 0.3
wait $ra $rc
check "A got B's 3 frames" test "$(grep -vc connected $D/a.got)" = 3
check "C got none of B's unicast frames (learned)" test "$(grep -vc connected $D/c2.got)" = 0

mv $D/rec.json $D/rec.old
kill -HUP $dpid
sleep 0.3
python3 $F $D/a.sock raw 00000000   # a zero-length frame: stream broken
sleep 0.3
kill -0 $dpid && ok "cotrackd survives a broken stream" || not_ok "cotrackd died on a broken stream"
kill -TERM $dpid
wait $dpid
check "exit status 0 on SIGTERM" test $? = 0
check "SIGHUP made a new output file" test -f $D/rec.json
python3 - $D/rec.json $D/rec.old <<'PY' && ok "one TCP record per VM that saw frames, counted both ways" || not_ok "TCP records"
import json, sys
recs = [json.loads(l) for f in sys.argv[1:] for l in open(f)]
tcp = {r["vm"]: r for r in recs if r["proto"] == "tcp"}
# C saw A's frames while B's address was unknown (flooded), not B's.
want = {"a": (4, 3), "b": (4, 3), "c": (4, 0)}
assert sorted(tcp) == sorted(want), tcp
for vm, r in tcp.items():
    assert (r["src"], r["sport"], r["dst"], r["dport"]) == ("10.9.0.1", 4000, "10.9.0.2", 80), r
    assert (r["pkts_fwd"], r["pkts_rev"]) == want[vm], r
    assert r["bytes_fwd"] == 4 * 40 + 5, r
    assert r["bytes_rev"] == (3 * 40 + 6 if want[vm][1] else 0), r
    assert r["seen_by"] == "nic", r
PY
check "summary names each VM" grep -q "^a: .* connections" $D/d.log
check "the broken stream is counted" grep -q "bad framing 1" $D/d.log
check "the refused second connection is logged" grep -q "second connection" $D/d.log
if grep -q "AddressSanitizer\|runtime error" $D/d.log; then not_ok "sanitizer report"; else ok "no sanitizer report"; fi
t_end
