#!/usr/bin/env bash
# Packet engine benchmark (issue 2): the same capture (gencap: 100k
# connections, ~1.07M frames, TCP/UDP/ICMP, IPv4/IPv6, 10% VLAN) through
# cotrack replay, softflowd -r and tshark's conversation statistics, in
# one run; then the engine alone (parse + table update, no file I/O).
# Prints the best of RUNS runs (wall and CPU), the median CPU, and
# ratios; the load average before and after, since on a shared machine
# the figures move with it.
set -u
: "${O:?run through make bench}" "${BENCH_OUT:?}"
RUNS=${RUNS:-5}
cap=$BENCH_OUT/mixed.pcap
small=$BENCH_OUT/small.pcap
[ -s "$cap" ] || "$O/bench/gencap" -n 100000 "$cap"
[ -s "$small" ] || "$O/bench/gencap" -n 1000 "$small"
frames=$(capinfos -c -M "$cap" | awk '/Number of packets/ {print $NF}')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

best() { # name cmd...: best wall, best and median user+sys over RUNS runs
	local name=$1 i w c bw=999999 bc=999999 med; shift
	: >"$tmp/cpus"
	for i in $(seq "$RUNS"); do
		/usr/bin/time -f "%e %U %S" -o "$tmp/t" timeout 300 "$@" >/dev/null 2>"$tmp/err" </dev/null ||
			{ echo "$name failed: $(tail -3 "$tmp/err")"; return 1; }
		read -r w u s <"$tmp/t"
		c=$(echo "$u + $s" | bc -l)
		echo "$c" >>"$tmp/cpus"
		bw=$(echo "if ($w < $bw) $w else $bw" | bc -l)
		bc=$(echo "if ($c < $bc) $c else $bc" | bc -l)
	done
	med=$(sort -g "$tmp/cpus" | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
	echo "$name $bw $bc $med" >>"$tmp/results"
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

best "cotrack-replay" "$O/cotrack" replay --format csv -o /dev/null "$cap"
# softflowd: same job (flow table, one record per flow), exported as
# NetFlow v9 to a discard port on loopback; table big enough not to evict.
# Its control socket path must stay under 13 bytes: with a longer one,
# softflowd 1.1.0 blocks for ever in accept() (seen here), hence /tmp/sfN.
sfctl=/tmp/sf$((RANDOM % 10000))
rm -f "$sfctl"
best "softflowd" softflowd -r "$cap" -n 127.0.0.1:9 -d -6 -v 9 -m 200000 \
	-p "$tmp/sf.pid" -c "$sfctl"
rm -f "$sfctl"
best "tshark-conv" tshark -r "$cap" -q -z conv,tcp -z conv,udp
printf '\ncapture: %s frames, %s bytes\n\n' "$frames" "$(stat -c %s "$cap")"
printf '%-16s %9s %9s %9s %12s %12s %10s %10s\n' tool "wall s" "cpu s" "cpu med" "Mpps(wall)" "Mpps(cpu)" "ratio(cpu)" "ratio(med)"
ours=$(awk '$1 == "cotrack-replay" {print $3}' "$tmp/results")
ourmed=$(awk '$1 == "cotrack-replay" {print $4}' "$tmp/results")
while read -r name w c m; do
	printf '%-16s %9.3f %9.3f %9.3f %12.2f %12.2f %9.1fx %9.1fx\n' "$name" "$w" "$c" "$m" \
		"$(echo "$frames / $w / 1000000" | bc -l)" \
		"$(echo "$frames / $c / 1000000" | bc -l)" \
		"$(echo "$c / $ours" | bc -l)" "$(echo "$m / $ourmed" | bc -l)"
done <"$tmp/results"
echo "(ratio = that tool's CPU time / cotrack's, best and median of $RUNS runs: how many"
echo " times faster cotrack is; CPU times are user+sys of /usr/bin/time, 10 ms steps)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "engine without file I/O (frames preloaded in memory):"
"$O/bench/engine" -p 5 "$cap"
echo "same, the frames on 4 KiB pages (-s; above: huge pages when the kernel gives them):"
"$O/bench/engine" -s -p 5 "$cap"
echo "same, a capture small enough to stay in cache (frames hot, as in cotrackd):"
"$O/bench/engine" -p 50 "$small"
