#!/usr/bin/env bash
# cotrackd guest-visible cost (issue 4): HTTP requests per second and
# latency seen by a load generator (wrk, in a network namespace, through
# cotrackd's tap uplink) against the frontend VM (which, per request,
# calls its local cache and the backend VM), with
#   mem   cotrackd with both VMs' memory scanned every INTERVAL (default
#         10 ms, the daemon's default): full tracking
#   nic   the same, without mem= (packet view only, no memory scanning)
#   [none cotrackd --no-track, with BASELINE=1: forwarding only]
# Same guests (128M, TCG, -cpu max), same everything else.  QEMU 7.2
# connects to its stream socket once and never reconnects, so every
# round starts a fresh cotrackd and boots both guests again; the rounds
# alternate the variants (ROUNDS rounds of each, default 3).  Each round:
# WARM s of wrk (discarded), then DUR s of `wrk -t1 -cCONNS --latency`.
# The table shows the median round and the spread; timing never fails
# the run.  Traffic stays in the namespace and tap this script creates.
#
#   O=build/rel BENCH_OUT=build/bench bench/track-guest.sh
#   (ROUNDS=3 DUR=20 WARM=3 CONNS=4 INTERVAL=10ms BASELINE=0)
set -u
: "${O:?run through make bench (O=build dir)}" "${BENCH_OUT:=build/bench}"
top=${TOP:-$(cd "$(dirname "$0")/.." && pwd)}
O=$(cd "$O" && pwd)
ROUNDS=${ROUNDS:-3}
DUR=${DUR:-20}
WARM=${WARM:-3}
CONNS=${CONNS:-4}
INTERVAL=${INTERVAL:-10ms}
BASELINE=${BASELINE:-0}
D=$O/cotrackd
G=$top/guest
[ -x "$D" ] || { echo "track-guest: $D missing (make O=$O)"; exit 1; }
command -v wrk >/dev/null || { echo "track-guest: wrk missing (scripts/setup)"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "track-guest: needs root (network namespace, tap)"; exit 0; }
tmp=$(mktemp -d /tmp/cotrack-bench-guest.XXXXXX)
ns=cotbg$$
tap=cotbg$$
pids=()
dpid=
cleanup() {
	local p
	[ -n "$dpid" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$G/build.sh" >"$tmp/build.log" 2>&1 || { echo "track-guest: guest/build.sh failed"; tail -3 "$tmp/build.log"; exit 1; }
ip netns add "$ns" || { echo "track-guest: ip netns add failed"; exit 1; }
ip -n "$ns" link set lo up

# wrk's latency figure (e.g. 812.34us, 12.5ms, 1.02s) in ms.
to_ms() {
	awk -v x="$1" 'BEGIN {
		if (x ~ /us$/) { sub(/us$/, "", x); print x / 1000 }
		else if (x ~ /ms$/) { sub(/ms$/, "", x); print x + 0 }
		else if (x ~ /m$/) { sub(/m$/, "", x); print x * 60000 }
		else { sub(/s$/, "", x); print x * 1000 } }'
}

# CPU time (ns) of both guests' QEMU processes, all threads.
guest_cpu() {
	local d p t sum=0
	for d in fe be; do
		p=$(cat "$tmp/$d/qemu.pid" 2>/dev/null) || continue
		for t in /proc/"$p"/task/*/schedstat; do
			sum=$((sum + $(cut -d' ' -f1 "$t" 2>/dev/null || echo 0)))
		done
	done
	echo "$sum"
}

# round VARIANT N: appends "variant rps p50 p99 requests errors scans
# scan_us cpu% round guest_ms_per_request" to results.
round() {
	local var=$1 r=$2 name=cotbg$$-$2-$1 opt=() mfe="" mbe="" out rps p50 p99 req err scans scanus
	local c0 c1 g0 g1 t0 t1 cpu gcpu
	case $var in
	none) opt=(--no-track) ;;
	mem) mfe=",mem=/dev/shm/$name-fe" mbe=",mem=/dev/shm/$name-be" ;;
	esac
	rm -f "$tmp"/*.sock
	"$D" "${opt[@]}" -i "$INTERVAL" --vm "fe,net=$tmp/fe.sock$mfe" \
		--vm "be,net=$tmp/be.sock$mbe" --uplink "$tap,netns=$ns" \
		-o "$tmp/rec-$var-$r.json" 2>"$tmp/d-$var-$r.log" &
	dpid=$!
	for _ in $(seq 50); do [ -S "$tmp/be.sock" ] && [ -S "$tmp/fe.sock" ] && break; sleep 0.1; done
	for _ in $(seq 50); do ip -n "$ns" link show "$tap" >/dev/null 2>&1 && break; sleep 0.1; done
	ip -n "$ns" link set "$tap" up && ip -n "$ns" addr add 10.0.0.100/24 dev "$tap" || {
		echo "track-guest: tap $tap in $ns not configured"; return 1; }
	rm -rf "$tmp/be" "$tmp/fe"
	"$G/run.sh" --role backend --name "$name-be" --dir "$tmp/be" --mem 128M \
		--net "$tmp/be.sock" --ip 10.0.0.3/24 --timeout 600 >"$tmp/be.out" 2>&1 &
	pids+=($!)
	"$G/run.sh" --role frontend --name "$name-fe" --dir "$tmp/fe" --mem 128M \
		--net "$tmp/fe.sock" --ip 10.0.0.2/24 --backend 10.0.0.3:80 \
		--timeout 600 >"$tmp/fe.out" 2>&1 &
	pids+=($!)
	if ! "$G/ctl.sh" "$tmp/be" wait-ready 240 >/dev/null ||
		! "$G/ctl.sh" "$tmp/fe" wait-ready 240 >/dev/null; then
		echo "track-guest: guests not ready ($var round $r)"
		tail -3 "$tmp/be.out" "$tmp/fe.out"
		return 1
	fi
	if [ "$var" = mem ]; then
		# Measure only once both memory views are up.
		for _ in $(seq 100); do
			[ "$(grep -c 'memory view up' "$tmp/d-$var-$r.log")" -ge 2 ] && break
			sleep 0.1
		done
		[ "$(grep -c 'memory view up' "$tmp/d-$var-$r.log")" -ge 2 ] || {
			echo "track-guest: memory view did not come up"; tail -3 "$tmp/d-$var-$r.log"; return 1; }
	fi
	ip netns exec "$ns" wrk -t1 -c"$CONNS" -d"${WARM}s" --timeout 10s \
		http://10.0.0.2/ >"$tmp/warm.txt" 2>&1
	c0=$(cut -d' ' -f1 "/proc/$dpid/schedstat")
	g0=$(guest_cpu)
	t0=$(date +%s%N)
	ip netns exec "$ns" wrk -t1 -c"$CONNS" -d"${DUR}s" --timeout 10s --latency \
		http://10.0.0.2/ >"$tmp/wrk-$var-$r.txt" 2>&1
	c1=$(cut -d' ' -f1 "/proc/$dpid/schedstat")
	g1=$(guest_cpu)
	t1=$(date +%s%N)
	# cotrackd's CPU over the measured window, in % of one core
	cpu=$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.2f", (b - a) / (e - s) * 100 }')
	out=$tmp/wrk-$var-$r.txt
	"$G/ctl.sh" "$tmp/fe" stop 20 >/dev/null 2>&1
	"$G/ctl.sh" "$tmp/be" stop 20 >/dev/null 2>&1
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	pids=()
	kill -TERM "$dpid"
	wait "$dpid"
	dpid=
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
	p50=$(awk '$1 == "50%" {print $2}' "$out")
	p99=$(awk '$1 == "99%" {print $2}' "$out")
	req=$(awk '/requests in/ {print $1}' "$out")
	if [ -z "$rps" ] || [ -z "$p50" ] || [ -z "$p99" ]; then
		echo "track-guest: wrk gave no figures ($var round $r):"
		cat "$out"
		return 1
	fi
	# guests' CPU (both QEMUs) per request over the window, in ms: what
	# the guests had to do per request, whatever the machine's load
	gcpu=$(awk -v a="$g0" -v b="$g1" -v n="$req" 'BEGIN { printf "%.3f", n ? (b - a) / n / 1e6 : 0 }')
	err=$(awk '/Socket errors/ {gsub(",", ""); s = $4 + $6 + $8 + $10} /Non-2xx/ {s += $NF} END {print s + 0}' "$out")
	scans=$(awk '/memory scans/ {s += $4} END {print s + 0}' "$tmp/d-$var-$r.log")
	scanus=$(awk '/memory scans/ {if ($6 + 0 > m) m = $6 + 0} END {print m + 0}' "$tmp/d-$var-$r.log")
	echo "$var $rps $(to_ms "$p50") $(to_ms "$p99") $req $err $scans $scanus $cpu $r $gcpu" >>"$tmp/results"
	printf '  round %d %-4s %7.2f req/s  p50 %7.2f ms  p99 %7.2f ms  cotrackd %5.2f%% cpu  guests %6.3f ms cpu/req  (%s requests, %s errors, %s scans of %s us)\n' \
		"$r" "$var" "$rps" "$(to_ms "$p50")" "$(to_ms "$p99")" "$cpu" "$gcpu" "$req" "$err" "$scans" "$scanus"
}

variants="mem nic"
[ "$BASELINE" = 1 ] && variants="mem nic none"
: >"$tmp/results"
echo "wrk -t1 -c$CONNS -d${DUR}s from netns $ns via tap $tap -> frontend VM (cache + backend VM per request); scan interval $INTERVAL"
for r in $(seq "$ROUNDS"); do
	vs=$variants
	[ $((r % 2)) = 0 ] && vs=$(tr ' ' '\n' <<<"$variants" | tac | tr '\n' ' ')
	for v in $vs; do
		round "$v" "$r" || exit 1
	done
done

# median of column C for variant V
med() {
	awk -v v="$1" -v c="$2" '$1 == v {print $c}' "$tmp/results" | sort -g |
		awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
range() {
	awk -v v="$1" -v c="$2" '$1 == v { if (mn == "" || $c < mn) mn = $c; if ($c > mx) mx = $c }
		END { printf "%.2f..%.2f", mn, mx }' "$tmp/results"
}
# Per round, mem against nic (run back to back in the same round), column C,
# as "+x.x% ..." and the median of them.
paired() {
	awk -v c="$1" '{ v[$10, $1] = $c; r[$10] = 1 }
		END { for (k in r) if (v[k, "nic"] > 0) printf "%.2f\n", (v[k, "mem"] / v[k, "nic"] - 1) * 100 }' \
		"$tmp/results" | sort -g >"$tmp/pair"
	printf '%s  (median %+.1f%%)' "$(awk '{printf "%+.1f%% ", $1}' "$tmp/pair")" \
		"$(awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}' "$tmp/pair")"
}
echo
printf '%-7s %8s %15s %8s %15s %8s %17s %6s %8s %8s %9s\n' variant "req/s" "(min..max)" "p50 ms" \
	"(min..max)" "p99 ms" "(min..max)" errors "cotrackd" "scan us" "guests ms"
printf '%-7s %8s %15s %8s %15s %8s %17s %6s %8s %8s %9s\n' "" "" "" "" "" "" "" "" "% cpu" mean "cpu/req"
for v in $variants; do
	printf '%-7s %8.2f %15s %8.2f %15s %8.2f %17s %6d %8.2f %8.1f %9.3f\n' "$v" \
		"$(med "$v" 2)" "$(range "$v" 2)" "$(med "$v" 3)" "$(range "$v" 3)" \
		"$(med "$v" 4)" "$(range "$v" 4)" \
		"$(awk -v v="$v" '$1 == v {s += $6} END {print s + 0}' "$tmp/results")" \
		"$(med "$v" 9)" "$(med "$v" 8)" "$(med "$v" 11)"
done
echo
echo "memory scanning on vs off, each round's mem against the nic run next to it:"
echo "  req/s $(paired 2)"
echo "  p50   $(paired 3)"
echo "  p99   $(paired 4)"
echo "  guests' CPU per request $(paired 11)"
awk '{ if (mn[$1] == "" || $2 < mn[$1]) mn[$1] = $2; if ($2 > mx[$1]) mx[$1] = $2 }
	END { for (v in mn) printf "noise: req/s of %s varies %.1f%% from round to round (same setting)\n", v, (mx[v] / mn[v] - 1) * 100 }' \
	"$tmp/results" | sort
cat <<EOF
(target: within 2%.  Medians of $ROUNDS rounds per variant; errors: wrk socket
 errors + non-2xx, all rounds; cotrackd % cpu: its CPU time during the
 measured $DUR s, % of one core; scan us: mean time of one memory scan;
 guests ms cpu/req: CPU time of both QEMUs (all threads) per request over
 the measured window, less sensitive to the machine's load than wall time:
 if scanning made the guests work more per request, it would show here.)
EOF
cp "$tmp/results" "$BENCH_OUT/track-guest.raw" 2>/dev/null || true
