#!/usr/bin/env bash
# make demo: the whole of cotrack on the embedded defaults.  Builds the
# test guests (Debian's cloud kernel + a busybox initramfs holding real,
# unmodified Debian services), starts cotrackd and Debian's dnsmasq (DNS
# for the guests, in the client namespace), boots two VMs on cotrackd's
# vhost-user NIC (frontend: nginx, which looks every path up in memcached
# on its own localhost and on a miss proxies to backend.svc; backend:
# nginx serving a static file; each service in its own container: cgroup
# v2 + pid and mount namespaces; the memory view attaches from the memory
# table QEMU hands over), sends client requests (half hit memcached, half
# miss) from a network namespace through cotrackd's uplink, and
# prints the data flow cotrack recorded, by workload where the records
# name their owners (src_comm/dst_comm, dst_name) and by address; the
# records are shipped over TLS
# to cotrack-logd, and the demo ends with the service map drawn from the
# log server's database, then with the web console on it (its URL and
# token printed; scripts/demo-console.sh).  Everything stays on this
# machine.
#
#   scripts/demo.sh BUILD_DIR [REQUESTS]
#
# DEMO_BACKENDS="FE BE" picks other NIC backends, e.g. "stream stream"
# (QEMU's -netdev stream, guest RAM in /dev/shm; tests/tools/service.sh).
set -eu
O=$(cd "${1:?usage: scripts/demo.sh BUILD_DIR [REQUESTS]}" && pwd)
N=${2:-${DEMO_REQUESTS:-50}}
[ "$N" -ge 1 ] && [ "$N" -le 5000 ] || { echo "demo: REQUESTS must be 1..5000" >&2; exit 2; }
TOP=$(cd "$(dirname "$0")/.." && pwd)
export TOP
[ "$(id -u)" = 0 ] || { echo "demo: needs root (network namespace, tap)" >&2; exit 1; }
source "$TOP/tests/tools/service.sh"
export COT_BACKENDS=${DEMO_BACKENDS:-vhost-user vhost-user}
# the real services (roles fe-svc, be-svc); memcached holds half the keys
export SVC_REAL=1 SVC_HITS=$(((N + 1) / 2))
out=$TOP/build/demo
rm -rf "$out"
mkdir -p "$out"
logd_pid=
cleanup() {
	svc_cleanup
	if [ -n "$logd_pid" ]; then kill "$logd_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }
step "building the test guests (Debian cloud kernel, busybox initramfs, Debian's nginx and memcached)"
"$G/build.sh"
step "the user's side: a CA and certificates, and cotrack-logd on 127.0.0.1"
"$O/cotrack" pki init "$out/pki" --tracker cotrackd-1 | sed 's/^/   /'
"$O/cotrack-logd" --db "$out/cotrack.sqlite" --pki "$out/pki" \
	--listen 127.0.0.1:0 --port-file "$out/logd.port" 2>"$out/logd.log" &
logd_pid=$!
for _ in $(seq 100); do [ -s "$out/logd.port" ] && break; sleep 0.1; done
[ -s "$out/logd.port" ] || { echo "demo: cotrack-logd did not start:" >&2; cat "$out/logd.log" >&2; exit 1; }
echo "   cotrack-logd listening on 127.0.0.1:$(cat "$out/logd.port"), database $out/cotrack.sqlite"
# shellcheck disable=SC2086 # two words
set -- $COT_BACKENDS
step "starting cotrackd: NIC backend for 2 VMs, uplink into a test namespace,"
echo "   records shipped over TLS 1.3 (mutual auth) to cotrack-logd"
echo "   NICs: frontend ${1:-?}, backend ${2:-?}"
# The spool key would come from the provisioning agent (fd:N); here it is
# derived from the tracker's private key.
svc_start "$out" "$O/cotrackd" --log-server "127.0.0.1:$(cat "$out/logd.port")" \
	--pki "$out/pki" --name cotrackd-1 --spool "$out/spool" \
	--spool-key "derive:$out/pki/cotrackd-1.key"
step "DNS for the guests: Debian's dnsmasq on 10.0.0.100:53 (client namespace)"
svc_dns || { echo "demo: dnsmasq did not answer:" >&2; cat "$out/dnsmasq.err" >&2; exit 1; }
echo "   backend.svc = 10.0.0.3, frontend.svc = 10.0.0.2 (TTL 30 s)"
step "booting frontend (10.0.0.2: nginx + memcached) and backend (10.0.0.3: nginx) under QEMU (TCG)"
case " $COT_BACKENDS " in *" vhost-user "*)
	echo "   (vhost-user: QEMU's -netdev vhost-user on cotrackd's socket, guest RAM a"
	echo "   shared memfd; cotrackd maps it from the memory table QEMU sends)" ;;
esac
svc_boot
# each memory view attaches once its guest's kernel is up: wait (bounded)
for _ in $(seq 100); do
	[ "$(grep -c "memory view up" "$out/cotrackd.log")" -ge 2 ] && break
	sleep 0.1
done
grep -h "memory view up" "$out/cotrackd.log" | sed 's/^/   /' || true
step "containers in the guests (cgroup, pid namespace)"
for vm in fe be; do
	"$G/ctl.sh" "$out/$vm" cmd "run for c in /sys/fs/cgroup/*-*/; do for p in \$(cat \$c/cgroup.procs); do echo $vm \$(basename \$c) pid \$p \$(cat /proc/\$p/comm) pidns \$(readlink /proc/\$p/ns/pid); done; done" 60 |
		grep "^$vm " | sed 's/^/   /'
done
step "client 10.0.0.100 sends $N HTTP requests to the frontend (/item/0.. : even ones hit memcached)"
svc_real_client "$N" >"$out/client.log"
tail -1 "$out/client.log" | sed 's/^/   /'
sleep 1
step "stopping cotrackd (open connections end with \"shutdown\")"
svc_stop_daemon
grep -E "^(fe|be|shipping):" "$out/cotrackd.log" | sed 's/^/   /'
svc_stop_guests
kill "$logd_pid" 2>/dev/null || true
wait "$logd_pid" 2>/dev/null || true
logd_pid=
step "data flow recorded by cotrack ($(wc -l <"$out/records.json") records in $out/records.json)"
python3 "$TOP/scripts/flow-summary.py" "$out/records.json" --by-workload \
	--names 10.0.0.100=client-ns,10.0.0.2=frontend,10.0.0.3=backend,127.0.0.1=localhost | sed 's/^/   /' 
step "what the log server holds"
"$O/cotrack" verify --db "$out/cotrack.sqlite" | sed 's/^/   /'
"$O/cotrack" query --db "$out/cotrack.sqlite" --proto tcp --limit 5 | sed 's/^/   /'
"$O/cotrack" graph --db "$out/cotrack.sqlite" --proto tcp --format png \
	-o "$out/service-map.png" >/dev/null
"$O/cotrack" graph --db "$out/cotrack.sqlite" --proto tcp --format svg \
	-o "$out/service-map.svg" >/dev/null
cat <<MSG

Read it as: the client's connections reach the frontend's nginx (seen on
the NIC and in the frontend's memory: "both"); every request makes nginx
ask its memcached on localhost (never on any NIC: only guest memory shows
it), and every miss makes it call backend.svc, the backend VM's nginx
(seen at both VMs), after a DNS lookup the NIC sees (udp to 10.0.0.100:53).

The service map: $out/service-map.png (and .svg)
Records: $out/records.json, and in cotrack-logd's database
$out/cotrack.sqlite (cotrack query --db ..., cotrack graph --db ...).
MSG
# the web console on the same database (waits for Enter on a terminal)
"$TOP/scripts/demo-console.sh" "$O" "$out"
