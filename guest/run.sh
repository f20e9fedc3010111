#!/usr/bin/env bash
# Boots one test guest under QEMU TCG (no KVM) with its RAM in /dev/shm.
#
#   guest/run.sh [OPTIONS] [-- CMD [ARG...]]
#
# Without CMD: runs in the foreground until the guest powers off (console
# command "stop", see guest/ctl.sh) or --timeout; exit 0 if the guest
# powered off cleanly, 1 if it reported ==COTRACK-FAIL or QEMU failed, 124
# on timeout.  Start it with & and drive it with guest/ctl.sh DIR ...
# With CMD: waits for ==COTRACK-READY==, runs CMD with the environment
# below, then stops the guest; exits with CMD's status (124 if the guest
# never got ready).
#
# Either way QEMU is killed and /dev/shm/NAME removed on any exit
# (including SIGINT/SIGTERM and the hard timeout).  The run directory keeps
# console.log (the serial console) and qemu.log (QEMU's stderr).
#
# Options:
#   --role ROLE        guest role: sockets backend frontend fe-svc be-svc idle shell
#                      (default sockets)
#   --name NAME        RAM file /dev/shm/NAME (default cotrack-ROLE-PID)
#   --dir DIR          run directory (default $GUEST_OUT/run/NAME)
#   --mem SIZE         guest RAM, QEMU syntax, at most 2G so that all RAM
#                      sits below the PCI hole (default 256M)
#   --cpu MODEL        max: 5-level paging (la57); qemu64: 4-level (default max)
#   --timeout SECS     hard limit on the whole run (default 600)
#   --ready-timeout S  with CMD: how long to wait for READY (default 120)
#   --net SOCK         virtio-net NIC on QEMU's -netdev stream, QEMU
#                      connects to the unix socket SOCK (server=off), e.g.
#                      cotrackd's switch port
#   --net-listen SOCK  the same but QEMU listens on SOCK (server=on): wire
#                      two guests to each other without a switch
#   --vhost-user SOCK  virtio-net NIC on QEMU's -netdev vhost-user: QEMU
#                      connects to the backend listening on SOCK (e.g.
#                      cotrackd's --vm NAME,vhost-user=SOCK) and reconnects
#                      within a second when it restarts; guest RAM is then
#                      a shared memfd (the backend maps it), not /dev/shm
#   --tap TAP          virtio-net NIC on QEMU's -netdev tap: an existing tap
#                      device TAP (run.sh in its namespace, e.g. under
#                      ip netns exec; bench/bitvisor.sh's plain-QEMU case)
#   --maxmem SIZE      room for memory hotplug (-m ...,slots=2,maxmem=SIZE)
#   --mac MAC          NIC address (default 52:54:00:c0:74:XX, XX = last
#                      octet of --ip)
#   --ip CIDR --ip6 CIDR --gw IP      guest addresses (cotrack.ip= ...)
#   --backend HOST:PORT               frontend role: where the backend is
#   --count N          sockets role: N extra established sockets
#   --append STR       more kernel command line (e.g. cotrack.ns2=0); repeatable
#   --vmcoreinfo       add QEMU's vmcoreinfo device (+ cotrack.fwcfg=1): the
#                      ELF dumps then carry the kernel's VMCOREINFO note,
#                      which drgn needs; off by default so that cotrack vmi
#                      is tested on dumps without it
#   --verbose          full kernel log on the console (default: quiet)
#   --no-shm           anonymous RAM instead of /dev/shm/NAME
#
# Environment for CMD (also written to DIR/guest.env):
#   COT_GUEST_DIR  COT_GUEST_NAME  COT_GUEST_MEM (the /dev/shm file)
#   COT_GUEST_LOG (console.log)  COT_GUEST_QMP (QMP socket)
#   COT_GUEST_CONSOLE (fifo: lines written there reach the guest console)
#   COT_GUEST_MEMSIZE (bytes)  COT_GUEST_CPU
# Needs build/guest/kernel.env from guest/build.sh ($GUEST_OUT).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
OUT=${GUEST_OUT:-$top/build/guest}
# shellcheck source=guest/lib.sh
. "$here/lib.sh"

role=sockets name= dir= mem=256M cpu=max timeout=600 ready_timeout=120
net= net_server=off vhost= tap= maxmem= mac= ip= ip6= gw= backend= count= append= quiet=quiet shm=1
vmcoreinfo=0
usage() { sed -n '2,/^# Needs/p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
	case $1 in
	--role) role=$2; shift ;;
	--name) name=$2; shift ;;
	--dir) dir=$2; shift ;;
	--mem) mem=$2; shift ;;
	--cpu) cpu=$2; shift ;;
	--timeout) timeout=$2; shift ;;
	--ready-timeout) ready_timeout=$2; shift ;;
	--net) net=$2; net_server=off; shift ;;
	--net-listen) net=$2; net_server=on; shift ;;
	--vhost-user) vhost=$2; shm=0; shift ;;
	--tap) tap=$2; shift ;;
	--maxmem) maxmem=$2; shift ;;
	--mac) mac=$2; shift ;;
	--ip) ip=$2; shift ;;
	--ip6) ip6=$2; shift ;;
	--gw) gw=$2; shift ;;
	--backend) backend=$2; shift ;;
	--count) count=$2; shift ;;
	--append) append="${append:+$append }$2"; shift ;;
	--verbose) quiet= ;;
	--vmcoreinfo) vmcoreinfo=1 ;;
	--no-shm) shm=0 ;;
	-h | --help) usage 0 ;;
	--) shift; break ;;
	*) echo "run.sh: unknown option $1 (--help)" >&2; exit 2 ;;
	esac
	shift
done
cmd=("$@")

die() { echo "guest/run: $*" >&2; exit 1; }
[ -f "$OUT/kernel.env" ] || die "no $OUT/kernel.env: run guest/build.sh (make guest)"
# shellcheck source=/dev/null
. "$OUT/kernel.env"
case $role in *[!a-z0-9_-]*) die "bad role $role" ;; esac
case $timeout$ready_timeout in *[!0-9]*) die "timeouts are whole seconds" ;; esac
# RAM size in bytes, to refuse anything reaching the PCI hole
case $mem in
*[Gg]) bytes=$((${mem%?} << 30)) ;;
*[Mm]) bytes=$((${mem%?} << 20)) ;;
*[!0-9]*) die "bad --mem $mem" ;;
*) bytes=$((mem << 20)) ;; # QEMU: a bare number means MiB
esac
[ "$bytes" -gt 0 ] && [ "$bytes" -le $((2 << 30)) ] || die "--mem must be 1M..2G"
name=${name:-cotrack-$role-$$}
case $name in *[!A-Za-z0-9._-]*) die "bad name $name" ;; esac
dir=${dir:-$OUT/run/$name}
mkdir -p "$dir" || exit 1
dir=$(cd "$dir" && pwd)
shmfile=/dev/shm/$name
[ "$shm" = 1 ] && [ -e "$shmfile" ] && die "$shmfile exists (guest running? stale?)"
[ ${#dir} -lt 90 ] || die "run dir path too long for unix sockets: $dir"
# QEMU 7.2's stream client connects once at start-up and never retries (no
# reconnect= before 8.0): a missing peer would leave a guest without link.
[ -n "$net" ] && [ "$net_server" = off ] && [ ! -S "$net" ] &&
	die "--net $net: no listening unix socket there (start the switch first)"
# QEMU waits at start-up for its vhost-user backend: it must listen first.
[ -n "$vhost" ] && [ ! -S "$vhost" ] &&
	die "--vhost-user $vhost: no listening unix socket there (start the backend first)"
[ -n "$vhost" ] && [ -n "$net" ] && die "--net and --vhost-user: one NIC only"
[ -n "$tap" ] && [ -n "$net$vhost" ] && die "--tap and --net/--vhost-user: one NIC only"
case $tap in *[!A-Za-z0-9_-]*) die "bad --tap $tap" ;; esac
[ -z "$tap" ] || [ -e "/sys/class/net/$tap" ] || die "--tap $tap: no such device here"

log=$dir/console.log fifo=$dir/console.in qmp=$dir/qmp.sock
rm -f "$log" "$fifo" "$qmp" "$dir/qemu.pid" "$dir/.timedout"
mkfifo "$fifo"

qpid= cmdpid= wdpid=
cleanup() {
	trap - EXIT INT TERM HUP
	glib_stop_helpers
	glib_stop_qemu
	[ "$shm" = 1 ] && rm -f "$shmfile"
	rm -f "$fifo" "$qmp" "$dir/qemu.pid"
	exec 3>&- 2>/dev/null
}
glib_traps

# --- QEMU command line ----------------------------------------------------
# no_timer_check: under TCG on a loaded host the kernel's IO-APIC timer
# check can fail and panic ("IO-APIC + timer doesn't work!").
kargs="console=ttyS0 panic=-1 no_timer_check $quiet cotrack.role=$role"
[ -n "$ip" ] && kargs="$kargs cotrack.ip=$ip"
[ -n "$ip6" ] && kargs="$kargs cotrack.ip6=$ip6"
[ -n "$gw" ] && kargs="$kargs cotrack.gw=$gw"
[ -n "$backend" ] && kargs="$kargs cotrack.backend=$backend"
[ -n "$count" ] && kargs="$kargs cotrack.count=$count"
[ "$vmcoreinfo" = 1 ] && kargs="$kargs cotrack.fwcfg=1"
[ -n "$append" ] && kargs="$kargs $append"

q=(qemu-system-x86_64 -accel tcg -cpu "$cpu" -smp 1 -m "$mem${maxmem:+,slots=2,maxmem=$maxmem}"
	-nodefaults -display none -no-reboot -no-user-config
	-chardev stdio,id=con,signal=off -serial chardev:con
	-qmp "unix:$qmp,server=on,wait=off"
	-kernel "$VMLINUZ" -initrd "$INITRD" -append "$kargs")
if [ -n "$vhost" ]; then
	# vhost-user: the backend maps guest RAM from the memory table, so it
	# must be a shareable file descriptor
	q+=(-object "memory-backend-memfd,id=mem,size=$mem,share=on"
		-machine pc,memory-backend=mem)
elif [ "$shm" = 1 ]; then
	# guest-physical address == file offset: the machine maps all RAM
	# below 4 GiB when it is smaller than the PCI hole (--mem <= 2G)
	q+=(-object "memory-backend-file,id=mem,size=$mem,mem-path=$shmfile,share=on"
		-machine pc,memory-backend=mem)
else
	q+=(-machine pc)
fi
[ "$vmcoreinfo" = 1 ] && q+=(-device vmcoreinfo)
if [ -n "$net$vhost$tap" ]; then
	if [ -z "$mac" ]; then
		last=${ip%/*}
		last=${last##*.}
		case $last in '' | *[!0-9]*) last=2 ;; esac
		mac=$(printf '52:54:00:c0:74:%02x' "$((last & 255))")
	fi
	# never -netdev user: guests reach nothing but their stream peer
	if [ -n "$vhost" ]; then
		# vectors=0: QEMU 7.2 under TCG (no KVM irqfd) segfaults in
		# msix_set_vector_notifiers when vhost starts with MSI-X on;
		# legacy INTx works.
		q+=(-chardev "socket,id=c0,path=$vhost,reconnect=1"
			-netdev "vhost-user,id=n0,chardev=c0"
			-device "virtio-net-pci,netdev=n0,mac=$mac,vectors=0")
	elif [ -n "$tap" ]; then
		q+=(-netdev "tap,id=n0,ifname=$tap,script=no,downscript=no"
			-device "virtio-net-pci,netdev=n0,mac=$mac")
	else
		q+=(-netdev "stream,id=n0,server=$net_server,addr.type=unix,addr.path=$net"
			-device "virtio-net-pci,netdev=n0,mac=$mac")
	fi
fi

{
	echo "COT_GUEST_DIR=$dir"
	echo "COT_GUEST_NAME=$name"
	echo "COT_GUEST_MEM=$([ "$shm" = 1 ] && echo "$shmfile")"
	echo "COT_GUEST_MEMSIZE=$bytes"
	echo "COT_GUEST_LOG=$log"
	echo "COT_GUEST_QMP=$qmp"
	echo "COT_GUEST_CONSOLE=$fifo"
	echo "COT_GUEST_CPU=$cpu"
	echo "COT_GUEST_RUNPID=$$"
} >"$dir/guest.env"
echo "${q[*]}" >"$dir/qemu.cmdline"

# fd 3 keeps the fifo open for writing so QEMU never sees EOF on stdin
exec 3<>"$fifo"
"${q[@]}" <"$fifo" >"$log" 2>"$dir/qemu.log" &
qpid=$!
echo "$qpid" >"$dir/qemu.pid"
# hard timeout: a watchdog signals us; the TERM trap cleans up
glib_watchdog "$timeout" guest/run

if [ ${#cmd[@]} -eq 0 ]; then
	wait "$qpid"
	rc=$?
	qpid=
	if grep -q '^==COTRACK-FAIL' "$log"; then
		echo "guest/run: guest failed: $(grep -m1 '^==COTRACK-FAIL' "$log")" >&2
		exit 1
	fi
	[ "$rc" = 0 ] || { echo "guest/run: qemu exited $rc (see $dir/qemu.log)" >&2; exit 1; }
	exit 0
fi

# --- CMD mode ---------------------------------------------------------------
if ! "$here/ctl.sh" "$dir" wait-ready "$ready_timeout"; then
	echo "guest/run: guest not ready after $(glib_elapsed) s; tail of $log:" >&2
	tail -20 "$log" | tr -d '\r' | sed 's/^/  | /' >&2
	exit 124
fi
echo "guest/run: $name ready after $(glib_elapsed) s (cpu $cpu, $mem)" >&2
glib_run_cmd 10 "${cmd[@]}"
exit $?
