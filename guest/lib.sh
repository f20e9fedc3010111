# shellcheck shell=bash disable=SC2154 # here, dir: set by the runner
# guest/lib.sh: what guest/run.sh and guest/bitvisor.sh share, the QEMU
# process's life: the exit traps, stopping QEMU, the hard-timeout
# watchdog, and CMD mode (run a command against the ready guest, then
# stop it).  Sourced, not run.  The runner sets, before using these:
#   dir     the run directory (.timedout is made there on a hard timeout)
#   qpid    QEMU's pid once started, cmdpid and wdpid (empty at first)
# and defines cleanup(), which calls glib_stop_qemu and glib_stop_helpers
# among its own steps.

# The traps: cleanup on every exit; SIGINT exits 130; SIGTERM/SIGHUP
# exit 143, or 124 when the watchdog sent it (hard timeout).
glib_traps() {
	trap cleanup EXIT
	trap 'exit 130' INT
	trap '[ -e "$dir/.timedout" ] && exit 124; exit 143' TERM HUP
}

# The watchdog and CMD (if running) first: nothing may signal us while
# we clean up.
glib_stop_helpers() {
	[ -n "$wdpid" ] && kill "$wdpid" 2>/dev/null
	[ -n "$cmdpid" ] && kill "$cmdpid" 2>/dev/null
}

# QEMU ($qpid): SIGTERM, at most 3 s to go, then SIGKILL; reaped.
glib_stop_qemu() {
	if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
		kill -TERM "$qpid" 2>/dev/null
		for _ in $(seq 30); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$qpid" 2>/dev/null
		wait "$qpid" 2>/dev/null
	fi
}

# glib_watchdog SECS PREFIX: after SECS, says "PREFIX: hard timeout",
# marks $dir/.timedout and sends us SIGTERM (the trap exits 124).  Sets
# wdpid and start (for glib_elapsed).
glib_watchdog() {
	start=$(date +%s.%N)
	(
		trap 'kill $sp 2>/dev/null; exit 0' TERM
		sleep "$1" &
		sp=$!
		wait $sp && echo "$2: hard timeout ($1 s)" >&2 &&
			touch "$dir/.timedout" && kill -TERM $$
	) &
	wdpid=$!
}

# Seconds since glib_watchdog, one decimal.
glib_elapsed() { echo "$(date +%s.%N) $start" | awk '{printf "%.1f", $1 - $2}'; }

# glib_run_cmd STOP_SECS CMD [ARG...]: CMD with DIR/guest.env in its
# environment, then the guest stopped (guest/ctl.sh stop, STOP_SECS at
# most); returns CMD's status.
glib_run_cmd() {
	local stop=$1 rc
	shift
	set -a
	# shellcheck source=/dev/null
	. "$dir/guest.env"
	set +a
	"$@" &
	cmdpid=$!
	wait "$cmdpid"
	rc=$?
	cmdpid=
	"$here/ctl.sh" "$dir" stop "$stop" >/dev/null 2>&1
	return "$rc"
}
