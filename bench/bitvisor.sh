#!/usr/bin/env bash
# BitVisor mode's cost (issue 9), the seeds' experiment: the same guest
# (Debian cloud kernel, busybox, role backend: microsvc HTTP on port 80)
# makes N HTTP requests to an external host (a server in the test's
# network namespace, tests/tools/httpserver_ka.py on HOST_IP:8080) and N
# to its own localhost (127.0.0.1:80), each a new connection, in three
# configurations measured one after the other in one run:
#   a  plain QEMU TCG, no BitVisor (guest/run.sh --tap: virtio-net on a
#      tap in a namespace made here, 2G, -cpu EPYC)
#   b  BitVisor, cotrack module with net=cotrack:bv0:notrack (frames
#      forwarded, no tracker: build/bitvisor-notrack)
#   c  BitVisor with tracking (make bitvisor: NIC view + memory view,
#      the memory view's gate on guest exits, BitVisor patch 0004)
#   t  (only when asked: CONFIGS="a b c t") c with the gate on the
#      module's timer and frames only, net=cotrack:bv0:timer
#      (build/bitvisor-timer): the gate before patch 0004
# b and c: guest/bitvisor.sh (q35 + OVMF, -cpu EPYC,+svm, 2048M, e1000e
# below BitVisor's virtio-net).  The client is the guest's `microsvc
# get` (guest/init's console command get): per-request time from
# connect to the end of the answer on the guest's CLOCK_MONOTONIC,
# median and p90; beside it the host's wall time of the whole batch per
# request and the CPU time of QEMU (all threads) per request.  External
# requests close first (--close-first), so the guest's socket ends in
# TIME_WAIT where the memory view sees it.
#
# In c (and t), capture by source as in track_1000: every one of the 2N
# connections must have exactly one record on BitVisor's serial log
# (`cotrack-rec {json}`), external ones seen_by both, localhost ones
# seen_by vmi (tests/tools/bitvisor_check.py, its TAP lines printed;
# the exit status is 1 when it fails).  Timing never fails the run.
#
#   bench/bitvisor.sh            (make bench BENCH=bitvisor; root)
#   N=1000 ROUNDS=1 CONFIGS="a b c" bench/bitvisor.sh
# ROUNDS > 1 alternates the order of the configurations per round; the
# table shows medians over rounds.  Results in $BENCH_OUT/bitvisor.raw.
set -u
case ${1:-} in
'') ;;
-h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
*) echo "$(basename "$0"): no arguments (settings in the environment; --help)" >&2; exit 2 ;;
esac
top=${TOP:-$(cd "$(dirname "$0")/.." && pwd)}
: "${BENCH_OUT:=$top/build/bench}"
N=${N:-1000}
ROUNDS=${ROUNDS:-1}
CONFIGS=${CONFIGS:-a b c}
G=$top/guest
TARBALL=${BITVISOR_TARBALL:-$top/../shared/third_party/bitvisor/bitvisor-66559d6.tar.gz}
BV=$top/build/bitvisor BVN=$top/build/bitvisor-notrack BVT=$top/build/bitvisor-timer
HIP=10.0.0.1 GIP=10.0.0.2
say() { echo "bitvisor-bench: $*"; }
[ "$(id -u)" = 0 ] || { say "needs root (network namespace, tap); skipped"; exit 0; }
[ -f "$TARBALL" ] || { say "no BitVisor tarball ($TARBALL); skipped"; exit 0; }
case $N$ROUNDS in *[!0-9]*) say "N and ROUNDS are numbers"; exit 2 ;; esac
[ "$N" -ge 1 ] && [ "$N" -le 100000 ] || { say "N must be 1..100000"; exit 2; }
for c in $CONFIGS; do case $c in a | b | c | t) ;; *) say "CONFIGS: a b c t, not $c"; exit 2 ;; esac; done
mkdir -p "$BENCH_OUT"
tmp=$(mktemp -d /tmp/cotrack-bench-bv.XXXXXX)
pids=() ns=
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	[ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$G/build.sh" >"$tmp/build.log" 2>&1 || { say "guest/build.sh failed"; tail -3 "$tmp/build.log"; exit 1; }
build() { # OUT NET
	BITVISOR_TARBALL=$TARBALL COT_BV_NET=$2 "$top/tee/bitvisor/build.sh" "$1" >"$tmp/bv-build.log" 2>&1 ||
		{ say "make bitvisor ($2) failed"; tail -5 "$tmp/bv-build.log"; exit 1; }
}
build "$BV" cotrack # also the seed of the others
# seeded from the tracking tree (same stamp): only the defconfig differs,
# so make recompiles core/config.c and links
variant() { # OUT NET
	if [ ! -d "$1/src" ] && [ -f "$BV/src/.stamp" ]; then
		mkdir -p "$1" && cp -a "$BV/src" "$1/"
	fi
	build "$1" "$2"
	strings "$1/bitvisor.elf" | grep -q "net=$2," || { say "$1/bitvisor.elf lacks net=$2"; exit 1; }
}
case " $CONFIGS " in *" b "*) variant "$BVN" cotrack:bv0:notrack ;; esac
case " $CONFIGS " in *" t "*) variant "$BVT" cotrack:bv0:timer ;; esac

# CPU time (ns) of the QEMU process $1, all threads
qcpu() {
	local t sum=0
	for t in /proc/"$1"/task/*/schedstat; do
		sum=$((sum + $(cut -d' ' -f1 "$t" 2>/dev/null || echo 0)))
	done
	echo "$sum"
}
# "median p90" of the guest's microsvc-get-us line in file $1 (us)
gtimes() { tr -d '\r' <"$1" | awk '/^microsvc-get-us / { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
	END { print (v["median"] == "" ? "-" : v["median"]), (v["p90"] == "" ? "-" : v["p90"]), (v["n"] == "" ? 0 : v["n"]) }'; }
snmp() { # DIR WHEN FIELD (3 ActiveOpens, 4 PassiveOpens)
	tr -d '\r' <"$1/console.log" | python3 "$G/truth.py" --snmp - |
		awk -v w="$2" -v f="$3" '$2 == w {v = $f} END {print v}'
}

# run CFG ROUND: boots, measures, appends to $tmp/results:
#   cfg round target median_us p90_us wall_us_per_req qemu_cpu_us_per_req
run() {
	local cfg=$1 r=$2 d=$tmp/$1-$2 name=cotbb$$$1$2 qpid t0 t1 c0 c1 tg ok=1 line
	local srvns bvd
	rm -rf "$d"
	mkdir -p "$d"
	if [ "$cfg" = a ]; then
		ns=$name
		ip netns add "$ns" || { say "ip netns add"; return 1; }
		ip -n "$ns" link set lo up
		ip -n "$ns" tuntap add dev "$name" mode tap
		ip -n "$ns" addr add "$HIP/24" dev "$name"
		ip -n "$ns" link set "$name" up
		ip netns exec "$ns" "$G/run.sh" --role backend --name "$name" --dir "$d" \
			--tap "$name" --ip "$GIP/24" --mem 2G --no-shm --cpu EPYC \
			--timeout 900 >"$d/run.out" 2>&1 &
		pids+=($!)
		srvns=$ns
	else
		case $cfg in b) bvd=$BVN ;; t) bvd=$BVT ;; *) bvd=$BV ;; esac
		"$G/bitvisor.sh" --dir "$d" --name "$name" --timeout 900 \
			--bitvisor "$bvd" >"$d/run.out" 2>&1 &
		pids+=($!)
		srvns=$name # bitvisor.sh's namespace is named after the run
	fi
	if ! "$G/ctl.sh" "$d" wait-ready 300 >/dev/null; then
		say "guest not ready ($cfg round $r)"
		tail -5 "$d/run.out" "$d/console.log" 2>/dev/null | tr -d '\r'
		return 1
	fi
	ip netns exec "$srvns" python3 "$top/tests/tools/httpserver_ka.py" "$HIP" 8080 \
		>"$d/srv.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 50); do
		ip netns exec "$srvns" ss -Htln "sport = :8080" | grep -q . && break
		sleep 0.1
	done
	if [ "$cfg" = c ] || [ "$cfg" = t ]; then
		# the memory view must be scanning before connections count
		for _ in $(seq 120); do
			grep -q '^cotrack: vmi: first scan' "$d/bitvisor.log" && break
			sleep 0.5
		done
		grep -q '^cotrack: vmi: first scan' "$d/bitvisor.log" ||
			{ say "memory view not up in $cfg"; tr -d '\r' <"$d/bitvisor.log" | grep '^cotrack' | tail -5; ok=0; }
	fi
	qpid=$(cat "$d/qemu.pid")
	"$G/ctl.sh" "$d" cmd "snmp before" 60 >/dev/null
	for tg in ext lo; do
		if [ "$tg" = ext ]; then line="get $HIP:8080/ $N --close-first"; else line="get 127.0.0.1:80/ $N"; fi
		c0=$(qcpu "$qpid") t0=$(date +%s%N)
		"$G/ctl.sh" "$d" cmd "$line" 1200 >"$d/get-$tg.log" || ok=0
		t1=$(date +%s%N) c1=$(qcpu "$qpid")
		grep -q "^microsvc-get ok=$N fail=0" <(tr -d '\r' <"$d/get-$tg.log") ||
			{ say "$cfg $tg: $(tr -d '\r' <"$d/get-$tg.log" | grep -m1 '^microsvc-get ')"; ok=0; }
		read -r med p90 n < <(gtimes "$d/get-$tg.log")
		echo "$cfg $r $tg $med $p90 $(((t1 - t0) / N / 1000)) $(((c1 - c0) / N / 1000))" >>"$tmp/results"
		printf '  round %d %s %-3s median %6s us  p90 %6s us  wall %6d us/req  qemu cpu %6d us/req  (%s timed)\n' \
			"$r" "$cfg" "$tg" "$med" "$p90" "$(((t1 - t0) / N / 1000))" "$(((c1 - c0) / N / 1000))" "$n"
	done
	"$G/ctl.sh" "$d" cmd "snmp after" 60 >/dev/null
	if [ "$cfg" = c ] || [ "$cfg" = t ]; then
		# records of closed connections come after the close linger,
		# localhost ones (memory only) when the server's TIME_WAIT
		# socket is gone, 60 s after the close: wait (bounded) for 2N
		for _ in $(seq 300); do
			[ "$(tr -d '\r' <"$d/bitvisor.log" | grep -c '^cotrack-rec .*"proto":"tcp"')" -ge $((2 * N)) ] && break
			sleep 0.5
		done
	fi
	"$G/ctl.sh" "$d" stop 30 >/dev/null 2>&1
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	pids=()
	[ "$cfg" = a ] && ip netns del "$ns" 2>/dev/null
	ns=
	if [ "$cfg" = c ] || [ "$cfg" = t ]; then
		tr -d '\r' <"$d/bitvisor.log" >"$d/bv.log"
		: >"$d/client.log"
		echo "  capture by source ($cfg, round $r, tests/tools/bitvisor_check.py):"
		python3 "$top/tests/tools/bitvisor_check.py" "$d/bv.log" "$d/client.log" "$GIP" "$HIP" 0 \
			"$(($(snmp "$d" after 4) - $(snmp "$d" before 4)))" "$N" \
			"$(($(snmp "$d" after 3) - $(snmp "$d" before 3)))" "$N" out-both >"$d/check.txt"
		[ $? = 0 ] || ok=0
		sed 's/^/    /' "$d/check.txt"
		python3 - "$d/bv.log" "$GIP" "$HIP" <<-'EOF'
			import json, sys, collections
			log, gip, hip = sys.argv[1:4]
			c = collections.Counter()
			for line in open(log, errors="replace"):
			    i = line.find("cotrack-rec ")
			    if i < 0:
			        continue
			    try:
			        r = json.loads(line[i + 12:])
			    except ValueError:
			        continue
			    if r.get("proto") != "tcp":
			        continue
			    src = ("localhost" if r["dst"] == "127.0.0.1" else
			           "external" if r["dst"] == hip else "other")
			    c[src, r.get("seen_by")] += 1
			print("    %-10s %6s %6s %6s" % ("source", "nic", "vmi", "both"))
			for s in ("external", "localhost", "other"):
			    print("    %-10s %6d %6d %6d" % (s, c[s, "nic"], c[s, "vmi"], c[s, "both"]))
		EOF
		grep '^cotrack: \(stats\|timer\)' "$d/bv.log" | tail -2 | sed 's/^/    /'
		grep '^cotrack: max_tick_us by step' "$d/bv.log" | tail -1 | sed 's/^/    /'
		[ "$ok" = 1 ] || { rm -rf "$BENCH_OUT/bitvisor.failed-$cfg"; rm -rf "$d/esp"; cp -r "$d" "$BENCH_OUT/bitvisor.failed-$cfg"; }
	fi
	[ "$ok" = 1 ]
}

: >"$tmp/results"
echo "guest: $N requests to $HIP:8080 (ext, namespace) and $N to 127.0.0.1:80 (lo), each a new connection; configs $CONFIGS"
fails=0
for r in $(seq "$ROUNDS"); do
	cs=$CONFIGS
	[ $((r % 2)) = 0 ] && cs=$(tr ' ' '\n' <<<"$CONFIGS" | tac | tr '\n' ' ')
	for c in $cs; do
		run "$c" "$r" || fails=$((fails + 1))
	done
done
med() { # CFG TARGET COLUMN
	awk -v c="$1" -v t="$2" -v k="$3" '$1 == c && $3 == t && $k != "-" {print $k}' "$tmp/results" | sort -g |
		awk '{a[NR] = $1} END {if (!NR) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
ratio() { awk -v x="$1" -v y="$2" 'BEGIN { if (x == "-" || y == "-" || y == 0) print "-"; else printf "x%.2f", x / y }'; }
echo
printf '%-4s %-4s %10s %10s %12s %12s\n' cfg to "median us" "p90 us" "wall us/req" "qemu cpu us"
for t in ext lo; do
	for c in $CONFIGS; do
		printf '%-4s %-4s %10s %10s %12s %12s\n' "$c" "$t" "$(med "$c" "$t" 4)" "$(med "$c" "$t" 5)" \
			"$(med "$c" "$t" 6)" "$(med "$c" "$t" 7)"
	done
done
echo
echo "ratios (medians over $ROUNDS round(s)): b/a = BitVisor's cost, c/b = tracking's"
printf '%-4s %-6s %8s %8s %8s %8s\n' to ratio median p90 wall "qemu cpu"
for t in ext lo; do
	for p in "b a" "c b" "c a" "t b"; do
		case " $CONFIGS " in *" ${p% *} "*) ;; *) continue ;; esac
		set -- $p
		printf '%-4s %-6s %8s %8s %8s %8s\n' "$t" "$1/$2" "$(ratio "$(med "$1" "$t" 4)" "$(med "$2" "$t" 4)")" \
			"$(ratio "$(med "$1" "$t" 5)" "$(med "$2" "$t" 5)")" "$(ratio "$(med "$1" "$t" 6)" "$(med "$2" "$t" 6)")" \
			"$(ratio "$(med "$1" "$t" 7)" "$(med "$2" "$t" 7)")"
	done
done
cat <<EOF
(CoCo-Tracker measured x1.2-1.4 for BitVisor and a further x1.6-2.9 for
 logging every packet.  Under TCG absolute times mean little: every
 instruction of the guest and of BitVisor is emulated; only the ratios
 of runs side by side say something, and the machine is shared.
 median/p90: the guest's clock; wall: the host's, whole batch / N;
 qemu cpu: QEMU's CPU time per request over the batch.)
EOF
cp "$tmp/results" "$BENCH_OUT/bitvisor.raw" 2>/dev/null || true
[ "$fails" = 0 ] || { say "$fails configuration run(s) failed (artifacts of c/t in $BENCH_OUT/bitvisor.failed-CFG)"; exit 1; }
exit 0
