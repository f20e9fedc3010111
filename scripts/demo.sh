#!/usr/bin/env bash
# make demo: the whole of cotrack on the embedded defaults.  Builds the
# test guests (Debian's cloud kernel + a busybox initramfs), starts
# cotrackd, boots two microservice VMs (frontend: HTTP, calling a cache on
# its own localhost and the backend VM per request; backend: HTTP), sends
# client requests from a network namespace through cotrackd's uplink, and
# prints the data flow cotrack recorded.  Everything stays on this machine.
#
#   scripts/demo.sh BUILD_DIR [REQUESTS]
set -eu
O=$(cd "${1:?usage: scripts/demo.sh BUILD_DIR [REQUESTS]}" && pwd)
N=${2:-${DEMO_REQUESTS:-50}}
TOP=$(cd "$(dirname "$0")/.." && pwd)
export TOP
[ "$(id -u)" = 0 ] || { echo "demo: needs root (network namespace, tap, QEMU RAM in /dev/shm)" >&2; exit 1; }
source "$TOP/tests/tools/service.sh"
out=$TOP/build/demo
rm -rf "$out"
mkdir -p "$out"
trap svc_cleanup EXIT

step() { printf '\n== %s\n' "$*"; }
step "building the test guests (Debian cloud kernel, busybox initramfs)"
"$G/build.sh"
step "starting cotrackd: NIC backend for 2 VMs, uplink into a test namespace"
svc_start "$out" "$O/cotrackd"
step "booting frontend (10.0.0.2) and backend (10.0.0.3) under QEMU (TCG)"
svc_boot
grep -h "memory view up" "$out/cotrackd.log" | sed 's/^/   /' || true
step "client 10.0.0.100 sends $N HTTP requests to the frontend"
svc_client "$N" >"$out/client.log"
tail -1 "$out/client.log" | sed 's/^/   /'
sleep 1
step "stopping cotrackd (open connections end with \"shutdown\")"
svc_stop_daemon
grep -E "^(fe|be):" "$out/cotrackd.log" | sed 's/^/   /'
svc_stop_guests
step "data flow recorded by cotrack ($(wc -l <"$out/records.json") records in $out/records.json)"
python3 "$TOP/scripts/flow-summary.py" "$out/records.json" \
	--names 10.0.0.100=client,10.0.0.2=frontend,10.0.0.3=backend,127.0.0.1=localhost
cat <<MSG

Read it as: the client's connections reach the frontend (seen on the NIC
and in the frontend's memory: "both"); every request makes the frontend
call its cache on localhost (never on any NIC: only guest memory shows
it) and the backend VM (seen at both VMs).  Records: $out/records.json
MSG
