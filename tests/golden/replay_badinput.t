# cotrack replay on bad input: every case gives a clear message and a
# defined exit status, never a crash (this runs under ASan/UBSan), and
# keeps the records it could make.
source "$TOP/tests/lib.sh"
export TZ=UTC
cap=$T_TMP/frames.pcap
text2pcap -q -F pcap -t "%Y-%m-%d %H:%M:%S.%f" "$TOP/tests/golden/frames.hex" "$cap"

expect() { # name status pattern cmd...
	local name=$1 want=$2 pat=$3; shift 3
	"$@" >"$T_TMP/o" 2>"$T_TMP/e"
	local rc=$?
	if [ "$rc" = "$want" ] && grep -q -- "$pat" "$T_TMP/e"; then
		ok "$name (exit $rc)"
	else
		not_ok "$name: exit $rc (want $want), stderr: $(head -c 300 "$T_TMP/e")"
	fi
}

expect "missing file" 1 "No such file" "$COTRACK" replay "$T_TMP/nope.pcap"
expect "a directory" 1 "is a directory" "$COTRACK" replay "$T_TMP"
head -c 4096 /dev/urandom >"$T_TMP/garbage"
expect "random bytes" 1 "not a pcap or pcapng" "$COTRACK" replay "$T_TMP/garbage"
: >"$T_TMP/empty"
expect "empty file" 1 "empty" "$COTRACK" replay "$T_TMP/empty"
expect "unknown format" 2 "unknown format" "$COTRACK" replay -f xml "$cap"
expect "bad timeout" 2 "not a duration" "$COTRACK" replay --udp-idle x "$cap"
expect "timeout finer than 1 ns" 2 "whole number of nanoseconds" "$COTRACK" replay --udp-idle 0.5ns "$cap"
"$COTRACK" replay --udp-idle 1m --tcp-idle 300 --active 1.5s "$cap" >/dev/null && ok "timeouts with units and bare seconds" || not_ok "timeouts with units and bare seconds"
expect "no file" 2 "usage" "$COTRACK" replay
"$COTRACK" replay --help | grep -q -- "--format" && ok "--help documents --format" || not_ok "--help"

# Truncated in the middle of a frame: the records before the cut are kept.
size=$(stat -c %s "$cap")
head -c $((size - 30)) "$cap" >"$T_TMP/trunc.pcap"
expect "truncated capture" 1 "truncated" "$COTRACK" replay -f json "$T_TMP/trunc.pcap"
n=$(wc -l <"$T_TMP/o")
check "truncated capture still gives its records ($n)" test "$n" -ge 7

# Cut by snaplen: frames shorter than on the wire are counted, and byte
# counts still come from the IP header (what was on the wire).
editcap -s 58 "$cap" "$T_TMP/snap.pcap"
"$COTRACK" replay --stats -f json "$T_TMP/snap.pcap" >"$T_TMP/snap.json" 2>"$T_TMP/snap.stats"
check "snaplen-cut capture replays (exit 0)" test $? = 0
check "snaplen-cut frames are counted" grep -Eq '^snaplen-cut +[1-9]' "$T_TMP/snap.stats"
check "bytes of the TCP connection survive the snaplen" \
	grep -q '"sport":40000.*"bytes_fwd":218' "$T_TMP/snap.json"

# A pcap header declaring an unsupported link type.
python3 -c 'import struct,sys; sys.stdout.buffer.write(struct.pack("<IHHiIII",0xa1b2c3d4,2,4,0,0,65535,147))' >"$T_TMP/dlt.pcap"
expect "unsupported link type" 1 "not supported" "$COTRACK" replay "$T_TMP/dlt.pcap"

# Garbage frames inside a valid capture: counted, never fatal.
python3 - "$T_TMP/junk.pcap" <<'PY'
import random, struct, sys
random.seed(7)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i in range(2000):
        n = random.randint(0, 200)
        b = bytes(random.getrandbits(8) for _ in range(n))
        if i % 3 == 0 and n > 14:   # make it look like IPv4 or IPv6
            b = b[:12] + random.choice([b"\x08\x00\x45", b"\x86\xdd\x60"]) + b[15:]
        f.write(struct.pack("<IIII", i, 0, n, n + random.randint(0, 3)) + b)
PY
"$COTRACK" replay --stats -f csv "$T_TMP/junk.pcap" >/dev/null 2>"$T_TMP/junk.stats"
check "2000 garbage frames: exit 0" test $? = 0
check "2000 garbage frames all counted" grep -Eq '^frames +2000$' "$T_TMP/junk.stats"
t_end
