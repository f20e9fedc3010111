# cotrackd under a real libvirt (docs/libvirt.md): the test starts its own
# libvirtd (Debian's, the qemu driver) in a mount and network namespace of
# its own, with private config, run, state, cache and log directories
# under the test's temp dir, so it neither needs nor disturbs a system
# daemon, and whatever libvirt does to networks stays in an empty
# namespace.  Two domains type='qemu' (TCG), each with the two XML
# elements a user adds (shared memfd memory, an <interface
# type='vhostuser'> on cotrackd's socket): the two-VM service (frontend,
# backend), a client behind cotrackd's tap uplink.  virsh define/start,
# 10 requests through both guests; virsh destroy of the backend: its port
# goes down (log), the other VM still answers, virsh start brings it back
# on the same socket, 10 requests more; SIGTERM exits 0 without a
# sanitizer report; undefine, daemon stopped.  Records: every request
# and its call to the backend seen_by both (at the frontend, the call
# may be nic only: its socket lives only while the call runs), the
# frontend's localhost calls seen_by vmi, as many as its ActiveOpens say.
source "$TOP/tests/lib.sh"
source "$TOP/tests/tools/service.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root for namespaces, taps and a system libvirtd"
for b in libvirtd virsh unshare; do
	command -v "$b" >/dev/null ||
		skip_all "no $b: libvirt-daemon, libvirt-daemon-driver-qemu, libvirt-clients not installed (scripts/setup)"
done
"$G/build.sh" >"$T_TMP/build.log" 2>&1 || { not_ok "guest/build.sh"; tail "$T_TMP/build.log"; t_end; }
# shellcheck source=/dev/null
. "${GUEST_OUT:-$TOP/build/guest}/kernel.env"
D=$T_TMP/svc L=$T_TMP/lv
mkdir -p "$D" "$L"/{etc,run,lib,cache,log}
# QEMU runs as libvirt-qemu (uid and gid 64055 in libvirtd's namespace,
# as Debian's libvirt-daemon-system allocates them), as docs/libvirt.md
# tells a user to set up: the sockets' directory belongs to its group,
# set-group-ID, and cotrackd makes its sockets with umask 007.
QU=$(id -u libvirt-qemu 2>/dev/null || echo 64055)
QG=$(getent group libvirt-qemu | cut -d: -f3)
QG=${QG:-64055}
chmod 0711 "$T_TMP"
chgrp "$QG" "$D" && chmod 2770 "$D"
NS=cotlv$$ TAP=clv$$ DOM=cotlv-$$
URI="qemu+unix:///system?socket=$L/run/libvirt-sock"
V() { timeout 120 virsh -q -c "$URI" "$@"; }
dpid= lpid= cat_fe= cat_be=
qpid() { cat "$L/run/qemu/$DOM-$1.pid" 2>/dev/null; }
cleanup() {
	local p q
	if [ -n "$lpid" ]; then
		for q in fe be; do
			timeout 30 virsh -q -c "$URI" destroy "$DOM-$q" 2>/dev/null
			timeout 30 virsh -q -c "$URI" undefine "$DOM-$q" 2>/dev/null
		done
	fi
	# libvirtd does not take its QEMUs with it: end any that is left.
	for q in fe be; do
		p=$(qpid $q)
		[ -n "$p" ] && kill -0 "$p" 2>/dev/null && kill -KILL "$p"
	done
	[ -n "$lpid" ] && kill -TERM "$lpid" 2>/dev/null
	for _ in $(seq 100); do
		[ -n "$lpid" ] && kill -0 "$lpid" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$lpid" ] && kill -KILL "$lpid" 2>/dev/null
	for p in $cat_fe $cat_be; do kill "$p" 2>/dev/null; done
	[ -n "$dpid" ] && kill -TERM "$dpid" 2>/dev/null
	for p in $lpid $cat_fe $cat_be $dpid; do wait "$p" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	true
}
t_on_exit cleanup

# --- cotrackd: both VMs on vhost-user, the client behind the uplink ------
ip netns add "$NS" || { not_ok "namespace"; t_end; }
(umask 007 && exec "$COTRACKD" --vm "fe,vhost-user=$D/fe.sock,mac=52:54:00:c0:74:02" \
	--vm "be,vhost-user=$D/be.sock,mac=52:54:00:c0:74:03" \
	--uplink "$TAP,netns=$NS" -o "$D/records.json" --interval 10ms) \
	2>"$D/cotrackd.log" &
dpid=$!
for _ in $(seq 100); do
	[ -S "$D/fe.sock" ] && [ -S "$D/be.sock" ] &&
		ip -n "$NS" link show "$TAP" >/dev/null 2>&1 && break
	kill -0 "$dpid" 2>/dev/null || break
	sleep 0.1
done
[ -S "$D/be.sock" ] || { not_ok "cotrackd starts"; cat "$D/cotrackd.log"; t_end; }
check "cotrackd's sockets are srwxrwx--- of group libvirt-qemu ($(stat -c '%A %g' "$D/be.sock"))" \
	[ "$(stat -c '%A %g' "$D/be.sock")" = "srwxrwx--- $QG" ]
ip -n "$NS" link set lo up
ip -n "$NS" link set "$TAP" up
ip -n "$NS" addr add 10.0.0.100/24 dev "$TAP"

# --- libvirtd of our own --------------------------------------------------
cat >"$L/etc/libvirtd.conf" <<'EOF'
# only the unix sockets (no TCP), only root, no polkit
auth_unix_ro = "none"
auth_unix_rw = "none"
unix_sock_ro_perms = "0700"
unix_sock_rw_perms = "0700"
log_outputs = "3:stderr"
EOF
# QEMU as libvirt-qemu, with no confinement (no AppArmor here:
# docs/libvirt.md says what Debian's profiles allow), no cgroups, no
# virtlogd.  No dynamic ownership: libvirt would chown the guest's
# kernel and console files to the QEMU user; the test gives access
# instead (read for all, the console fifos to the group).
cat >"$L/etc/qemu.conf" <<'EOF'
user = "libvirt-qemu"
group = "libvirt-qemu"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
EOF
# The qemu driver looks up its built-in user (libvirt-qemu, which only
# libvirt-daemon-system creates) before it reads qemu.conf: the private
# passwd and group name it.
cp /etc/passwd "$L/passwd" && cp /etc/group "$L/group"
grep -q '^libvirt-qemu:' "$L/passwd" ||
	echo "libvirt-qemu:x:$QU:$QG:libvirt-qemu (cotrack test):/nonexistent:/usr/sbin/nologin" >>"$L/passwd"
grep -q '^libvirt-qemu:' "$L/group" || echo "libvirt-qemu:x:$QG:" >>"$L/group"
# In a mount namespace: tmpfs over /run and /var/{lib,cache,log} (the
# libvirtd pid file, its sockets and state go there, not to the host's),
# our directories bound on the paths libvirt has compiled in.  In a new
# network namespace: libvirt's network drivers see only a loopback.
# unshare without --fork execs: $! is libvirtd.
unshare --mount --net sh -c '
set -e
L=$1
mount -t tmpfs cotlv /run
mkdir /run/libvirt
mount --bind "$L/run" /run/libvirt
mount --bind "$L/etc" /etc/libvirt
mount --bind "$L/passwd" /etc/passwd
mount --bind "$L/group" /etc/group
for d in lib cache log; do
	mount -t tmpfs cotlv /var/$d
	mkdir /var/$d/libvirt
	mount --bind "$L/$d" /var/$d/libvirt
done
exec libvirtd
' sh "$L" 2>"$L/libvirtd.log" &
lpid=$!
for _ in $(seq 300); do
	[ -S "$L/run/libvirt-sock" ] && break
	kill -0 "$lpid" 2>/dev/null || break
	sleep 0.1
done
if ! V version >"$D/version.txt" 2>&1; then
	not_ok "libvirtd starts with private directories"
	cat "$D/version.txt"
	grep -E 'error|warning' "$L/libvirtd.log" | tail -5
	t_end
fi
ok "libvirtd starts with private directories ($(grep -m1 'Running hypervisor' "$D/version.txt"))"
check "libvirtd's sockets are under the test's directory only" [ -S "$L/run/libvirt-sock" ]
check "no network defined in our libvirtd" [ -z "$(V net-list --all --name 2>/dev/null | tr -d '[:space:]')" ]

# --- the two domains --------------------------------------------------------
# domain_xml ROLE LAST-OCTET [KERNEL ARGS]: what run.sh --vhost-user runs,
# as libvirt XML.  The serial console is a pipe pair (DIR/console.in,
# DIR/console.out), so guest/ctl.sh drives the guest as under run.sh.
domain_xml() {
	local role=$1 n=$2 args=$3 name mac
	name=${role:0:1}e
	mac=$(printf '52:54:00:c0:74:%02x' "$n")
	cat <<EOF
<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>$DOM-$name</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <memoryBacking>
    <source type='memfd'/>
    <access mode='shared'/>
  </memoryBacking>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$VMLINUZ</kernel>
    <initrd>$INITRD</initrd>
    <cmdline>console=ttyS0 panic=-1 no_timer_check quiet cotrack.role=$role cotrack.ip=10.0.0.$n/24 $args</cmdline>
  </os>
  <features><acpi/></features>
  <cpu mode='maximum' migratable='off'/>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <interface type='vhostuser'>
      <mac address='$mac'/>
      <source type='unix' path='$D/$name.sock' mode='client'>
        <reconnect enabled='yes' timeout='1'/>
      </source>
      <model type='virtio'/>
      <alias name='ua-cotrack'/>
    </interface>
    <serial type='pipe'>
      <source path='$D/$name/console'/>
    </serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
  <qemu:override>
    <qemu:device alias='ua-cotrack'>
      <qemu:frontend>
        <qemu:property name='vectors' type='unsigned' value='0'/>
      </qemu:frontend>
    </qemu:device>
  </qemu:override>
</domain>
EOF
}
tw="cotrack.twbuckets=65536 sysctl.net.ipv4.tcp_tw_reuse=0"
for q in fe be; do
	mkdir -p "$D/$q"
	chmod 2770 "$D/$q"
	mkfifo -m 0660 "$D/$q/console.in" "$D/$q/console.out"
	# what guest/ctl.sh reads (run.sh writes it)
	printf 'COT_GUEST_DIR=%s\nCOT_GUEST_NAME=%s\n' "$D/$q" "$DOM-$q" >"$D/$q/guest.env"
done
domain_xml frontend 2 "cotrack.backend=10.0.0.3:80 $tw" >"$D/fe.xml"
domain_xml backend 3 "$tw" >"$D/be.xml"
check "virsh define (frontend)" V define "$D/fe.xml"
check "virsh define (backend)" V define "$D/be.xml"

# start_dom fe|be: virsh start, the console copied to DIR/console.log
start_dom() {
	local p
	cat "$D/$1/console.out" >>"$D/$1/console.log" &
	eval "cat_$1=$!"
	V start "$DOM-$1" >/dev/null || return 1
	p=$(qpid "$1")
	[ -n "$p" ] && echo "$p" >"$D/$1/qemu.pid"
}
t0=$(date +%s)
check "virsh start (backend)" start_dom be
check "virsh start (frontend)" start_dom fe
if ! "$G/ctl.sh" "$D/be" wait-ready 240 >/dev/null ||
	! "$G/ctl.sh" "$D/fe" wait-ready 240 >/dev/null; then
	not_ok "guests boot under libvirt"
	tail -3 "$D/be/console.log" "$D/fe/console.log" "$D/cotrackd.log"
	tail -3 "$L/log/qemu/$DOM-be.log" "$L/log/qemu/$DOM-fe.log"
	t_end
fi
ok "guests up under libvirt, both on vhost-user ($(($(date +%s) - t0)) s)"
check "QEMU runs as uid $QU (libvirt-qemu), not root" \
	[ "$(stat -c %u "/proc/$(cat "$D/be/qemu.pid")")" = "$QU" ]
check "libvirt passed vectors=0 to the vhost-user NIC (qemu:override)" \
	grep -q '"vectors":0' "$L/log/qemu/$DOM-be.log"
check "libvirt shares the guest RAM as a memfd" \
	grep -q 'memory-backend-memfd.*"share":true' "$L/log/qemu/$DOM-be.log"
check "QEMU connects with reconnect=1" \
	grep -q "path=$D/be.sock,reconnect=1" "$L/log/qemu/$DOM-be.log"
# wait_log PATTERN SECS [COUNT]: PATTERN in cotrackd's log (COUNT times)
wait_log() {
	for _ in $(seq $(($2 * 10))); do
		[ "$(grep -c "$1" "$D/cotrackd.log")" -ge "${3:-1}" ] && return 0
		sleep 0.1
	done
	return 1
}
for q in fe be; do
	check "$q: memory view attached from libvirt's memory table" \
		wait_log "$q: memory view up from the vhost-user memory table" 30
done
client() { # TARGET N
	ip netns exec "$NS" python3 "$TOP/tests/tools/httpclient.py" "$1" -n "$2" --timeout 20
}
# The frontend's own count of the connections it opens (ActiveOpens),
# from here to the end: what its records must add up to.
"$G/ctl.sh" "$D/fe" cmd "snmp before" 60 >/dev/null
client 10.0.0.2:80 10 >"$D/c1.log"
check "10 requests through both guests" grep -q "client ok=10 fail=0" "$D/c1.log"
sleep 1 # the last connections' records: two scans and the grace period

# virsh destroy: the backend's port goes down; the frontend does not notice.
check "virsh destroy (backend)" V destroy "$DOM-be"
check "be: its port goes down (cotrackd: peer stopped its device)" \
	wait_log "be: peer stopped its device" 30
check "be: memory view down" wait_log "be: memory view down" 30
check "cotrackd runs on" kill -0 "$dpid"
ip netns exec "$NS" ping -q -c 10 -i 0.2 -W 2 10.0.0.2 >"$D/ping.log" 2>&1
check "the frontend answers all 10 pings meanwhile" grep -q " 0% packet loss" "$D/ping.log"
# virsh start again: the same socket, a new device and memory table.
# its console copy ends with QEMU (bounded: 10 s)
for _ in $(seq 100); do kill -0 "$cat_be" 2>/dev/null || break; sleep 0.1; done
kill "$cat_be" 2>/dev/null
wait "$cat_be" 2>/dev/null
if start_dom be && "$G/ctl.sh" "$D/be" wait-ready 240 >/dev/null; then
	ok "virsh start brings the backend back"
else
	not_ok "virsh start brings the backend back"
	tail -3 "$D/be/console.log"
fi
check "be: NIC connected again" wait_log "be: NIC connected (vhost-user)" 30 2
check "be: memory view attached again" \
	wait_log "be: memory view up from the vhost-user memory table" 30 2
# The frontend reaches the new backend before the requests (bounded).
for _ in $(seq 10); do
	"$G/ctl.sh" "$D/fe" cmd "run ping -c 1 -W 2 10.0.0.3" 30 >/dev/null && break
	sleep 0.5
done
for try in 1 2 3; do
	client 10.0.0.2:80 10 >"$D/c2.log"
	grep -q "client ok=10 fail=0" "$D/c2.log" && break
	echo "# try $try after the restart: $(grep '^client' "$D/c2.log")"
	grep -v ' ok ' "$D/c2.log" | grep '^req' | head -3 | sed 's/^/#   /'
	sleep 1
done
check "10 requests through both guests after the restart" grep -q "client ok=10 fail=0" "$D/c2.log"
"$G/ctl.sh" "$D/fe" cmd "snmp after" 60 >/dev/null
sleep 1
check "virsh destroy (both)" eval 'V destroy "$DOM-fe" && V destroy "$DOM-be"'
check "be and fe: ports down" wait_log "peer stopped its device" 30 3
kill -TERM "$dpid"
wait "$dpid"
drc=$?
dpid=
check "cotrackd exits 0 on SIGTERM ($drc)" [ "$drc" = 0 ]
check "no sanitizer report" eval '! grep -qE "AddressSanitizer|LeakSanitizer|runtime error" "$D/cotrackd.log"'
check "summary of both VMs" eval 'grep -q "^fe: [0-9]* connections" "$D/cotrackd.log" && grep -q "^be: [0-9]* connections" "$D/cotrackd.log"'
grep -E '^(fe|be): [0-9]+ connections|^(fe|be): frames from guest' "$D/cotrackd.log" | sed 's/^/# /'
check "virsh undefine (both)" eval 'V undefine "$DOM-fe" && V undefine "$DOM-be"'
check "no domain left in our libvirtd" [ -z "$(V list --all --name 2>/dev/null | tr -d '[:space:]')" ]
kill -TERM "$lpid"
for _ in $(seq 100); do kill -0 "$lpid" 2>/dev/null || break; sleep 0.1; done
check "libvirtd stops on SIGTERM" eval '! kill -0 "$lpid" 2>/dev/null'
wait "$lpid" 2>/dev/null
lpid=

# --- the records ------------------------------------------------------------
opens=$(tr -d '\r' <"$D/fe/console.log" | python3 "$G/truth.py" --snmp - |
	awk '$2 == "before" {b = $3} $2 == "after" {a = $3} END {print (a == "" ? -1 : a - b)}')
python3 - "$D/records.json" "$D/c1.log" "$D/c2.log" "$opens" <<'PY'
import json, sys
def tap(ok, msg):
    print(("ok - " if ok else "not ok - ") + msg)
recs = [json.loads(l) for l in open(sys.argv[1])]
def ports(path):
    return {int(l.split()[3]) for l in open(path) if l.startswith("req ") and " ok " in l}
c1, c2 = ports(sys.argv[2]), ports(sys.argv[3])
opens = int(sys.argv[4])
def tcp(vm, src, dst, dport):
    return [r for r in recs if r["vm"] == vm and r["proto"] == "tcp" and r["src"] == src
            and r["dst"] == dst and r["dport"] == dport]
def good(r):
    return r["seen_by"] == "both" and r["tcp_state"] == "closed"
def nic_ok(r):
    return r["seen_by"] in ("both", "nic") and r["tcp_state"] == "closed"
be_all = tcp("be", "10.0.0.2", "10.0.0.3", 80)
fe_out = tcp("fe", "10.0.0.2", "10.0.0.3", 80)
for run, c in (("first boot", c1), ("after virsh start", c2)):
    rs = [r for r in tcp("fe", "10.0.0.100", "10.0.0.2", 80) if r["sport"] in c]
    tap(len(rs) == 10, "%s: 10 records client->fe at fe (%d)" % (run, len(rs)))
    tap(all(map(good, rs)), "%s: each seen_by both, closed (%d not)" %
        (run, sum(not good(r) for r in rs)))
    # Each request made one call to the backend, inside the client's
    # connection (same clock: cotrackd's): one record of it at each VM.
    # The backend holds the TIME_WAIT socket (it closes first), so its
    # memory view sees every call; the frontend's socket lives only while
    # the call runs and a scan may miss it there (seen_by nic).
    for vm, calls, ok in (("be", be_all, good), ("fe", fe_out, nic_ok)):
        m = [[b for b in calls if r["first_ns"] <= b["first_ns"] <= r["last_ns"]] for r in rs]
        tap(len(m) == 10 and all(len(x) == 1 and ok(x[0]) for x in m),
            "%s: each request's call fe->be has one record at %s, %s, closed (%s)" %
            (run, vm, "seen_by both" if vm == "be" else "seen_by both or nic",
             [[(b["seen_by"], b["tcp_state"]) for b in x] for x in m
              if len(x) != 1 or not ok(x[0])]))
print("# fe->be records: %d at be, %d at fe (seen_by at fe: %s)" % (len(be_all), len(fe_out),
      {k: sum(r["seen_by"] == k for r in fe_out) for k in ("both", "nic", "vmi")}))
# The frontend's localhost cache calls: only guest memory sees them.
# Every connection the frontend opened is a cache call or a call to the
# backend, so its ActiveOpens growth minus its fe->be records is the
# number of cache calls.
loc = tcp("fe", "127.0.0.1", "127.0.0.1", 6379)
tap(opens > 0 and len(loc) == opens - len(fe_out),
    "localhost cache calls at fe: %d records, the guest opened %d (ActiveOpens %d - %d fe->be)" %
    (len(loc), opens - len(fe_out), opens, len(fe_out)))
tap(all(r["seen_by"] == "vmi" for r in loc), "each localhost record seen_by vmi (%s)" %
    sorted({r["seen_by"] for r in loc}))
hid = [r for r in recs if r.get("flags")]
tap(not hid, "no record flagged (%s)" % [(r["vm"], r["flags"]) for r in hid])
PY
t_end
