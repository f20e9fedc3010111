#!/usr/bin/env bash
# Boots a test guest under BitVisor (with cotrack's netfunc module) under
# QEMU TCG: OVMF runs startup.nsh from a FAT drive, which starts
# loadvmm.efi (BitVisor comes up below the firmware) and then the Debian
# cloud kernel with our busybox initramfs, now BitVisor's guest.
#
#   guest/bitvisor.sh [OPTIONS] [-- CMD [ARG...]]
#
# The physical NIC is a QEMU e1000e whose backend is a tap in a network
# namespace this script creates (and deletes): the guest reaches nothing
# else.  BitVisor's pro1000 driver takes the e1000e and gives the guest a
# virtio-net; the cotrack module forwards between them and logs records.
# Without CMD: runs until the guest powers off (guest/ctl.sh DIR stop) or
# --timeout.  With CMD: waits for ==COTRACK-READY==, runs CMD with the
# environment below, stops the guest, exits with CMD's status (124 when
# the guest never got ready).  Cleanup on every exit: QEMU killed, the
# namespace deleted.
#
# Options:
#   --dir DIR          run directory (default build/bitvisor/run/NAME)
#   --name NAME        run name (default cotbv-PID); the namespace is NAME
#   --role ROLE        guest role (default backend: HTTP on port 80)
#   --ip CIDR          guest address (default 10.0.0.2/24)
#   --host-ip CIDR     the tap's address in the namespace (default 10.0.0.1/24)
#   --mem SIZE         machine RAM (default 2048M; BitVisor takes its share)
#   --cpu MODEL        QEMU CPU (default EPYC,+svm: AMD SVM with NPT)
#   --timeout SECS     hard limit on the whole run (default 900)
#   --ready-timeout S  with CMD: how long to wait for READY (default 300)
#   --append STR       more guest kernel command line
#   --bitvisor DIR     where bitvisor.elf and loadvmm.efi are (default
#                      build/bitvisor, from make bitvisor)
#
# Files in DIR: console.log (the guest's serial console, COM1),
# console.in (fifo to it), bitvisor.log (BitVisor's log, COM3: the
# cotrack-rec lines), qemu.log, qemu.cmdline, esp/ (the FAT drive),
# guest.env.  Environment for CMD (and in DIR/guest.env): COT_GUEST_DIR,
# COT_GUEST_LOG, COT_GUEST_CONSOLE, COT_BV_LOG, COT_BV_NETNS, COT_BV_TAP,
# COT_BV_GUEST_IP, COT_BV_HOST_IP.
# Needs root (namespace, tap), build/guest/kernel.env (guest/build.sh)
# and make bitvisor.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
GOUT=${GUEST_OUT:-$top/build/guest}
# shellcheck source=guest/lib.sh
. "$here/lib.sh"
bv=$top/build/bitvisor
name= dir= role=backend ip=10.0.0.2/24 hostip=10.0.0.1/24 mem=2048M
cpu=EPYC,+svm timeout=900 ready_timeout=300 append=
usage() { sed -n '2,/^# and make bitvisor/p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
	case $1 in
	--dir) dir=$2; shift ;;
	--name) name=$2; shift ;;
	--role) role=$2; shift ;;
	--ip) ip=$2; shift ;;
	--host-ip) hostip=$2; shift ;;
	--mem) mem=$2; shift ;;
	--cpu) cpu=$2; shift ;;
	--timeout) timeout=$2; shift ;;
	--ready-timeout) ready_timeout=$2; shift ;;
	--append) append=$2; shift ;;
	--bitvisor) bv=$2; shift ;;
	-h | --help) usage 0 ;;
	--) shift; break ;;
	*) echo "bitvisor.sh: unknown option $1 (--help)" >&2; exit 2 ;;
	esac
	shift
done
cmd=("$@")
die() { echo "guest/bitvisor: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespace, tap)"
[ -f "$GOUT/kernel.env" ] || die "no $GOUT/kernel.env: run guest/build.sh"
# shellcheck source=/dev/null
. "$GOUT/kernel.env"
for f in bitvisor.elf loadvmm.efi; do
	[ -f "$bv/$f" ] || die "no $bv/$f: run make bitvisor"
done
code=/usr/share/OVMF/OVMF_CODE_4M.fd vars=/usr/share/OVMF/OVMF_VARS_4M.fd
[ -f "$code" ] && [ -f "$vars" ] || die "no OVMF (Debian package ovmf): run scripts/setup"
case $role in *[!a-z0-9_]*) die "bad role $role" ;; esac
case $timeout$ready_timeout in *[!0-9]*) die "timeouts are whole seconds" ;; esac
name=${name:-cotbv-$$}
case $name in *[!A-Za-z0-9_-]*) die "bad name $name" ;; esac
[ ${#name} -le 15 ] || die "name $name longer than 15 bytes (tap name)"
dir=${dir:-$bv/run/$name}
mkdir -p "$dir" || exit 1
dir=$(cd "$dir" && pwd)
ns=$name tap=$name

log=$dir/console.log fifo=$dir/console.in qmp=$dir/qmp.sock bvlog=$dir/bitvisor.log
rm -rf "$dir/esp"
rm -f "$log" "$fifo" "$qmp" "$bvlog" "$dir/qemu.pid" "$dir/.timedout"
mkfifo "$fifo"

qpid= cmdpid= wdpid= nsmade=0
cleanup() {
	trap - EXIT INT TERM HUP
	glib_stop_helpers
	glib_stop_qemu
	[ "$nsmade" = 1 ] && ip netns del "$ns" 2>/dev/null
	rm -f "$fifo" "$qmp" "$dir/qemu.pid"
	exec 3>&- 2>/dev/null
}
glib_traps

# --- the namespace and its tap: the e1000e's only peer ----------------------
ip netns add "$ns" || die "ip netns add $ns"
nsmade=1
ip -n "$ns" link set lo up
ip -n "$ns" tuntap add dev "$tap" mode tap || die "tuntap in $ns"
ip -n "$ns" addr add "$hostip" dev "$tap"
ip -n "$ns" link set "$tap" up

# --- the FAT system partition ------------------------------------------------
# 8.3 names; OVMF's shell runs startup.nsh when there is no BOOTX64.EFI.
mkdir -p "$dir/esp"
cp "$bv/loadvmm.efi" "$bv/bitvisor.elf" "$dir/esp/"
cp "$VMLINUZ" "$dir/esp/vmlinuz"
cp "$INITRD" "$dir/esp/initrd.img"
kargs="console=ttyS0 panic=-1 no_timer_check quiet cotrack.role=$role cotrack.ip=$ip"
[ -n "$append" ] && kargs="$kargs $append"
printf 'fs0:\r\n\\loadvmm.efi\r\n\\vmlinuz initrd=\\initrd.img %s\r\n' "$kargs" >"$dir/esp/startup.nsh"
cp "$vars" "$dir/vars.fd"

gip=${ip%/*}
last=${gip##*.}
case $last in '' | *[!0-9]*) last=2 ;; esac
mac=$(printf '52:54:00:c0:74:%02x' "$((last & 255))")
# COM1: the guest's console (OVMF's too); COM2 unused; COM3: BitVisor's log.
# -nodefaults: no default NIC, no -netdev user, no VGA.  romfile= drops the
# e1000e's iPXE ROM: OVMF would try PXE and HTTP boot for minutes before
# its shell runs startup.nsh.
q=(qemu-system-x86_64 -machine q35,accel=tcg -cpu "$cpu" -smp 1 -m "$mem"
	-nodefaults -display none -no-reboot -no-user-config
	-drive "if=pflash,format=raw,readonly=on,file=$code"
	-drive "if=pflash,format=raw,file=$dir/vars.fd"
	-drive "file=fat:rw:$dir/esp,format=raw,if=virtio"
	-chardev stdio,id=con,signal=off -serial chardev:con
	-serial null -serial "file:$bvlog"
	-qmp "unix:$qmp,server=on,wait=off"
	-netdev "tap,id=n0,ifname=$tap,script=no,downscript=no"
	-device "e1000e,netdev=n0,mac=$mac,romfile=")
{
	echo "COT_GUEST_DIR=$dir"
	echo "COT_GUEST_LOG=$log"
	echo "COT_GUEST_QMP=$qmp"
	echo "COT_GUEST_CONSOLE=$fifo"
	echo "COT_BV_LOG=$bvlog"
	echo "COT_BV_NETNS=$ns"
	echo "COT_BV_TAP=$tap"
	echo "COT_BV_GUEST_IP=$gip"
	echo "COT_BV_HOST_IP=${hostip%/*}"
	echo "COT_GUEST_RUNPID=$$"
} >"$dir/guest.env"
echo "${q[*]}" >"$dir/qemu.cmdline"

exec 3<>"$fifo"
ip netns exec "$ns" "${q[@]}" <"$fifo" >"$log" 2>"$dir/qemu.log" &
qpid=$!
echo "$qpid" >"$dir/qemu.pid"
glib_watchdog "$timeout" guest/bitvisor

if [ ${#cmd[@]} -eq 0 ]; then
	wait "$qpid"
	rc=$?
	qpid=
	grep -q '^==COTRACK-FAIL' "$log" && die "guest failed: $(grep -m1 '^==COTRACK-FAIL' "$log")"
	[ "$rc" = 0 ] || die "qemu exited $rc (see $dir/qemu.log)"
	exit 0
fi

if ! "$here/ctl.sh" "$dir" wait-ready "$ready_timeout"; then
	echo "guest/bitvisor: guest not ready after $(glib_elapsed) s; tails of the logs:" >&2
	tail -5 "$bvlog" | tr -d '\r' | sed 's/^/  bitvisor | /' >&2
	tail -10 "$log" | tr -d '\r' | sed 's/^/  console | /' >&2
	exit 124
fi
echo "guest/bitvisor: $name ready after $(glib_elapsed) s" >&2
echo "COT_BV_READY_S=$(glib_elapsed)" >>"$dir/guest.env"
glib_run_cmd 20 "${cmd[@]}"
exit $?
