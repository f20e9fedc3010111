#!/usr/bin/env bash
# Cost of offloads on a vhost-user port (docs/vhost-user.md): one TCG
# guest "a" on vhost-user with offloads=on sends MB megabytes (default
# 100) over TCP to guest "b" (vhost-user) and to guest "c" (-netdev
# stream), RUNS times (default 3) each, its offloads (TSO, GSO, transmit
# checksum: guest/src/offload.c) on and off alternating.  For each run:
# the transfer's wall time, TCP segments per second, the frames a's
# driver handed cotrackd (super-frames with offloads on), and cotrackd's
# CPU time (user + system from /proc) per segment.  The table shows the
# median of the runs per (destination, offloads) and the ratio on/off.
# Timing never fails the run; the payload's FNV-1a is compared.
#
#   O=build/rel bench/vhost-gso.sh      (MB=N, RUNS=N)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-$top/build/rel}
MB=${MB:-100}
RUNS=${RUNS:-3}
G=$top/guest
[ "$(id -u)" = 0 ] || { echo "vhost-gso: needs root" >&2; exit 1; }
[ -x "$O/cotrackd" ] || { echo "vhost-gso: no $O/cotrackd (make O=$O all)" >&2; exit 1; }
"$G/build.sh" >/dev/null || exit 1
D=$(mktemp -d /tmp/cotrack-gso-bench.XXXXXX)
TAG=cotgsob-$$
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	[ -n "${dpid:-}" ] && kill -TERM "$dpid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$D"
}
trap cleanup EXIT
"$O/cotrackd" --vm "a,vhost-user=$D/a.sock,offloads=on" \
	--vm "b,vhost-user=$D/b.sock,offloads=on" --vm "c,net=$D/c.sock" \
	-o "$D/rec.json" 2>"$D/d.log" &
dpid=$!
for _ in $(seq 100); do
	[ -S "$D/a.sock" ] && [ -S "$D/b.sock" ] && [ -S "$D/c.sock" ] && break
	sleep 0.1
done
noip6="sysctl.net.ipv6.conf.all.disable_ipv6=1 sysctl.net.ipv6.conf.default.disable_ipv6=1"
for g in "a --vhost-user $D/a.sock 11" "b --vhost-user $D/b.sock 12" "c --net $D/c.sock 13"; do
	set -- $g
	"$G/run.sh" --role idle --name "$TAG-$1" --dir "$D/$1" --mem 256M "$2" "$3" \
		--ip "10.0.0.$4/24" --timeout 3600 --append "$noip6" >"$D/$1.out" 2>&1 &
	pids+=($!)
done
for g in a b c; do
	"$G/ctl.sh" "$D/$g" wait-ready 300 >/dev/null || { echo "vhost-gso: guest $g did not boot" >&2; exit 1; }
done
run() { "$G/ctl.sh" "$D/$1" cmd "run $2" "${3:-60}" | grep -v '^==COTRACK'; }
segs_tx() { run a "awk '/^Tcp:/ && \$11 ~ /^[0-9]+\$/ {print \$12 + \$13}' /proc/net/snmp; cat /sys/class/net/eth0/statistics/tx_packets" | tr '\n' ' '; }
cpu_ms() { awk '{print ($14 + $15) * 1000 / '"$(getconf CLK_TCK)"'}' "/proc/$dpid/stat"; }
port=6000
: >"$D/runs"
for i in $(seq "$RUNS"); do
	for dst in b c; do
		[ $dst = b ] && ip=10.0.0.12 || ip=10.0.0.13
		for mode in on off; do
			port=$((port + 1))
			run a "offload eth0 $mode" >/dev/null
			run a "ping -c 1 -W 5 $ip" >/dev/null
			run "$dst" "bulk recv $port >/tmp/r 2>&1 &" >/dev/null
			sleep 0.5
			s0=$(segs_tx) c0=$(cpu_ms) t0=$(date +%s%N)
			sent=$(run a "bulk send $ip $port $((MB * 1000000)) $port" 900 | grep '^bulk send')
			t1=$(date +%s%N) c1=$(cpu_ms) s1=$(segs_tx)
			sleep 0.5
			got=$(run "$dst" "cat /tmp/r" | grep '^bulk recv')
			[ "${sent#bulk send }" = "${got#bulk recv }" ] || echo "vhost-gso: $dst $mode run $i: payload differs ($sent / $got)" >&2
			echo "$dst $mode $(((t1 - t0) / 1000000)) $s0 $s1 $c0 $c1" >>"$D/runs"
		done
	done
done
python3 - "$D/runs" "$MB" <<'PY'
import sys, statistics as st
rows = {}
for l in open(sys.argv[1]):
    f = l.split()
    dst, mode, ms = f[0], f[1], int(f[2])
    segs, frames = int(f[5]) - int(f[3]), int(f[6]) - int(f[4])
    cpu = float(f[8]) - float(f[7])
    rows.setdefault((dst, mode), []).append((ms, segs, frames, cpu))
print("%s MB from a (vhost-user, offloads=on port), median of %d runs" % (sys.argv[2], len(next(iter(rows.values())))))
print("%-4s %-4s %9s %12s %14s %16s" % ("to", "a's", "ms", "segments/s", "frames from a", "cotrackd ns/seg"))
med = {}
for (dst, mode), rs in sorted(rows.items()):
    ms = st.median(r[0] for r in rs)
    sps = st.median(r[1] * 1000.0 / r[0] for r in rs)
    fr = st.median(r[2] for r in rs)
    ns = st.median(r[3] * 1e6 / r[1] for r in rs)
    med[(dst, mode)] = (sps, ns)
    print("%-4s %-4s %9.0f %12.0f %14.0f %16.0f" % (dst, mode, ms, sps, fr, ns))
for dst in sorted({d for d, _ in rows}):
    if (dst, "on") in med and (dst, "off") in med:
        print("%s: offloads on/off: segments/s x%.2f, cotrackd CPU per segment x%.2f" %
              (dst, med[(dst, "on")][0] / med[(dst, "off")][0], med[(dst, "on")][1] / med[(dst, "off")][1]))
PY
