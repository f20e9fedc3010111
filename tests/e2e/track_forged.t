# A hostile guest kernel costs its neighbours nothing: cotrackd serves
# the two real VMs (frontend, backend) and two VMs whose memory is a
# FORGED copy of the booted frontend's RAM (tests/tools/forge_mem), their
# NIC a silent fake QEMU (tests/tools/badguest.py hold):
#   forged   TRACK_FORGED_MODES (default buckets,cycle,nets): every
#            hashinfo's ehash is 2^24 buckets of junk RAM, a real socket's
#            chain loops, net_namespace_list holds 4096+ entries with 128
#            forged nets of their own 2^24-bucket tables (flat,cycle,nets
#            makes the tables empty instead: 127 x 16M buckets, which
#            today's walker reads whole, 5-6 s a snapshot optimised, 29 s
#            under the sanitizers);
#   badsyms  kallsyms: every token 255 bytes long, so no symbol decodes:
#            cotrack vmi cannot attach (checked below, before cotrackd
#            sees it), and neither can cotrackd, after one bounded decode
#            of the whole table per attempt (about 0.3 s).
# The frontend's copy is taken while a connection from 10.0.0.101 (left
# out of the checks) is ESTABLISHED, so that cycle loops a real
# established socket.  cotrackd runs with a per-step scan budget
# (TRACK_FORGED_SCAN_BYTES, default 4 MiB of guest bytes, and
# TRACK_FORGED_SCAN_WALKS page walks; TRACK_FORGED_SCAN_OPTS replaces the
# options, empty for a cotrackd without them) while a client sends
# TRACK_FORGED_N (200) requests through the real service.  Asserted:
# all requests answered; the real VMs' records complete and exact
# (track_check.py); cotrackd and both real VMs alive, the forged VMs'
# NICs still connected; cotrackd ends within 120 s of SIGTERM, with exit
# 0; in the summary, for forged: scan steps > 0, cut at the budget > 0,
# guest bytes read <= steps x (budget + 64 KiB).  The 64 KiB is the
# slack of one step: a step that checks its budget before each read
# overshoots by one read, and the walker's reads are at most a 4 KiB
# bucket chunk, a socket's sock_common span (<= 1 KiB) or a page-table
# entry (8 bytes); were attach reads counted too, the one attach's ~4 MB
# of BTF would be covered from 80 steps on.  For badsyms: attach attempts
# failed > 0 and memory scans 0 (the view never comes up).  fe and be:
# memory scans > 0 and 0 cut at the budget.  No sanitizer report.
source "$TOP/tests/lib.sh"
source "$TOP/tests/tools/service.sh"
# Both VMs on stream whatever COT_BACKENDS says: the test copies the
# frontend's RAM file (/dev/shm/$SVC_TAG-fe), which vhost-user has not.
export COT_BACKENDS="stream stream"
[ "$(id -u)" = 0 ] || skip_all "needs root for network namespaces and taps"
N=${TRACK_FORGED_N:-200}
MODES=${TRACK_FORGED_MODES:-buckets,cycle,nets}
BUDGET=${TRACK_FORGED_SCAN_BYTES:-4194304}
WALKS=${TRACK_FORGED_SCAN_WALKS:-65536}
SCAN_OPTS=${TRACK_FORGED_SCAN_OPTS-"--scan-bytes $BUDGET --scan-walks $WALKS"}
SLACK=65536 # bytes per step past the budget: one bounded read (above)
RAM=128M    # as svc_boot boots the guests
BG=$TOP/tests/tools/badguest.py
FM=$O/tests/tools/forge_mem
[ -x "$FM" ] || { not_ok "$FM built (make check-build)"; t_end; }
"$G/build.sh" >"$T_TMP/build.log" 2>&1 || { not_ok "guest/build.sh"; tail "$T_TMP/build.log"; t_end; }
F1=/dev/shm/cotforged-$$-1 F2=/dev/shm/cotforged-$$-2
fpid='' spid='' hpid='' clipid=''
# hpid and clipid are timeout(1)s: TERM reaches the process they run.
t_on_exit 'for p in $hpid $clipid; do kill $p; done; for p in $fpid $spid; do kill -9 $p; done; svc_cleanup; rm -f "$F1" "$F2"'
# Zero files of the guest's RAM size, so that cotrackd starts; filled in
# place (never truncated: cotrackd may have them mapped) once the
# frontend has booted.
truncate -s "$RAM" "$F1" "$F2"
S=$T_TMP/svc
mkdir -p "$S"
# shellcheck disable=SC2086 # SCAN_OPTS is a list of options
if ! svc_start "$S" "$COTRACKD" --interval 10ms $SCAN_OPTS \
	--vm "forged,net=$S/forged.sock,mem=$F1" --vm "badsyms,net=$S/badsyms.sock,mem=$F2"; then
	not_ok "cotrackd starts with fe, be, forged, badsyms ($SCAN_OPTS)"
	head -5 "$S/cotrackd.log" | sed 's/^/# /'; t_end
fi
for _ in $(seq 50); do [ -S "$S/forged.sock" ] && [ -S "$S/badsyms.sock" ] && break; sleep 0.1; done
check "cotrackd listening for fe, be, forged, badsyms and an uplink" \
	test -S "$S/forged.sock" -a -S "$S/badsyms.sock"
if ! svc_boot; then
	not_ok "guests boot"; tail -n 20 "$SVC_DIR"/*/console.log | sed 's/^/# /'; t_end
fi
ok "backend and frontend booted, NICs on cotrackd"

# An ESTABLISHED connection in the frontend for cycle to loop: from a
# second client address, so that the checks can leave it out.  It holds
# until killed (the frontend gives up on it after 10 s anyway).
feram=/dev/shm/$SVC_TAG-fe
ip -n "$SVC_NS" addr add 10.0.0.101/24 dev "$SVC_TAP"
timeout 60 ip netns exec "$SVC_NS" python3 -c '
import socket, time
s = socket.create_connection(("10.0.0.2", 80), 10, ("10.0.0.101", 0))
print("held", s.getsockname()[1], flush=True)
time.sleep(50)' >"$T_TMP/held.log" 2>&1 &
hpid=$!
for _ in $(seq 40); do
	timeout 30 "$COTRACK" vmi snapshot --mem "$feram" 2>/dev/null |
		grep -q "ESTABLISHED  *10\.0\.0\.2  *80 10\.0\.0\.101 " && break
	sleep 0.5
done
check "frontend holds the ESTABLISHED connection from 10.0.0.101 ($(cat "$T_TMP/held.log"))" \
	eval 'timeout 30 "$COTRACK" vmi snapshot --mem "$feram" | grep -q "ESTABLISHED  *10\.0\.0\.2  *80 10\.0\.0\.101 "'
# The copy, of a paused frontend so that it is consistent.
timeout 60 "$G/ctl.sh" "$SVC_DIR/fe" pause
for f in "$F1" "$F2"; do
	timeout 60 dd if="$feram" of="$f" bs=1M conv=notrunc status=none
done
timeout 60 "$G/ctl.sh" "$SVC_DIR/fe" resume
kill "$hpid" 2>/dev/null; wait "$hpid" 2>/dev/null; hpid=
check "frontend's RAM copied into both forged files ($RAM)" \
	eval 'cmp -s "$F1" "$F2" && test "$(stat -c %s "$F1")" = "$(stat -c %s "$feram")"'

timeout 120 "$FM" "$F1" "$MODES" >"$T_TMP/forge1.log" 2>&1
check "forge_mem $MODES on the forged VM's copy" test $? = 0
sed 's/^/# forged: /' "$T_TMP/forge1.log"
case ,$MODES, in *,cycle,*)
	check "cycle loops the held ESTABLISHED socket" \
		grep -q "^cycle: ehash socket .*(ESTABLISHED ipv4 10\.0\.0\.2:80 -> 10\.0\.0\.101:" "$T_TMP/forge1.log" ;;
esac
timeout 120 "$FM" "$F2" kallsyms >"$T_TMP/forge2.log" 2>&1
check "forge_mem kallsyms on the badsyms VM's copy" test $? = 0
sed 's/^/# badsyms: /' "$T_TMP/forge2.log"
# What today's walker makes of them, bounded (cotrackd's --vmi-cap).
ms() { echo $(($(date +%s%N) / 1000000)); }
t0=$(ms)
timeout 120 "$COTRACK" vmi snapshot --mem "$F1" --stats --max 65536 >/dev/null 2>"$T_TMP/vmi1.log"
rc=$?
echo "# cotrack vmi snapshot on forged: exit $rc in $(($(ms) - t0)) ms: $(tail -1 "$T_TMP/vmi1.log")"
check "cotrack vmi attaches to the forged copy" test $rc = 0
t0=$(ms)
timeout 120 "$COTRACK" vmi info --mem "$F2" >/dev/null 2>"$T_TMP/vmi2.log"
rc=$?
echo "# cotrack vmi info on badsyms: exit $rc in $(($(ms) - t0)) ms: $(tail -1 "$T_TMP/vmi2.log")"
check "cotrack vmi cannot attach to the badsyms copy (no symbol decodes)" \
	eval 'test $rc = 1 && grep -q "kallsyms tables do not decode" "$T_TMP/vmi2.log"'

svc_snmp before
# The forged VMs' NICs connect (cotrackd attaches to a VM's memory once
# its NIC is up) and stay silent until cotrackd closes them.
python3 "$BG" "$S/forged.sock" hold --seconds 600 >"$T_TMP/bg-forged.log" 2>&1 &
fpid=$!
python3 "$BG" "$S/badsyms.sock" hold --seconds 600 >"$T_TMP/bg-badsyms.log" 2>&1 &
spid=$!
for _ in $(seq 300); do grep -q "forged: memory view up" "$SVC_DIR/cotrackd.log" && break; sleep 0.1; done
grep "forged: memory view up" "$SVC_DIR/cotrackd.log" | sed 's/^/# /'
# The client (svc_client's, run here so that it is bounded as a whole):
# at most 300 s, each request 20 s.
timeout 300 ip netns exec "$SVC_NS" python3 "$TOP/tests/tools/httpclient.py" \
	10.0.0.2:80 -n "$N" --timeout 20 >"$T_TMP/client.log" 2>&1 &
clipid=$!
wait "$clipid"
check "client finished within 300 s" test $? != 124
clipid=
tail -1 "$T_TMP/client.log" | sed 's/^/# /'
check "client: all $N requests answered" grep -q "^client ok=$N fail=0" "$T_TMP/client.log"
sleep 1
svc_snmp after
svc_alive "at the end"
check "the forged VMs' NICs still connected" eval 'kill -0 $fpid && kill -0 $spid'
# SIGTERM, bounded: cotrackd must end within 120 s, else it is killed
# (and the exit check fails).  Without a budget it may never: a scan that
# outlasts --interval makes every ppoll() time out at once, and Linux
# delivers a signal that only ppoll's mask unblocks only when ppoll
# returns EINTR (seen with the flat mode and a one-thread cotrackd).
gone() { # PID: exited (a zombie counts, kill -0 does not tell)
	local st
	st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)
	[ -z "$st" ] || [ "$st" = Z ]
}
kill -TERM "$SVC_DPID" 2>/dev/null
for _ in $(seq 1200); do gone "$SVC_DPID" && break; sleep 0.1; done
check "cotrackd ends within 120 s of SIGTERM" gone "$SVC_DPID"
gone "$SVC_DPID" || kill -9 "$SVC_DPID"
svc_stop_daemon
check "cotrackd exits 0 on SIGTERM" test "$SVC_DRC" = 0
# cotrackd closed their connections: each badguest ends within 10 s.
for p in $fpid $spid; do
	for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null
done
fpid='' spid=''
grep -E '^(fe|be|forged|badsyms): ' "$SVC_DIR/cotrackd.log" | sed 's/^/# /'
fa=$(svc_opens_delta fe 3) fp=$(svc_opens_delta fe 4) bp=$(svc_opens_delta be 4)
svc_cleanup

# field VM KEY: the number after KEY in VM's summary line "VM: scan
# steps S, cut at the budget C, guest bytes read B, page walks W, attach
# attempts failed A, memory-only table full F" (empty when there is none)
field() {
	sed -n "/^$1: scan steps /{s/.*[:,] $2 \([0-9][0-9]*\).*/\1/p;q}" "$SVC_DIR/cotrackd.log"
}
steps=$(field forged "scan steps") cut=$(field forged "cut at the budget")
bytes=$(field forged "guest bytes read")
check "summary: forged: scan steps ${steps:-none} > 0" test "${steps:-0}" -gt 0
check "summary: forged: cut at the budget ${cut:-none} > 0" test "${cut:-0}" -gt 0
lim=$(( ${steps:-0} * (BUDGET + SLACK) ))
check "summary: forged: guest bytes read ${bytes:-none} <= steps x (budget $BUDGET + slack $SLACK) = $lim" \
	eval '[ -n "$bytes" ] && [ "$bytes" -le "$lim" ]'
fail=$(field badsyms "attach attempts failed")
check "summary: badsyms: attach attempts failed ${fail:-none} > 0" test "${fail:-0}" -gt 0
check "summary: badsyms: memory view never up (memory scans 0)" \
	grep -q '^badsyms: memory scans 0 ' "$SVC_DIR/cotrackd.log"
for v in fe be; do
	check "summary: $v: memory scans > 0" grep -qE "^$v: memory scans [1-9]" "$SVC_DIR/cotrackd.log"
	c=$(field $v "cut at the budget")
	check "summary: $v: cut at the budget ${c:-none} = 0" test "${c:-x}" = 0
done
python3 "$TOP/tests/tools/track_check.py" "$SVC_DIR/records.json" "$T_TMP/client.log" \
	"$N" "$fa" "$fp" "$bp" --label forged --ignore-vm forged --ignore-vm badsyms \
	--ignore-net 10.0.0.101/32 || {
	T_FAILS=$((T_FAILS + 1)); rm -rf "$O/track_forged.failed"; cp -r "$SVC_DIR" "$O/track_forged.failed"
	cp "$T_TMP"/*.log "$O/track_forged.failed/"; echo "# artifacts in $O/track_forged.failed"; }
if grep -q "ERROR: AddressSanitizer\|runtime error" "$SVC_DIR/cotrackd.log"; then
	not_ok "sanitizer report from cotrackd"
	grep -A8 "ERROR: AddressSanitizer\|runtime error" "$SVC_DIR/cotrackd.log" | head -30 | sed 's/^/# /'
else
	ok "no sanitizer report from cotrackd"
fi
t_end
