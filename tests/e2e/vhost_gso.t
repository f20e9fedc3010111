# Offloads on a vhost-user port (docs/vhost-user.md, issue 10 item 3):
# guest "a" on vhost-user with offloads=on sends 20 MB over TCP, with its
# TSO/GSO/checksum offload on and then off (guest/src/offload.c, what
# `ethtool -K eth0 tso gso tx` does), to guest "b" (vhost-user), guest
# "c" (-netdev stream: cannot take a super-frame) and a host behind the
# tap uplink (no IFF_VNET_HDR: cannot either).  Every payload arrives
# intact (FNV-1a of the bytes at both ends), and the records' packets
# and bytes per direction equal the wire truth:
#  - a's frames: a's Tcp OutSegs (segments its TCP sent, a super-frame
#    counted as its segments) for packets;
#  - at the receiving VM: its eth0 rx_packets and rx_bytes (frames
#    cotrackd delivered; IP bytes = rx_bytes - 14 per frame), and its
#    Tcp OutSegs for the other direction;
#  - on the tap: a tcpdump capture on the uplink in its namespace.
# With offloads on, a sends fewer frames than segments (super-frames);
# off, as many.
source "$TOP/tests/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root for network namespaces and taps"
command -v tcpdump >/dev/null || skip_all "tcpdump missing (scripts/setup)"
G=$TOP/guest
GOUT=${GUEST_OUT:-$TOP/build/guest}
"$G/build.sh" >"$T_TMP/build.log" 2>&1 || { not_ok "guest/build.sh"; tail "$T_TMP/build.log"; t_end; }
D=$T_TMP/gso
mkdir -p "$D"
NS=cotgso$$ TAP=cgs$$ TAG=cotgso-$$
dpid= apid= bpid= cpid= tdpid=
cleanup() {
	for p in $tdpid $apid $bpid $cpid; do kill "$p" 2>/dev/null; done
	[ -n "$dpid" ] && kill -TERM "$dpid" 2>/dev/null
	for p in $tdpid $apid $bpid $cpid $dpid; do wait "$p" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	true
}
t_on_exit cleanup
ip netns add "$NS" || { not_ok "namespace"; t_end; }
# No IPv6 anywhere: router solicitations and MLD reports, flooded to every
# port, would be frames in the interface counters that no record counts.
noip6="sysctl.net.ipv6.conf.all.disable_ipv6=1 sysctl.net.ipv6.conf.default.disable_ipv6=1"
ip netns exec "$NS" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.all.disable_ipv6=1

"$COTRACKD" --vm "a,vhost-user=$D/a.sock,offloads=on" \
	--vm "b,vhost-user=$D/b.sock,offloads=on" --vm "c,net=$D/c.sock" \
	--uplink "$TAP,netns=$NS" -o "$D/rec.json" --interval 10ms \
	2>"$D/d.log" &
dpid=$!
for _ in $(seq 100); do
	[ -S "$D/a.sock" ] && [ -S "$D/b.sock" ] && [ -S "$D/c.sock" ] &&
		ip -n "$NS" link show "$TAP" >/dev/null 2>&1 && break
	sleep 0.1
done
ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip -n "$NS" link set lo up
ip -n "$NS" link set "$TAP" up
ip -n "$NS" addr add 10.0.0.100/24 dev "$TAP"
check "offloads offered on the vhost-user ports" \
	grep -q "a: vhost-user backend on .*(offloads on: CSUM, HOST_TSO4, HOST_TSO6, GUEST_CSUM, GUEST_TSO4, GUEST_TSO6)" "$D/d.log"

boot() { # NAME NIC-OPTION SOCK LAST-OCTET
	"$G/run.sh" --role idle --name "$TAG-$1" --dir "$D/$1" --mem 128M \
		"$2" "$3" --ip "10.0.0.$4/24" --timeout 900 --append "$noip6" \
		>"$D/$1.out" 2>&1 &
}
boot a --vhost-user "$D/a.sock" 11
apid=$!
boot b --vhost-user "$D/b.sock" 12
bpid=$!
boot c --net "$D/c.sock" 13
cpid=$!
for g in a b c; do
	if ! "$G/ctl.sh" "$D/$g" wait-ready 300 >/dev/null; then
		not_ok "guest $g boots"
		tail -5 "$D/$g.out" "$D/d.log"
		t_end
	fi
done
ok "guests up (a, b on vhost-user, c on stream)"
run() { "$G/ctl.sh" "$D/$1" cmd "run $2" "${3:-60}" | grep -v '^==COTRACK'; }
# Permanent neighbour entries everywhere: no ARP request or probe lands
# in the interface counters during a transfer.
tapmac=$(ip -n "$NS" link show "$TAP" | awk '/link\/ether/ {print $2}')
neigh="arp -s 10.0.0.11 52:54:00:c0:74:0b; arp -s 10.0.0.12 52:54:00:c0:74:0c;"
neigh="$neigh arp -s 10.0.0.13 52:54:00:c0:74:0d; arp -s 10.0.0.100 $tapmac"
for g in a b c; do run "$g" "$neigh" >/dev/null; done
for o in 11 12 13; do
	ip -n "$NS" neigh replace "10.0.0.$o" lladdr "$(printf '52:54:00:c0:74:%02x' "$o")" \
		dev "$TAP" nud permanent
done
check "permanent neighbour entries in a" bash -c "'$G/ctl.sh' '$D/a' cmd 'run arp -n' 30 | grep -c PERM | grep -qx 3"

# counters VM: "segments rx_packets rx_bytes tx_packets InSegs", where
# segments is Tcp OutSegs + RetransSegs (OutSegs leaves out
# retransmissions)
counters() {
	run "$1" "awk '/^Tcp:/ && \$11 ~ /^[0-9]+\$/ {print \$12 + \$13}' /proc/net/snmp; cd /sys/class/net/eth0/statistics && cat rx_packets rx_bytes tx_packets; awk '/^Tcp:/ && \$11 ~ /^[0-9]+\$/ {print \$11}' /proc/net/snmp" |
		tr '\n' ' '
}
ns_outsegs() { ip netns exec "$NS" awk '/^Tcp:/ && $11 ~ /^[0-9]+$/ {print $12 + $13}' /proc/net/snmp; }
cpu_ms() { awk '{print int(($14 + $15) * 1000 / '"$(getconf CLK_TCK)"')}' "/proc/$dpid/stat"; }

# xfer DEST MODE PORT: 20 MB from a to DEST (b, c or tap) with a's
# offloads MODE; one line of truth into $D/truth.
: >"$D/truth"
xfer() {
	local dst=$1 mode=$2 port=$3 rpid= cap lost ip want t0 t1 c0 c1 a0 a1 r0 r1 h0 h1 sent got
	case $dst in b) ip=10.0.0.12 ;; c) ip=10.0.0.13 ;; tap) ip=10.0.0.100 ;; esac
	[ "$mode" = on ] && want="tx=1 tso=1 gso=1" || want="tx=0 tso=0 gso=0"
	check "$dst $mode: a's offloads $want" \
		bash -c "'$G/ctl.sh' '$D/a' cmd 'run offload eth0 $mode' 30 | grep -q 'offload eth0 $want'"
	if [ "$dst" = tap ]; then
		ip netns exec "$NS" tcpdump -i "$TAP" -nn -s 128 -B 65536 -U -w "$D/cap$port.pcap" \
			"tcp port $port" 2>"$D/tcpdump$port.log" &
		tdpid=$!
		for _ in $(seq 50); do grep -q "listening on" "$D/tcpdump$port.log" && break; sleep 0.1; done
		ip netns exec "$NS" timeout 300 "$GOUT/bin/bulk" recv "$port" >"$D/recv$port" 2>&1 &
		rpid=$!
		h0=$(ns_outsegs)
	else
		run "$dst" "bulk recv $port >/tmp/recv$port 2>&1 &" >/dev/null
		r0=$(counters "$dst")
	fi
	sleep 0.5
	a0=$(counters a)
	c0=$(cpu_ms)
	t0=$(date +%s%N)
	sent=$(run a "bulk send $ip $port 20000000 $port" 300 | grep '^bulk send')
	t1=$(date +%s%N)
	c1=$(cpu_ms)
	sleep 1 # the last ACK reaches the receiver
	a1=$(counters a)
	if [ "$dst" = tap ]; then
		h1=$(ns_outsegs)
		wait "$rpid" 2>/dev/null
		got=$(grep '^bulk recv' "$D/recv$port")
		kill -INT "$tdpid"
		wait "$tdpid"
		tdpid=
		cap=$(tcpdump -r "$D/cap$port.pcap" -nn -v 2>/dev/null |
			awk '/ proto TCP / {n = $0; sub(/.* length /, "", n); sub(/\).*/, "", n); getline
				if ($1 ~ /^10\.0\.0\.11\./) {fp++; fb += n} else {rp++; rb += n}}
				END {print fp + 0, fb + 0, rp + 0, rb + 0}')
		r1=$((h1 - h0))
		# A capture that lost frames (a loaded machine) is no truth.
		lost=$(sed -n 's/^\([0-9]*\) packets dropped by kernel/\1/p' "$D/tcpdump$port.log")
		echo "$dst $mode $port $a0 $a1 host $r1 cap $cap ${lost:-unknown}" >>"$D/truth"
	else
		r1=$(counters "$dst")
		got=$(run "$dst" "cat /tmp/recv$port" | grep '^bulk recv')
		echo "$dst $mode $port $a0 $a1 vm $r0 $r1" >>"$D/truth"
	fi
	check "$dst $mode: 20 MB sent ($sent)" [ -n "$sent" ]
	check "$dst $mode: payload intact ($got)" [ "${sent#bulk send }" = "${got#bulk recv }" ]
	echo "$dst $mode $(( (t1 - t0) / 1000000 )) $((c1 - c0))" >>"$D/cost"
}

port=5001
for mode in on off; do
	for dst in b c tap; do
		xfer "$dst" "$mode" "$port"
		port=$((port + 1))
	done
done
run a "offload eth0 on" 30 >/dev/null
# Checksum offload without GSO: a's UDP datagrams leave it with a partial
# checksum, which cotrackd completes (the host drops them otherwise).
udp_errs() { ip netns exec "$NS" awk '/^Udp:/ && $2 ~ /^[0-9]+$/ {print $8}' /proc/net/snmp; }
ip netns exec "$NS" python3 - 7001 >"$D/udp.log" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.0.0.100", int(sys.argv[1])))
print("bound", flush=True)
s.settimeout(10)
want = bytes((i * 5) & 255 for i in range(1000))
n = 0
try:
    while n < 20:
        d, _ = s.recvfrom(2048)
        n += d == want
except socket.timeout:
    pass
print("udp got %d" % n)
PY
upid=$!
for _ in $(seq 50); do grep -q bound "$D/udp.log" && break; sleep 0.1; done
u0=$(udp_errs)
run a "bulk udp 10.0.0.100 7001 20 1000" 60 >"$D/udp-send.log"
wait "$upid"
u1=$(udp_errs)
check "20 UDP datagrams from a (checksum offload on) arrive intact ($(grep -h 'udp' "$D/udp.log" "$D/udp-send.log" | tr '\n' ' '))" \
	grep -q "udp got 20" "$D/udp.log"
check "no UDP checksum errors at the host ($u0 -> $u1)" [ -n "$u1" ] && [ "$u0" = "$u1" ]

kill -TERM "$dpid"
wait "$dpid"
drc=$?
dpid=
check "cotrackd exits 0 on SIGTERM ($drc)" [ "$drc" = 0 ]
check "no sanitizer report" bash -c "! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' '$D/d.log'"
grep -E "^(cotrackd: )?(a|b|c): frames from guest" "$D/d.log" | sed 's/^/# /'
bdrops=$(sed -n 's/^\(cotrackd: \)\{0,1\}b: frames from guest.* queue drops \([0-9]*\).*/\2/p' "$D/d.log")

python3 - "$D/rec.json" "$D/truth" "$D/cost" "${bdrops:-unknown}" <<'PY'
import json, sys
bdrops = sys.argv[4]
cost = {tuple(l.split()[:2]): [int(x) for x in l.split()[2:]] for l in open(sys.argv[3])}
def tap(ok, msg):
    print(("ok - " if ok else "not ok - ") + msg)
recs = [json.loads(l) for l in open(sys.argv[1])]
def rec(vm, port):
    rs = [r for r in recs if r["vm"] == vm and r["proto"] == "tcp"
          and r["src"] == "10.0.0.11" and r["dport"] == port]
    return rs
for line in open(sys.argv[2]):
    f = line.split()
    dst, mode, port = f[0], f[1], int(f[2])
    a0, a1 = [int(x) for x in f[3:8]], [int(x) for x in f[8:13]]
    da = [y - x for x, y in zip(a0, a1)]  # OutSegs, rx_packets, rx_bytes, tx_packets
    name = "%s %s" % (dst, mode)
    ra = rec("a", port)
    tap(len(ra) == 1 and ra[0]["tcp_state"] == "closed",
        "%s: one record at a, closed (%s)" % (name, [(r["end"], r["tcp_state"], r["seen_by"]) for r in ra]))
    if not ra:
        continue
    ra = ra[0]
    tap(ra["pkts_fwd"] == da[0],
        "%s: a's packets to %s = a's Tcp OutSegs + RetransSegs (%d, %d)" % (name, dst, ra["pkts_fwd"], da[0]))
    tap(ra["pkts_rev"] == da[1] and ra["bytes_rev"] == da[2] - 14 * da[1],
        "%s: a's packets/bytes from %s = a's eth0 rx (%d/%d, %d/%d)" %
        (name, dst, ra["pkts_rev"], ra["bytes_rev"], da[1], da[2] - 14 * da[1]))
    ms, cpu = cost[(dst, mode)]
    print("# cost %-3s %-3s: %5d ms, %5d frames from a for %5d segments, %6.0f segments/s, "
          "cotrackd CPU %4d ms (%5.0f ns per segment)" % (dst, mode, ms, da[3], da[0],
          da[0] * 1000.0 / max(ms, 1), cpu, cpu * 1e6 / max(da[0], 1)))
    if mode == "on":
        tap(da[3] < da[0], "%s: a sent super-frames: %d frames for %d segments" % (name, da[3], da[0]))
    else:
        tap(da[3] >= da[0], "%s: a sent wire frames: %d frames for %d segments" % (name, da[3], da[0]))
    if f[13] == "vm":
        r0, r1 = [int(x) for x in f[14:19]], [int(x) for x in f[19:24]]
        dr = [y - x for x, y in zip(r0, r1)]
        rr = rec(dst, port)
        tap(len(rr) == 1, "%s: one record at %s (%d)" % (name, dst, len(rr)))
        if not rr:
            continue
        rr = rr[0]
        print("# %s: %s's record %d packets, its eth0 rx_packets %d, its Tcp InSegs %d" %
              (name, dst, rr["pkts_fwd"], dr[1], dr[4]))
        if dst == "b" and mode == "on":
            # b negotiated GUEST_TSO: a's super-frames reach it whole, so
            # its eth0 counts super-frames; its record still counts the
            # segments, as a's does (the packets checked against a's
            # OutSegs above; the arithmetic against wire counts in the
            # c and tap transfers).
            tap(dr[1] < rr["pkts_fwd"],
                "%s: b took a's super-frames whole: %d frames for %d segments" %
                (name, dr[1], rr["pkts_fwd"]))
            if bdrops != "0":
                print("ok - %s: b's record = a's # skip: %s drops at b's queue" % (name, bdrops))
            else:
                tap(rr["pkts_fwd"] == ra["pkts_fwd"] and rr["bytes_fwd"] == ra["bytes_fwd"],
                    "%s: b's record of a's packets/bytes = a's (%d/%d, %d/%d)" %
                    (name, rr["pkts_fwd"], rr["bytes_fwd"], ra["pkts_fwd"], ra["bytes_fwd"]))
        else:
            tap(rr["pkts_fwd"] == dr[1] and rr["bytes_fwd"] == dr[2] - 14 * dr[1],
                "%s: %s's packets/bytes from a = %s's eth0 rx (%d/%d, %d/%d)" %
                (name, dst, dst, rr["pkts_fwd"], rr["bytes_fwd"], dr[1], dr[2] - 14 * dr[1]))
        tap(rr["pkts_rev"] == dr[0],
            "%s: %s's packets to a = %s's Tcp OutSegs + RetransSegs (%d, %d)" % (name, dst, dst, rr["pkts_rev"], dr[0]))
        if rr["pkts_fwd"] != ra["pkts_fwd"]:
            print("# %s: a counted %d packets %d bytes to %s, %s %d %d: segments dropped "
                  "at %s's queue (a resent them)" % (name, ra["pkts_fwd"], ra["bytes_fwd"],
                  dst, dst, rr["pkts_fwd"], rr["bytes_fwd"], dst))
    else:
        hseg = int(f[14])
        fp, fb, rp, rb = [int(x) for x in f[16:20]]
        if f[20] != "0":
            print("ok - %s: capture on the tap # skip: tcpdump lost %s frames" % (name, f[20]))
            continue
        tap(rp == hseg and ra["pkts_rev"] == rp and ra["bytes_rev"] == rb,
            "%s: a's packets/bytes from the host = the capture (%d/%d, %d/%d; host OutSegs + RetransSegs %d)" %
            (name, ra["pkts_rev"], ra["bytes_rev"], rp, rb, hseg))
        tap(0 < fp <= ra["pkts_fwd"] and (fp < ra["pkts_fwd"] or fb == ra["bytes_fwd"]),
            "%s: the capture of a's segments on the tap: %d packets %d bytes (a counted %d %d)" %
            (name, fp, fb, ra["pkts_fwd"], ra["bytes_fwd"]))
PY
t_end
