# The two-VM microservice under cotrackd, as functions (sourced by tests,
# the demo and benchmarks).  Everything lives in $SVC_DIR; the network is
# a namespace this creates ($SVC_NS, client 10.0.0.100) reaching the VMs
# (frontend 10.0.0.2, backend 10.0.0.3) through cotrackd's tap uplink.
#
#   svc_start DIR COTRACKD [cotrackd options...]   start cotrackd
#   svc_boot [run.sh options...]                    boot both guests, wait
#
# COT_BACKENDS="FE BE" (read by svc_start) picks each VM's NIC backend,
# "stream" or "vhost-user" (default "stream stream"):
#   stream      --vm NAME,net=SOCK,mem=/dev/shm/...: QEMU's -netdev stream,
#               guest RAM in a /dev/shm file named on cotrackd's command line
#   vhost-user  --vm NAME,vhost-user=SOCK: QEMU's -netdev vhost-user, guest
#               RAM a shared memfd; the memory view attaches from the
#               memory table (no mem=)
# svc_backends prints the pair in use ("fe=stream be=vhost-user").
#
# The guests keep up to 65536 TIME_WAIT sockets, as a server-sized
# machine does: a 128 MiB guest's kernel default is 512, and a closed
# connection that finds the TIME_WAIT table full vanishes from memory at
# once (where a periodic memory scan can miss it).  They also do not
# reuse loopback ports from TIME_WAIT (tcp_tw_reuse=0; the default 2 does
# on loopback): a connection on a reused port that opens and closes
# between two scans can be merged with the one before (docs/cotrackd.md).
# SVC_TWBUCKETS and SVC_TWREUSE set other values.
#   svc_client N                                    N requests from the ns
#
# Real services (issue 12): SVC_REAL=1 (read by svc_boot) boots the roles
# fe-svc and be-svc (nginx + memcached, nginx; guest/README.md) instead of
# frontend/backend; svc_dns starts dnsmasq (Debian's, from guest/build.sh's
# build/guest/svc/root, run through its own loader) in the client
# namespace on 10.0.0.100:53, answering backend.svc (10.0.0.3) and
# frontend.svc (10.0.0.2) with a 30 s TTL; svc_real_client N runs
# tests/tools/svcclient.py (hits and misses, every body checked).
#   svc_alive WHAT                                  ok if daemon, guests run
#   svc_snmp WHEN                                   both guests print snmp
#   svc_stop_guests; svc_stop_daemon; svc_cleanup
#   svc_opens VM WHEN FIELD                         3=Active 4=Passive
#   svc_opens_delta VM FIELD                        after - before
SVC_TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
G=$SVC_TOP/guest

svc_start() {
	SVC_DIR=$1
	local daemon=$2
	shift 2
	# Names unique per start: a test may run several services in turn,
	# and a tap name has at most 15 bytes.
	SVC_SEQ=$((${SVC_SEQ:-0} + 1))
	SVC_NS=cotsvc$$-$SVC_SEQ
	SVC_TAP=cu$$x$SVC_SEQ
	SVC_TAG=cotsvc-$$-$SVC_SEQ
	mkdir -p "$SVC_DIR"
	# shellcheck disable=SC2086 # two words
	set -- ${COT_BACKENDS:-stream stream} -- "$@"
	[ "$1" != -- ] && [ "$2" != -- ] && [ "$3" = -- ] || {
		echo "service.sh: COT_BACKENDS must be two words (fe be), not '${COT_BACKENDS:-}'" >&2
		return 1
	}
	SVC_BACKEND_fe=$1 SVC_BACKEND_be=$2
	shift 3
	local vm mac vms=()
	for vm in fe be; do
		[ $vm = fe ] && mac=52:54:00:c0:74:02 || mac=52:54:00:c0:74:03
		# The VMs' addresses are fixed, as a cloud fixes each vNIC's
		# (run.sh derives them from the IP): no other VM can claim
		# them, even before the guest has sent its first frame.
		case $(svc_backend $vm) in
		stream) vms+=(--vm "$vm,net=$SVC_DIR/$vm.sock,mem=/dev/shm/$SVC_TAG-$vm,mac=$mac") ;;
		vhost-user) vms+=(--vm "$vm,vhost-user=$SVC_DIR/$vm.sock,mac=$mac") ;;
		*)
			echo "service.sh: COT_BACKENDS: backend '$(svc_backend $vm)' of $vm is not stream or vhost-user" >&2
			return 1
			;;
		esac
	done
	ip netns add "$SVC_NS" || return 1
	"$daemon" "${vms[@]}" \
		--uplink "$SVC_TAP,netns=$SVC_NS" -o "$SVC_DIR/records.json" \
		"$@" 2>"$SVC_DIR/cotrackd.log" &
	SVC_DPID=$!
	local i
	for i in $(seq 100); do
		[ -S "$SVC_DIR/fe.sock" ] && [ -S "$SVC_DIR/be.sock" ] &&
			ip -n "$SVC_NS" link show "$SVC_TAP" >/dev/null 2>&1 && break
		kill -0 "$SVC_DPID" 2>/dev/null || return 1
		sleep 0.1
	done
	ip -n "$SVC_NS" link set lo up
	ip -n "$SVC_NS" link set "$SVC_TAP" up
	ip -n "$SVC_NS" addr add 10.0.0.100/24 dev "$SVC_TAP"
}

# svc_backend fe|be: that VM's backend (as svc_start chose it)
svc_backend() {
	eval "echo \"\${SVC_BACKEND_$1:-stream}\""
}

svc_backends() {
	echo "fe=$(svc_backend fe) be=$(svc_backend be)"
}

# _svc_nic fe|be: run.sh's NIC option for that VM
_svc_nic() {
	if [ "$(svc_backend "$1")" = vhost-user ]; then
		echo --vhost-user
	else
		echo --net
	fi
}

svc_boot() {
	local fe_role=frontend be_role=backend fe_args=(--backend 10.0.0.3:80)
	if [ "${SVC_REAL:-0}" = 1 ]; then
		fe_role=fe-svc be_role=be-svc
		fe_args=(--append "cotrack.hits=${SVC_HITS:-100}")
	fi
	set -- --append "cotrack.twbuckets=${SVC_TWBUCKETS:-65536} sysctl.net.ipv4.tcp_tw_reuse=${SVC_TWREUSE:-0}" "$@"
	"$G/run.sh" --role "$be_role" --name "$SVC_TAG-be" --dir "$SVC_DIR/be" \
		--mem 128M "$(_svc_nic be)" "$SVC_DIR/be.sock" --ip 10.0.0.3/24 \
		--timeout 1800 "$@" >"$SVC_DIR/be.out" 2>&1 &
	SVC_BPID=$!
	"$G/run.sh" --role "$fe_role" --name "$SVC_TAG-fe" --dir "$SVC_DIR/fe" \
		--mem 128M "$(_svc_nic fe)" "$SVC_DIR/fe.sock" --ip 10.0.0.2/24 \
		"${fe_args[@]}" --timeout 1800 "$@" >"$SVC_DIR/fe.out" 2>&1 &
	SVC_FPID=$!
	"$G/ctl.sh" "$SVC_DIR/be" wait-ready 180 >/dev/null &&
		"$G/ctl.sh" "$SVC_DIR/fe" wait-ready 180 >/dev/null
}

# svc_alive WHAT: one TAP line: cotrackd and both guests' QEMUs still run
svc_alive() {
	local q bad=0
	kill -0 "$SVC_DPID" 2>/dev/null || bad=1
	for q in fe be; do
		kill -0 "$(cat "$SVC_DIR/$q/qemu.pid" 2>/dev/null)" 2>/dev/null || bad=1
	done
	if [ $bad = 0 ]; then ok "cotrackd, fe and be alive $1"; else not_ok "cotrackd, fe and be alive $1"; fi
}

# svc_dns: dnsmasq in the client namespace (after svc_start), bounded wait
# until it answers on 10.0.0.100:53; svc_cleanup stops it
svc_dns() {
	local env=${GUEST_OUT:-$SVC_TOP/build/guest}/svc.env
	# shellcheck disable=SC1090
	. "$env" || return 1
	ip netns exec "$SVC_NS" "$SVC_LD" --library-path "$SVC_LIB" "$DNSMASQ" \
		--keep-in-foreground --no-resolv --no-hosts --no-poll \
		--listen-address=10.0.0.100 --bind-interfaces --port=53 \
		--host-record=backend.svc,10.0.0.3 --host-record=frontend.svc,10.0.0.2 \
		--local-ttl=30 --user=root --pid-file="$SVC_DIR/dnsmasq.pid" \
		--log-queries --log-facility="$SVC_DIR/dnsmasq.log" \
		2>"$SVC_DIR/dnsmasq.err" &
	SVC_DNSPID=$!
	for _ in $(seq 50); do
		ip netns exec "$SVC_NS" python3 -c '
import socket, sys
q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07backend\x03svc\x00\x00\x01\x00\x01"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.2)
s.sendto(q, ("10.0.0.100", 53))
r = s.recv(512)
sys.exit(0 if r[:2] == b"\x12\x34" and r.endswith(bytes([10, 0, 0, 3])) else 1)' 2>/dev/null && return 0
		kill -0 "$SVC_DNSPID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

svc_real_client() {
	ip netns exec "$SVC_NS" python3 "$SVC_TOP/tests/tools/svcclient.py" \
		10.0.0.2:80 -n "$1" --hits "${SVC_HITS:-100}" --gap "${SVC_GAP:-0.03}" --timeout 20
}

svc_client() {
	ip netns exec "$SVC_NS" python3 "$SVC_TOP/tests/tools/httpclient.py" \
		10.0.0.2:80 -n "$1" --timeout 20
}

svc_snmp() {
	"$G/ctl.sh" "$SVC_DIR/fe" cmd "snmp $1" 60 >/dev/null
	"$G/ctl.sh" "$SVC_DIR/be" cmd "snmp $1" 60 >/dev/null
}

# svc_opens fe|be WHEN 3|4: ActiveOpens (3) or PassiveOpens (4) at WHEN
svc_opens() {
	tr -d '\r' <"$SVC_DIR/$1/console.log" | python3 "$G/truth.py" --snmp - |
		awk -v w="$2" -v f="$3" '$2 == w {v = $f} END {print v}'
}

# svc_opens_delta fe|be 3|4: the counter's growth from "before" to "after"
# (-1 when the "after" line is missing)
svc_opens_delta() {
	local a b
	a=$(svc_opens "$1" after "$2") b=$(svc_opens "$1" before "$2")
	echo $((${a:--1} - ${b:-0}))
}

svc_stop_guests() {
	[ -n "${SVC_FPID:-}" ] && "$G/ctl.sh" "$SVC_DIR/fe" stop 30 >/dev/null 2>&1
	[ -n "${SVC_BPID:-}" ] && "$G/ctl.sh" "$SVC_DIR/be" stop 30 >/dev/null 2>&1
	[ -n "${SVC_FPID:-}" ] && wait "$SVC_FPID" 2>/dev/null
	[ -n "${SVC_BPID:-}" ] && wait "$SVC_BPID" 2>/dev/null
	SVC_FPID= SVC_BPID=
}

svc_stop_daemon() {
	if [ -n "${SVC_DPID:-}" ]; then
		kill -TERM "$SVC_DPID" 2>/dev/null
		wait "$SVC_DPID" 2>/dev/null
		SVC_DRC=$?
	fi
	SVC_DPID=
}

svc_cleanup() {
	local p
	[ -n "${SVC_FPID:-}" ] && kill "$SVC_FPID" 2>/dev/null
	[ -n "${SVC_BPID:-}" ] && kill "$SVC_BPID" 2>/dev/null
	svc_stop_daemon
	if [ -n "${SVC_DNSPID:-}" ]; then
		kill "$SVC_DNSPID" 2>/dev/null
		wait "$SVC_DNSPID" 2>/dev/null
		SVC_DNSPID=
	fi
	[ -n "${SVC_NS:-}" ] && ip netns del "$SVC_NS" 2>/dev/null
	# Only our own children: the caller may have others (a logd).
	for p in ${SVC_FPID:-} ${SVC_BPID:-}; do wait "$p" 2>/dev/null; done
	SVC_FPID= SVC_BPID=
	true
}
