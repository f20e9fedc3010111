#!/usr/bin/env bash
# Drives a guest started by guest/run.sh, through its run directory.
#
#   guest/ctl.sh DIR wait-ready [SECS]   until ==COTRACK-READY== (default
#                                        120 s); exit 1 if the guest failed
#                                        or QEMU is gone, 124 on timeout
#   guest/ctl.sh DIR cmd LINE [SECS]     send LINE to the guest console, wait
#                                        for its ==COTRACK-DONE== (default
#                                        60 s), print the console output it
#                                        produced, exit with its rc
#   guest/ctl.sh DIR truth [ARGS]        cmd "truth", then print that round's
#                                        normalised truth (guest/truth.py ARGS)
#   guest/ctl.sh DIR owners [ARGS]       cmd "owners", then print each held
#                                        socket with its owner (truth.py
#                                        --owners ARGS)
#   guest/ctl.sh DIR snmp [WHEN]         cmd "snmp WHEN" (raw Tcp: lines)
#   guest/ctl.sh DIR dump [--paging] FILE   guest RAM as an ELF core (QMP
#                                        dump-guest-memory; physical
#                                        segments, or with --paging the
#                                        guest's virtual mappings, which
#                                        drgn 0.0.22 needs)
#   guest/ctl.sh DIR pause | resume      stop / continue the vCPU (QMP)
#   guest/ctl.sh DIR qmp CMD [JSON]      any QMP command (guest/qmp.py)
#   guest/ctl.sh DIR stop [SECS]         console "stop" (prints snmp, powers
#                                        off); waits for QEMU to exit, kills
#                                        it after SECS (default 20)
#   guest/ctl.sh DIR env                 print DIR/guest.env
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: ctl.sh DIR COMMAND ...}
op=${2:?usage: ctl.sh DIR COMMAND ...}
shift 2
if [ "$op" = wait-ready ]; then
	# run.sh may have been started a moment ago: give it 10 s to set up
	for _ in $(seq 100); do [ -f "$dir/qemu.pid" ] && break; sleep 0.1; done
fi
[ -f "$dir/guest.env" ] || { echo "ctl.sh: $dir is not a guest run dir" >&2; exit 2; }
log=$dir/console.log fifo=$dir/console.in qmp=$dir/qmp.sock

qemu_alive() {
	local p
	p=$(cat "$dir/qemu.pid" 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null
}
now() { date +%s%N; }

# wait_for REGEX SECS [OFFSET]: poll the console log from byte OFFSET for
# a line matching REGEX (or ==COTRACK-FAIL); prints the line.  0 found,
# 1 guest gone/failed, 124 timeout.  Bound: SECS.  The log is only re-read
# when it grew (polled every 100 ms) to keep the CPU for the guests.
wait_for() {
	local re=$1 secs=$2 off=${3:-0} end line size last=-1
	end=$(($(now) + secs * 1000000000))
	while :; do
		size=$(stat -c %s "$log" 2>/dev/null || echo 0)
		if [ "$size" != "$last" ]; then
			last=$size
			line=$(tail -c +$((off + 1)) "$log" 2>/dev/null | tr -d '\r' |
				grep -m1 -E "$re|^==COTRACK-FAIL")
			case $line in
			"") ;;
			==COTRACK-FAIL*) echo "$line" >&2; return 1 ;;
			*) echo "$line"; return 0 ;;
			esac
		fi
		qemu_alive || { echo "ctl.sh: QEMU is not running" >&2; return 1; }
		[ "$(now)" -lt "$end" ] || return 124
		sleep 0.1
	done
}

# send_cmd LINE SECS: prints the output, sets global rc and seq
send_cmd() {
	local line=$1 secs=$2 off done
	qemu_alive || { echo "ctl.sh: QEMU is not running" >&2; return 1; }
	off=$(stat -c %s "$log")
	printf '%s\n' "$line" >"$fifo"
	done=$(wait_for "^==COTRACK-DONE seq=[0-9]+ cmd=${line%% *} rc=" "$secs" "$off") || return $?
	seq=$(echo "$done" | sed -n 's/.*seq=\([0-9]*\).*/\1/p')
	rc=$(echo "$done" | sed -n 's/.* rc=\([0-9]*\)==.*/\1/p')
	tail -c +$((off + 1)) "$log" | tr -d '\r' | sed "/^==COTRACK-DONE seq=$seq /q"
	return 0
}

case $op in
wait-ready)
	wait_for '^==COTRACK-READY' "${1:-120}" >/dev/null
	;;
cmd)
	send_cmd "${1:?cmd LINE}" "${2:-60}" || exit $?
	exit "$rc"
	;;
truth)
	send_cmd truth 120 >/dev/null || exit $?
	[ "$rc" = 0 ] || exit "$rc"
	tr -d '\r' <"$log" | python3 "$here/truth.py" --seq "$seq" "$@" -
	;;
owners)
	send_cmd owners 120 >/dev/null || exit $?
	[ "$rc" = 0 ] || exit "$rc"
	tr -d '\r' <"$log" | python3 "$here/truth.py" --owners --seq "$seq" "$@" -
	;;
snmp)
	send_cmd "snmp ${1:-request}" 30 || exit $?
	;;
dump)
	paging=false
	[ "${1:-}" = --paging ] && paging=true && shift
	f=${1:?dump [--paging] FILE}
	case $f in /*) ;; *) f=$PWD/$f ;; esac
	rm -f "$f"
	python3 "$here/qmp.py" "$qmp" dump-guest-memory \
		"{\"paging\": $paging, \"protocol\": \"file:$f\"}" >/dev/null
	;;
pause) python3 "$here/qmp.py" "$qmp" stop >/dev/null ;;
resume) python3 "$here/qmp.py" "$qmp" cont >/dev/null ;;
qmp) python3 "$here/qmp.py" "$qmp" "$@" ;;
stop)
	secs=${1:-20}
	qemu_alive || exit 0
	printf 'stop\n' >"$fifo"
	p=$(cat "$dir/qemu.pid")
	for _ in $(seq $((secs * 10))); do
		kill -0 "$p" 2>/dev/null || exit 0
		sleep 0.1
	done
	python3 "$here/qmp.py" "$qmp" quit >/dev/null 2>&1
	sleep 0.5
	kill -KILL "$p" 2>/dev/null
	exit 0
	;;
env) cat "$dir/guest.env" ;;
*) echo "ctl.sh: unknown command $op" >&2; exit 2 ;;
esac
