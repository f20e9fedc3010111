#!/usr/bin/env bash
# Cost of the socket owners passes in cotrackd (issue 12): one guest of
# role "sockets" holding SOCKETS (10,000) extra TCP sockets in cgroups of
# its own (512 MiB, -cpu max, TCG, RAM in /dev/shm, on a stream port of
# cotrackd), in which a local client makes REQS HTTP requests, each on a
# new connection, so that each scan finds new sockets and an owners pass
# is due; for each PCT of OWNERS_CPU (cotrackd --owners-cpu) a fresh
# cotrackd and guest, and the daemon's summary: scans, owners passes,
# their CPU (the scanner thread's), bytes and page walks.  No network:
# the guest's NIC is cotrackd's port and nothing else.
#
#   O=build/rel bench/owners.sh        (SOCKETS=10000 REQS=2000
#                                       OWNERS_CPU="20 100" INTERVAL=10ms)
set -u
: "${O:?O=build dir}"
top=${TOP:-$(cd "$(dirname "$0")/.." && pwd)}
O=$(cd "$O" && pwd)
G=$top/guest
SOCKETS=${SOCKETS:-10000}
REQS=${REQS:-2000}
OWNERS_CPU=${OWNERS_CPU:-20 100}
INTERVAL=${INTERVAL:-10ms}
tmp=$(mktemp -d /tmp/cotrack-bench-owners.XXXXXX)
dpid= gpid=
cleanup() {
	[ -n "$gpid" ] && kill "$gpid" 2>/dev/null && wait "$gpid" 2>/dev/null
	[ -n "$dpid" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$G/build.sh" >"$tmp/build.log" 2>&1 || { echo "owners: guest/build.sh failed"; exit 1; }
for pct in $OWNERS_CPU; do
	name=cotown$$-$pct dir=$tmp/$pct
	mkdir -p "$dir"
	"$O/cotrackd" --vm "g,net=$dir/g.sock,mem=/dev/shm/$name" -o /dev/null \
		--interval "$INTERVAL" --owners-cpu "$pct" 2>"$dir/cotrackd.log" &
	dpid=$!
	for _ in $(seq 100); do [ -S "$dir/g.sock" ] && break; sleep 0.1; done
	"$G/run.sh" --role sockets --cpu max --mem 512M --name "$name" --dir "$dir/g" \
		--net "$dir/g.sock" --ip 10.0.0.2/24 --timeout 1800 \
		--append "cotrack.count=$SOCKETS cotrack.truth=0" >"$dir/g.out" 2>&1 &
	gpid=$!
	"$G/ctl.sh" "$dir/g" wait-ready 900 >/dev/null || { echo "owners: guest not ready"; tail -5 "$dir/g.out"; exit 1; }
	t0=$(date +%s.%N)
	"$G/ctl.sh" "$dir/g" cmd "run microsvc serve --name s --port 8080 & sleep 1; microsvc get 127.0.0.1:8080 --count $REQS" 1200 |
		grep -m1 "microsvc-get ok" | tr -d '\r' | sed 's/^/# /'
	t1=$(date +%s.%N)
	kill -TERM "$dpid"; wait "$dpid"; dpid=
	"$G/ctl.sh" "$dir/g" stop 30 >/dev/null 2>&1; wait "$gpid" 2>/dev/null; gpid=
	echo "owners-cpu $pct: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s of requests"
	grep "memory scans\|scan steps\|owners passes" "$dir/cotrackd.log" | sed 's/^/  /'
done
