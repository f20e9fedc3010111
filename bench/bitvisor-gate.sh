#!/usr/bin/env bash
# BitVisor mode: how often the memory view gets to run (issue 9 item 2,
# the gate), with the gate on guest exits (BitVisor patch 0004, the
# module's default) against the gate on the module's timer and frames
# only (net=cotrack:bv0:timer, build/bitvisor-timer: what ran before).
# Per build: boot, wait for the memory view's first scan, then an idle
# window and a loaded one (the guest makes requests to the namespace's
# server, tests/tools/httpserver_ka.py), each spanning three of the
# module's stats lines (one every 10 s of its clock).  Printed per
# window: ticks per second into the tracker (timer, exit gate; frames
# tick too), guest exits per second, exits that found the lock taken,
# socket scans per second (the scan gate asks for 4), frames per second;
# then the longest tick per memory-view step over the whole run
# (discovery slice, BTF chunk, profile, scan step, last scan step with
# diff and merge, expiry only).  Timing never fails the run.
#
#   bench/bitvisor-gate.sh          (root; make bench BENCH=bitvisor-gate)
#   GATES="exit timer" bench/bitvisor-gate.sh
set -u
case ${1:-} in
'') ;;
-h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
*) echo "$(basename "$0"): no arguments (settings in the environment; --help)" >&2; exit 2 ;;
esac
top=${TOP:-$(cd "$(dirname "$0")/.." && pwd)}
: "${BENCH_OUT:=$top/build/bench}"
GATES=${GATES:-exit timer}
G=$top/guest
TARBALL=${BITVISOR_TARBALL:-$top/../shared/third_party/bitvisor/bitvisor-66559d6.tar.gz}
HIP=10.0.0.1
say() { echo "bitvisor-gate: $*"; }
[ "$(id -u)" = 0 ] || { say "needs root (network namespace, tap); skipped"; exit 0; }
[ -f "$TARBALL" ] || { say "no BitVisor tarball ($TARBALL); skipped"; exit 0; }
for g in $GATES; do case $g in exit | timer) ;; *) say "GATES: exit timer, not $g"; exit 2 ;; esac; done
mkdir -p "$BENCH_OUT"
tmp=$(mktemp -d /tmp/cotrack-bench-gate.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$G/build.sh" >"$tmp/build.log" 2>&1 || { say "guest/build.sh failed"; tail -3 "$tmp/build.log"; exit 1; }

bvdir() { [ "$1" = exit ] && echo "$top/build/bitvisor" || echo "$top/build/bitvisor-timer"; }
build() { # GATE
	local out net=cotrack
	out=$(bvdir "$1")
	[ "$1" = timer ] && net=cotrack:bv0:timer
	if [ "$1" = timer ] && [ ! -d "$out/src" ] && [ -f "$top/build/bitvisor/src/.stamp" ]; then
		mkdir -p "$out" && cp -a "$top/build/bitvisor/src" "$out/"
	fi
	BITVISOR_TARBALL=$TARBALL COT_BV_NET=$net "$top/tee/bitvisor/build.sh" "$out" >"$tmp/bv-build.log" 2>&1 ||
		{ say "make bitvisor ($net) failed"; tail -5 "$tmp/bv-build.log"; exit 1; }
}
nstats() { tr -d '\r' <"$1" | grep -c '^cotrack: timer ticks='; }
# wait_stats LOG N SECS: until LOG has N stats lines (bounded)
wait_stats() {
	for _ in $(seq $(($3 * 2))); do
		[ "$(nstats "$1")" -ge "$2" ] && return 0
		sleep 0.5
	done
	return 1
}

run() { # GATE
	local gate=$1 d=$tmp/$1 name=cotbg$$${1:0:1} s0 s1
	build "$gate"
	"$G/bitvisor.sh" --dir "$d" --name "$name" --timeout 900 --bitvisor "$(bvdir "$gate")" \
		>"$tmp/$gate.out" 2>&1 &
	pids+=($!)
	"$G/ctl.sh" "$d" wait-ready 300 >/dev/null || { say "$gate: guest not ready"; tail -5 "$tmp/$gate.out"; return 1; }
	ip netns exec "$name" python3 "$top/tests/tools/httpserver_ka.py" "$HIP" 8080 >/dev/null 2>&1 &
	pids+=($!)
	for _ in $(seq 120); do grep -q '^cotrack: vmi: first scan' "$d/bitvisor.log" && break; sleep 0.5; done
	# idle: the stats lines s0+1 .. s0+3 (the one in flight skipped)
	s0=$(nstats "$d/bitvisor.log")
	wait_stats "$d/bitvisor.log" $((s0 + 3)) 60 || { say "$gate: no stats lines while idle"; return 1; }
	# load: requests until three more stats lines, the first skipped
	"$G/ctl.sh" "$d" cmd "get $HIP:8080/ 100000 --close-first" 600 >/dev/null 2>&1 &
	local lpid=$!
	s1=$(nstats "$d/bitvisor.log")
	wait_stats "$d/bitvisor.log" $((s1 + 4)) 120 || say "$gate: few stats lines under load"
	kill "$lpid" 2>/dev/null
	wait "$lpid" 2>/dev/null
	tr -d '\r' <"$d/bitvisor.log" >"$tmp/$gate.log"
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	pids=()
	python3 - "$tmp/$gate.log" "$gate" "$s0" "$s1" <<-'EOF'
		import re, sys
		log, gate, s0, s1 = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
		kv = lambda l: {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", l)}
		lines, stats, steps = open(log, errors="replace").read().splitlines(), {}, ""
		rows = []
		for i, l in enumerate(lines):
		    if l.startswith("cotrack: stats "):
		        stats = kv(l)
		    elif l.startswith("cotrack: timer ticks="):
		        d = kv(l)
		        d.update(stats)
		        rows.append(d)
		    elif l.startswith("cotrack: max_tick_us by step:"):
		        steps = l.split(":", 2)[2].strip()
		def rate(a, b, what):
		    if b >= len(rows) or "t_ms" not in rows[b]:
		        return None
		    r0, r1 = rows[a], rows[b]
		    dt = (r1["t_ms"] - r0["t_ms"]) / 1000.0
		    return (r1.get(what, 0) - r0.get(what, 0)) / dt if dt > 0 else None
		for name, a, b in (("idle", s0, s0 + 2), ("load", s1 + 1, s1 + 3)):
		    vals = [rate(a, b, w) for w in ("ticks", "exit_ticks", "exits", "exit_busy", "scans", "frames")]
		    if any(v is None for v in vals):
		        print("%-6s %-5s (not enough stats lines: %d)" % (gate, name, len(rows)))
		        continue
		    print("%-6s %-5s %9.1f %9.1f %9.0f %9.1f %7.2f %8.0f" % ((gate, name) + tuple(vals)))
		print("%-6s max    %s, all ticks %s us" % (gate, steps, rows[-1].get("max_tick_us", "?") if rows else "?"))
	EOF
}

echo "per second over two 10 s stats intervals, idle and loaded (guest: requests to the namespace)"
printf '%-6s %-5s %9s %9s %9s %9s %7s %8s\n' gate phase "timer t/s" "exit t/s" "exits/s" "busy/s" "scans/s" "frames/s"
for g in $GATES; do run "$g" || exit 1; done
cat <<EOF
(timer t/s: ticks of the module's 100 ms BitVisor timer; exit t/s: ticks
 of the 10 ms TSC gate on guest exits (patch 0004); busy/s: exits whose
 tick was skipped because the tracker's lock was taken; scans/s: socket
 snapshots finished (gate: one per 250 ms); frames tick too.  max: the
 longest tick of each memory-view step over the whole run, boot
 included (discovery), in microseconds of BitVisor's clock under TCG.)
EOF
