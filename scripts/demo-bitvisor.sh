#!/usr/bin/env bash
# make demo-bitvisor: the two-service scenario of make demo with the
# services' VM under BitVisor (issue 9).  The frontend VM (HTTP; per
# request it calls a cache on its own localhost and the backend) runs as
# BitVisor's guest under QEMU TCG; cotrack's core inside BitVisor tracks
# its NIC and its memory and ships the records over BitVisor's own lwIP
# and mbedTLS (TLS 1.2, mutual authentication) to cotrack-logd.  The
# backend service, the client and logd live in the network namespace
# that is the VM's only network.  The data flow is printed from logd's
# database, as make demo does.  Everything stays on this machine.
#
#   scripts/demo-bitvisor.sh BUILD_DIR [REQUESTS]
set -eu
O=$(cd "${1:?usage: scripts/demo-bitvisor.sh BUILD_DIR [REQUESTS]}" && pwd)
N=${2:-${DEMO_REQUESTS:-30}}
TOP=$(cd "$(dirname "$0")/.." && pwd)
G=$TOP/guest
[ "$(id -u)" = 0 ] || { echo "demo-bitvisor: needs root (network namespace, tap)" >&2; exit 1; }
[ "$N" -ge 1 ] 2>/dev/null || { echo "demo-bitvisor: REQUESTS must be a positive number" >&2; exit 2; }
out=$TOP/build/demo-bitvisor
BV=$TOP/build/bitvisor-demo
rm -rf "$out"
mkdir -p "$out/www"
bpid= logd_pid= be_pid=
cleanup() {
	for p in $logd_pid $be_pid; do kill "$p" 2>/dev/null || true; done
	if [ -n "$bpid" ]; then
		"$G/ctl.sh" "$out/bv" stop 20 >/dev/null 2>&1 || true
		kill "$bpid" 2>/dev/null || true
		wait "$bpid" 2>/dev/null || true
	fi
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
bvlog() { tr -d '\r' <"$out/bv/bitvisor.log" 2>/dev/null; }
waitfor() { # TRIES(0.5 s) CMD...
	local n=$1
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.5; done
	"$@"
}

step "building the test guest (Debian cloud kernel, busybox initramfs)"
"$G/build.sh"
step "the user's side: a CA, logd's certificate for 10.0.0.1, the tracker's (bv0)"
"$O/cotrack" pki init "$out/pki" --server-name 10.0.0.1 --tracker bv0 | sed 's/^/   /'
step "building BitVisor with cotrack's module and bv0's key compiled in"
COT_BV_PKI=$out/pki COT_BV_TRACKER=bv0 COT_BV_LOGD=10.0.0.1:6514 COT_BV_IP=10.0.0.3/24 \
	"$TOP/tee/bitvisor/build.sh" "$BV"
step "booting BitVisor (SVM, NPT) and the frontend VM 10.0.0.2 as its guest (TCG)"
echo '{"backend":"ok"}' >"$out/www/api"
"$G/bitvisor.sh" --dir "$out/bv" --name "cotdemo-$$" --bitvisor "$BV" --role frontend \
	--append "cotrack.backend=10.0.0.1:8081" --timeout 900 >"$out/bitvisor.out" 2>&1 &
bpid=$!
if ! "$G/ctl.sh" "$out/bv" wait-ready 300; then
	echo "demo-bitvisor: the guest did not come up; see $out/bv/" >&2
	bvlog | tail -5 >&2
	exit 1
fi
. "$out/bv/guest.env"
NS=$COT_BV_NETNS
step "in the VM's network (namespace $NS): cotrack-logd on 10.0.0.1:6514, the backend on 10.0.0.1:8081"
ip netns exec "$NS" "$O/cotrack-logd" --db "$out/cotrack.sqlite" --pki "$out/pki" \
	--listen 10.0.0.1:6514 --tls12-tracker bv0 </dev/null >/dev/null 2>"$out/logd.log" &
logd_pid=$!
ip netns exec "$NS" python3 -m http.server 8081 --bind 10.0.0.1 --directory "$out/www" \
	>"$out/backend.log" 2>&1 &
be_pid=$!
waitfor 60 sh -c "tr -d '\r' <'$out/bv/bitvisor.log' | grep -q '^cotrack: ship: connected'" ||
	{ echo "demo-bitvisor: BitVisor did not reach logd" >&2; bvlog | grep '^cotrack: ship' >&2; exit 1; }
bvlog | grep '^cotrack: ship: \(to\|connected\)' | sed 's/^/   BitVisor: /'
waitfor 80 sh -c "tr -d '\r' <'$out/bv/bitvisor.log' | grep -q '^cotrack: vmi: first scan'" || true
bvlog | grep -m1 '^cotrack: vmi kernel' | sed 's/^/   BitVisor: /' || true
step "client 10.0.0.1 sends $N HTTP requests to the frontend"
ip netns exec "$NS" python3 "$TOP/tests/tools/httpclient.py" 10.0.0.2:80 -n "$N" --timeout 10 \
	>"$out/client.log" || true
tail -1 "$out/client.log" | sed 's/^/   /'
want=$((3 * N))
step "waiting for the records ($want connections) to reach logd"
waitfor 60 sh -c "[ \$(tr -d '\r' <'$out/bv/bitvisor.log' | grep -c '^cotrack-rec .*\"proto\":\"tcp\"') -ge $want ]" || true
sleep 2
"$G/ctl.sh" "$out/bv" stop 30 >/dev/null 2>&1 || true
wait "$bpid" 2>/dev/null || true
bpid=
kill "$logd_pid" "$be_pid" 2>/dev/null || true
wait "$logd_pid" 2>/dev/null || true
logd_pid= be_pid=
"$O/cotrack" query --db "$out/cotrack.sqlite" --format json >"$out/records.json"
step "data flow recorded by cotrack inside BitVisor, as logd holds it ($(wc -l <"$out/records.json") records)"
python3 "$TOP/scripts/flow-summary.py" "$out/records.json" \
	--names 10.0.0.1=namespace,10.0.0.2=frontend,127.0.0.1=localhost
step "what the log server holds"
"$O/cotrack" verify --db "$out/cotrack.sqlite" | sed 's/^/   /'
"$O/cotrack" query --db "$out/cotrack.sqlite" --proto tcp --limit 5 | sed 's/^/   /'
"$O/cotrack" graph --db "$out/cotrack.sqlite" --proto tcp --format svg \
	-o "$out/service-map.svg" >/dev/null || true
cat <<MSG

Read it as: the client's connections reach the frontend (seen on the NIC
by BitVisor and in the frontend's memory: "both"); every request makes
the frontend call its cache on localhost (never on any NIC: only guest
memory, read by BitVisor, shows it: "vmi") and the backend in the
namespace (on the NIC; "both" when a memory scan caught the short-lived
client socket).  The records went from BitVisor to cotrack-logd
over BitVisor's own TCP/IP and TLS 1.2; the guest saw none of it.

Records: $out/records.json, logd's database $out/cotrack.sqlite,
BitVisor's log $out/bv/bitvisor.log, the map $out/service-map.svg.
MSG
